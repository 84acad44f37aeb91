package file

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/conf"
)

// parseErr parses src and returns its problems ("line: msg"), failing the
// test if it parsed.
func parseErr(t *testing.T, src string) []string {
	t.Helper()
	c, err := Parse("t.toml", []byte(src))
	if err == nil {
		t.Fatalf("parsed: %+v", c)
	}
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %T %v, want *Error", err, err)
	}
	var out []string
	for _, p := range fe.Problems {
		out = append(out, strings.TrimPrefix(fe.Format(p), "t.toml:"))
	}
	return out
}

// hasProblem fails unless one of problems starts with line+": " and
// contains want.
func hasProblem(t *testing.T, problems []string, line, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.HasPrefix(p, line+": ") && strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("no problem at line %s containing %q in:\n%s", line, want, strings.Join(problems, "\n"))
}

func TestParseMaster(t *testing.T) {
	t.Setenv("BURROW_TEST_KEY", "s3cr&t/key")
	src := `# a master
[master]
listen = "127.0.0.1:9090"
prefix = "/admin"
log = "debug"
tls = 1
bridge = ":8024"

[instances.web]
url = "http://:8080/127.0.0.1:3000?agent=${env:BURROW_TEST_KEY}&host=a.example.com"
alias = "site"
restart = false
tags = { env = "prod", "team x" = "ops" }

[instances.ssh]
url = "tcp://:2222/127.0.0.1:22?agent=k"
`
	c, err := Parse("t.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Master
	if m == nil || m.Line != 2 || m.Inst.Listen != "127.0.0.1:9090" || m.Inst.Prefix != "/admin" ||
		m.Inst.Params.Log != conf.LogDebug || m.Inst.Params.TLS != conf.TLSSelfSigned || m.Inst.Params.Bridge != ":8024" {
		t.Fatalf("master: %+v", m)
	}
	if len(c.Instances) != 2 || c.Instances[0].Name != "web" || c.Instances[1].Name != "ssh" {
		t.Fatalf("instances: %+v", c.Instances)
	}
	web := c.Instances[0]
	if web.Alias != "site" || web.Restart || web.Tags["env"] != "prod" || web.Tags["team x"] != "ops" || web.Line != 9 || web.URLLine != 10 {
		t.Fatalf("web: %+v", web)
	}
	inst, err := conf.Parse(web.URL)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Params.Agent != "s3cr&t/key" {
		t.Fatalf("agent key %q: the expansion must be percent-encoded in the URL and decode to the secret", inst.Params.Agent)
	}
	if !c.Instances[1].Restart {
		t.Fatal("restart defaults to true")
	}
	if got := c.Scrub("key s3cr&t/key here, s3cr%26t%2Fkey in a URL"); got != "key **** here, **** in a URL" {
		t.Fatalf("Scrub: %q", got)
	}
}

func TestParseProblemsEachWithItsLine(t *testing.T) {
	src := `[master]
listen = "127.0.0.1:9090"
tls = 7
colour = "blue"

[instances.a]
url = "tcp://:2222/127.0.0.1:22"
alais = "typo"

[instances.b]
restart = "yes"
tags = { k = 1 }

[instances."bad name"]
url = "tcp://:1/x:1?agent=k"

[extra]
x = 1
`
	problems := parseErr(t, src)
	hasProblem(t, problems, "3", "parameter tls")
	hasProblem(t, problems, "4", `unknown key "colour" in [master]`)
	hasProblem(t, problems, "8", `unknown key "alais"`)
	hasProblem(t, problems, "11", "must be true or false")
	hasProblem(t, problems, "12", "instances.b.tags.k must be a string")
	hasProblem(t, problems, "10", "[instances.b] needs url")
	hasProblem(t, problems, "14", `instance name "bad name"`)
	hasProblem(t, problems, "17", `unknown key "extra"`)
}

func TestParseSyntaxErrorHasItsLine(t *testing.T) {
	problems := parseErr(t, "[master]\nlisten = \"127.0.0.1:9090\"\nlog = info\n")
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "3: ") {
		t.Fatalf("problems: %q", problems)
	}
}

