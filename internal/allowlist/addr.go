package allowlist

import (
	"net"
	"net/netip"
	"strings"
)

// MayPermit reports, before any name is resolved, whether target can be
// permitted at all: a name rule or an IP rule matches it, or it is a name
// and the list has CIDR rules its addresses might fall in. A target for
// which it is false is refused without a DNS query.
func (a *Allow) MayPermit(target string) bool {
	if a.Permits(target) {
		return true
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	_, err = netip.ParseAddr(host)
	return err != nil && len(a.prefixes) > 0
}

// PermitsAddr reports whether a connection to addr, one of the addresses
// target (host:port) resolved to, is permitted: target matches a name
// rule, or addr a CIDR rule. Checking the address dialled, not the name,
// is what keeps a name from smuggling a forbidden address past the list.
func (a *Allow) PermitsAddr(target string, addr netip.Addr) bool {
	if a.Empty() || a.all {
		return true
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	return a.matchesName(strings.ToLower(host), port) || a.matchesIP(addr.Unmap())
}
