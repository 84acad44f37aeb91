package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// Two plain http sites share an entry port; an HTTPS instance created
// after them on the same port conflicts and fails. After master restarts
// the instances start in creation order, so at every restart the plain
// sites serve and only the HTTPS one fails, instead of whichever started
// first taking the port.
func TestMasterRestoreStartsInCreationOrder(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	backend := f.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "site "+r.Host)
	}))
	entry := framework.Addr(f.Port())
	key := newKey(t)
	plainA := m.Create(fmt.Sprintf("http://%s/%s?agent=%s&host=a.test", entry, backend, key), "plain-a").ID
	plainB := m.Create(fmt.Sprintf("http://%s/%s?agent=%s&host=b.test", entry, backend, key), "plain-b").ID
	https := m.Create(fmt.Sprintf("http://%s/%s?agent=%s&host=c.test&tls=1", entry, backend, key), "https-c").ID
	m.StartAgent("agent", key, "allow="+backend)
	client := entryClient(t, entry, 5*time.Second)

	check := func(when string) {
		t.Helper()
		for _, id := range []string{plainA, plainB} {
			m.WaitInstance(id, ready, "running with its agent "+when, func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
		}
		in := m.WaitInstance(https, ready, "in error "+when, func(in framework.Instance) bool { return in.Status == "error" })
		if !strings.Contains(in.Reason, "HTTPS") && !strings.Contains(in.Reason, "https") {
			t.Errorf("%s: the HTTPS instance fails with %q, want the conflict named", when, in.Reason)
		}
		for _, host := range []string{"a.test", "b.test"} {
			status, _, body, err := entryGet(client, "http://"+host+"/")
			if err != nil || status != http.StatusOK || body != "site "+host {
				t.Errorf("%s: GET http://%s/: %d %q %v, want 200 \"site %s\"", when, host, status, body, err, host)
			}
		}
	}
	check("after creation")
	for round := 1; round <= 3; round++ {
		if err := m.Terminate(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		m.Start()
		client.CloseIdleConnections()
		check(fmt.Sprintf("after master restart %d", round))
	}
}
