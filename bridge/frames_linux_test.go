package bridge_test

import (
	"bytes"
	"crypto/tls"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// A frame of four full records that arrived whole is one Read of the
// link, not one per record: the copy onwards writes it at once.
func TestFramedLinkReadsAWholeFrameAtOnce(t *testing.T) {
	t.Parallel()
	cert, err := tlsx.SelfSigned("x")
	if err != nil {
		t.Fatal(err)
	}
	a, b := testutil.TCPPair(t)
	ca, cb := testutil.TLSPair(t, tlsx.NewRecordConn(a), tlsx.NewRecordConn(b),
		&tls.Config{Certificates: []tls.Certificate{cert}, DynamicRecordSizingDisabled: true})
	agent, bridgeEnd := bridge.NewFrameConn(ca), bridge.NewFrameConn(cb)
	// The session ticket first, read with a frame of its own.
	buf := make([]byte, 64<<10)
	if _, err := bridgeEnd.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = ca.SetReadDeadline(time.Now().Add(testutil.Wait))
	if n, err := agent.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	frame := make([]byte, bridgeEnd.Headroom()+bridge.MaxFrame)
	for i := range frame {
		frame[i] = byte(i / 5)
	}
	if n, err := bridgeEnd.WriteFramed(frame); err != nil || n != bridge.MaxFrame {
		t.Fatalf("WriteFramed: %d, %v", n, err)
	}
	raw, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const wire = 4 * (16<<10 + 22)
	for deadline := time.Now().Add(testutil.Wait); ; time.Sleep(time.Millisecond) {
		var queued int
		_ = raw.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if queued >= wire {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes arrived", queued, wire)
		}
	}
	n, err := agent.Read(buf)
	if err != nil || n != bridge.MaxFrame || !bytes.Equal(buf[:n], frame[bridgeEnd.Headroom():]) {
		t.Fatalf("one Read of a frame that arrived whole: %d of %d bytes (%v), or they changed", n, bridge.MaxFrame, err)
	}
}
