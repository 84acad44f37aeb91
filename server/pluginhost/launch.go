package pluginhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
)

// launch is one run of a plugin process: a go-plugin Client (never
// reused), its control client, its fd link, and the watchers that notice
// its death first: fd link EOF, the end of the Events stream, or Exited().
type launch struct {
	proc    process
	cmd     *exec.Cmd // nil for in-process test launches
	remote  *sdk.Remote
	link    *fdlink.Conn
	desc    sdk.Descriptor
	pid     int
	started time.Time

	ctx    context.Context // ends at kill
	cancel context.CancelFunc
	wg     sync.WaitGroup // watchers

	deadOnce sync.Once
	dead     chan struct{}
	why      string
	killOnce sync.Once
}

// secureConfig returns a SecureConfig for one launch. go-plugin hashes the
// binary into the given hash without resetting it, so every launch needs a
// new one: a reused SecureConfig fails the second launch.
func secureConfig(sum []byte) *plugin.SecureConfig {
	return &plugin.SecureConfig{Checksum: append([]byte(nil), sum...), Hash: sha256.New()}
}

// start launches the plugin once. On error nothing is left running.
func (p *proc) start() (*launch, error) {
	cfg := p.h.cfg
	if err := checkOwnership(filepath.Dir(p.bin.path), true); err != nil {
		return nil, err
	}
	if err := checkOwnership(p.bin.path, false); err != nil {
		return nil, err
	}
	link, theirs, err := fdlink.Pair()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", p.file(), err)
	}
	cmd := exec.Command(p.bin.path)
	cmd.Dir = filepath.Dir(p.bin.path)
	cmd.Env = append(append([]string(nil), cfg.Env...),
		sdk.EnvFDLink+"=3", // ExtraFiles[0] is descriptor 3 in the child
		sdk.EnvLogLevel+"="+cfg.LogLevel)
	cmd.ExtraFiles = []*os.File{theirs}
	p.stderr.Reset()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.HandshakeConfig(0),
		VersionedPlugins: sdk.ClientPlugins(),
		Cmd:              cmd,
		SecureConfig:     p.h.secure(p.bin.sum),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     cfg.StartTimeout,
		Stderr:           p.stderr,
		SyncStdout:       newStdioSink(p.log, "stdout"),
		SyncStderr:       newStdioSink(p.log, "stderr"),
		Logger:           hclogFor(p.log),
	})
	l := newLaunch(clientProc{client}, link)
	l.cmd = cmd
	fail := func(err error) (*launch, error) {
		l.kill()
		return nil, err
	}
	// client.Client forks the plugin: do it as a batch task (sched_linux.go).
	var rpc plugin.ClientProtocol
	err = asBatch(func() (err error) { rpc, err = client.Client(); return err })
	_ = theirs.Close() // the child has its copy, or never will
	if err != nil {
		return fail(p.startError(err))
	}
	if rc := client.ReattachConfig(); rc != nil {
		l.pid = rc.Pid
	}
	if v := client.NegotiatedVersion(); v != sdk.ProtocolVersion {
		return fail(fmt.Errorf("plugin %s negotiated handler protocol %d; this server speaks %d", p.file(), v, sdk.ProtocolVersion))
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return fail(fmt.Errorf("plugin %s: dispense: %w", p.file(), err))
	}
	remote, ok := raw.(*sdk.Remote)
	if !ok {
		return fail(fmt.Errorf("plugin %s: dispensed a %T", p.file(), raw))
	}
	l.remote = remote
	if err := p.ready(l); err != nil {
		return fail(err)
	}
	return l, nil
}

