package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// The dashboard is a set of static files (vanilla JavaScript modules and
// CSS, no build step) embedded in the binary and served at "/" (index.html)
// and "/ui/<file>". It talks to the API like any client: the key it is
// given is kept in sessionStorage and sent only as X-API-Key, the event
// stream is read with fetch, and every value from the API is put in the
// page as text. The pages need no API key; every byte of data they show
// does.

//go:embed ui
var uiFiles embed.FS

// dashboardCSP allows the page's own scripts, styles and API calls and
// nothing else: no inline script or style, no other origin, no framing.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiPrefix is where the dashboard's assets are served.
const uiPrefix = "/ui/"

// dashboard holds the rendered index page and the assets.
type dashboard struct {
	index  []byte
	assets map[string][]byte // by file name under ui/
}

// newDashboard renders the index page for the API root and loads the assets.
func newDashboard(root string) (*dashboard, error) {
	d := &dashboard{assets: map[string][]byte{}}
	err := fs.WalkDir(uiFiles, "ui", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		d.assets[strings.TrimPrefix(p, "ui/")] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: dashboard assets: %w", err)
	}
	tmpl, err := template.New("index").Parse(string(d.assets["index.html"]))
	if err != nil {
		return nil, fmt.Errorf("web: dashboard index: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, struct{ Root string }{root}); err != nil {
		return nil, fmt.Errorf("web: dashboard index: %w", err)
	}
	d.index = buf.Bytes()
	delete(d.assets, "index.html")
	return d, nil
}

// serve answers GET and HEAD for "/" and the assets, and reports whether
// it did.
func (d *dashboard) serve(c *gin.Context) bool {
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		return false
	}
	p := c.Request.URL.Path
	var body []byte
	ctype := "text/html; charset=utf-8"
	switch {
	case p == "/":
		body = d.index
	case strings.HasPrefix(p, uiPrefix):
		b, ok := d.assets[strings.TrimPrefix(p, uiPrefix)]
		if !ok {
			return false
		}
		body = b
		if ctype = mime.TypeByExtension(path.Ext(p)); ctype == "" {
			ctype = "application/octet-stream"
		}
	default:
		return false
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	c.Data(http.StatusOK, ctype, body)
	c.Abort()
	return true
}
