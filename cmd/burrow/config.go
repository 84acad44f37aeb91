package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/conf/file"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/server/inspect"
	"github.com/burrowproject/burrow/server/instances"
	"github.com/burrowproject/burrow/server/runtime"
)

// This file is `burrow -c FILE` and `burrow verify -c FILE`: the config
// file (conf/file) of a master, whose instances the master reconciles at
// start and on every reload (configwatch.go), or of an agent.

// isConfigFlag reports whether arg is -c (or --config), alone or with
// =FILE.
func isConfigFlag(arg string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return strings.HasPrefix(arg, "-") && (name == "c" || name == "config")
}

// configFlag parses "-c FILE" (or --config) out of args for cmd.
func configFlag(cmd string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "the config file (TOML)")
	fs.StringVar(path, "config", "", "the config file (TOML)")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", cmd, fs.Arg(0))
		return "", false
	case *path == "":
		fmt.Fprintf(stderr, "%s: -c FILE is required\n", cmd)
		return "", false
	}
	abs, err := filepath.Abs(*path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return "", false
	}
	return abs, true
}

// runConfig is `burrow -c FILE`: the master or the agent the file declares.
func runConfig(args []string, stderr io.Writer) int {
	path, ok := configFlag("burrow", args, stderr)
	if !ok {
		return 2
	}
	c, err := file.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "burrow: %v\n", err)
		return 2
	}
	// [master] log_format and log are master:// parameters like any
	// other: runInstance builds the logger for the URL and the file alike.
	// SIGHUP means reload, never the end: ignored until the watcher takes it.
	signal.Ignore(syscall.SIGHUP)
	src := &configSource{path: path, first: c}
	if c.Agent != nil {
		return runInstance(c.Agent.Inst, stderr, src)
	}
	return runInstance(c.Master.Inst, stderr, src)
}

// configSource is the config file a master runs from: reconciled before
// the instances start, then on SIGHUP and on every change (watch).
type configSource struct {
	path  string
	first *file.Config // as loaded at start
}

// check checks c's instances as the API checks what it is sent, under
// master (the running master's URL: its defaults apply), and their
// listeners (the master's included), and the files their crt=, key=, ca=
// (and the master's) name. It returns the declarations, or every problem
// with its line, by line.
func checkConfig(c *file.Config, master *conf.Instance, v instances.Validator) ([]instances.Declared, []file.Problem) {
	var (
		decl      []instances.Declared
		problems  []file.Problem
		listeners = []file.Listener{{Name: "master", Line: c.Master.Line, Inst: master}}
	)
	problems = append(problems, tlsFileProblems(master, c.Master.Line)...)
	for _, in := range c.Instances {
		d := instances.Declared{Name: in.Name, URL: in.URL, Alias: in.Alias, Restart: in.Restart, Tags: in.Tags}
		parsed, err := instances.CheckDeclared(master, v, d)
		if err != nil {
			line := in.URLLine
			if !strings.HasPrefix(err.Error(), "Invalid URL") {
				line = in.Line // alias or tags
			}
			problems = append(problems, file.Problem{Line: line, Msg: fmt.Sprintf("instances.%s: %s", in.Name, c.Scrub(err.Error()))})
			continue
		}
		for _, p := range tlsFileProblems(parsed, in.URLLine) {
			p.Msg = fmt.Sprintf("instances.%s: %s", in.Name, c.Scrub(p.Msg))
			problems = append(problems, p)
		}
		decl = append(decl, d)
		listeners = append(listeners, file.Listener{Name: "instances." + in.Name, Line: in.Line, Inst: parsed})
	}
	problems = append(problems, file.Conflicts(listeners)...)
	slices.SortStableFunc(problems, func(a, b file.Problem) int { return cmp.Compare(a.Line, b.Line) })
	return decl, problems
}

// tlsFileProblems checks that the certificate, key and CA files an
// instance names exist and parse: crt= with key=, bridgecrt= with
// bridgekey=, ca=.
func tlsFileProblems(inst *conf.Instance, line int) []file.Problem {
	var out []file.Problem
	pair := func(what, crt, key string) {
		if crt == "" || key == "" {
			return
		}
		if _, err := tls.LoadX509KeyPair(crt, key); err != nil {
			out = append(out, file.Problem{Line: line, Msg: fmt.Sprintf("%s: %v", what, err)})
		}
	}
	p := inst.Params
	pair("crt= and key=", p.Crt, p.KeyFile)
	pair("bridgecrt= and bridgekey=", p.BridgeCrt, p.BridgeKey)
	if p.CA != "" {
		if _, err := tlsx.LoadCA(p.CA); err != nil {
			out = append(out, file.Problem{Line: line, Msg: "ca=: " + err.Error()})
		}
	}
	return out
}

