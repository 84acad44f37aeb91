package bridge_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/bridge"
)

func mustHello(t testing.TB, h bridge.Hello) []byte {
	t.Helper()
	b, err := bridge.AppendHello(nil, h)
	if err != nil {
		t.Fatalf("AppendHello(%+v): %v", h, err)
	}
	return b
}

func mustLinkHeader(t testing.TB, h bridge.LinkHeader) []byte {
	t.Helper()
	b, err := bridge.AppendLinkHeader(nil, h)
	if err != nil {
		t.Fatalf("AppendLinkHeader(%+v): %v", h, err)
	}
	return b
}

func TestHelloRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []bridge.Hello{
		{Version: bridge.ProtocolVersion},
		{Version: bridge.ProtocolVersion, Key: "k", AgentName: "nas", AgentVersion: "1.2.3"},
		{Version: bridge.ProtocolVersion, Key: strings.Repeat("k", bridge.MaxFieldLen), AgentName: strings.Repeat("n", bridge.MaxFieldLen), AgentVersion: strings.Repeat("v", bridge.MaxFieldLen)},
		{Version: bridge.ProtocolVersion, Key: "\x00\xff binary \r\n", AgentName: "ünïcode", AgentVersion: ""},
	}
	for _, h := range cases {
		b := mustHello(t, h)
		// Append must append, not overwrite.
		prefixed, err := bridge.AppendHello([]byte("xx"), h)
		if err != nil || !bytes.Equal(prefixed[2:], b) || string(prefixed[:2]) != "xx" {
			t.Fatalf("AppendHello with a prefix: %q, %v", prefixed, err)
		}
		r := bytes.NewReader(append(b, "rest"...))
		got, err := bridge.ReadHello(r)
		if err != nil {
			t.Fatalf("ReadHello(%q): %v", b, err)
		}
		if got != h {
			t.Fatalf("hello round trip: got %+v, want %+v", got, h)
		}
		if r.Len() != len("rest") {
			t.Fatalf("ReadHello consumed %d bytes beyond the hello", len("rest")-r.Len())
		}
	}
}

func TestHelloLayout(t *testing.T) {
	t.Parallel()
	b := mustHello(t, bridge.Hello{Version: 1, Key: "ab", AgentName: "c", AgentVersion: ""})
	want := []byte{'B', 'R', 'R', 'W', 1, 0, 6, 2, 'a', 'b', 1, 'c', 0}
	if !bytes.Equal(b, want) {
		t.Fatalf("hello bytes\n got %v\nwant %v", b, want)
	}
}

func TestEncodeRefusesLongFields(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", bridge.MaxFieldLen+1)
	for name, h := range map[string]bridge.Hello{
		"key": {Version: 1, Key: long}, "name": {Version: 1, AgentName: long}, "version": {Version: 1, AgentVersion: long},
	} {
		b, err := bridge.AppendHello([]byte("p"), h)
		if err == nil {
			t.Errorf("AppendHello with a %d-byte %s: no error", len(long), name)
		}
		if string(b) != "p" {
			t.Errorf("AppendHello with a long %s changed the buffer: %q", name, b)
		}
	}
	for name, h := range map[string]bridge.LinkHeader{
		"target":   {Network: bridge.NetworkTCP, Target: long},
		"instance": {Network: bridge.NetworkTCP, Instance: long},
		"source":   {Network: bridge.NetworkUDP, Source: long},
	} {
		if _, err := bridge.AppendLinkHeader(nil, h); err == nil {
			t.Errorf("AppendLinkHeader with a %d-byte %s: no error", len(long), name)
		}
	}
	if _, err := bridge.AppendLinkHeader(nil, bridge.LinkHeader{Network: 'x'}); err == nil {
		t.Error("AppendLinkHeader with network 'x': no error")
	}
	if _, err := bridge.AppendLinkHeader(nil, bridge.LinkHeader{}); err == nil {
		t.Error("AppendLinkHeader with network 0: no error")
	}
}

// wantMalformed fails unless err wraps ErrMalformed.
func wantMalformed(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, bridge.ErrMalformed) {
		t.Fatalf("%s: err = %v, want ErrMalformed", what, err)
	}
}

