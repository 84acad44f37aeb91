package instances

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/server/store"
)

const testFile = "/etc/burrow/burrow.toml"

func (h *harness) reconcile(decl ...Declared) Reconciled {
	h.t.Helper()
	res, err := h.m.Reconcile(context.Background(), testFile, decl)
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return res
}

// byName returns the view of the file's instance name.
func (h *harness) byName(name string) View {
	h.t.Helper()
	for _, v := range h.m.List() {
		if v.Source == SourceFile && v.Name == name {
			return v
		}
	}
	h.t.Fatalf("no file instance %q", name)
	return View{}
}

func TestReconcileOwnsOnlyTheFilesInstances(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	api := h.create("tcp://:7001/127.0.0.1:22?agent=apikey")
	h.waitStatus(api.ID, StatusRunning)
	res := h.reconcile(
		Declared{Name: "ssh", URL: "tcp://:7002/127.0.0.1:22?agent=filesecret", Alias: "ssh", Restart: true, Tags: map[string]string{"env": "prod"}},
		Declared{Name: "dns", URL: "udp://:7003/127.0.0.1:53?agent=filesecret", Restart: false},
	)
	if !slices.Equal(res.Created, []string{"ssh", "dns"}) {
		t.Fatalf("created %v", res.Created)
	}
	ssh, dns := h.byName("ssh"), h.byName("dns")
	if ssh.Status != StatusRunning || dns.Status != StatusRunning || ssh.Alias != "ssh" || ssh.Meta.Tags["env"] != "prod" || dns.Restart {
		t.Fatalf("ssh %+v dns %+v: created and started one at a time", ssh, dns)
	}
	if v := h.get(api.ID); v.Source != SourceAPI || v.Status != StatusRunning || h.rt.startCount(api.ID) != 1 {
		t.Fatalf("API instance touched: %+v", v)
	}
	b, _ := json.Marshal(h.m.List())
	if strings.Contains(string(b), "filesecret") || !strings.Contains(string(b), "agent=****") || !strings.Contains(string(b), `"source":"file","name":"ssh"`) {
		t.Fatalf("list shows a file's secret or no source: %s", b)
	}
	if !strings.Contains(string(b), "agent=apikey") {
		t.Fatalf("the API's own instance URL is shown as stored (NodePass): %s", b)
	}

	// The API may not change what the file declares.
	conflict := func(what string, err error) {
		t.Helper()
		if kindOf(err) != KindConflict || !strings.Contains(err.Error(), testFile) || !strings.Contains(err.Error(), "instances.ssh") {
			t.Errorf("%s of a file's instance: %v, want a conflict naming the file", what, err)
		}
	}
	_, err := h.m.Replace(context.Background(), ssh.ID, "tcp://:7009/127.0.0.1:22?agent=x")
	conflict("PUT", err)
	conflict("DELETE", h.m.Delete(context.Background(), ssh.ID))
	alias := "other"
	_, err = h.m.Patch(context.Background(), ssh.ID, Patch{Alias: &alias})
	conflict("PATCH alias", err)
	no := false
	_, err = h.m.Patch(context.Background(), ssh.ID, Patch{Restart: &no})
	conflict("PATCH restart", err)
	tags := map[string]string{}
	_, err = h.m.Patch(context.Background(), ssh.ID, Patch{Meta: &MetaPatch{Tags: &tags}})
	conflict("PATCH tags", err)
	same := "ssh"
	stop := ActionStop
	if _, err := h.m.Patch(context.Background(), ssh.ID, Patch{Alias: &same, Action: &stop}); err != nil {
		t.Fatalf("stop (with the alias it has) refused: %v", err)
	}
	h.waitStatus(ssh.ID, StatusStopped)

	// Dropped from the file: deleted; the API's stays.
	res = h.reconcile()
	if !slices.Equal(res.Deleted, []string{"dns", "ssh"}) {
		t.Fatalf("deleted %v", res.Deleted)
	}
	if list := h.m.List(); len(list) != 2 || list[1].ID != api.ID {
		t.Fatalf("after dropping both: %+v", list)
	}
}

func TestReconcileKeepsTheRunOfAnUnchangedURL(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	d := Declared{Name: "ssh", URL: "tcp://:7002/127.0.0.1:22?agent=k", Restart: true}
	h.reconcile(d)
	id := h.byName("ssh").ID
	run := h.rt.run(id)

	d.Alias, d.Restart, d.Tags = "renamed", false, map[string]string{"a": "b"}
	if res := h.reconcile(d); !slices.Equal(res.Updated, []string{"ssh"}) {
		t.Fatalf("result %+v", res)
	}
	v := h.get(id)
	if v.Alias != "renamed" || v.Restart || v.Meta.Tags["a"] != "b" || v.Status != StatusRunning {
		t.Fatalf("after the alias, restart and tags change: %+v", v)
	}
	if h.rt.startCount(id) != 1 || run.isStopped() {
		t.Fatal("an alias, restart or tags change restarted the instance")
	}
	if res := h.reconcile(d); !slices.Equal(res.Unchanged, []string{"ssh"}) {
		t.Fatalf("result of the same declaration %+v", res)
	}

	d.URL = "tcp://:7004/127.0.0.1:22?agent=k"
	if res := h.reconcile(d); !slices.Equal(res.Replaced, []string{"ssh"}) {
		t.Fatalf("result %+v", res)
	}
	if v := h.get(id); v.Status != StatusRunning || !strings.Contains(v.URL, ":7004") || h.rt.startCount(id) != 2 || !run.isStopped() {
		t.Fatalf("after a URL change: %+v, %d starts", v, h.rt.startCount(id))
	}
}

