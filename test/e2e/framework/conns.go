package framework

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// ErrNoProc means this machine has no /proc to count connections in.
var ErrNoProc = errors.New("e2e: no /proc: connections are counted in the kernel's table")

// ProcessConns counts the established TCP connections of the processes
// pids whose local and remote ports match: the kernel's table
// (/proc/PID/net/tcp, tcp6) joined with the processes' own sockets (the
// inodes of /proc/PID/fd), so no other process on the machine (another
// spec, another session's tests) is counted, whatever its ports. A
// process that is gone holds none.
func ProcessConns(pids []int, match func(local, remote int) bool) (int, error) {
	n := 0
	for _, pid := range pids {
		proc := "/proc/" + strconv.Itoa(pid)
		fds, err := os.ReadDir(proc + "/fd")
		if err != nil {
			if _, serr := os.Stat("/proc/self/fd"); serr != nil {
				return 0, ErrNoProc
			}
			continue // the process is gone: it holds no connection
		}
		mine := make(map[string]bool, len(fds))
		for _, fd := range fds {
			if link, err := os.Readlink(proc + "/fd/" + fd.Name()); err == nil {
				if inode, ok := strings.CutPrefix(link, "socket:["); ok {
					mine[strings.TrimSuffix(inode, "]")] = true
				}
			}
		}
		for _, table := range []string{proc + "/net/tcp", proc + "/net/tcp6"} {
			data, err := os.ReadFile(table)
			if err != nil {
				continue
			}
			for line := range strings.SplitSeq(string(data), "\n") {
				// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
				f := strings.Fields(line)
				if len(f) < 10 || f[3] != "01" || !mine[f[9]] { // 01: ESTABLISHED
					continue
				}
				if match(hexPort(f[1]), hexPort(f[2])) {
					n++
				}
			}
		}
	}
	return n, nil
}

// hexPort is the port of a /proc/net/tcp address ("0100007F:1F90"), or -1.
func hexPort(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return -1
	}
	p, err := strconv.ParseUint(addr[i+1:], 16, 16)
	if err != nil {
		return -1
	}
	return int(p)
}
