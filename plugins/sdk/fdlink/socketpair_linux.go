package fdlink

import "syscall"

// cloexecSocketpair makes a close-on-exec AF_UNIX socket pair of type typ
// in one system call.
func cloexecSocketpair(typ int) ([2]int, error) {
	return syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
}
