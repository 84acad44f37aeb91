// Package allowlist matches dial targets against a list of patterns:
// CIDRs, host:port, host:* and *.domain:port. The agent uses it for its
// allow= list (what it may dial at all) and the host for handler instances
// whose targets are patterns (what a plugin may ask for).
package allowlist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Allow is a list of permitted targets. Entries are CIDRs
// ("10.0.0.0/8", any port), host:port ("db.lan:5432", "10.0.0.5:22"),
// host:* (any port) and *.domain:port or *.domain:* (any name under
// domain); "*" alone allows every target. An empty list allows
// everything to Permits and Resolve; the agent, which must refuse what it
// was not told, checks Empty first.
type Allow struct {
	prefixes []netip.Prefix
	hosts    []hostRule
	all      bool // "*": every target
}

// ErrNotAllowed is wrapped by the errors of targets the list refuses.
var ErrNotAllowed = errors.New("not allowed")

// NotAllowedError is a target the list refuses; Detail, if set, says what
// the name resolved to.
type NotAllowedError struct {
	Target string
	Detail string
}

func (e *NotAllowedError) Error() string {
	msg := "target " + e.Target + " is not allowed by this agent"
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Unwrap makes the error match ErrNotAllowed.
func (e *NotAllowedError) Unwrap() error { return ErrNotAllowed }

type hostRule struct {
	host     string // lowercase name or IP; "*.x" for a suffix match
	port     string // "*" for any
	wildcard bool
}

// ParseAllow parses allow-list entries.
func ParseAllow(entries []string) (*Allow, error) {
	a := &Allow{}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e == "*" {
			a.all = true
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
			continue
		}
		host, port, err := net.SplitHostPort(e)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("allow entry %q is neither a CIDR nor host:port", e)
		}
		r := hostRule{host: strings.ToLower(host), port: port}
		if strings.HasPrefix(r.host, "*.") {
			r.wildcard = true
			r.host = r.host[1:] // ".domain"
		}
		a.hosts = append(a.hosts, r)
	}
	return a, nil
}

// Empty reports whether the list has no entry at all.
func (a *Allow) Empty() bool {
	return a == nil || (!a.all && len(a.prefixes) == 0 && len(a.hosts) == 0)
}

// All reports whether the list has the "*" entry: every target.
func (a *Allow) All() bool { return a != nil && a.all }

// Permits reports whether target matches the list without resolving
// names: a name matches only name rules, an IP only IP and CIDR rules.
func (a *Allow) Permits(target string) bool {
	if a.Empty() || a.all {
		return true
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	if a.matchesName(strings.ToLower(host), port) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && a.matchesIP(ip)
}

// Resolve checks target against the list and returns the address to dial.
// A name that no name rule permits is resolved, and the first of its
// addresses that a CIDR permits is dialled, so a name cannot smuggle a
// forbidden address past the list.
func (a *Allow) Resolve(ctx context.Context, r *net.Resolver, target string) (string, error) {
	if a.Empty() || a.all {
		return target, nil
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return "", fmt.Errorf("target %q is not host:port", target)
	}
	if a.matchesName(strings.ToLower(host), port) {
		return target, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if a.matchesIP(ip) {
			return target, nil
		}
		return "", &NotAllowedError{Target: target}
	}
	if len(a.prefixes) == 0 {
		return "", &NotAllowedError{Target: target}
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if a.matchesIP(ip.Unmap()) {
			return net.JoinHostPort(ip.Unmap().String(), port), nil
		}
	}
	return "", &NotAllowedError{Target: target, Detail: "it resolves outside the allow list"}
}

func (a *Allow) matchesIP(ip netip.Addr) bool {
	for _, p := range a.prefixes {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

func (a *Allow) matchesName(host, port string) bool {
	for _, r := range a.hosts {
		if r.port != "*" && r.port != port {
			continue
		}
		if r.host == "*" { // *:port
			return true
		}
		if r.wildcard && strings.HasSuffix(host, r.host) && len(host) > len(r.host) {
			return true
		}
		if !r.wildcard && r.host == host {
			return true
		}
	}
	return false
}