// newLaunch returns a launch of proc on link; set remote, then call ready.
func newLaunch(proc process, link *fdlink.Conn) *launch {
	l := &launch{proc: proc, link: link, dead: make(chan struct{}), started: time.Now()}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

// ready describes the plugin, checks it, and starts the watchers.
func (p *proc) ready(l *launch) error {
	cfg := p.h.cfg
	ctx, cancel := context.WithTimeout(l.ctx, cfg.StartTimeout)
	desc, err := l.remote.Describe(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("plugin %s: describe: %w%s", p.file(), err, p.tailNote())
	}
	if err := checkDescriptor(desc); err != nil {
		return fmt.Errorf("plugin %s: %w", p.file(), err)
	}
	l.desc = desc
	l.watch(p)
	p.log.Info("plugin started", "pid", l.pid, "version", desc.Version, "sdk", desc.SDKVersion)
	return nil
}

// process is the plugin process under a launch.
type process interface {
	Exited() bool
	Ping() error
	Kill()
}

// clientProc is a process run by a go-plugin Client.
type clientProc struct{ c *plugin.Client }

func (c clientProc) Exited() bool { return c.c.Exited() }
func (c clientProc) Kill()        { c.c.Kill() }
func (c clientProc) Ping() error {
	rpc, err := c.c.Client()
	if err != nil {
		return err
	}
	return rpc.Ping()
}

// startError turns go-plugin's launch errors into ones an operator can act on.
func (p *proc) startError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("plugin %s refused: its SHA-256 does not match the manifest (%s); the binary changed since it was pinned",
			p.file(), p.h.manifest)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("plugin %s did not answer the handshake within %s (start timeout)%s",
			p.file(), p.h.cfg.StartTimeout, p.tailNote())
	case strings.Contains(msg, "incompatible API version"):
		return fmt.Errorf("plugin %s speaks another handler protocol version than this server (%d): rebuild it against a matching plugins/sdk (%s)",
			p.file(), sdk.ProtocolVersion, msg)
	case strings.Contains(msg, "plugin exited before we could connect"):
		return fmt.Errorf("plugin %s exited during the handshake%s", p.file(), p.tailNote())
	}
	return fmt.Errorf("plugin %s: %w%s", p.file(), err, p.tailNote())
}

// checkDescriptor refuses a plugin built against an incompatible SDK.
func checkDescriptor(d sdk.Descriptor) error {
	major := func(v string) string { m, _, _ := strings.Cut(v, "."); return m }
	if major(d.SDKVersion) != major(sdk.Version) {
		return fmt.Errorf("built against handler SDK %q; this server needs %s.x", d.SDKVersion, major(sdk.Version))
	}
	if len(d.Schemes) == 0 {
		return errors.New("describes no scheme")
	}
	return nil
}

// watch starts the goroutines that serve the fd link and notice death.
func (l *launch) watch(p *proc) {
	l.wg.Add(3)
	go func() {
		defer l.wg.Done()
		p.serveLink(l)
		l.die("fd link closed")
	}()
	go func() {
		defer l.wg.Done()
		err := l.remote.Events(l.ctx, func(ev sdk.Event) {
			switch ev.Kind {
			case "warning":
				p.log.Warn("plugin warning", "instance", ev.Instance, "msg", ev.Message)
			case "state":
				p.log.Info("plugin instance state", "instance", ev.Instance, "state", ev.State, "msg", ev.Message)
			case "exchanges":
				p.deliverExchanges(ev)
			case "counts":
				p.deliverCounts(ev)
			}
		})
		if l.ctx.Err() == nil {
			l.die("events stream ended: " + errString(err))
		}
	}()
	go func() {
		defer l.wg.Done()
		l.poll(p.h.cfg.PingInterval)
	}()
}

// poll checks Exited() every 250ms and pings the plugin every interval; a
// plugin that does not answer a ping in time is declared dead (and then
// killed by the supervisor).
func (l *launch) poll(interval time.Duration) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	lastPing := time.Now()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.dead:
			return
		case <-t.C:
		}
		if l.proc.Exited() {
			l.die("process exited")
			return
		}
		if interval > 0 && time.Since(lastPing) >= interval {
			lastPing = time.Now()
			if err := l.ping(interval); err != nil {
				l.die("not answering pings: " + err.Error())
				return
			}
		}
	}
}

// ping checks the plugin's gRPC health within timeout.
func (l *launch) ping(timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- l.proc.Ping() }() // ends when the connection does at the latest
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("no answer within %s", timeout)
	case <-l.ctx.Done():
		return nil
	}
}

// die records why the launch ended; the first reason wins.
func (l *launch) die(why string) {
	l.deadOnce.Do(func() {
		l.why = why
		close(l.dead)
	})
}

func (l *launch) isDead() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

// kill ends the process and every watcher. Closing the fd link first lets
// the plugin exit at once (the SDK exits on EOF) instead of waiting for
// go-plugin's graceful shutdown.
func (l *launch) kill() {
	l.killOnce.Do(func() {
		l.die("killed")
		l.cancel()
		_ = l.link.Close()
		l.proc.Kill()
		l.wg.Wait()
	})
}

// exitStatus describes how the process ended, once it was reaped.
func (l *launch) exitStatus() string {
	if l.cmd == nil || l.cmd.ProcessState == nil {
		return ""
	}
	return l.cmd.ProcessState.String()
}

func errString(err error) string {
	if err == nil {
		return "EOF"
	}
	return err.Error()
}
