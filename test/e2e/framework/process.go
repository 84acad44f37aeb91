package framework

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pollInterval is how often WaitLog looks at the output.
const pollInterval = 10 * time.Millisecond

// Process is one run of the burrow binary (restartable).
type Process struct {
	f    *Framework
	name string
	args []string
	env  []string // added to the inherited environment
	dir  string
	out  *logBuffer // output of every run, in order

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current run has exited
	state    *os.ProcessState
	waitErr  error
	runStart int // offset in out where the current run's output starts
	runs     int
}

// Burrow starts the burrow binary as `burrow url extraArgs...`, capturing
// stdout and stderr together. The process is stopped at cleanup. It fails
// the test if the binary cannot be built or started.
func (f *Framework) Burrow(name, url string, extraArgs ...string) *Process {
	f.t.Helper()
	bin, err := Binary()
	if err != nil {
		f.t.Fatalf("e2e: %v", err)
	}
	return f.Command(name, bin, append([]string{url}, extraArgs...)...)
}

// Command starts any program the way Burrow starts the burrow binary (for
// specs that need a helper process, and for the framework's own tests).
func (f *Framework) Command(name, program string, args ...string) *Process {
	f.t.Helper()
	return f.CommandEnv(name, nil, program, args...)
}

// CommandEnv is Command with env ("KEY=value") added to the environment
// the program inherits. Its working directory is a fresh directory of its
// own (Process.Dir).
func (f *Framework) CommandEnv(name string, env []string, program string, args ...string) *Process {
	f.t.Helper()
	f.mu.Lock()
	f.seq++
	dir := filepath.Join(f.dir, fmt.Sprintf("%02d-%s", f.seq, sanitize(name)))
	f.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatalf("e2e: %v", err)
	}
	p := &Process{
		f:    f,
		name: name,
		args: append([]string{program}, args...),
		env:  env,
		dir:  dir,
		out:  &logBuffer{},
	}
	if err := p.start(); err != nil {
		f.t.Fatalf("e2e: start %s: %v", name, err)
	}
	f.mu.Lock()
	f.procs = append(f.procs, p)
	f.mu.Unlock()
	return p
}

func (p *Process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Dir = p.dir
	if p.env != nil {
		cmd.Env = append(os.Environ(), p.env...)
	}
	cmd.Stdout = p.out // the same writer for both: one pipe, ordered lines
	cmd.Stderr = p.out
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 2 * time.Second // bound Wait if a child keeps the pipe open
	if p.runs > 0 {
		p.out.Write([]byte(fmt.Sprintf("----- e2e: restart #%d -----\n", p.runs)))
	}
	p.runStart = p.out.Len()
	if err := cmd.Start(); err != nil {
		return err
	}
	p.runs++
	p.cmd = cmd
	p.state, p.waitErr = nil, nil
	done := make(chan struct{})
	p.done = done
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.state, p.waitErr = cmd.ProcessState, err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Dir is the process's working directory.
func (p *Process) Dir() string { return p.dir }

// Name is the name the spec gave the process.
func (p *Process) Name() string { return p.name }

// PID is the current run's process id.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Output is everything every run of the process has written so far.
func (p *Process) Output() string { return p.out.String() }

// RunOutput is what the current run has written so far.
func (p *Process) RunOutput() string {
	p.mu.Lock()
	off := p.runStart
	p.mu.Unlock()
	return p.out.From(off)
}

// WaitLog waits until the current run's output contains substr.
func (p *Process) WaitLog(substr string, timeout time.Duration) error {
	return p.WaitLogN(substr, 1, timeout)
}

// WaitLogN waits until the current run's output contains substr at least n
// times. It gives up early if the process exits.
func (p *Process) WaitLogN(substr string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for range int(timeout/pollInterval) + 2 {
		out := p.RunOutput()
		if strings.Count(out, substr) >= n {
			return nil
		}
		if p.Exited() {
			// The pipe may still have held the line when we looked.
			if strings.Count(p.RunOutput(), substr) >= n {
				return nil
			}
			return fmt.Errorf("%s exited (%s) before logging %q %d time(s); last lines:\n%s",
				p.name, p.describe(), substr, n, tail(p.RunOutput(), 15))
		}
		if !time.Now().Before(deadline) {
			break
		}
		time.Sleep(pollInterval)
	}
	return fmt.Errorf("%s did not log %q %d time(s) within %v (seen %d); last lines:\n%s",
		p.name, substr, n, timeout, strings.Count(p.RunOutput(), substr), tail(p.RunOutput(), 15))
}

// MustWaitLog is WaitLog failing the test.
func (p *Process) MustWaitLog(substr string, timeout time.Duration) {
	p.f.t.Helper()
	if err := p.WaitLog(substr, timeout); err != nil {
		p.f.t.Fatalf("e2e: %v", err)
	}
}

// Signal sends sig to the current run.
func (p *Process) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to the current run and waits (at most 5s) until it is
// reaped.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	_, err := p.Wait(5 * time.Second)
	return err
}

// Exited reports whether the current run has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.doneCh():
		return true
	default:
		return false
	}
}

// Wait waits at most timeout for the current run to exit and returns its
// exit code (-1 if a signal killed it).
func (p *Process) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.doneCh():
	case <-time.After(timeout):
		return 0, fmt.Errorf("%s still running after %v", p.name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.ExitCode(), nil
}

// Restart stops the current run (SIGTERM, then SIGKILL) if it is still
// running and starts the same command again. WaitLog then looks only at the
// new run's output.
func (p *Process) Restart() {
	p.f.t.Helper()
	p.stop(stopGrace)
	if err := p.start(); err != nil {
		p.f.t.Fatalf("e2e: restart %s: %v", p.name, err)
	}
}

// Restart is p.Restart.
func (f *Framework) Restart(p *Process) {
	f.t.Helper()
	p.Restart()
}

func (p *Process) doneCh() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// stop ends the current run: SIGTERM, then SIGKILL to its process group
// after grace.
func (p *Process) stop(grace time.Duration) {
	done := p.doneCh()
	select {
	case <-done:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	killGroup(pid)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	p.out.Write([]byte(fmt.Sprintf("----- e2e: killed after ignoring SIGTERM for %v -----\n", grace)))
}

// describe says how the current run ended, for failure messages.
func (p *Process) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.state == nil:
		return "running"
	case p.waitErr != nil:
		return p.waitErr.Error()
	default:
		return p.state.String()
	}
}

// logBuffer is a goroutine-safe append-only buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// From returns the contents from byte offset off on.
func (b *logBuffer) From(off int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf.Bytes()[off:])
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == ' ' {
			return '_'
		}
		return r
	}, name)
}
