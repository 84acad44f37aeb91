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

Instance URLs (scheme://[key@]host:port/target[,target...]?param=value&...):
  master://0.0.0.0:9090/api?log=info&bridge=0.0.0.0:8024    admin API + shared bridge (TLS; it
                                                            prints the agent line with fp=)
  server://KEY@0.0.0.0:10101/0.0.0.0:8080                   bridge on :10101, users on :8080
  client://KEY@vps.example.com:10101/127.0.0.1:3000         agent: links go to 127.0.0.1:3000
  client://KEY@vps.example.com:8024?fp=FP&allow=10.0.0.5:22,192.168.1.0/24
                                                            agent of a master: dials only allow=
  tcp://0.0.0.0:2222/127.0.0.1:22?agent=KEY&bridge=:8024    TCP forward through agent KEY
  udp://0.0.0.0:5353/127.0.0.1:53?agent=KEY&bridge=:8024    UDP forward through agent KEY

Agents open TLS first and verify the bridge: fp= (pin), else ca=FILE, else the system
roots for sni= or the bridge host; tls=0 on the agent speaks plain TCP. An agent dials
only its own targets and what allow= lists (CIDRs, host:port, host:*, *.domain:port;
allow=* is everything).

Common parameters: log=none|debug|info|warn|error|event, tls=0|1|2, crt=, key=,
rate= (Mbit/s), slot= (max connections), read= (idle timeout), proxy=1 (PROXY protocol
v1), notcp=1, noudp=1; client: fp=, ca=, sni=, allow=; master and bridge= runs:
bridgetls=0|1|2, bridgecrt=, bridgekey=. The tunnel's carrier: type=0|1|2|3 (TCP, QUIC,
WebSocket, HTTP/2) on server and client, bridgetype= on a master; wspath= (and wshost=
on a client) for a WebSocket behind a reverse proxy or CDN.
See README.md for every scheme and parameter.
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
	if len(args) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "burrow %s\n", version)
		return 0
	case "help", "--help", "-h":
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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: inst.Params.Log.SlogLevel()}))
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
	r, err := rt.Start(ctx, inst.Scheme, inst, log)
	if err != nil {
		return err
	}
	log.Info("instance running", "url", inst.Redacted())
	select {
	case <-ctx.Done():
	case <-r.Done():
		return fmt.Errorf("instance ended: %w", r.Err())
	}
	log.Info("shutting down", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := r.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Info("stopped")
	return nil
}
