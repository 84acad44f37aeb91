package socks5

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// pattern is one allowed target: a host part and a port part.
//
//	10.0.0.0/8         any port on that network
//	192.168.1.10:22    one address, one port
//	*.lan:*            any name under .lan, any port
//	nas.lan:80-443     one name, a port range
//	*                  anything (use with care)
type pattern struct {
	prefix   netip.Prefix // for IP patterns
	name     string       // exact name, lower case
	suffix   string       // for "*.x": ".x"
	anyHost  bool
	lo, hi   uint16 // port range; 0-65535 = any
	isPrefix bool
}

// parsePatterns parses an instance's targets.
func parsePatterns(targets []string) ([]pattern, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("socks5: at least one target pattern is required (e.g. 10.0.0.0/8,*.lan:*)")
	}
	out := make([]pattern, 0, len(targets))
	for _, t := range targets {
		p, err := parsePattern(strings.TrimSpace(t))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePattern(s string) (pattern, error) {
	p := pattern{lo: 0, hi: 65535}
	if s == "" {
		return p, fmt.Errorf("socks5: empty target pattern")
	}
	if s == "*" {
		p.anyHost = true
		return p, nil
	}
	hostPart, portPart := s, "*"
	if pre, err := netip.ParsePrefix(s); err == nil { // a bare CIDR
		p.prefix, p.isPrefix = pre.Masked(), true
		return p, nil
	}
	if h, port, err := net.SplitHostPort(s); err == nil {
		hostPart, portPart = h, port
	} else if strings.Count(s, ":") > 1 { // a bare IPv6 address
		hostPart = strings.Trim(s, "[]")
	}
	if err := p.setPorts(portPart); err != nil {
		return p, fmt.Errorf("socks5: target pattern %q: %w", s, err)
	}
	switch {
	case hostPart == "*":
		p.anyHost = true
	case strings.HasPrefix(hostPart, "*."):
		p.suffix = strings.ToLower(hostPart[1:])
	default:
		if pre, err := netip.ParsePrefix(hostPart); err == nil {
			p.prefix, p.isPrefix = pre.Masked(), true
		} else if ip, err := netip.ParseAddr(hostPart); err == nil {
			p.prefix, p.isPrefix = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), true
		} else if strings.ContainsAny(hostPart, "*/ ") {
			return p, fmt.Errorf("socks5: target pattern %q: bad host %q", s, hostPart)
		} else {
			p.name = strings.ToLower(strings.TrimSuffix(hostPart, "."))
		}
	}
	return p, nil
}

func (p *pattern) setPorts(s string) error {
	if s == "*" || s == "" {
		return nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return fmt.Errorf("bad port %q", s)
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
			return fmt.Errorf("bad port range %q", s)
		}
	}
	p.lo, p.hi = uint16(a), uint16(b)
	return nil
}

// allows reports whether host (an IP or a name) and port match p. A name
// never matches an IP pattern: the agent resolves names, so the handler
// cannot know the address.
func (p pattern) allows(host string, port uint16) bool {
	if port < p.lo || port > p.hi {
		return false
	}
	if p.anyHost {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.isPrefix && p.prefix.Contains(ip.Unmap())
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case p.suffix != "":
		return strings.HasSuffix(host, p.suffix) && len(host) > len(p.suffix)
	case p.name != "":
		return host == p.name
	}
	return false
}

func allowed(ps []pattern, host string, port uint16) bool {
	for _, p := range ps {
		if p.allows(host, port) {
			return true
		}
	}
	return false
}
