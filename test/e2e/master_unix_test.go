//go:build unix

package e2e

import (
	"errors"
	"fmt"
	"syscall"
)

// processGroupGone reports an error if any process is left in the process
// group the framework created for pid (the master and anything it
// started).
func processGroupGone(pid int) error {
	err := syscall.Kill(-pid, 0)
	switch {
	case errors.Is(err, syscall.ESRCH):
		return nil
	case err == nil:
		return fmt.Errorf("a process of group %d is still running", pid)
	default:
		return fmt.Errorf("probe process group %d: %w", pid, err)
	}
}
