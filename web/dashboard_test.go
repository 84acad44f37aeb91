package web

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The dashboard is served at / and /ui/ with a strict CSP, needs no key,
// and leaves every other path to the API's JSON errors.
func TestDashboardServed(t *testing.T) {
	a := newAPI(t)
	r := a.call(http.MethodGet, "/", "", "-")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", r.status, r.header.Get("Content-Type"))
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", r.header)
	}
	if !strings.Contains(string(r.body), `<meta name="burrow-root" content="/api/v1">`) {
		t.Errorf("index lacks the API root")
	}
	for path, ctype := range map[string]string{"/ui/app.js": "text/javascript", "/ui/style.css": "text/css", "/ui/views/form.js": "text/javascript", "/ui/icon.svg": "image/svg+xml"} {
		r := a.call(http.MethodGet, path, "", "-")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ctype) || r.header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d %s", path, r.status, r.header.Get("Content-Type"))
		}
	}
	for _, c := range []struct{ method, path string }{{"GET", "/ui/"}, {"GET", "/ui/nope.js"}, {"GET", "/ui/index.html"}, {"POST", "/"}, {"GET", "/index.html"}} {
		r := a.call(c.method, c.path, "", "-")
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", c.method, c.path, r.status)
		}
		r.errMsg(t)
	}
}

// Safe by construction: no inline script or style in the page, no markup
// built from strings, no key in a URL or in storage that outlives the tab.
func TestDashboardSourcesSafe(t *testing.T) {
	forbidden := []struct{ re, why string }{
		{`innerHTML|outerHTML|insertAdjacentHTML|document\.write`, "markup from strings"},
		{`\beval\(|new Function\(|setTimeout\(['"]`, "code from strings"},
		{`EventSource`, "EventSource cannot send X-API-Key (the key would go in the URL)"},
		{`localStorage`, "the key must not outlive the tab"},
		{`\.style\.|setAttribute\(['"]style`, "inline styles need 'unsafe-inline'"},
		{`https?://`, "external resources"},
		{`[?&](key|apikey|api_key)=`, "the key in a URL"},
	}
	err := fs.WalkDir(uiFiles, "ui", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, _ := uiFiles.ReadFile(p)
		src := string(b)
		if strings.HasSuffix(p, ".svg") {
			src = strings.ReplaceAll(src, "http://www.w3.org/2000/svg", "")
		}
		if strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".svg") {
			for _, f := range forbidden {
				if loc := regexp.MustCompile(f.re).FindStringIndex(src); loc != nil {
					t.Errorf("%s uses %q (%s)", p, src[loc[0]:loc[1]], f.why)
				}
			}
		}
		if strings.HasSuffix(p, ".html") {
			if regexp.MustCompile(`<script(?:[^>]*)>[^<]+</script>|\son[a-z]+=|\sstyle=|<style`).MatchString(src) {
				t.Errorf("%s has inline script, handlers or styles", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
