package pluginhost

import (
	"runtime"
	"syscall"
	"unsafe"
)

// Scheduling policies, linux/sched.h.
const (
	schedOther = 0
	schedBatch = 3
)

// asBatch runs start, which forks a plugin process, on a thread whose
// policy is SCHED_BATCH, so the plugin and every thread it creates inherit
// it (fork and clone copy the calling thread's policy).
//
// A batch task gets the same CPU share as a normal one, but its wake-ups do
// not preempt the running task. Every small HTTP request crosses into the
// plugin and back; with normal policy each crossing preempts the host, the
// plugin serves one request and sleeps again, so every request pays for
// context switches and Go runtime wake-ups (sysmon, idle Ms) in both
// processes. As a batch task the plugin waits for the end of the host's
// slice or a free CPU and then serves what has queued up. On an idle CPU it
// runs at once, so latency without load is unchanged.
//
// Only the locked thread changes policy, and only while start runs: Go
// starts new threads from its template thread while a goroutine is locked,
// so none of the host's other threads inherit batch.
func asBatch(start func() error) error {
	runtime.LockOSThread()
	var param int32 // struct sched_param: priority, 0 for both policies
	cur, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, 0, 0, 0)
	if errno != 0 || cur != schedOther {
		runtime.UnlockOSThread() // a policy someone chose on purpose: leave it
		return start()
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedBatch, uintptr(unsafe.Pointer(&param))); errno != 0 {
		runtime.UnlockOSThread()
		return start()
	}
	defer func() {
		// Unlock only once the thread is normal again; should restoring
		// fail, the thread stays locked to this goroutine and exits with it
		// instead of running others as batch.
		if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedOther, uintptr(unsafe.Pointer(&param))); errno == 0 {
			runtime.UnlockOSThread()
		}
	}()
	return start()
}
