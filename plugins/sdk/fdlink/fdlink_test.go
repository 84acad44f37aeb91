package fdlink

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, f, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

func TestSendRecvWithDescriptor(t *testing.T) {
	a, b := pair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := a.SendFile(OpHandoff, []byte("body"), w); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	msg, err := b.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if msg.Op != OpHandoff || string(msg.Body) != "body" || msg.File == nil {
		t.Fatalf("got %+v", msg)
	}
	// The received descriptor is the pipe's write end.
	if _, err := msg.File.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = msg.File.Close()
	got, _ := io.ReadAll(r)
	if string(got) != "x" {
		t.Fatalf("pipe read %q", got)
	}
}

func TestEOF(t *testing.T) {
	a, b := pair(t)
	_ = a.Close()
	if _, err := b.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
}

// rawSend writes a datagram with any header and descriptors.
func rawSend(t *testing.T, c *Conn, msg []byte, fds ...int) {
	t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	if _, _, err := c.c.WriteMsgUnix(msg, oob, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedMessagesCloseDescriptorsAndKeepTheLink(t *testing.T) {
	a, b := pair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wfd := int(w.Fd())
	cases := []struct {
		name string
		msg  []byte
		fds  []int
		want string
	}{
		{"unknown op", []byte{Version, 'Z'}, []int{wfd}, "unknown op"},
		{"wrong version", []byte{9, OpHandoff}, []int{wfd}, "wire version"},
		{"no descriptor", []byte{Version, OpHandoff}, nil, "carries 0 descriptors"},
		{"two descriptors", []byte{Version, OpDial}, []int{wfd, wfd}, "carries 2 descriptors"},
		{"too many descriptors", []byte{Version, OpDial}, []int{wfd, wfd, wfd, wfd, wfd, wfd}, "too many descriptors"},
		{"short", []byte{Version}, []int{wfd}, "shorter"},
	}
	for _, tc := range cases {
		rawSend(t, a, tc.msg, tc.fds...)
		_, err := b.Recv()
		var bad *MalformedError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: got %v, want a MalformedError with %q", tc.name, err, tc.want)
		}
	}
	_ = w.Close()
	// Every copy of the write end was closed: the read end sees EOF.
	if got, _ := io.ReadAll(r); len(got) != 0 {
		t.Fatalf("unexpected data %q", got)
	}
	// The link still works.
	r2, w2, _ := os.Pipe()
	defer r2.Close()
	defer w2.Close()
	if err := a.SendFile(OpListen, []byte("ok"), w2); err != nil {
		t.Fatal(err)
	}
	msg, err := b.Recv()
	if err != nil || string(msg.Body) != "ok" {
		t.Fatalf("after malformed: %v %+v", err, msg)
	}
	_ = msg.File.Close()
}

func TestSendRefusesBadMessages(t *testing.T) {
	a, _ := pair(t)
	if err := a.Send('Z', nil, 0); err == nil {
		t.Fatal("unknown op sent")
	}
	if err := a.Send(OpDial, nil, -1); err == nil {
		t.Fatal("op without descriptor sent")
	}
	if err := a.Send(OpDial, make([]byte, MaxBody+1), 0); err == nil {
		t.Fatal("oversized body sent")
	}
}

func TestVerdicts(t *testing.T) {
	for _, packet := range []bool{false, true} {
		typ := syscall.SOCK_STREAM
		if packet {
			typ = syscall.SOCK_SEQPACKET
		}
		mine, theirs, err := Socketpair(typ)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.FileConn(theirs)
		_ = theirs.Close()
		if err != nil {
			t.Fatal(err)
		}
		long := strings.Repeat("r", MaxReason+100)
		for _, reason := range []string{"", "dial 10.0.0.5:22: connection refused", long} {
			if err := WriteVerdict(c, reason); err != nil {
				t.Fatal(err)
			}
			got, err := ReadVerdict(mine, packet)
			want := reason
			if len(want) > MaxReason {
				want = want[:MaxReason]
			}
			if err != nil || got != want {
				t.Fatalf("packet=%v: got %q, %v; want %q", packet, got, err, want)
			}
		}
		// Data after an ok verdict is the link's.
		_ = WriteVerdict(c, "")
		_, _ = c.Write([]byte("data"))
		if r, err := ReadVerdict(mine, packet); r != "" || err != nil {
			t.Fatal(r, err)
		}
		buf := make([]byte, 10)
		n, _ := mine.Read(buf)
		if !bytes.Equal(buf[:n], []byte("data")) {
			t.Fatalf("read %q", buf[:n])
		}
		_ = c.Close()
		if _, err := ReadVerdict(mine, packet); err == nil {
			t.Fatal("verdict from a closed socket")
		}
		_ = mine.Close()
	}
}
