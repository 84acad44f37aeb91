//go:build unix && !linux

package fdlink

import "syscall"

// cloexecSocketpair makes a close-on-exec AF_UNIX socket pair of type typ
// where socketpair takes no SOCK_CLOEXEC (macOS): holding ForkLock, as the
// standard library does there, so no fork sees the descriptors before they
// are marked. macOS has no SOCK_SEQPACKET for AF_UNIX, so the fd link
// itself (Pair) fails there with EPROTONOSUPPORT.
func cloexecSocketpair(typ int) ([2]int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ, 0)
	if err != nil {
		return fds, err
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return fds, nil
}
