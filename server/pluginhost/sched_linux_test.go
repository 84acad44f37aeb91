package pluginhost

import (
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// TestAsBatch checks that a process started in asBatch runs as SCHED_BATCH
// and that the starting thread is normal again afterwards.
func TestAsBatch(t *testing.T) {
	runtime.LockOSThread() // stay on the thread asBatch used, to check it
	defer runtime.UnlockOSThread()
	var param int32
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedBatch, uintptr(unsafe.Pointer(&param))); errno != 0 {
		t.Skipf("this system refuses SCHED_BATCH (%v); asBatch then starts plugins as they are", errno)
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedOther, uintptr(unsafe.Pointer(&param))); errno != 0 {
		t.Fatalf("restore SCHED_OTHER: %v", errno)
	}
	var out []byte
	if err := asBatch(func() (err error) {
		out, err = exec.Command("cat", "/proc/self/stat").Output()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s := string(out)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if policy := f[38]; policy != "3" { // field 41 of stat: policy; SCHED_BATCH = 3
		t.Errorf("child policy %s, want 3 (SCHED_BATCH)", policy)
	}
	if cur, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, 0, 0, 0); errno != 0 || cur != schedOther {
		t.Errorf("starting thread policy %d (errno %v) after asBatch, want SCHED_OTHER", cur, errno)
	}
}
