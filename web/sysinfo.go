package web

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// sysStats are host figures read from /proc (Linux only).
type sysStats struct {
	cpu                                    int // %, -1 when unknown
	memTotal, memUsed, swapTotal, swapUsed int64
	netRx, netTx, diskR, diskW, sysUp      int64
}

func (st sysStats) fill(in *Info) {
	in.CPU, in.MemTotal, in.MemUsed, in.SwapTotal, in.SwapUsed = st.cpu, st.memTotal, st.memUsed, st.swapTotal, st.swapUsed
	in.NetRx, in.NetTx, in.DiskR, in.DiskW, in.SysUp = st.netRx, st.netTx, st.diskR, st.diskW, st.sysUp
}

// cpuSample is the window of the CPU measurement.
const cpuSample = 100 * time.Millisecond

// hostStats reads the host figures; off Linux everything is 0 and cpu -1.
func hostStats(ctx context.Context) sysStats {
	st := sysStats{cpu: -1}
	if runtime.GOOS != "linux" {
		return st
	}
	st.cpu = cpuPercent(ctx)
	mem := procKV("/proc/meminfo")
	st.memTotal = mem["MemTotal"] * 1024
	st.memUsed = (mem["MemTotal"] - mem["MemAvailable"]) * 1024
	st.swapTotal = mem["SwapTotal"] * 1024
	st.swapUsed = (mem["SwapTotal"] - mem["SwapFree"]) * 1024
	st.netRx, st.netTx = netBytes()
	st.diskR, st.diskW = diskBytes()
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			up, _ := strconv.ParseFloat(f[0], 64)
			st.sysUp = int64(up)
		}
	}
	return st
}

// cpuTimes returns the busy and total jiffies of /proc/stat's cpu line.
func cpuTimes() (busy, total uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, true
}

// cpuPercent samples CPU use over cpuSample: 0..100, -1 on failure.
func cpuPercent(ctx context.Context) int {
	b1, t1, ok := cpuTimes()
	if !ok {
		return -1
	}
	t := time.NewTimer(cpuSample)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return -1
	}
	b2, t2, ok := cpuTimes()
	if !ok || t2 <= t1 {
		return 0
	}
	return int(min(100, (b2-b1)*100/(t2-t1)))
}

// procKV parses "Key: value kB" lines.
func procKV(path string) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if f := strings.Fields(v); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			out[k] = n
		}
	}
	return out
}

// netBytes sums /proc/net/dev over physical-looking interfaces.
func netBytes() (rx, tx int64) {
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		if name == "lo" || hasAnyPrefix(name, "veth", "docker", "podman", "br-", "virbr") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseInt(f[0], 10, 64)
		t, _ := strconv.ParseInt(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx
}

// diskBytes sums /proc/diskstats over whole disks (sectors of 512 bytes).
func diskBytes() (r, w int64) {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || !isWholeDisk(f[2]) {
			continue
		}
		rs, _ := strconv.ParseInt(f[5], 10, 64)
		ws, _ := strconv.ParseInt(f[9], 10, 64)
		r, w = r+rs*512, w+ws*512
	}
	return r, w
}

// isWholeDisk excludes partitions and virtual devices.
func isWholeDisk(name string) bool {
	if hasAnyPrefix(name, "loop", "ram", "dm-", "md", "zram", "sr") {
		return false
	}
	if _, err := os.Stat("/sys/block/" + name); err != nil {
		return false // partitions are not in /sys/block
	}
	return true
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
