// Package egress is how the side that dials targets reaches them: a
// target group (comma-separated targets) dialled in the order a strategy
// gives (NodePass's lbs=: round-robin, lowest latency, primary-backup),
// failing over at once to the next target when a dial fails, with a target
// that keeps failing skipped for a back-off period; and target names
// resolved through a cache with a TTL (dns=), whose entry is dropped and
// resolved afresh when a dial to its addresses fails. The agent, the host's
// direct dialer (a client in single-end mode) and a server in forward mode
// all dial through it.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTTL is how long resolved names are cached when dns= is not given.
const DefaultTTL = 5 * time.Minute

// maxCached bounds the names a Resolver remembers: links may name any
// target an agent's allow list permits, so the set is not fixed.
const maxCached = 1024

// LookupFunc returns the addresses of host (a name, never an IP literal).
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// DialFunc dials addr, one address of target (as written: a name or an
// IP). It is where a caller applies its own policy (an agent's allow list)
// and source address.
type DialFunc func(ctx context.Context, network, target string, addr netip.AddrPort) (net.Conn, error)

// Resolver resolves target names through a cache. It is safe for
// concurrent use.
type Resolver struct {
	ttl    time.Duration
	lookup LookupFunc
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached // by lower-case host name
}

type cached struct {
	addrs   []netip.Addr
	expires time.Time
}

// NewResolver returns a Resolver caching names for ttl (0 = every dial
// resolves afresh). lookup nil uses the system resolver.
func NewResolver(ttl time.Duration, lookup LookupFunc) *Resolver {
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	return &Resolver{ttl: ttl, lookup: lookup, now: time.Now, cache: make(map[string]cached)}
}

// Lookup returns host's addresses, from the cache while its entry is fresh;
// fromCache says which.
func (r *Resolver) Lookup(ctx context.Context, host string) (addrs []netip.Addr, fromCache bool, err error) {
	name := strings.ToLower(host)
	now := r.now()
	if r.ttl > 0 {
		r.mu.Lock()
		e, ok := r.cache[name]
		r.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.addrs, true, nil
		}
	}
	addrs, err = r.lookup(ctx, host)
	if err != nil {
		return nil, false, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, false, fmt.Errorf("resolve %s: no addresses", host)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	if r.ttl > 0 {
		r.mu.Lock()
		if len(r.cache) >= maxCached {
			r.evictLocked(now)
		}
		r.cache[name] = cached{addrs: addrs, expires: now.Add(r.ttl)}
		r.mu.Unlock()
	}
	return addrs, false, nil
}

// evictLocked drops expired entries, or one arbitrary entry if none has
// expired. r.mu must be held.
func (r *Resolver) evictLocked(now time.Time) {
	for k, e := range r.cache {
		if !now.Before(e.expires) {
			delete(r.cache, k)
		}
	}
	for k := range r.cache {
		if len(r.cache) < maxCached {
			return
		}
		delete(r.cache, k)
	}
}

// Forget drops host's cached addresses.
func (r *Resolver) Forget(host string) {
	r.mu.Lock()
	delete(r.cache, strings.ToLower(host))
	r.mu.Unlock()
}

// Dial resolves target (host:port) and dials its addresses in turn until
// one answers. When every cached address fails, the name is resolved
// afresh and its new addresses tried once, so a target that moved costs
// no failed connection.
func (r *Resolver) Dial(ctx context.Context, network, target string, dial DialFunc) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("target %q is not host:port", target)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("target %q: bad port", target)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return dial(ctx, network, target, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	addrs, fromCache, err := r.Lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	c, err := dialEach(ctx, network, target, addrs, uint16(port), dial)
	if err == nil || !fromCache || ctx.Err() != nil {
		return c, err
	}
	r.Forget(host)
	fresh, _, ferr := r.Lookup(ctx, host)
	if ferr != nil || sameAddrs(fresh, addrs) {
		return nil, err
	}
	return dialEach(ctx, network, target, fresh, uint16(port), dial)
}

// dialEach dials addrs in turn until one answers.
func dialEach(ctx context.Context, network, target string, addrs []netip.Addr, port uint16, dial DialFunc) (net.Conn, error) {
	var errs []error
	for _, a := range addrs {
		c, err := dial(ctx, network, target, netip.AddrPortFrom(a, port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
