// Package file reads Burrow's declarative configuration file: a TOML
// document that declares either a master and its instances or an agent.
//
//	[master]
//	listen = "0.0.0.0:9090"     # the API's host:port
//	prefix = "/api"             # the API prefix (default /api)
//	bridge = "0.0.0.0:8024"     # every other key is a master:// parameter by its URL name
//
//	[instances.ssh]             # the name is the instance's identity in the file
//	url = "tcp://0.0.0.0:2222/127.0.0.1:22?agent=${env:AGENT_KEY}"
//	alias = "ssh"
//	restart = true
//	tags = { env = "prod" }
//
//	[agent]                     # an agent's file instead: its client:// URL
//	url = "client://${file:/etc/burrow/agent.key}@vps.example.com:8024?fp=..."
//
// [Parse] reports every problem with its line: syntax, unknown keys, values
// of the wrong type, missing secrets, master:// parameters conf refuses.
// String values may take secrets from the environment or a file
// (${env:NAME}, ${file:PATH}, $${ for a literal "${"); inside url= an
// expanded value is percent-encoded, so a secret may hold any character.
// [Config.Scrub] hides every expanded value in a message.
//
// The master's settings become a master:// URL parsed by conf: there is no
// second set of checks. Instance URLs are returned expanded, unchecked: the
// master's instance manager checks them as it checks the API's
// (instances.CheckDeclared), and [Conflicts] finds listeners two of them
// (or the master) would share.
package file

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/burrowproject/burrow/conf"
)

// MaxSize bounds a configuration file.
const MaxSize = 1 << 20

// Config is a parsed configuration file: Master and Instances, or Agent.
type Config struct {
	Path      string
	Master    *Master    // nil in an agent's file
	Instances []Instance // in file order
	Agent     *Agent     // nil in a master's file

	secrets []string // every expanded value, longest first
	lines   lineIndex
}

// Master is the [master] table.
type Master struct {
	Inst *conf.Instance // the master:// URL the table makes
	Line int            // of [master]
}

// Instance is one [instances.NAME] table.
type Instance struct {
	Name    string
	URL     string // expanded: may hold secrets, never log it
	Alias   string
	Restart bool // default true
	Tags    map[string]string
	Line    int // of the table
	URLLine int // of url=
}

// Agent is the [agent] table.
type Agent struct {
	Inst *conf.Instance // the client:// URL, expanded
	Line int            // of url=
}

// Problem is one thing wrong with the file, at a line (0: the whole file).
type Problem struct {
	Line int
	Msg  string
}

// Error lists every problem of a file.
type Error struct {
	Path     string
	Problems []Problem
}

// Error returns one "path:line: problem" per line.
func (e *Error) Error() string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = e.Format(p)
	}
	return strings.Join(out, "\n")
}

// Format returns "path:line: problem".
func (e *Error) Format(p Problem) string {
	if p.Line <= 0 {
		return e.Path + ": " + p.Msg
	}
	return e.Path + ":" + strconv.Itoa(p.Line) + ": " + p.Msg
}

// Load reads and parses the file at path (see Parse).
func Load(path string) (*Config, error) {
	data, err := readBounded(path, MaxSize)
	if err != nil {
		return nil, &Error{Path: path, Problems: []Problem{{Msg: err.Error()}}}
	}
	return Parse(path, data)
}