func TestParseSecrets(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "agent.key")
	if err := os.WriteFile(keyFile, []byte("filesecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BURROW_TEST_EMPTY", "")
	src := `[master]
listen = "127.0.0.1:9090"

[instances.a]
url = "tcp://:2000/127.0.0.1:22?agent=${file:` + keyFile + `}"
alias = "$${not} expanded"

[instances.b]
url = "tcp://:2000/127.0.0.1:22?agent=${env:BURROW_TEST_UNSET_VARIABLE}"

[instances.c]
url = "tcp://:2000/127.0.0.1:22?agent=${file:` + filepath.Join(dir, "missing") + `}"

[instances.d]
url = "tcp://:2000/127.0.0.1:22?agent=${env:BURROW_TEST_EMPTY}"

[instances.e]
url = "tcp://:2000/127.0.0.1:22?agent=${vault:x}"

[instances.f]
url = "tcp://:2000/127.0.0.1:22?agent=${env:X"
`
	problems := parseErr(t, src)
	hasProblem(t, problems, "9", "environment variable BURROW_TEST_UNSET_VARIABLE is not set")
	hasProblem(t, problems, "12", "secret file")
	hasProblem(t, problems, "15", "BURROW_TEST_EMPTY is not set or empty")
	hasProblem(t, problems, "18", "unknown reference ${vault:...}")
	hasProblem(t, problems, "21", `without a closing "}"`)

	good := strings.SplitN(src, "\n[instances.b]", 2)[0]
	c, err := Parse("t.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := conf.Parse(c.Instances[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Params.Agent != "filesecret" || c.Instances[0].Alias != "${not} expanded" {
		t.Fatalf("agent %q alias %q", inst.Params.Agent, c.Instances[0].Alias)
	}
}

func TestProblemsNeverShowASecret(t *testing.T) {
	t.Setenv("BURROW_TEST_HOST_SECRET", "hostsecret")
	// A secret where conf does not expect one (the target host) is still
	// hidden in the file's problems.
	problems := parseErr(t, `[agent]
url = "client://k@${env:BURROW_TEST_HOST_SECRET}:8024?fp=zz"
`)
	hasProblem(t, problems, "2", "parameter fp")
	for _, p := range problems {
		if strings.Contains(p, "hostsecret") {
			t.Fatalf("problem shows the secret: %s", p)
		}
	}
}

func TestParseAgent(t *testing.T) {
	t.Setenv("BURROW_TEST_AGENT_KEY", "agentkey")
	c, err := Parse("a.toml", []byte("[agent]\nurl = \"client://${env:BURROW_TEST_AGENT_KEY}@127.0.0.1:8024?fp=&allow=127.0.0.1:22\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Master != nil || c.Agent == nil || c.Agent.Inst.Key != "agentkey" || c.Agent.Line != 2 {
		t.Fatalf("%+v", c)
	}
	problems := parseErr(t, "[agent]\nurl = \"tcp://:1/x:1?agent=k\"\nlog = \"debug\"\n")
	hasProblem(t, problems, "2", "must be a client:// URL")
	hasProblem(t, problems, "3", `unknown key "log" in [agent]`)
	problems = parseErr(t, "[agent]\nurl = \"client://k@h:1\"\n[master]\nlisten = \"127.0.0.1:1\"\n")
	hasProblem(t, problems, "1", "not both")
	problems = parseErr(t, "# nothing\n")
	if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "no [master] and no [agent]") }) {
		t.Fatalf("%q", problems)
	}
}

func TestConflicts(t *testing.T) {
	parse := func(raw string) *conf.Instance {
		inst, err := conf.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	list := []Listener{
		{Name: "master", Line: 1, Inst: parse("master://127.0.0.1:9090/api?bridge=:8024")},
		{Name: "instances.a", Line: 5, Inst: parse("tcp://:2222/127.0.0.1:22?agent=k")},
		{Name: "instances.b", Line: 9, Inst: parse("tcp://127.0.0.1:2222/127.0.0.1:23?agent=k")}, // a's port on a wildcard
		{Name: "instances.c", Line: 13, Inst: parse("udp://:2222/127.0.0.1:53?agent=k")},         // udp: no conflict
		{Name: "instances.d", Line: 17, Inst: parse("http://:8080/127.0.0.1:80?agent=k&host=a.example")},
		{Name: "instances.e", Line: 21, Inst: parse("http://:8080/127.0.0.1:81?agent=k&host=b.example")}, // shared entry port
		{Name: "instances.f", Line: 25, Inst: parse("tcp://:8080/127.0.0.1:1?agent=k")},                  // tcp on http's port
		{Name: "instances.g", Line: 29, Inst: parse("server://k@:8024/:7000")},                           // the master's bridge
		{Name: "instances.h", Line: 33, Inst: parse("tcp://10.0.0.1:9090/127.0.0.1:1?agent=k")},          // another host than the API's
	}
	var got []string
	for _, p := range Conflicts(list) {
		got = append(got, p.Msg)
		if p.Line != 9 && p.Line != 25 && p.Line != 29 {
			t.Errorf("conflict at line %d: %s", p.Line, p.Msg)
		}
	}
	want := []string{
		"instances.b's listen address tcp 127.0.0.1:2222 conflicts with instances.a's listen address (line 5)",
		"instances.f's listen address tcp :8080 conflicts with instances.d's entry port (line 17)",
		"instances.f's listen address tcp :8080 conflicts with instances.e's entry port (line 21)",
		"instances.g's tunnel port tcp :8024 conflicts with master's bridge (line 1)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("conflicts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
