package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/burrowproject/burrow/internal/backoff"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"

	"google.golang.org/protobuf/proto"
)

// proc is one plugin binary: at most one process at a time, shared by all
// its instances, supervised and relaunched. It implements sdk.Handler.
type proc struct {
	h      *Host
	bin    binary
	log    *slog.Logger
	stderr *tail
	ticket atomic.Uint64

	ctx    context.Context // until close
	cancel context.CancelFunc
	wg     sync.WaitGroup // supervisor and the host's side of handoffs and links

	launchMu sync.Mutex // serialises launches outside the supervisor
	// launcher launches the plugin once; start, or an in-process launch
	// in tests.
	launcher func() (*launch, error)

	mu          sync.Mutex
	cur         *launch // the live launch; nil while down
	supervising bool    // a supervisor owns relaunching
	down        string  // why the plugin is not running, while a relaunch is pending
	changed     chan struct{}
	insts       map[string]*inst
	closed      bool
}

// inst is a started instance as the process backend keeps it: enough to
// start it again on a new process.
type inst struct {
	spec sdk.InstanceSpec
	host sdk.Host
	ln   *os.File // the host's listener, dup'ed; sent at every launch
	pc   *os.File // the host's UDP socket, dup'ed
	// refuse resets connections on ln while the plugin is down; guarded
	// by proc.mu.
	refuse *refuser
}

func newProc(h *Host, bin binary) *proc {
	p := &proc{h: h, bin: bin, log: h.log.With("plugin", BinaryPrefix+bin.name), stderr: newTail(h.cfg.StderrLines),
		changed: make(chan struct{}), insts: make(map[string]*inst)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.launcher = p.start
	return p
}

func (p *proc) file() string { return BinaryPrefix + p.bin.name }

// tailNote is the plugin's last stderr lines for an error message.
func (p *proc) tailNote() string {
	lines := p.stderr.Lines()
	if len(lines) == 0 {
		return ""
	}
	return "; last stderr lines:\n" + strings.Join(lines, "\n")
}

// broadcast wakes everyone waiting for a change of cur; p.mu is held.
func (p *proc) broadcast() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// ensure returns the live launch, launching the plugin if it is not
// running, or waiting (until ctx ends) for a relaunch in progress.
func (p *proc) ensure(ctx context.Context) (*launch, error) {
	var wait *time.Timer // bounds the wait for a relaunch: StartTimeout
	for {
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			return nil, fmt.Errorf("plugin %s: host closed", p.file())
		case p.cur != nil:
			l := p.cur
			p.mu.Unlock()
			return l, nil
		case p.supervising:
			ch, down := p.changed, p.down
			p.mu.Unlock()
			if wait == nil {
				wait = time.NewTimer(p.h.cfg.StartTimeout)
				defer wait.Stop()
			}
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("plugin %s is restarting (%s): %w", p.file(), down, ctx.Err())
			case <-wait.C:
				return nil, fmt.Errorf("plugin %s is down, relaunch pending: %s", p.file(), down)
			}
		}
		p.mu.Unlock()
		if l, err := p.firstLaunch(); l != nil || err != nil {
			return l, err
		}
	}
}

// firstLaunch launches a plugin that has no supervisor (never started, or
// given up) and starts supervising it. It returns nil, nil when another
// caller got there first.
func (p *proc) firstLaunch() (*launch, error) {
	p.launchMu.Lock()
	defer p.launchMu.Unlock()
	p.mu.Lock()
	if p.closed || p.cur != nil || p.supervising {
		p.mu.Unlock()
		return nil, nil
	}
	p.mu.Unlock()
	l, err := p.launcher()
	if err != nil {
		p.log.Error("plugin launch failed", "err", err)
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.kill()
		return nil, fmt.Errorf("plugin %s: host closed", p.file())
	}
	p.cur, p.supervising, p.down = l, true, ""
	again := p.snapshot()
	p.broadcast()
	p.wg.Add(1)
	p.mu.Unlock()
	// Instances left from a launch that was given up run again.
	p.restartAll(l, again)
	go p.supervise(l)
	return l, nil
}