// namePattern is what an instance name may be.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Parse parses data, the content of the file at path (named in problems).
// The error is an *Error listing every problem; with it the Config holds
// what could be read (for `burrow verify` to check further), or is nil
// when the TOML itself does not parse. Nothing may run from a Config that
// came with an error.
func Parse(path string, data []byte) (*Config, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		p := Problem{Msg: err.Error()}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			p.Line, _ = de.Position()
		}
		return nil, &Error{Path: path, Problems: []Problem{p}}
	}
	lines, err := indexLines(data)
	if err != nil {
		return nil, &Error{Path: path, Problems: []Problem{{Msg: err.Error()}}}
	}
	c := &Config{Path: path, lines: lines}
	r := &reader{c: c}
	for _, key := range sortedByLine(lines, nil, doc) {
		switch key {
		case "master":
			if t, ok := r.table(doc[key], key); ok {
				r.master(t)
			}
		case "instances":
			if t, ok := r.table(doc[key], key); ok {
				r.instances(t)
			}
		case "agent":
			if t, ok := r.table(doc[key], key); ok {
				r.agent(t)
			}
		default:
			r.problem(lines.at(key), "unknown key %q (want [master] with [instances.NAME], or [agent])", key)
		}
	}
	switch {
	case doc["master"] != nil && doc["agent"] != nil:
		r.problem(lines.at("agent"), "a file declares a master or an agent, not both")
	case doc["agent"] != nil && doc["instances"] != nil:
		r.problem(lines.at("instances"), "instances belong to a master: an agent's file has only [agent]")
	case doc["master"] == nil && doc["agent"] == nil:
		r.problem(0, "no [master] and no [agent] table")
	}
	slices.SortFunc(c.secrets, func(a, b string) int { return len(b) - len(a) })
	if len(r.problems) > 0 {
		for i := range r.problems {
			r.problems[i].Msg = c.Scrub(r.problems[i].Msg)
		}
		return c, &Error{Path: path, Problems: r.problems}
	}
	return c, nil
}

// Scrub replaces every expanded value of the file found in s by "****".
func (c *Config) Scrub(s string) string {
	for _, v := range c.secrets {
		s = strings.ReplaceAll(s, v, "****")
	}
	return s
}

// reader collects the problems of one Parse.
type reader struct {
	c        *Config
	problems []Problem
}

