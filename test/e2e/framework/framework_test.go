package framework

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/burrowproject/burrow/internal/testutil"
)

// The test binary doubles as a fake burrow: started with "fake-burrow MODE"
// it logs like the real one and reacts to signals as MODE says.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "fake-burrow" {
		os.Exit(fakeBurrow(os.Args[2]))
	}
	testutil.VerifyNoLeaks(m)
}

func fakeBurrow(mode string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	switch mode {
	case "exit3":
		fmt.Println("bad url: missing port")
		return 3
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
	}
	log.Info("bridge listening", "addr", "127.0.0.1:1")
	for i := range 3 {
		fmt.Printf("stdout line %d\n", i)
	}
	<-sigs
	log.Info("stopped")
	return 0
}

func fakeProcess(f *Framework, mode string) *Process {
	return f.Command("fake-"+mode, os.Args[0], "fake-burrow", mode)
}

func TestProcessLifecycle(t *testing.T) {
	t.Parallel()
	f := New(t)
	p := fakeProcess(f, "graceful")
	if err := p.WaitLog(`level=INFO msg="bridge listening" addr=127.0.0.1:1`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitLog("stdout line 2", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.PID() <= 0 || p.Exited() {
		t.Fatalf("pid %d, exited %v", p.PID(), p.Exited())
	}
	if err := p.WaitLog("never logged", 50*time.Millisecond); err == nil {
		t.Fatal("WaitLog found a line that was never logged")
	}
	if _, err := p.Wait(50 * time.Millisecond); err == nil {
		t.Fatal("Wait returned for a running process")
	}

	first := p.PID()
	p.Restart()
	if p.PID() == first {
		t.Fatal("Restart kept the old pid")
	}
	if err := p.WaitLog("bridge listening", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.RunOutput(), "stopped") {
		t.Fatal("RunOutput includes the previous run")
	}
	if got := strings.Count(p.Output(), "bridge listening"); got != 2 {
		t.Fatalf("Output has %d start lines, want 2 (both runs)", got)
	}

	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait(5 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("exit code %d, err %v; want 0", code, err)
	}
	if !strings.Contains(p.Output(), `msg=stopped`) {
		t.Fatalf("no shutdown line in output:\n%s", p.Output())
	}
}

func TestProcessExitCodeAndEarlyExit(t *testing.T) {
	t.Parallel()
	f := New(t)
	p := fakeProcess(f, "exit3")
	code, err := p.Wait(10 * time.Second)
	if err != nil || code != 3 {
		t.Fatalf("exit code %d, err %v; want 3", code, err)
	}
	err = p.WaitLog("bridge listening", 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitLog on an exited process: %v, want an 'exited' error", err)
	}
	if !strings.Contains(p.Output(), "missing port") {
		t.Fatalf("output lost: %q", p.Output())
	}
}

func TestProcessKill(t *testing.T) {
	t.Parallel()
	f := New(t)
	p := fakeProcess(f, "stubborn")
	if err := p.WaitLog("bridge listening", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait(time.Second)
	if err != nil || code != -1 {
		t.Fatalf("exit code %d, err %v; want -1 (signalled)", code, err)
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()
	f := New(t)
	p := fakeProcess(f, "stubborn")
	if err := p.WaitLog("bridge listening", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.stop(200 * time.Millisecond)
	if !p.Exited() {
		t.Fatal("stop left a process that ignores SIGTERM running")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("stop took %v", el)
	}
}

func TestPortsAreDistinctAndFree(t *testing.T) {
	t.Parallel()
	f := New(t)
	seen := map[int]bool{}
	for range 50 {
		p := f.Port()
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if p >= 32768 {
			t.Fatalf("port %d inside the ephemeral range", p)
		}
		if !bindable(p) {
			t.Fatalf("port %d not bindable", p)
		}
	}
}

func TestTCPEchoAndExpectations(t *testing.T) {
	t.Parallel()
	f := New(t)
	addr := f.TCPEcho()
	f.ExpectTCPEcho(addr).Ensure()
	f.ExpectTCPEcho(addr).Payload(RandomBytes(1 << 20)).Ensure()
	f.ExpectTCPEcho(addr).Stream(8 << 20).Timeout(10 * time.Second).Ensure()
	f.ExpectTCPEcho(f.RefusingAddr()).Timeout(time.Second).EnsureFails()
	if err := f.ExpectTCPEcho(f.RefusingAddr()).Eventually(300 * time.Millisecond).Do(); err == nil {
		t.Fatal("echo against a refusing address worked")
	}
	// A connection left open is closed at cleanup without leaking.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
}

func TestExpectTCPClose(t *testing.T) {
	t.Parallel()
	f := New(t)
	closer := f.startStream("closer", func(c net.Conn) {
		time.Sleep(50 * time.Millisecond)
	})
	res := f.ExpectTCPClose(closer.l.Addr().String()).Ensure()
	if res.How != "eof" && res.How != "reset" {
		t.Fatalf("closed how %q", res.How)
	}
	if res := f.ExpectTCPClose(f.RefusingAddr()).Ensure(); res.How != "refused" {
		t.Fatalf("refusing addr: how %q", res.How)
	}
	if _, err := f.ExpectTCPClose(f.TCPEcho()).Within(300 * time.Millisecond).Do(); err == nil {
		t.Fatal("an echo server passed as closing the connection")
	}
	hang := f.TCPSink()
	if _, err := f.ExpectTCPClose(hang.Addr).Within(200 * time.Millisecond).Do(); err == nil {
		t.Fatal("a server that never closes passed")
	}
}

func TestTCPSink(t *testing.T) {
	t.Parallel()
	f := New(t)
	sink := f.TCPSink()
	data := RandomBytes(3<<20 + 17)
	for range 2 {
		c, err := net.Dial("tcp", sink.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(data); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	conns, err := sink.WaitClosed(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	for i, c := range conns {
		if c.Bytes != int64(len(data)) || c.SHA256 != hex.EncodeToString(sum[:]) || c.Err != nil {
			t.Fatalf("conn %d: %+v, want %d bytes, sha %x", i, c, len(data), sum)
		}
	}
	if sink.Accepted() != 2 {
		t.Fatalf("accepted %d", sink.Accepted())
	}
}

func TestUDPEcho(t *testing.T) {
	t.Parallel()
	f := New(t)
	addr := f.UDPEcho()
	f.ExpectUDPEcho(addr).Ensure()
	f.ExpectUDPEcho(addr).Sizes(1, 512, 1400, 8192).Ensure()
	f.ExpectUDPEcho(Addr(f.UDPPort())).Timeout(500 * time.Millisecond).EnsureFails()
}

func TestHTTPServer(t *testing.T) {
	t.Parallel()
	f := New(t)
	addr := f.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.URL.Path)
	}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "hello /x" {
		t.Fatalf("body %q", body)
	}
}

func TestWSEcho(t *testing.T) {
	t.Parallel()
	f := New(t)
	addr := f.WSEcho()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))

	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		typ  int
		data []byte
	}{{websocket.TextMessage, []byte("hello")}, {websocket.BinaryMessage, RandomBytes(100 << 10)}} {
		if err := c.WriteMessage(m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, data, err := c.ReadMessage() // also runs the pong handler
		if err != nil {
			t.Fatal(err)
		}
		if typ != m.typ || !bytes.Equal(data, m.data) {
			t.Fatalf("echo: type %d, %d bytes; sent type %d, %d bytes", typ, len(data), m.typ, len(m.data))
		}
	}
	select {
	case s := <-pong:
		if s != "p1" {
			t.Fatalf("pong %q", s)
		}
	default:
		t.Fatal("no pong for the ping")
	}
	// The second connection stays open: cleanup must close it.
	c2, _, err := d.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
}

func TestTail(t *testing.T) {
	t.Parallel()
	if got := tail("a\nb\nc\n", 2); got != "... (1 earlier lines)\nb\nc" {
		t.Fatalf("tail = %q", got)
	}
	if got := tail("a\n", 5); got != "a" {
		t.Fatalf("tail = %q", got)
	}
}

func TestCrashMarker(t *testing.T) {
	t.Parallel()
	for out, want := range map[string]string{
		"level=INFO msg=ok\n":                          "",
		"==================\nWARNING: DATA RACE\nRead": "WARNING: DATA RACE",
		"panic: runtime error: index out of range":     "panic: ",
		"fatal error: concurrent map writes":           "fatal error: ",
	} {
		if got := crashMarker(out); got != want {
			t.Errorf("crashMarker(%q) = %q, want %q", out, got, want)
		}
	}
}
