package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// A headless Chromium driven by chromedp, for the dashboard specs. Each
// spec gets its own browser with a fresh profile; the page's uncaught
// exceptions and Content-Security-Policy violations fail the spec, and a
// JavaScript dialog (alert, confirm) is recorded and dismissed.

// EnvScreenshots, when set to a directory, keeps every screenshot there
// (the README's figures are made this way).
const EnvScreenshots = "BURROW_SCREENSHOTS"

// chromiumNames are the binaries tried, in order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findChromium returns the browser binary, or "" when none is installed.
func findChromium() string {
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

type browser struct {
	t      *testing.T
	ctx    context.Context
	base   string // http://127.0.0.1:PORT
	shots  string // screenshot directory
	nshots int

	mu       sync.Mutex
	problems []string // exceptions and CSP violations seen
	dialogs  []string // messages of JavaScript dialogs opened
}

// newBrowser starts Chromium for base (the master's http://host:port). It
// skips the spec when no Chromium is installed (CI always installs one).
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	exe := findChromium()
	if exe == "" {
		t.Skipf("no Chromium binary found (tried %s): install one (apt-get install -y chromium) to run the dashboard's browser tests",
			strings.Join(chromiumNames, ", "))
	}
	shots := os.Getenv(EnvScreenshots)
	if shots == "" {
		dir, err := os.MkdirTemp("", "burrow-"+sanitizeName(t.Name())+"-")
		if err != nil {
			t.Fatal(err)
		}
		shots = dir
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("screenshots of this spec are in %s", dir)
				return
			}
			_ = os.RemoveAll(dir)
		})
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base, shots: shots}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatalf("start %s: %v", exe, err)
	}
	b.watch()
	return b
}

func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
}

// watch records the page's exceptions, CSP violations and dialogs until
// the browser ends.
func (b *browser) watch() {
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	console := chromedp.Console(b.ctx)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
}

// check fails the spec if the page threw or broke its CSP so far.
func (b *browser) check() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.fatalf("the page logged errors:\n%s", strings.Join(b.problems, "\n"))
	}
}

// dialogsSeen returns the messages of the JavaScript dialogs opened so far.
func (b *browser) dialogsSeen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// fatalf saves a screenshot and fails with its path.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	p := b.shot("failure")
	b.t.Fatalf(format+"\n(screenshot: %s)", append(args, p)...)
}

// shot saves a full-page screenshot as NN-name.png and returns its path.
func (b *browser) shot(name string) string {
	b.nshots++
	p := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.nshots, name))
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "(no screenshot: " + err.Error() + ")"
	}
	if err := os.WriteFile(p, png, 0o644); err != nil {
		return "(no screenshot: " + err.Error() + ")"
	}
	return p
}

// do runs actions, failing the spec (with a screenshot) on error; what
// says what they are for.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression and returns its value.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor waits (at most timeout) until the JavaScript expression js is
// truthy; what says what the spec waits for.
func (b *browser) waitFor(what, js string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		if errors.Is(err, chromedp.ErrPollingTimeout) || errors.Is(err, context.DeadlineExceeded) {
			b.fatalf("waited %s for %s (%s)", timeout, what, js)
		}
		b.fatalf("wait for %s: %v", what, err)
	}
	b.check()
}

// text returns the text of the first element matching a CSS selector ("" if none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
}

// login opens the dashboard and logs in with key.
func (b *browser) login(key string) {
	b.t.Helper()
	b.do("open the dashboard", chromedp.Navigate(b.base+"/"))
	b.waitFor("the login form", `document.querySelector('#login-key') !== null`, 10*time.Second)
	b.do("log in", chromedp.SetValue(chromedp.CSS("#login-key"), key), chromedp.Click(chromedp.CSS("#login-submit")))
}

// goTo opens a view by its hash route and waits for its heading.
func (b *browser) goTo(hash, heading string) {
	b.t.Helper()
	b.do("go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, hash)))
	b.waitFor("the "+heading+" view", fmt.Sprintf(`(document.querySelector('main h1') || {}).textContent === %q`, heading), 10*time.Second)
}

// confirmDialog clicks the danger button of the open confirmation dialog,
// after checking that its title names want.
func (b *browser) confirmDialog(want string) {
	b.t.Helper()
	b.waitFor("a confirmation dialog", `document.querySelector('dialog[open]') !== null`, 5*time.Second)
	if got := b.text("dialog[open] h2"); !strings.Contains(got, want) {
		b.fatalf("confirmation %q does not name %q", got, want)
	}
	b.do("confirm", chromedp.Click(chromedp.CSS("dialog[open] button.danger")))
	b.waitFor("the dialog to close", `document.querySelector('dialog[open]') === null`, 5*time.Second)
}

// scheme switches prefers-color-scheme to dark or light.
func (b *browser) scheme(value string) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: value}},
	})
	if err != nil {
		b.fatalf("emulate prefers-color-scheme %s: %v", value, err)
	}
}

// fitsWidth fails the spec if the current view scrolls sideways at a
// viewport width (tables may scroll inside their own box).
func (b *browser) fitsWidth(width int64, view string) {
	b.t.Helper()
	b.do("resize to "+fmt.Sprint(width), chromedp.EmulateViewport(width, 800))
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > int(width) {
		b.fatalf("%s is %d px wide in a %d px viewport", view, w, width)
	}
}