func (r *reader) problem(line int, format string, args ...any) {
	r.problems = append(r.problems, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
}

// table returns v as a table, or reports that the key at path is not one.
func (r *reader) table(v any, path ...string) (map[string]any, bool) {
	t, ok := v.(map[string]any)
	if !ok {
		r.problem(r.c.lines.at(path...), "%s must be a table", strings.Join(path, "."))
	}
	return t, ok
}

// str returns the string at path, expanded (percent-encoded with forURL).
func (r *reader) str(v any, forURL bool, path ...string) (string, bool) {
	line := r.c.lines.at(path...)
	s, ok := v.(string)
	if !ok {
		r.problem(line, "%s must be a string", strings.Join(path, "."))
		return "", false
	}
	out, err := expand(s, forURL, &r.c.secrets)
	if err != nil {
		r.problem(line, "%s: %v", strings.Join(path, "."), err)
		return "", false
	}
	return out, true
}

// master reads [master] into a master:// URL.
func (r *reader) master(t map[string]any) {
	line := r.c.lines.at("master")
	listen, prefix := "", "/api"
	q := url.Values{}
	good := true // listen and prefix read
	for _, k := range sortedByLine(r.c.lines, []string{"master"}, t) {
		at := r.c.lines.at("master", k)
		switch {
		case k == "listen" || k == "prefix":
			s, ok := r.str(t[k], false, "master", k)
			good = good && ok
			if k == "listen" {
				listen = s
			} else {
				prefix = s
			}
		case conf.Applies(conf.SchemeMaster, k):
			if v, ok := r.scalar(t[k], "master", k); ok {
				q.Set(k, v)
			}
		default:
			r.problem(at, "unknown key %q in [master] (want listen, prefix or a master:// parameter)", k)
		}
	}
	if listen == "" {
		if t["listen"] == nil {
			r.problem(line, "[master] needs listen (the API's host:port)")
		}
		return
	}
	if !good {
		return
	}
	raw := "master://" + listen + prefix
	if len(q) > 0 {
		raw += "?" + q.Encode()
	}
	inst, err := conf.Parse(raw)
	if err != nil {
		r.urlProblems(err, line, func(param string) int {
			if param == "" {
				return r.c.lines.at("master", "listen")
			}
			return r.c.lines.at("master", param)
		})
		return
	}
	r.c.Master = &Master{Inst: inst, Line: line}
}

// paramPattern finds the parameter a conf problem is about.
var paramPattern = regexp.MustCompile(`^(?:parameter ([a-z_]+)|unknown parameter "([^"]+)")`)

// urlProblems reports each problem of a conf.Parse error at the line
// lineOf gives for the parameter it names ("" when it names none), or at
// fallback.
func (r *reader) urlProblems(err error, fallback int, lineOf func(param string) int) {
	var ue *conf.URLError
	if !errors.As(err, &ue) {
		r.problem(fallback, "%v", err)
		return
	}
	for _, p := range ue.Problems {
		line := 0
		if m := paramPattern.FindStringSubmatch(p); m != nil {
			line = lineOf(m[1] + m[2])
		} else {
			line = lineOf("")
		}
		if line == 0 {
			line = fallback
		}
		r.problem(line, "%s", p)
	}
}

// scalar returns a string, integer or boolean value as a URL parameter
// value (booleans as 1 and 0), strings expanded.
func (r *reader) scalar(v any, path ...string) (string, bool) {
	switch x := v.(type) {
	case string:
		return r.str(x, false, path...)
	case int64:
		return strconv.FormatInt(x, 10), true
	case bool:
		if x {
			return "1", true
		}
		return "0", true
	}
	r.problem(r.c.lines.at(path...), "%s must be a string, an integer or a boolean", strings.Join(path, "."))
	return "", false
}

// instances reads [instances.NAME] tables.
func (r *reader) instances(t map[string]any) {
	for _, name := range sortedByLine(r.c.lines, []string{"instances"}, t) {
		line := r.c.lines.at("instances", name)
		if !namePattern.MatchString(name) {
			r.problem(line, "instance name %q: use 1 to 64 letters, digits, - and _, starting with a letter or digit", name)
			continue
		}
		it, ok := r.table(t[name], "instances", name)
		if !ok {
			continue
		}
		in := Instance{Name: name, Restart: true, Tags: map[string]string{}, Line: line, URLLine: r.c.lines.at("instances", name, "url")}
		good := true
		for _, k := range sortedByLine(r.c.lines, []string{"instances", name}, it) {
			path := []string{"instances", name, k}
			switch k {
			case "url":
				in.URL, ok = r.str(it[k], true, path...)
			case "alias":
				in.Alias, ok = r.str(it[k], false, path...)
			case "restart":
				in.Restart, ok = it[k].(bool)
				if !ok {
					r.problem(r.c.lines.at(path...), "%s must be true or false", strings.Join(path, "."))
				}
			case "tags":
				ok = r.tags(it[k], in.Tags, path)
			default:
				r.problem(r.c.lines.at(path...), "unknown key %q in [instances.%s] (want url, alias, restart, tags)", k, name)
				ok = false
			}
			good = good && ok
		}
		if it["url"] == nil {
			r.problem(line, "[instances.%s] needs url", name)
			good = false
		}
		if good {
			r.c.Instances = append(r.c.Instances, in)
		}
	}
}

// tags reads a table of strings into into.
func (r *reader) tags(v any, into map[string]string, path []string) bool {
	t, ok := r.table(v, path...)
	if !ok {
		return false
	}
	good := true
	for _, k := range sortedByLine(r.c.lines, path, t) {
		s, ok := r.str(t[k], false, append(slices.Clone(path), k)...)
		into[k] = s
		good = good && ok
	}
	return good
}

// agent reads [agent].
func (r *reader) agent(t map[string]any) {
	var raw string
	ok := false
	for _, k := range sortedByLine(r.c.lines, []string{"agent"}, t) {
		if k != "url" {
			r.problem(r.c.lines.at("agent", k), "unknown key %q in [agent] (want url)", k)
			continue
		}
		raw, ok = r.str(t[k], true, "agent", "url")
	}
	line := r.c.lines.at("agent", "url")
	switch {
	case t["url"] == nil:
		r.problem(r.c.lines.at("agent"), "[agent] needs url (the agent's client:// URL)")
		return
	case !ok:
		return
	}
	inst, err := conf.Parse(raw)
	if err != nil {
		r.urlProblems(err, line, func(string) int { return line })
		return
	}
	if inst.Scheme != conf.SchemeClient {
		r.problem(line, "agent.url must be a client:// URL, not %s://", inst.Scheme)
		return
	}
	r.c.Agent = &Agent{Inst: inst, Line: line}
}

// readBounded reads the file at path; one longer than limit bytes is an
// error.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