func (p *proc) snapshot() []*inst {
	out := make([]*inst, 0, len(p.insts))
	for _, in := range p.insts {
		out = append(out, in)
	}
	return out
}

// supervise watches a launch and relaunches the plugin when it dies, with
// a capped back-off, for as long as the host runs: a plugin that cannot
// run now may run later (a binary replaced, memory freed). While it is
// down its instances' listeners refuse connections, and every instance
// reports error with the reason; each comes back running by itself.
func (p *proc) supervise(l *launch) {
	defer p.wg.Done()
	b := backoff.New(p.h.cfg.MinBackoff, p.h.cfg.MaxBackoff)
	var crashes []time.Time
	for {
		select {
		case <-l.dead:
		case <-p.ctx.Done():
			return
		}
		l.kill()
		reason := fmt.Sprintf("plugin %s (pid %d) died: %s", p.file(), l.pid, l.why)
		if st := l.exitStatus(); st != "" {
			reason += " (" + st + ")"
		}
		reason += p.tailNote()
		if time.Since(l.started) > p.h.cfg.CrashWindow {
			b.Reset()
		}
		p.mu.Lock()
		if p.cur == l {
			p.cur = nil
		}
		p.down = reason
		p.refuseLocked()
		p.broadcast()
		p.mu.Unlock()
		if p.ctx.Err() != nil {
			return
		}
		p.log.Error("plugin died", "pid", l.pid, "why", l.why, "exit", l.exitStatus(), "stderr", p.stderr.Lines())
		now := time.Now()
		crashes = append(slices.DeleteFunc(crashes, func(t time.Time) bool { return now.Sub(t) > p.h.cfg.CrashWindow }), now)
		nl := p.relaunch(b, reason, len(crashes))
		if nl == nil {
			return // the host is closing
		}
		l = nl
	}
}

// relaunch launches the plugin again after each back-off until it runs or
// the host closes (nil), reporting every instance in error meanwhile. On
// success the refusals stop and the instances start on the new process.
func (p *proc) relaunch(b *backoff.Backoff, reason string, crashes int) *launch {
	for attempt := 1; ; attempt++ {
		delay := b.Next()
		p.reportDown(fmt.Sprintf("%s; %d crash(es) within %s, relaunch %d in %s",
			reason, crashes, p.h.cfg.CrashWindow, attempt, delay.Round(time.Millisecond)))
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return nil
		}
		nl, err := p.launcher()
		if err != nil {
			reason = fmt.Sprintf("plugin %s could not be relaunched: %v", p.file(), err)
			p.log.Error("plugin relaunch failed", "attempt", attempt, "err", err)
			p.mu.Lock()
			p.down = reason
			p.mu.Unlock()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nl.kill()
			return nil
		}
		refusing := p.takeRefusersLocked()
		p.mu.Unlock()
		for _, r := range refusing { // before the plugin accepts on the same sockets
			r.stop()
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nl.kill()
			return nil
		}
		p.cur, p.down = nl, ""
		insts := p.snapshot()
		p.broadcast()
		p.mu.Unlock()
		p.restartAll(nl, insts)
		return nl
	}
}

// reportDown reports every instance in error with reason.
func (p *proc) reportDown(reason string) {
	p.mu.Lock()
	insts := p.snapshot()
	p.mu.Unlock()
	p.report(insts, StateError, reason)
}

// refuseLocked starts refusing on the listener of every instance that is
// not refusing yet. p.mu is held.
func (p *proc) refuseLocked() {
	for _, in := range p.insts {
		if in.refuse == nil {
			in.refuse = startRefuser(in.ln, p.log.With("instance", in.spec.ID))
		}
	}
}