func TestReadHelloRefuses(t *testing.T) {
	t.Parallel()
	valid := mustHello(t, bridge.Hello{Version: 1, Key: "key", AgentName: "name", AgentVersion: "v"})

	// Truncated at every offset: EOF for nothing at all, ErrMalformed after.
	for i := 0; i < len(valid); i++ {
		_, err := bridge.ReadHello(bytes.NewReader(valid[:i]))
		if i == 0 {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("empty hello: err = %v, want io.EOF", err)
			}
			continue
		}
		wantMalformed(t, "hello truncated at "+strconv.Itoa(i), err)
	}

	// Bad magic.
	bad := bytes.Clone(valid)
	copy(bad, "HTTP")
	_, err := bridge.ReadHello(bytes.NewReader(bad))
	wantMalformed(t, "bad magic", err)
	_, err = bridge.ReadHello(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	wantMalformed(t, "HTTP request", err)

	// Another version: reported with the version, before the body is read.
	other := bytes.Clone(valid)
	other[4] = 99
	h, err := bridge.ReadHello(bytes.NewReader(other[:7]))
	if !errors.Is(err, bridge.ErrVersion) || h.Version != 99 {
		t.Fatalf("version 99: hello %+v, err %v; want Version 99 and ErrVersion", h, err)
	}
	if errors.Is(err, bridge.ErrMalformed) {
		t.Fatalf("version 99 is reported as malformed: %v", err)
	}

	// Body length over the cap, even when that many bytes follow.
	over := []byte("BRRW\x01")
	over = binary.BigEndian.AppendUint16(over, bridge.MaxHelloBody+1)
	over = append(over, make([]byte, bridge.MaxHelloBody+1)...)
	_, err = bridge.ReadHello(bytes.NewReader(over))
	wantMalformed(t, "body over the cap", err)
	maxLen := []byte("BRRW\x01\xff\xff")
	_, err = bridge.ReadHello(bytes.NewReader(maxLen))
	wantMalformed(t, "body of 65535 bytes", err)

	// Trailing bytes inside the body.
	trailing := bytes.Clone(valid)
	binary.BigEndian.PutUint16(trailing[5:], binary.BigEndian.Uint16(valid[5:])+2)
	trailing = append(trailing, 0, 0)
	_, err = bridge.ReadHello(bytes.NewReader(trailing))
	wantMalformed(t, "trailing bytes", err)

	// A field that overruns the body, and a body missing fields.
	overrun := []byte{'B', 'R', 'R', 'W', 1, 0, 3, 9, 'a', 'b'}
	_, err = bridge.ReadHello(bytes.NewReader(overrun))
	wantMalformed(t, "overrunning field", err)
	missing := []byte{'B', 'R', 'R', 'W', 1, 0, 2, 0, 0}
	_, err = bridge.ReadHello(bytes.NewReader(missing))
	wantMalformed(t, "missing field", err)
	empty := []byte{'B', 'R', 'R', 'W', 1, 0, 0}
	_, err = bridge.ReadHello(bytes.NewReader(empty))
	wantMalformed(t, "empty body", err)
}

func TestHelloReplyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, r := range []bridge.HelloReply{
		{Status: bridge.StatusOK},
		{Status: bridge.StatusUnknownKey, Message: "unknown key"},
		{Status: bridge.StatusTLSRequired, Message: strings.Repeat("m", bridge.MaxReasonLen)},
		{Status: 200, Message: "future status"},
	} {
		b := bridge.AppendHelloReply(nil, r)
		got, err := bridge.ReadHelloReply(bytes.NewReader(b))
		if err != nil || got != r {
			t.Fatalf("hello reply round trip: got %+v, %v; want %+v", got, err, r)
		}
	}
	// An over-long message is cut to the cap, not refused.
	long := bridge.HelloReply{Status: bridge.StatusBadHello, Message: strings.Repeat("m", bridge.MaxReasonLen+10)}
	got, err := bridge.ReadHelloReply(bytes.NewReader(bridge.AppendHelloReply(nil, long)))
	if err != nil || len(got.Message) != bridge.MaxReasonLen {
		t.Fatalf("long reply: message of %d bytes, err %v; want %d", len(got.Message), err, bridge.MaxReasonLen)
	}
	for _, s := range []bridge.HelloStatus{bridge.StatusOK, bridge.StatusUnknownKey, bridge.StatusVersionMismatch, bridge.StatusBadHello, bridge.StatusTLSRequired, 77} {
		if s.String() == "" {
			t.Errorf("status %d has no text", s)
		}
	}
}

func TestLinkHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []bridge.LinkHeader{
		{Network: bridge.NetworkTCP},
		{Network: bridge.NetworkUDP, Flags: bridge.FlagProxyProtocol, Target: "10.0.0.5:22", Instance: "abc", Source: "1.2.3.4:5678"},
		{Network: bridge.NetworkTCP, Flags: 0xff, Target: strings.Repeat("t", bridge.MaxFieldLen), Instance: strings.Repeat("i", bridge.MaxFieldLen), Source: strings.Repeat("s", bridge.MaxFieldLen)},
	}
	for _, h := range cases {
		b := mustLinkHeader(t, h)
		r := bytes.NewReader(append(b, "payload"...))
		got, err := bridge.ReadLinkHeader(r)
		if err != nil || got != h {
			t.Fatalf("link header round trip: got %+v, %v; want %+v", got, err, h)
		}
		if r.Len() != len("payload") {
			t.Fatalf("ReadLinkHeader consumed payload bytes")
		}
	}
	b := mustLinkHeader(t, bridge.LinkHeader{Network: bridge.NetworkTCP, Flags: 1, Target: "a:1"})
	want := []byte{1, 0, 8, 't', 1, 3, 'a', ':', '1', 0, 0}
	if !bytes.Equal(b, want) {
		t.Fatalf("link header bytes\n got %v\nwant %v", b, want)
	}
}

func TestReadLinkHeaderRefuses(t *testing.T) {
	t.Parallel()
	valid := mustLinkHeader(t, bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "127.0.0.1:80", Instance: "i1", Source: "1.2.3.4:5"})
	for i := 0; i < len(valid); i++ {
		_, err := bridge.ReadLinkHeader(bytes.NewReader(valid[:i]))
		if i == 0 {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("empty link header: err = %v, want io.EOF", err)
			}
			continue
		}
		wantMalformed(t, "link header truncated at "+strconv.Itoa(i), err)
	}

	other := bytes.Clone(valid)
	other[0] = 2
	if _, err := bridge.ReadLinkHeader(bytes.NewReader(other)); !errors.Is(err, bridge.ErrVersion) {
		t.Fatalf("link header version 2: err = %v, want ErrVersion", err)
	}
	other[0] = 0
	if _, err := bridge.ReadLinkHeader(bytes.NewReader(other)); !errors.Is(err, bridge.ErrVersion) {
		t.Fatalf("link header version 0: err = %v, want ErrVersion", err)
	}

	unknown := bytes.Clone(valid)
	unknown[3] = 'x'
	_, err := bridge.ReadLinkHeader(bytes.NewReader(unknown))
	wantMalformed(t, "unknown network", err)

	for _, n := range []uint16{0, 1, bridge.MaxLinkBody + 1, 0xffff} {
		b := binary.BigEndian.AppendUint16([]byte{1}, n)
		b = append(b, make([]byte, int(n))...)
		_, err := bridge.ReadLinkHeader(bytes.NewReader(b))
		wantMalformed(t, "body length "+strconv.Itoa(int(n)), err)
	}

	trailing := bytes.Clone(valid)
	binary.BigEndian.PutUint16(trailing[1:], binary.BigEndian.Uint16(valid[1:])+1)
	trailing = append(trailing, 0)
	_, err = bridge.ReadLinkHeader(bytes.NewReader(trailing))
	wantMalformed(t, "trailing bytes", err)

	missing := []byte{1, 0, 3, 't', 0, 0}
	_, err = bridge.ReadLinkHeader(bytes.NewReader(missing))
	wantMalformed(t, "missing fields", err)
}

func TestVerdictRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []bridge.Verdict{
		{OK: true},
		{OK: false, Reason: "dial tcp 10.0.0.5:22: connect: connection refused"},
		{OK: false, Reason: strings.Repeat("r", bridge.MaxReasonLen)},
		{OK: false},
		{OK: false, NotAllowed: true, Reason: "target 10.0.0.5:22 is not allowed by this agent"},
	} {
		b := bridge.AppendVerdict(nil, v)
		r := bytes.NewReader(append(b, "x"...))
		got, err := bridge.ReadVerdict(r)
		if err != nil || got != v {
			t.Fatalf("verdict round trip: got %+v, %v; want %+v", got, err, v)
		}
		if r.Len() != 1 {
			t.Fatal("ReadVerdict consumed a payload byte")
		}
	}
	long := bridge.Verdict{Reason: strings.Repeat("r", bridge.MaxReasonLen+1)}
	got, err := bridge.ReadVerdict(bytes.NewReader(bridge.AppendVerdict(nil, long)))
	if err != nil || got.OK || len(got.Reason) != bridge.MaxReasonLen {
		t.Fatalf("long reason: %d bytes, ok %v, err %v", len(got.Reason), got.OK, err)
	}
}

func TestReadVerdictRefuses(t *testing.T) {
	t.Parallel()
	valid := bridge.AppendVerdict(nil, bridge.Verdict{Reason: "no route"})
	for i := 0; i < len(valid); i++ {
		_, err := bridge.ReadVerdict(bytes.NewReader(valid[:i]))
		if i == 0 {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("empty verdict: err = %v, want io.EOF", err)
			}
			continue
		}
		wantMalformed(t, "verdict truncated at "+strconv.Itoa(i), err)
	}
	_, err := bridge.ReadVerdict(bytes.NewReader([]byte{3, 0, 0}))
	wantMalformed(t, "status 3", err)
	over := binary.BigEndian.AppendUint16([]byte{1}, bridge.MaxReasonLen+1)
	over = append(over, make([]byte, bridge.MaxReasonLen+1)...)
	_, err = bridge.ReadVerdict(bytes.NewReader(over))
	wantMalformed(t, "reason over the cap", err)
	_, err = bridge.ReadHelloReply(bytes.NewReader(over))
	wantMalformed(t, "hello reply message over the cap", err)
}

func TestParseNetwork(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bridge.Network{"tcp": bridge.NetworkTCP, "udp": bridge.NetworkUDP} {
		n, err := bridge.ParseNetwork(s)
		if err != nil || n != want || n.String() != s {
			t.Fatalf("ParseNetwork(%q) = %v, %v", s, n, err)
		}
	}
	for _, s := range []string{"", "TCP", "ip", "unix"} {
		if _, err := bridge.ParseNetwork(s); err == nil {
			t.Fatalf("ParseNetwork(%q): no error", s)
		}
	}
	if s := bridge.Network(7).String(); s == "" || s == "tcp" || s == "udp" {
		t.Fatalf("Network(7).String() = %q", s)
	}
}

// consumed is the prefix of data a reader positioned at r has read.
func consumed(data []byte, r *bytes.Reader) []byte { return data[:len(data)-r.Len()] }

