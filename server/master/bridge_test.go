package master

import "testing"

func TestNewBridgeInfo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr string
		pin  bool
		want string
	}{
		{"127.0.0.1:8024", true, "burrow 'client://AGENT_KEY@127.0.0.1:8024?fp=ab12&allow=HOST:PORT'"},
		{"0.0.0.0:8024", true, "burrow 'client://AGENT_KEY@SERVER_HOST:8024?fp=ab12&allow=HOST:PORT'"},
		{"[::]:8024", false, "burrow 'client://AGENT_KEY@SERVER_HOST:8024?allow=HOST:PORT'"},
		{"[::1]:8024", true, "burrow 'client://AGENT_KEY@[::1]:8024?fp=ab12&allow=HOST:PORT'"},
	}
	for _, c := range cases {
		b := NewBridgeInfo(c.addr, "ab12", c.pin)
		if b.Agent != c.want || b.Addr != c.addr || !b.TLS || b.FP != "ab12" {
			t.Errorf("NewBridgeInfo(%q, pin %v) = %+v, want agent %s", c.addr, c.pin, b, c.want)
		}
	}
}

// A bridge on another carrier than TCP prints the agent parameters it needs.
func TestNewBridgeInfoCarrier(t *testing.T) {
	t.Parallel()
	b := NewBridgeInfo("127.0.0.1:8024", "ab12", true, "type=2", "wspath=/t")
	if want := "burrow 'client://AGENT_KEY@127.0.0.1:8024?fp=ab12&type=2&wspath=/t&allow=HOST:PORT'"; b.Agent != want {
		t.Errorf("agent %s, want %s", b.Agent, want)
	}
}