func TestReconcileRefusesABadFileWhole(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	good := Declared{Name: "ssh", URL: "tcp://:7002/127.0.0.1:22?agent=k", Restart: true}
	h.reconcile(good)
	before := h.m.List()
	moved := good
	moved.URL = "tcp://:7005/127.0.0.1:22?agent=k"
	_, err := h.m.Reconcile(context.Background(), testFile, []Declared{
		moved,
		{Name: "bad", URL: "tcp://:7006/127.0.0.1:22"}, // no agent=
		{Name: "long", URL: "tcp://:7007/127.0.0.1:22?agent=k", Alias: strings.Repeat("a", MaxAlias+1)},
		{Name: "ssh", URL: "tcp://:7008/127.0.0.1:22?agent=k"},
	})
	if err == nil || !strings.Contains(err.Error(), "instance bad:") || !strings.Contains(err.Error(), "instance long:") ||
		!strings.Contains(err.Error(), "instance ssh: declared twice") {
		t.Fatalf("error %v, want every bad declaration named", err)
	}
	after := h.m.List()
	if len(after) != len(before) || after[1].URL != before[1].URL || h.rt.startCount(before[1].ID) != 1 {
		t.Fatalf("a refused file changed the running set:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestReconcileBeforeStartAndOwnershipPersists(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, masterDebug, dir, nil)
	h.reconcile(Declared{Name: "ssh", URL: "tcp://:7002/127.0.0.1:22?agent=k", Restart: true},
		Declared{Name: "off", URL: "tcp://:7003/127.0.0.1:22?agent=k", Restart: false})
	api := h.create("tcp://:7001/127.0.0.1:22?agent=apikey")
	id := h.byName("ssh").ID
	h.close()

	// Restored: ownership kept, nothing runs until Start.
	h2 := buildHarness(t, masterDebug, dir, nil)
	if v := h2.get(id); v.Source != SourceFile || v.Name != "ssh" {
		t.Fatalf("restored %+v", v)
	}
	res := h2.reconcile(Declared{Name: "ssh", URL: "tcp://:7004/127.0.0.1:22?agent=k", Restart: true},
		Declared{Name: "new", URL: "tcp://:7005/127.0.0.1:22?agent=k", Restart: true})
	if !slices.Equal(res.Replaced, []string{"ssh"}) || !slices.Equal(res.Created, []string{"new"}) || !slices.Equal(res.Deleted, []string{"off"}) {
		t.Fatalf("result %+v", res)
	}
	if n := h2.rt.startCount(id); n != 0 {
		t.Fatalf("started %d times before Start", n)
	}
	if err := h2.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := h2.get(id); v.Status != StatusRunning || !strings.Contains(v.URL, ":7004") {
		t.Fatalf("after Start: %+v", v)
	}
	if v := h2.byName("new"); v.Status != StatusRunning {
		t.Fatalf("new after Start: %+v", v)
	}
	if v := h2.get(api.ID); v.Source != SourceAPI || v.Status != StatusRunning {
		t.Fatalf("API instance after the reconcile: %+v", v)
	}
}

func TestStateWithoutSourcesIsTheAPIs(t *testing.T) {
	dir := t.TempDir()
	// A state file written before config files: no source, name or file.
	old := `{"version":1,"master_id":"0123456789abcdef","api_key":"0123456789abcdef0123456789abcdef","master_alias":"",
"instances":[{"id":"aaaaaaaa","url":"tcp://:7001/127.0.0.1:22?agent=k","config":"","alias":"old","restart":true,
"meta":{"peer":{"sid":"","type":"","alias":""},"tags":{}},"mode":0,"counters":{"tcprx":1,"tcptx":2,"udprx":0,"udptx":0},"created":"2026-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(filepath.Join(dir, store.FileName), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	h := buildHarness(t, masterDebug, dir, nil)
	// A file declaring nothing leaves the API's instance alone.
	if res := h.reconcile(); len(res.Deleted) != 0 {
		t.Fatalf("result %+v", res)
	}
	if err := h.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := h.waitStatus("aaaaaaaa", StatusRunning)
	if v.Source != SourceAPI || v.Alias != "old" || v.TCPTx != 2 || !strings.Contains(v.URL, "agent=k") {
		t.Fatalf("restored %+v", v)
	}
	if err := h.m.Delete(context.Background(), v.ID); err != nil {
		t.Fatalf("the API deletes its own instance: %v", err)
	}
}