func FuzzReadHello(f *testing.F) {
	f.Add(mustHello(f, bridge.Hello{Version: 1, Key: "key", AgentName: "nas", AgentVersion: "1.0"}))
	f.Add(mustHello(f, bridge.Hello{Version: 1}))
	f.Add(mustHello(f, bridge.Hello{Version: bridge.HelloVersionFlow, Key: "k", Flow: bridge.FlowReverse}))
	f.Add([]byte("BRRW\x02\x00\x04\x00\x00\x00\x07"))
	f.Add(mustHello(f, bridge.Hello{Version: bridge.HelloVersionPool, Key: "k", AgentName: "a", Flow: bridge.FlowAny}))
	f.Add(mustHello(f, bridge.Hello{Version: bridge.HelloVersionAck, Key: "k", AgentName: "a", Flow: bridge.FlowReverse}))
	f.Add([]byte("BRRW\x05\x00\x00"))
	f.Add(bridge.AppendWorkHello(nil, "0123456789abcdef"))
	f.Add([]byte("BRRW\x81\x00\x03abc"))
	f.Add([]byte("BRRW\x63\x00\x00"))
	f.Add([]byte("BRRW\x01\xff\xff"))
	f.Add([]byte("BRRW\x01\x00\x03\x09ab"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := bridge.ReadHello(r)
		if err != nil {
			if !errors.Is(err, bridge.ErrMalformed) && !errors.Is(err, bridge.ErrVersion) && !errors.Is(err, io.EOF) {
				t.Fatalf("ReadHello(%q): unexpected error kind %v", data, err)
			}
			return
		}
		b, err := bridge.AppendHello(nil, h)
		if h.Version == bridge.WorkVersion {
			if len(h.Token) != bridge.TokenLen {
				t.Fatalf("work hello with a token of %d bytes accepted", len(h.Token))
			}
			b = bridge.AppendWorkHello(nil, h.Token)
		}
		if err != nil {
			t.Fatalf("decoded hello %+v does not encode: %v", h, err)
		}
		if got := consumed(data, r); !bytes.Equal(b, got) {
			t.Fatalf("re-encoded hello differs\n read %q\n  got %q", got, b)
		}
	})
}

func FuzzReadLinkHeader(f *testing.F) {
	f.Add(mustLinkHeader(f, bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "10.0.0.5:22", Instance: "i", Source: "1.2.3.4:5"}))
	f.Add(mustLinkHeader(f, bridge.LinkHeader{Network: bridge.NetworkUDP, Flags: bridge.FlagProxyProtocol}))
	f.Add([]byte{1, 0, 2, 'x', 0})
	f.Add([]byte{1, 0xff, 0xff})
	f.Add([]byte{2, 0, 5, 't', 0, 0, 0, 0})
	f.Add([]byte{1, 0, 5, 't', 0, 9, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := bridge.ReadLinkHeader(r)
		if err != nil {
			if !errors.Is(err, bridge.ErrMalformed) && !errors.Is(err, bridge.ErrVersion) && !errors.Is(err, io.EOF) {
				t.Fatalf("ReadLinkHeader(%q): unexpected error kind %v", data, err)
			}
			return
		}
		b, err := bridge.AppendLinkHeader(nil, h)
		if err != nil {
			t.Fatalf("decoded link header %+v does not encode: %v", h, err)
		}
		if got := consumed(data, r); !bytes.Equal(b, got) {
			t.Fatalf("re-encoded link header differs\n read %q\n  got %q", got, b)
		}
	})
}

func FuzzReadVerdict(f *testing.F) {
	f.Add(bridge.AppendVerdict(nil, bridge.Verdict{OK: true}))
	f.Add(bridge.AppendVerdict(nil, bridge.Verdict{Reason: "dial tcp: connection refused"}))
	f.Add([]byte{2, 0, 0})
	f.Add([]byte{1, 0xff, 0xff})
	f.Add([]byte{1, 0, 5, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		v, err := bridge.ReadVerdict(r)
		if err != nil {
			if !errors.Is(err, bridge.ErrMalformed) && !errors.Is(err, io.EOF) {
				t.Fatalf("ReadVerdict(%q): unexpected error kind %v", data, err)
			}
			return
		}
		if got := consumed(data, r); !bytes.Equal(bridge.AppendVerdict(nil, v), got) {
			t.Fatalf("re-encoded verdict differs\n read %q\n  got %q", got, bridge.AppendVerdict(nil, v))
		}
		// The hello reply shares the format: it must accept the same bytes.
		rr, err := bridge.ReadHelloReply(bytes.NewReader(data))
		if err != nil || !bytes.Equal(bridge.AppendHelloReply(nil, rr), consumed(data, r)) {
			t.Fatalf("hello reply of verdict bytes %q: %+v, %v", data, rr, err)
		}
	})
}