// takeRefusersLocked detaches every instance's refuser, for the caller to
// stop outside p.mu. p.mu is held.
func (p *proc) takeRefusersLocked() []*refuser {
	var out []*refuser
	for _, in := range p.insts {
		if in.refuse != nil {
			out = append(out, in.refuse)
			in.refuse = nil
		}
	}
	return out
}

// restartAll starts instances again on a new launch and reports each.
func (p *proc) restartAll(l *launch, insts []*inst) {
	for _, in := range insts {
		if !p.registered(in) {
			continue
		}
		if err := p.startOn(l, in); err != nil {
			p.log.Error("instance not restarted", "instance", in.spec.ID, "err", err)
			p.mu.Lock()
			if p.insts[in.spec.ID] == in && in.refuse == nil { // nobody serves its listener: refuse
				in.refuse = startRefuser(in.ln, p.log.With("instance", in.spec.ID))
			}
			p.mu.Unlock()
			p.h.cfg.OnState(in.spec.ID, StateError, err.Error())
			continue
		}
		if !p.registered(in) { // stopped meanwhile
			ctx, cancel := context.WithTimeout(l.ctx, p.h.cfg.StartTimeout)
			_ = l.remote.Stop(ctx, in.spec.ID)
			cancel()
			continue
		}
		p.log.Info("instance running again", "instance", in.spec.ID, "pid", l.pid)
		p.h.cfg.OnState(in.spec.ID, StateRunning, "")
	}
}

func (p *proc) registered(in *inst) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.insts[in.spec.ID] == in
}

func (p *proc) report(insts []*inst, state, reason string) {
	for _, in := range insts {
		p.h.cfg.OnState(in.spec.ID, state, reason)
	}
}

// startOn sends an instance's sockets on l's fd link and starts it.
func (p *proc) startOn(l *launch, in *inst) error {
	send := func(f *os.File, network string) (uint64, error) {
		if f == nil {
			return 0, nil
		}
		t := p.ticket.Add(1)
		body, err := proto.Marshal(&pluginpb.FdListen{Instance: in.spec.ID, Network: network, Ticket: t})
		if err == nil {
			err = l.link.SendFile(fdlink.OpListen, body, f)
		}
		return t, err
	}
	lt, err := send(in.ln, "tcp")
	if err != nil {
		return fmt.Errorf("send listener to plugin %s: %w", p.file(), err)
	}
	pt, err := send(in.pc, "udp")
	if err != nil {
		return fmt.Errorf("send udp socket to plugin %s: %w", p.file(), err)
	}
	ctx, cancel := context.WithTimeout(l.ctx, p.h.cfg.StartTimeout)
	defer cancel()
	if err := l.remote.Start(ctx, in.spec, lt, pt); err != nil {
		if ctx.Err() != nil && l.ctx.Err() == nil {
			return fmt.Errorf("plugin %s: start %s: no answer within %s", p.file(), in.spec.ID, p.h.cfg.StartTimeout)
		}
		return err
	}
	return nil
}

// Describe implements sdk.Handler; it launches the plugin if needed.
func (p *proc) Describe(ctx context.Context) (sdk.Descriptor, error) {
	l, err := p.ensure(ctx)
	if err != nil {
		return sdk.Descriptor{}, err
	}
	return l.desc, nil
}

// Validate implements sdk.Handler.
func (p *proc) Validate(ctx context.Context, spec sdk.InstanceSpec) error {
	l, err := p.ensure(ctx)
	if err != nil {
		return err
	}
	return l.remote.Validate(ctx, spec)
}