// verifyConfig is `burrow verify -c FILE`: it checks the file as the
// master would, without a master and without its data directory, prints
// every problem with its line and exits 1 on any.
func verifyConfig(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("burrow verify", args, stderr)
	if !ok {
		return 2
	}
	c, err := file.Load(path)
	var problems []file.Problem
	var fe *file.Error
	switch {
	case errors.As(err, &fe):
		problems = fe.Problems
	case err != nil:
		problems = []file.Problem{{Msg: err.Error()}}
	}
	report := func(more []file.Problem) int {
		problems := append(problems, more...)
		slices.SortStableFunc(problems, func(a, b file.Problem) int { return cmp.Compare(a.Line, b.Line) })
		e := &file.Error{Path: path, Problems: problems}
		fmt.Fprintln(stdout, e)
		fmt.Fprintf(stdout, "%s: %d problem(s)\n", path, len(problems))
		return 1
	}
	switch {
	case c == nil || (c.Master == nil && c.Agent == nil):
		return report(nil)
	case c.Agent != nil:
		if more := tlsFileProblems(c.Agent.Inst, c.Agent.Line); len(more)+len(problems) > 0 {
			return report(more)
		}
		fmt.Fprintf(stdout, "%s: ok: an agent of %s\n", path, c.Agent.Inst.Listen)
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	v, closeV := validator(c.Master.Inst, log)
	defer closeV()
	decl, more := checkConfig(c, c.Master.Inst, v)
	if len(more)+len(problems) > 0 {
		return report(more)
	}
	names := make([]string, len(decl))
	for i, d := range decl {
		names[i] = d.Name
	}
	fmt.Fprintf(stdout, "%s: ok: a master on %s with %d instance(s)", path, c.Master.Inst.Listen, len(decl))
	if len(names) > 0 {
		fmt.Fprintf(stdout, ": %s", strings.Join(names, ", "))
	}
	fmt.Fprintln(stdout)
	return 0
}

// validator builds what checks instance URLs as the master's runtime
// does, without listening on anything or touching the data directory:
// the same handlers (the plugin processes, started on demand, unless
// handlers=inprocess), an inspector to record into, and with bridge= a
// shared bridge that is never served.
func validator(master *conf.Instance, log *slog.Logger) (instances.Validator, func()) {
	opts := runtime.Options{Version: version, Logger: log, Records: inspect.New(inspect.Config{})}
	if p := master.Params; p.Bridge != "" {
		opts.Shared = runtime.NewSharedBridgeConfig(runtime.BridgeConfig(p, nil, p.BridgeTLS == conf.TLSOff, log, nil))
	}
	closeFn := func() {}
	if master.Params.Handlers != "inprocess" {
		ph, err := startPlugins(master, log, func(string, string, string) {})
		if err == nil {
			opts.Plugins = ph
			closeFn = func() { _ = ph.Close() }
		} else {
			log.Warn("only the built-in handlers check URLs: no usable plugin directory", "err", err)
		}
	}
	return runtimeAdapter{runtime.New(opts)}, closeFn
}

// errRefused is reconcile's error for a file with problems.
var errRefused = errors.New("config file refused, nothing applied")

// reconcile checks the file c under the running master and, if it has no
// problem, makes the manager's file instances those it declares; otherwise
// it logs every problem and changes nothing.
func (s *configSource) reconcile(ctx context.Context, c *file.Config, m *master, v instances.Validator) error {
	decl, problems := checkConfig(c, m.inst, v)
	if len(problems) > 0 {
		e := &file.Error{Path: s.path, Problems: problems}
		for _, p := range problems {
			m.log.Error("Config file problem", "problem", e.Format(p))
		}
		return fmt.Errorf("%w: %d problem(s) in %s", errRefused, len(problems), s.path)
	}
	res, err := m.manager.Reconcile(ctx, s.path, decl)
	counts := []any{"file", s.path, "created", res.Created, "replaced", res.Replaced,
		"updated", res.Updated, "deleted", res.Deleted, "unchanged", len(res.Unchanged)}
	if err != nil {
		// What was done before the failure stays done; say so, then why it stopped.
		m.log.Warn("Config file applied in part", counts...)
		return fmt.Errorf("config file %s: %w", s.path, errors.New(c.Scrub(err.Error())))
	}
	m.log.Info("Config file applied", counts...)
	return nil
}
