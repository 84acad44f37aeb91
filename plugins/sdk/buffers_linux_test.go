package sdk

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
)

// TestSizeBuffers: both ends of a stream link get the larger send buffer,
// as far as net.core.wmem_max lets them.
func TestSizeBuffers(t *testing.T) {
	limit := streamBuffer
	if b, err := os.ReadFile("/proc/sys/net/core/wmem_max"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			limit = min(limit, n)
		}
	}
	mine, theirs, err := fdlink.Socketpair(syscall.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	defer theirs.Close()
	sizeBuffers(mine, theirs)
	sndbuf := func(name string, c syscall.Conn) {
		t.Helper()
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if got < limit { // the kernel reports twice what was set
			t.Errorf("%s: SO_SNDBUF %d, want at least %d", name, got, limit)
		}
	}
	sndbuf("mine", mine)
	sndbuf("theirs", theirs)
}
