//go:build unix

package framework

import "syscall"

// sysProcAttr puts each burrow process in its own process group so cleanup
// can also reach any plugin processes it started.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup sends SIGKILL to the process group led by pid, a group the
// framework created. It is only called while the leader is still running,
// so the group id cannot have been reused.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