// A carrier mismatch reply carries the bridge's carrier and path.
func TestCarrierMismatchReply(t *testing.T) {
	t.Parallel()
	want := bridge.HelloReply{Status: bridge.StatusCarrierMismatch, Message: "use ws", Carrier: bridge.CarrierWebSocket, Path: "/t"}
	got, err := bridge.ReadHelloReplyFor(bytes.NewReader(bridge.AppendHelloReplyFor(nil, want, bridge.ProtocolVersion)), bridge.HelloVersionFlow)
	if err != nil || got != want {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, want)
	}
	short := bridge.AppendHelloReply(nil, want) // no carrier after the message
	if _, err := bridge.ReadHelloReplyFor(bytes.NewReader(short), bridge.HelloVersionFlow); !errors.Is(err, bridge.ErrMalformed) {
		t.Fatalf("mismatch without a carrier: %v, want malformed", err)
	}
	bad := append(bridge.AppendHelloReply(nil, want), 9, 0)
	if _, err := bridge.ReadHelloReplyFor(bytes.NewReader(bad), bridge.HelloVersionFlow); !errors.Is(err, bridge.ErrMalformed) {
		t.Fatalf("unknown carrier: %v, want malformed", err)
	}
}

// Hellos of every version a bridge speaks decode; the next one is
// reported as a version mismatch, not as malformed.
func TestHelloVersions(t *testing.T) {
	t.Parallel()
	for v := uint8(bridge.ProtocolVersion); v <= bridge.MaxHelloVersion; v++ {
		want := bridge.Hello{Version: v, Key: "k", AgentName: "a", AgentVersion: "1"}
		if v >= bridge.HelloVersionFlow {
			want.Flow = bridge.FlowReverse
		}
		got, err := bridge.ReadHello(bytes.NewReader(mustHello(t, want)))
		if err != nil || got != want {
			t.Fatalf("hello version %d: %+v, %v", v, got, err)
		}
	}
	next := mustHello(t, bridge.Hello{Version: bridge.MaxHelloVersion + 1, Key: "k"})
	if h, err := bridge.ReadHello(bytes.NewReader(next)); !errors.Is(err, bridge.ErrVersion) || errors.Is(err, bridge.ErrMalformed) || h.Version != bridge.MaxHelloVersion+1 {
		t.Fatalf("hello version %d: %+v, %v; want ErrVersion", bridge.MaxHelloVersion+1, h, err)
	}
	if h, err := bridge.ReadHello(bytes.NewReader([]byte("BRRW\x00\x00\x00"))); !errors.Is(err, bridge.ErrVersion) || h.Version != 0 {
		t.Fatalf("hello version 0: %+v, %v; want ErrVersion", h, err)
	}
}

// A work ack is one byte: pooled or pool full; anything else is malformed,
// nothing at all the bridge's close.
func TestReadWorkAck(t *testing.T) {
	t.Parallel()
	for _, want := range []bridge.WorkAck{bridge.WorkPooled, bridge.WorkPoolFull} {
		r := bytes.NewReader([]byte{byte(want), 'x'})
		got, err := bridge.ReadWorkAck(r)
		if err != nil || got != want || r.Len() != 1 {
			t.Fatalf("ack %s: %s, %v, %d bytes left; want it and the next byte unread", want, got, err, r.Len())
		}
	}
	_, err := bridge.ReadWorkAck(bytes.NewReader([]byte{2}))
	wantMalformed(t, "ack 2", err)
	if _, err := bridge.ReadWorkAck(bytes.NewReader(nil)); !errors.Is(err, io.EOF) || errors.Is(err, bridge.ErrMalformed) {
		t.Fatalf("no ack: %v, want io.EOF", err)
	}
}

func FuzzReadWorkAck(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 1})
	f.Add([]byte{0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		a, err := bridge.ReadWorkAck(r)
		if err != nil {
			if !errors.Is(err, bridge.ErrMalformed) && !errors.Is(err, io.EOF) {
				t.Fatalf("ReadWorkAck(%q): unexpected error kind %v", data, err)
			}
			return
		}
		if got := consumed(data, r); len(got) != 1 || bridge.WorkAck(got[0]) != a || a > bridge.WorkPoolFull {
			t.Fatalf("ReadWorkAck(%q) = %s after reading %q", data, a, got)
		}
	})
}
