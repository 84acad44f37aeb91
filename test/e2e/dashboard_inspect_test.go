package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The inspector in the dashboard: requests made by a real client through a
// real agent to a real backend appear live in the instance's Requests card;
// a record shows its headers redacted and its body as text (markup in it
// stays text); Replay sends it again, the backend sees it twice and the
// replay appears marked.
func TestDashboardInspectorRedactsAndReplays(t *testing.T) {
	t.Parallel()
	_, m, in, be, c := inspected(t, "body")
	const markup = `<img src=x onerror=alert(1)>`
	b := newBrowser(t, dashboardBase(m))
	b.login(m.Key())
	b.waitFor("the overview", `(document.querySelector('main h1') || {}).textContent === 'Overview'`, 10*time.Second)
	b.do("open the instance", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/instances/%s"`, in.ID)))
	b.waitFor("the Requests card", `document.querySelector('#requests-card #requests-table') !== null`, 10*time.Second)

	// Made while the page is open: the row arrives on the live stream.
	if status, _ := entryPost(t, c, "http://app.test/form?lang=en", markup,
		"Authorization", "Bearer user-secret", "Cookie", "session=cookie-secret"); status != 200 {
		t.Fatalf("through the entry: %d", status)
	}
	row := `#requests-rows tr[data-rid]`
	b.waitFor("the live row", fmt.Sprintf(`document.querySelector(%q)?.textContent.includes('/form?lang=en')`, row), 15*time.Second)
	b.do("open the record", chromedp.Click(chromedp.CSS(row)))
	b.waitFor("the record's headers", `document.querySelector('#req-headers') !== null`, 10*time.Second)
	headers := b.text("#req-headers") + b.text("#resp-headers")
	if !strings.Contains(headers, "Bearer [redacted]") || !strings.Contains(headers, "session=[redacted]") || !strings.Contains(headers, "sid=[redacted]") {
		b.fatalf("headers shown: %q", headers)
	}
	if page := b.text("main"); strings.Contains(page, "user-secret") || strings.Contains(page, "cookie-secret") || strings.Contains(page, "backend-secret") {
		b.fatalf("the page shows a secret")
	}
	if got := b.text("#req-body pre"); got != markup {
		b.fatalf("request body shown as %q, want the text %q", got, markup)
	}
	if n := eval[int](b, `document.querySelectorAll('main img').length`); n != 0 {
		b.fatalf("the body became %d img element(s)", n)
	}
	b.do("scroll to the record", chromedp.Evaluate[chromedp.Void](`document.querySelector('#requests-card').scrollIntoView()`))
	b.shot("requests")

	b.do("replay", chromedp.Click(chromedp.CSS("#replay")))
	b.waitFor("the replay's outcome", `document.querySelector('#replay-outcome')?.dataset.status === '200'`, 15*time.Second)
	if got := b.text("#replay-outcome"); !strings.Contains(got, "Not replayed (redacted): Authorization, Cookie") {
		b.fatalf("replay outcome %q", got)
	}
	if n := be.count("/form"); n != 2 {
		b.fatalf("the backend saw /form %d times, want 2", n)
	}
	b.waitFor("the replay's row, marked", `document.querySelectorAll('#requests-rows tr[data-rid]').length === 2 && document.querySelector('#requests-rows tr [data-replay]') !== null`, 15*time.Second)
	b.shot("replayed")
	if d := b.dialogsSeen(); len(d) != 0 {
		b.fatalf("the recorded markup opened JavaScript dialogs: %q", d)
	}
	b.fitsWidth(375, "the Requests card")
	b.check()
}