// Start implements sdk.Handler: it takes the sockets the host bound for
// the instance, keeps a copy to start it again after a crash, and starts
// it in the plugin.
func (p *proc) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	l, err := p.ensure(ctx)
	if err != nil {
		return err
	}
	in := &inst{spec: spec, host: host}
	if slices.Contains(l.desc.Capabilities, sdk.CapNeedsListener) {
		ln, err := host.Listener(ctx, spec.ID)
		if err == nil {
			in.ln, err = fileOf(ln)
		}
		if err != nil {
			return fmt.Errorf("instance %s: tcp listener for plugin %s: %w", spec.ID, p.file(), err)
		}
	}
	if slices.Contains(l.desc.Capabilities, sdk.CapUDP) {
		pc, err := host.PacketConn(ctx, spec.ID)
		if err == nil {
			in.pc, err = fileOf(pc)
		}
		if err != nil {
			in.close()
			return fmt.Errorf("instance %s: udp socket for plugin %s: %w", spec.ID, p.file(), err)
		}
	}
	for {
		p.mu.Lock()
		if _, dup := p.insts[spec.ID]; dup {
			p.mu.Unlock()
			in.close()
			return fmt.Errorf("instance %s is already running", spec.ID)
		}
		if p.cur == nil {
			p.mu.Unlock()
			if _, err := p.ensure(ctx); err != nil {
				in.close()
				return err
			}
			continue
		}
		l = p.cur
		p.insts[spec.ID] = in
		p.mu.Unlock()
		break
	}
	if err := p.startOn(l, in); err != nil {
		p.mu.Lock()
		if p.insts[spec.ID] == in {
			delete(p.insts, spec.ID)
		}
		now := p.cur
		refusing := in.refuse
		in.refuse = nil
		p.mu.Unlock()
		refusing.stop()
		if now != nil && now != l {
			// A relaunch may have started it meanwhile.
			sctx, cancel := context.WithTimeout(now.ctx, p.h.cfg.StartTimeout)
			_ = now.remote.Stop(sctx, spec.ID)
			cancel()
		}
		in.close()
		if l.isDead() {
			return fmt.Errorf("plugin %s died while starting %s: %w%s", p.file(), spec.ID, err, p.tailNote())
		}
		return err
	}
	return nil
}

// Stop implements sdk.Handler.
func (p *proc) Stop(ctx context.Context, id string) error {
	p.mu.Lock()
	in := p.insts[id]
	delete(p.insts, id)
	l := p.cur
	var refusing *refuser
	if in != nil {
		refusing, in.refuse = in.refuse, nil
	}
	p.mu.Unlock()
	refusing.stop()
	if in == nil {
		return fmt.Errorf("instance %s: %w", id, sdk.ErrUnknownInstance)
	}
	defer in.close()
	if l == nil {
		return nil // not running anywhere
	}
	err := l.remote.Stop(ctx, id)
	var re *sdk.RemoteError
	if errors.As(err, &re) && re.Unavailable() {
		return nil // the plugin died; nothing runs there
	}
	return err
}

// close kills the process and waits for the supervisor and the link
// goroutines.
func (p *proc) close() {
	p.launchMu.Lock() // no launch in flight
	p.mu.Lock()
	p.closed = true
	l := p.cur
	p.cur = nil
	insts := p.insts
	p.insts = make(map[string]*inst)
	p.broadcast()
	p.mu.Unlock()
	p.launchMu.Unlock()
	p.cancel()
	if l != nil {
		l.kill()
	}
	p.wg.Wait()
	for _, in := range insts {
		in.refuse.stop() // the supervisor is gone: nobody else touches it
		in.close()
	}
}

// close drops the host's dups of the instance's sockets. It does not
// shutdown(2) them: a listener may be shared by several instances (one
// http entry listener), and shutdown would end it for all of them.
func (in *inst) close() {
	if in.ln != nil {
		_ = in.ln.Close()
		in.ln = nil
	}
	if in.pc != nil {
		_ = in.pc.Close()
		in.pc = nil
	}
}

// fileOf dups a socket so that it can be sent to a plugin.
func fileOf(s any) (*os.File, error) {
	f, ok := s.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("a %T cannot be passed to a plugin process", s)
	}
	return f.File()
}

var (
	_ sdk.Handler = (*proc)(nil)
)
