// Command burrow runs one Burrow instance URL in the foreground:
//
//	burrow "master://0.0.0.0:9090/api?log=info"            the daemon and its API
//	burrow "server://KEY@0.0.0.0:10101/0.0.0.0:8080"        NodePass pair, server end
//	burrow "client://KEY@vps.example.com:10101/127.0.0.1:3000"  the agent (NodePass pair end)
//	burrow "client://KEY@vps.example.com:8024?fp=FP&allow=10.0.0.5:22"  agent of a master
//	burrow "tcp://0.0.0.0:2222/127.0.0.1:22?agent=KEY&bridge=0.0.0.0:8024"
//
// SIGINT or SIGTERM stops it gracefully: it stops accepting, lets
// connections in flight finish for a bounded time, then closes them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/logx"
	"github.com/burrowproject/burrow/server/runtime"
	"github.com/burrowproject/burrow/server/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// shutdownGrace bounds how long connections in flight may finish on stop.
const shutdownGrace = 5 * time.Second

const usage = `Burrow publishes services in private networks through a public server.

Usage:
  burrow URL            run one instance in the foreground
  burrow -c FILE        run the master (and its instances) or the agent a config file declares;
                        a master applies edits on SIGHUP and when the file changes
  burrow verify -c FILE check a config file as the master would; exit 1 on any problem
  burrow key -data DIR  print the API key of the master whose data= is DIR
  burrow version        print the version
  burrow help           print this help
  burrow help params    print every URL parameter: its schemes, values, default and use

Instance URLs are scheme://[key@]host:port[/target,...][?param=value&...]. One example per scheme:

  master://0.0.0.0:9090/api?bridge=0.0.0.0:8024
      the daemon: admin API on :9090 (tls= is the API's TLS), shared bridge for agents on
      :8024 (bridgetls= is the bridge's TLS, on by default); it prints the agent line with fp=
  server://KEY@0.0.0.0:10101/0.0.0.0:8080
      NodePass pair, server end: its bridge on :10101, users on :8080
  client://KEY@vps.example.com:10101/127.0.0.1:3000
      NodePass pair, client end: what the server's users send goes to 127.0.0.1:3000
  client://AGENT_KEY@vps.example.com:8024?fp=FP&allow=127.0.0.1:22,192.168.1.0/24
      agent of a master: pins the bridge's certificate (fp=), dials only what allow= lists
  tcp://0.0.0.0:2222/127.0.0.1:22?agent=AGENT_KEY&bridge=0.0.0.0:8024
      TCP port 2222 through agent AGENT_KEY to its 127.0.0.1:22 (run alone: its own bridge=)
  udp://0.0.0.0:5353/127.0.0.1:53?agent=AGENT_KEY&bridge=0.0.0.0:8024
      UDP port 5353 through the agent to its 127.0.0.1:53
  http://0.0.0.0:8080/127.0.0.1:3000?agent=AGENT_KEY&host=app.example.com&bridge=0.0.0.0:8024
      HTTP and WebSocket for app.example.com through the agent to its 127.0.0.1:3000
  socks5://0.0.0.0:1080/10.0.0.0/8,*.lan:*?agent=AGENT_KEY&auth=alice:secret&bridge=0.0.0.0:8024
      the example plugin: SOCKS5 into the agent's network, each request checked against the targets

On a master, create tcp, udp, http and plugin instances through its API, without bridge=:
they link through the master's bridge.

TLS: tls= is an instance's own listener. On a master that is the admin API: tls=1 serves
the certificate kept in the data directory (the banner's API: line gives its fp=), tls=2
the crt= and key= files, which must load or the master does not start. The shared bridge's
TLS is bridgetls=: 1 (the default) that same certificate, 2 the bridgecrt=/bridgekey= files.

Agents open TLS first and verify the bridge: fp= (pin), else ca=FILE, else the system
roots for sni= or the bridge host; tls=0 on the agent speaks plain TCP. An agent dials
only its own targets and what allow= lists (CIDRs, host:port, host:*, *.domain:port;
allow=* is everything).

Logs: log=none|debug|info|warn|error|event, log_format=text|json.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "key":
			return printKey(args[1:], stdout, stderr)
		case "verify":
			return verifyConfig(args[1:], stdout, stderr)
		}
		if isConfigFlag(args[0]) {
			return runConfig(args, stderr)
		}
	}
	if len(args) == 2 && isHelp(args[0]) && args[1] == "params" {
		printParams(stdout)
		return 0
	}
	if len(args) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-v":
		return printVersion(stdout, stderr)
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	inst, err := conf.Parse(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "burrow: %v\n", err)
		return 2
	}
	return runInstance(inst, stderr, nil)
}

// runInstance runs inst in the foreground until SIGINT or SIGTERM; a
// master with cfg runs from that config file.
func runInstance(inst *conf.Instance, stderr io.Writer, cfg *configSource) int {
	log := logx.New(stderr, inst.Params)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, inst, log, cfg); err != nil {
		log.Error("burrow stopped", "err", err)
		return 1
	}
	return 0
}

// printKey is `burrow key -data DIR`: it prints the API key kept in a
// master's data directory (the master prints it in full only when it
// creates it) without changing anything there.
func printKey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("burrow key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", "./data", "the master's data directory (its data= parameter)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "burrow key: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	st, err := store.Peek(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "burrow key: %v\n", err)
		return 1
	}
	if st.APIKey == "" {
		fmt.Fprintf(stderr, "burrow key: %s holds no API key\n", *dir)
		return 1
	}
	fmt.Fprintln(stdout, st.APIKey)
	return 0
}

// serve runs inst until ctx ends or the instance fails.
func serve(ctx context.Context, inst *conf.Instance, log *slog.Logger, cfg *configSource) error {
	if inst.Scheme == conf.SchemeMaster {
		return runMaster(ctx, inst, log, cfg)
	}
	rt := runtime.New(runtime.Options{Version: version, Logger: log})
	var next <-chan *conf.Instance // an agent's file: its edits
	if cfg != nil {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wait func()
		next, wait = cfg.watchAgent(wctx, log)
		defer wait()
		defer cancel()
	}
	for {
		r, err := rt.Start(ctx, inst.Scheme, inst, log)
		if err != nil {
			return err
		}
		log.Info("instance running", "url", inst.Redacted())
		edited, err := waitRunning(ctx, r, next, inst, log)
		if err != nil {
			return err
		}
		if edited != nil {
			log.Info("Config file: the agent's URL changed; restarting it", "url", edited.Redacted())
		} else {
			log.Info("shutting down", "grace", shutdownGrace)
		}
		if err := stopRunning(r); err != nil {
			return err
		}
		if edited == nil {
			log.Info("stopped")
			return nil
		}
		inst = edited
	}
}

// waitRunning waits for ctx to end (nil, nil), for r to end (an error),
// or for an edit from next whose URL differs from inst's (that edit).
func waitRunning(ctx context.Context, r *runtime.Running, next <-chan *conf.Instance, inst *conf.Instance, log *slog.Logger) (*conf.Instance, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-r.Done():
			return nil, fmt.Errorf("instance ended: %w", r.Err())
		case edited := <-next:
			if edited.String() != inst.String() {
				return edited, nil
			}
			log.Info("Config file applied: the agent's URL is unchanged")
		}
	}
}

// stopRunning stops r, letting connections in flight finish for up to
// shutdownGrace.
func stopRunning(r *runtime.Running) error {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := r.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
