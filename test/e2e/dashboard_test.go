package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The master's dashboard in a real headless Chromium against the real
// binary, agents and backends.

// startDashboardAgent starts a targetless agent for the master's shared
// bridge with key, allowed to dial allow (host:port). Every agent of these
// specs starts here, so what agents need to reach a bridge (allow=, fp=)
// is written once.
func startDashboardAgent(f *framework.Framework, m *framework.Master, name, key, allow string) *framework.Process {
	f.T().Helper()
	return f.Burrow(name, m.AgentURL(key, "allow="+allow))
}

func dashboardBase(m *framework.Master) string { return fmt.Sprintf("http://127.0.0.1:%d", m.Port) }

// Log in with a wrong key, then the right one; an alias full of markup is
// shown as text; rotate the key (the old one stops working, the page goes
// on with the new one); log out.
func TestDashboardLoginAliasAndKeyRotation(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	const evil = `<img src=x onerror=alert(1)>`
	in := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/127.0.0.1:9?agent=%s", f.Port(), newKey(t)), evil)
	b := newBrowser(t, dashboardBase(m))

	b.login("0123456789abcdef0123456789abcdef")
	b.waitFor("the wrong key refused", `document.querySelector('#login-error').textContent.includes('Wrong API key')`, 10*time.Second)
	b.shot("login-refused")
	b.login(m.Key())
	b.waitFor("the overview", `(document.querySelector('main h1') || {}).textContent === 'Overview'`, 10*time.Second)
	checkURLModule(b)
	b.waitFor("the instance count", `document.querySelector('#ov-instances .value').textContent === '1'`, 10*time.Second)
	// The bridge and the agent command line, when /info has them.
	var info struct {
		Bridge *struct{ Addr, Agent string } `json:"bridge"`
	}
	if err := m.MustDo(http.StatusOK, http.MethodGet, "/info", nil).JSON(&info); err != nil {
		t.Fatal(err)
	}
	if info.Bridge != nil {
		b.waitFor("the bridge address", fmt.Sprintf(`document.querySelector('#bridge-addr')?.textContent === %q`, info.Bridge.Addr), 5*time.Second)
		if got := eval[string](b, `document.querySelector('#agent-command')?.value`); got != info.Bridge.Agent {
			b.fatalf("agent command line %q, want %q", got, info.Bridge.Agent)
		}
	} else {
		b.waitFor("no bridge said", `document.querySelector('#bridge-none') !== null`, 5*time.Second)
	}
	b.shot("overview")
	// Phone width and dark: nothing scrolls sideways, the colours change.
	light := eval[string](b, `getComputedStyle(document.body).backgroundColor`)
	b.scheme("dark")
	if dark := eval[string](b, `getComputedStyle(document.body).backgroundColor`); dark == light {
		b.fatalf("prefers-color-scheme: dark keeps the background %s", light)
	}
	b.fitsWidth(375, "the overview")
	b.shot("overview-phone-dark")
	b.scheme("light")
	b.do("wide again", chromedp.EmulateViewport(1280, 860))

	b.goTo("#/instances", "Instances")
	row := fmt.Sprintf(`tr[data-id=%q]`, in.ID)
	b.waitFor("the instance row", fmt.Sprintf(`document.querySelector('%s') !== null`, row), 10*time.Second)
	b.do("search", chromedp.SendKeys(chromedp.CSS("#filter-text"), "no such instance"))
	b.waitFor("the row filtered out", fmt.Sprintf(`document.querySelector('%s').hidden && document.querySelector('#instances-count').textContent === '0 of 1 instances'`, row), 5*time.Second)
	b.do("search by id", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const s = document.querySelector('#filter-text'); s.value = %q; s.dispatchEvent(new Event('input')); })()`, in.ID)))
	b.waitFor("the row shown", fmt.Sprintf(`!document.querySelector('%s').hidden`, row), 5*time.Second)
	b.fitsWidth(375, "the instances table")
	b.do("wide again", chromedp.EmulateViewport(1280, 860))

	if got := b.text(row + " [data-alias]"); got != evil {
		b.fatalf("alias shown as %q, want the text %q", got, evil)
	}
	if n := eval[int](b, `document.querySelectorAll('main img, img[src="x"]').length`); n != 0 {
		b.fatalf("the alias became %d img element(s)", n)
	}
	b.do("open the detail page", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/instances/%s"`, in.ID)))
	b.waitFor("the alias as the heading, in text", fmt.Sprintf(`document.querySelector('main h1')?.firstChild?.nodeValue === %q`, evil), 10*time.Second)
	if n := eval[int](b, `document.querySelectorAll('main img').length`); n != 0 {
		b.fatalf("the alias became %d img element(s) on the detail page", n)
	}
	if d := b.dialogsSeen(); len(d) != 0 {
		b.fatalf("the alias opened JavaScript dialogs: %q", d)
	}
	b.goTo("#/instances", "Instances")
	// In place: the auto-start policy, and the alias (Escape cancels, Enter saves).
	b.do("auto-start off", chromedp.Click(chromedp.CSS(row+" input[type=checkbox]")))
	m.WaitInstance(in.ID, ready, "with auto-start off", func(v framework.Instance) bool { return !v.Restart })
	openAliasEditor(b, row)
	b.do("cancel", chromedp.SendKeys(chromedp.CSS(row+" .alias-input"), "nope"), chromedp.KeyEvent(kb.Escape))
	b.waitFor("the alias back", fmt.Sprintf(`document.querySelector('%s [data-alias]')?.textContent === %q`, row, evil), 5*time.Second)
	if got := m.Get(in.ID).Alias; got != evil {
		b.fatalf("Escape saved the alias %q", got)
	}
	openAliasEditor(b, row)
	b.do("save", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector('%s .alias-input').value = ''`, row)),
		chromedp.SendKeys(chromedp.CSS(row+" .alias-input"), evil+" 2\n"))
	m.WaitInstance(in.ID, ready, "with the new alias", func(v framework.Instance) bool { return v.Alias == evil+" 2" })
	b.waitFor("the new alias shown", fmt.Sprintf(`document.querySelector('%s [data-alias]')?.textContent === %q`, row, evil+" 2"), 10*time.Second)

	// Rotate the key: confirmation, then the new key is shown and used.
	old := m.Key()
	b.do("rotate", chromedp.Click(chromedp.CSS("#rotate-key")))
	b.confirmDialog("Rotate the API key")
	b.waitFor("the new key", `(document.querySelector('#new-key') || {}).value?.length === 32`, 10*time.Second)
	newKey := eval[string](b, `document.querySelector('#new-key').value`)
	if newKey == old {
		b.fatalf("the key did not change")
	}
	b.do("close the key dialog", chromedp.Click(chromedp.CSS("dialog[open] button")))
	if r, err := m.DoKey(old, http.MethodGet, "/info", nil); err != nil || r.Status != http.StatusUnauthorized {
		b.fatalf("the old key after rotation: %v %v", r, err)
	}
	m.SetKey(newKey)
	m.MustDo(http.StatusOK, http.MethodGet, "/info", nil)
	// The page goes on with the new key: its event stream reconnects and
	// shows a change made now.
	m.Patch(in.ID, `{"alias":"after rotation"}`)
	b.goTo("#/instances", "Instances")
	b.waitFor("the change after rotation", fmt.Sprintf(`document.querySelector('%s [data-alias]')?.textContent === 'after rotation'`, row), 15*time.Second)
	b.waitFor("the stream live", `document.querySelector('#stream-state').textContent === 'Live'`, 10*time.Second)

	b.do("log out", chromedp.Click(chromedp.CSS("#logout")))
	b.waitFor("the login form", `document.querySelector('#login-key') !== null && sessionStorage.length === 0`, 5*time.Second)
	b.check()
}

// Create an http instance through the form (a bad host= first: the
// master's 400 appears next to the host field), watch its counters and
// chart move while a client sends requests through a real agent, then
// stop, start and delete it from the page.
func TestDashboardCreateTrafficLifecycle(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	var hits atomic.Int64
	backend := f.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(strings.Repeat("burrow ", 2000)))
	}))
	key := newKey(t)
	entry := framework.Addr(f.Port())
	b := newBrowser(t, dashboardBase(m))
	b.login(m.Key())
	b.goTo("#/instances/new", "New instance")
	b.waitFor("the scheme list", `document.querySelector('#f-scheme option[value="http"]') !== null`, 15*time.Second)
	b.do("choose http", chromedp.SetValue(chromedp.CSS("#f-scheme"), "http"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#f-scheme').dispatchEvent(new Event('change'))`))
	b.waitFor("the http fields", `document.querySelector('#f-host') !== null`, 5*time.Second)
	b.do("fill the form",
		chromedp.SendKeys(chromedp.CSS("#f-alias"), "web"),
		chromedp.SendKeys(chromedp.CSS("#f-listen"), entry),
		chromedp.SendKeys(chromedp.CSS("#f-targets"), backend),
		chromedp.SendKeys(chromedp.CSS("#f-agent"), key),
		chromedp.SendKeys(chromedp.CSS("#f-host"), "bad_host!"))
	if u := eval[string](b, `document.querySelector('#f-url').value`); u != fmt.Sprintf("http://%s/%s?agent=%s&host=bad_host!", entry, backend, key) {
		b.fatalf("the form built %q", u)
	}
	b.do("submit", chromedp.Click(chromedp.CSS("#form-submit")))
	b.waitFor("the 400 next to host", `document.querySelector('[data-error-for="host"]').textContent.includes('parameter host')`, 10*time.Second)
	if eval[string](b, `document.activeElement.id`) != "f-host" || eval[string](b, `document.querySelector('#f-host').getAttribute('aria-invalid')`) != "true" {
		b.fatalf("the host field is not marked and focused")
	}
	b.shot("form-error")
	b.do("fix host", chromedp.Evaluate[chromedp.Void](`document.querySelector('#f-host').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#f-host"), "app.example.com"),
		chromedp.Click(chromedp.CSS("#form-submit")))
	b.waitFor("the detail page", `location.hash.startsWith('#/instances/') && (document.querySelector('main h1') || {}).textContent.startsWith('web')`, 10*time.Second)
	id := strings.TrimPrefix(eval[string](b, `location.hash`), "#/instances/")
	b.waitFor("running", `document.querySelector('main h1 [data-status]')?.textContent === 'running'`, 15*time.Second)
	startDashboardAgent(f, m, "agent", key, backend).MustWaitLog(logConnected, ready)

	// Traffic through the entry, until the page shows counters and a chart
	// that moved (the history is sampled every report interval).
	client := entryClient(t, entry, 5*time.Second)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ { // bounded: about 40 s at most
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, _, _, _ = entryGet(client, "http://app.example.com/")
		}
	}()
	defer func() { close(stop); <-done }()
	b.waitFor("counters moving", `Number(document.querySelector('#c-tcp')?.dataset.n) > 0`, 3*reportInterval)
	b.waitFor("the chart moving", `Number(document.querySelector('#traffic-chart')?.dataset.total) > 0`, 4*reportInterval)
	b.shot("detail")
	if hits.Load() == 0 {
		b.fatalf("the backend saw no request")
	}

	// Stop, start, delete.
	b.do("stop", chromedp.Click(chromedp.CSS(`main .head-tools [data-action="stop"]`)))
	b.confirmDialog("Stop instance web (" + id + ")")
	b.waitFor("stopped", `document.querySelector('main h1 [data-status]')?.textContent === 'stopped'`, 15*time.Second)
	m.WaitInstance(id, ready, "stopped", func(in framework.Instance) bool { return in.Status == "stopped" })
	b.do("start", chromedp.Click(chromedp.CSS(`main .head-tools [data-action="start"]`)))
	b.waitFor("running again", `document.querySelector('main h1 [data-status]')?.textContent === 'running'`, 15*time.Second)
	b.waitFor("log lines", `document.querySelectorAll('#detail-logs li:not(.muted)').length > 0`, 10*time.Second)

	// Edit: the form comes filled in from the URL; a new host= is saved
	// with PUT and shown.
	b.do("edit", chromedp.Click(chromedp.CSS(`main .head-tools a[href$="/edit"]`)))
	b.waitFor("the edit form", `document.querySelector('#f-host')?.value === 'app.example.com'`, 10*time.Second)
	if got := eval[string](b, `document.querySelector('#f-agent').value`); got != key {
		b.fatalf("the edit form's agent field holds %q", got)
	}
	b.do("change host", chromedp.Evaluate[chromedp.Void](`document.querySelector('#f-host').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#f-host"), "app2.example.com"), chromedp.Click(chromedp.CSS("#form-submit")))
	b.waitFor("the new URL", `document.querySelector('#detail-url')?.textContent.includes('host=app2.example.com')`, 10*time.Second)
	if got := m.Get(id); !strings.Contains(got.URL, "host=app2.example.com") {
		b.fatalf("the master has URL %q after the edit", got.URL)
	}

	b.goTo("#/instances", "Instances")
	b.shot("instances")
	// Escape cancels a confirmation; the instance stays.
	del := chromedp.CSS(fmt.Sprintf(`tr[data-id=%q] [data-action="delete"]`, id))
	b.do("delete", chromedp.Click(del))
	b.waitFor("a confirmation dialog", `document.querySelector('dialog[open]') !== null`, 5*time.Second)
	b.do("escape", chromedp.KeyEvent(kb.Escape))
	b.waitFor("the dialog closed", `document.querySelector('dialog[open]') === null`, 5*time.Second)
	m.MustDo(http.StatusOK, http.MethodGet, "/instances/"+id, nil)
	b.do("delete", chromedp.Click(del))
	b.confirmDialog("Delete instance web (" + id + ")")
	b.waitFor("the row gone", fmt.Sprintf(`document.querySelector('tr[data-id=%q]') === null`, id), 10*time.Second)
	if r, _ := m.Do(http.MethodGet, "/instances/"+id, nil); r == nil || r.Status != http.StatusNotFound {
		b.fatalf("the instance still exists after delete: %v", r)
	}
	b.check()
}

// An agent appears on the Agents page when it connects, its pool stops
// standing out, and it vanishes when it is killed.
func TestDashboardAgentsAppearAndVanish(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	key := newKey(t)
	echo := f.TCPEcho()
	b := newBrowser(t, dashboardBase(m))
	b.login(m.Key())
	// The instance comes from a pasted URL: the fields follow it.
	raw := fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s&slot=10", f.Port(), echo, key)
	b.goTo("#/instances/new", "New instance")
	b.waitFor("the form", `document.querySelector('#f-url') !== null`, 15*time.Second)
	b.do("paste a URL", chromedp.SendKeys(chromedp.CSS("#f-alias"), "ssh"),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const u = document.querySelector('#f-url'); u.value = %q; u.dispatchEvent(new Event('input')); })()`, raw)))
	if got := eval[string](b, `[document.querySelector('#f-scheme').value, document.querySelector('#f-listen').value, document.querySelector('#f-slot').value].join(' ')`); got != fmt.Sprintf("tcp 127.0.0.1:%s 10", strings.Split(strings.TrimPrefix(raw, "tcp://127.0.0.1:"), "/")[0]) {
		b.fatalf("the fields after the paste: %q", got)
	}
	b.do("create", chromedp.Click(chromedp.CSS("#form-submit")))
	b.waitFor("the detail page", `(document.querySelector('main h1') || {}).textContent?.startsWith('ssh')`, 10*time.Second)
	var in framework.Instance
	for _, v := range m.List() {
		if v.Alias == "ssh" {
			in = v
		}
	}
	if !strings.Contains(in.URL, "slot=10") {
		b.fatalf("the pasted URL became %q", in.URL)
	}
	b.goTo("#/agents", "Agents")
	orphan := `document.querySelector('#pools li.pool.orphan') !== null`
	b.waitFor("the pool without an agent standing out", orphan+` && document.querySelector('#no-agents') !== null`, 10*time.Second)
	if !strings.Contains(b.text("#pools li.pool.orphan"), "ssh ("+in.ID+")") {
		b.fatalf("the pool does not list its instance: %q", b.text("#pools"))
	}

	agent := startDashboardAgent(f, m, "agent", key, echo)
	agent.MustWaitLog(logConnected, ready)
	b.waitFor("the agent listed", `document.querySelectorAll('#agents-table tbody tr').length === 1 && !(`+orphan+`)`, 15*time.Second)
	b.shot("agents")
	if got := b.text("#agents-table tbody tr td[data-label=Address]"); !strings.HasPrefix(got, "127.0.0.1:") {
		b.fatalf("agent address %q", got)
	}
	if strings.Contains(b.text("main"), key) {
		b.fatalf("the Agents page shows the agent key")
	}
	if err := agent.Kill(); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the agent gone", `document.querySelector('#no-agents') !== null && `+orphan, 15*time.Second)
	b.check()
}

// checkURLModule runs the page's own URL code (web/ui/urls.js) on cases
// whose answers are known: the master's 400 messages split into the
// fields they name, a URL taken apart and put together again, secrets
// masked for display.
func checkURLModule(b *browser) {
	b.t.Helper()
	cases := []struct{ expr, want string }{
		{`u.problems('Invalid URL format: invalid instance URL "http://a:1/b:2?host=x;%20y": parameter host: "x; y" is not a host name; agent= is required for http').map((p) => p.field).join()`,
			"host,agent"},
		{`u.problems('Invalid URL format: listen port 99999 out of range; target "x" is not host:port; parameter tls=2 requires crt and key').map((p) => p.field).join()`,
			"listen,targets,tls"},
		{`u.problems('Invalid URL scheme: unknown scheme "ftp"').map((p) => p.field + ':' + p.text).join()`,
			`:unknown scheme "ftp"`},
		{`u.buildURL(u.parseURL('tcp://k%40y@0.0.0.0:2222/127.0.0.1:22,10.0.0.1:23?agent=a%20b&slot=10'))`,
			"tcp://k%40y@0.0.0.0:2222/127.0.0.1:22,10.0.0.1:23?agent=a%20b&slot=10"},
		{`JSON.stringify(u.parseURL('client://s3cret@vps:10101?fp=ab:cd'))`,
			`{"scheme":"client","key":"s3cret","listen":"vps:10101","targets":[],"params":[["fp","ab:cd"]]}`},
		{`u.redact('http://key@:80/b:1?agent=pool&auth=u:p&host=a.b')`, "http://•••@:80/b:1?agent=•••&auth=•••&host=a.b"},
		{`String(u.parseURL('not a url'))`, "null"},
	}
	for _, c := range cases {
		expr, want := c.expr, c.want
		js := `import('/ui/urls.js').then((u) => ` + expr + `)`
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil || got != want {
			b.fatalf("%s = %q (%v), want %q", expr, got, err, want)
		}
	}
}

// openAliasEditor opens the alias editor of the instance row (a CSS
// selector). An event-stream update that lands just before the editor has
// the focus re-renders the row and closes it, so the click is repeated
// until the editor is there (bounded).
func openAliasEditor(b *browser, row string) {
	b.t.Helper()
	b.waitFor("the alias editor open", fmt.Sprintf(`(() => {
		const r = document.querySelector(%q);
		if (!r) return false;
		if (r.querySelector('.alias-input')) return true;
		r.querySelector('.alias-edit button')?.click();
		return false;
	})()`, row), 10*time.Second)
}
