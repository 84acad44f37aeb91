package bridge_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/bridge"
)

func TestControlRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range []bridge.ControlMessage{
		{Kind: bridge.ControlReset, Stream: 3},
		{Kind: bridge.ControlReset, Stream: 1<<32 - 1, Reason: "read tcp 10.0.0.5:80: connection reset by peer"},
		{Kind: bridge.ControlReset, Stream: 7, Reason: strings.Repeat("r", bridge.MaxFieldLen)},
	} {
		b := bridge.AppendControl([]byte("xx"), m)
		r := bytes.NewReader(append(b[2:], "rest"...))
		got, err := bridge.ReadControl(r)
		if err != nil || got != m {
			t.Fatalf("round trip of %+v: got %+v, %v", m, got, err)
		}
		if r.Len() != len("rest") {
			t.Fatalf("ReadControl consumed %d bytes beyond the message", len("rest")-r.Len())
		}
	}
	long := bridge.AppendControl(nil, bridge.ControlMessage{Kind: bridge.ControlReset, Stream: 1, Reason: strings.Repeat("x", 1000)})
	if got, err := bridge.ReadControl(bytes.NewReader(long)); err != nil || len(got.Reason) != bridge.MaxFieldLen {
		t.Fatalf("an over-long reason: got %d bytes, %v; want it cut to %d", len(got.Reason), err, bridge.MaxFieldLen)
	}
}

func TestReadControlRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"truncated prefix", []byte{1, 'r'}, bridge.ErrMalformed},
		{"other version", []byte{2, 'r', 0, 5, 0, 0, 0, 1, 0}, bridge.ErrVersion},
		{"body over the cap", []byte{1, 'r', 0xff, 0xff}, bridge.ErrMalformed},
		{"reset body too short", []byte{1, 'r', 0, 2, 0, 1}, bridge.ErrMalformed},
		{"reason overruns", []byte{1, 'r', 0, 5, 0, 0, 0, 1, 9}, bridge.ErrMalformed},
		{"trailing bytes", []byte{1, 'r', 0, 6, 0, 0, 0, 1, 0, 'x'}, bridge.ErrMalformed},
		{"truncated body", []byte{1, 'r', 0, 9, 0, 0}, bridge.ErrMalformed},
		{"unknown kind", []byte{1, 'z', 0, 2, 'h', 'i'}, bridge.ErrUnknownControl},
	} {
		_, err := bridge.ReadControl(bytes.NewReader(tc.in))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ReadControl(%q) = %v, want %v", tc.name, tc.in, err, tc.want)
		}
	}
	// An unknown kind is skipped whole: the next message still decodes.
	in := append([]byte{1, 'z', 0, 2, 'h', 'i'}, bridge.AppendControl(nil, bridge.ControlMessage{Kind: bridge.ControlReset, Stream: 9})...)
	r := bytes.NewReader(in)
	if _, err := bridge.ReadControl(r); !errors.Is(err, bridge.ErrUnknownControl) {
		t.Fatal(err)
	}
	if m, err := bridge.ReadControl(r); err != nil || m.Stream != 9 {
		t.Fatalf("message after an unknown kind: %+v, %v", m, err)
	}
}

func FuzzReadControl(f *testing.F) {
	f.Add(bridge.AppendControl(nil, bridge.ControlMessage{Kind: bridge.ControlReset, Stream: 5, Reason: "connection reset by peer"}))
	f.Add(bridge.AppendControl(nil, bridge.ControlMessage{Kind: bridge.ControlReset}))
	f.Add([]byte{1, 'z', 0, 0})
	f.Add([]byte{1, 'r', 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		m, err := bridge.ReadControl(r)
		if err != nil {
			if !errors.Is(err, bridge.ErrMalformed) && !errors.Is(err, bridge.ErrVersion) && !errors.Is(err, bridge.ErrUnknownControl) && !errors.Is(err, io.EOF) {
				t.Fatalf("ReadControl(%q): unexpected error kind %v", data, err)
			}
			return
		}
		if got := consumed(data, r); !bytes.Equal(bridge.AppendControl(nil, m), got) {
			t.Fatalf("re-encoded control message differs\n read %q\n  got %q", got, bridge.AppendControl(nil, m))
		}
	})
}
