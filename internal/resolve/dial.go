package resolve

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// blockedPrefixes are ranges that are never dialed unless the registry is
// allowed explicitly: besides what netip classifies (loopback, private,
// link-local, unspecified, multicast), carrier-grade NAT space, which
// some clouds use for metadata services (100.100.100.200).
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// forbidden reports why ip may not be dialed, or "" when it may. An
// IPv6 address that carries an IPv4 address (IPv4-mapped or -compatible,
// NAT64, 6to4, Teredo) is judged by that IPv4 address too, since
// whatever translates it delivers the traffic there.
func forbidden(ip netip.Addr) string {
	ip = ip.Unmap()
	if why := forbiddenAddr(ip); why != "" {
		return why
	}
	for _, e := range embeddedIPv4(ip) {
		if why := forbiddenAddr(e.addr); why != "" {
			return fmt.Sprintf("%s (IPv4 %s embedded in %s address)", why, e.addr, e.in)
		}
	}
	return ""
}

func forbiddenAddr(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsPrivate():
		return "private"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return "reserved"
		}
	}
	return ""
}

var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	teredo         = netip.MustParsePrefix("2001::/32")
	thisNetwork    = netip.MustParsePrefix("0.0.0.0/8")
)

// embedded is an IPv4 address found inside an IPv6 address.
type embedded struct {
	addr netip.Addr
	in   string // "a NAT64", "a 6to4", …
}

// embeddedIPv4 returns the IPv4 addresses ip carries.
func embeddedIPv4(ip netip.Addr) []embedded {
	if !ip.Is6() {
		return nil
	}
	b := ip.As16()
	v4 := func(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }
	switch {
	case ipv4Compatible.Contains(ip):
		return []embedded{{v4(b[12], b[13], b[14], b[15]), "an IPv4-compatible"}}
	case nat64.Contains(ip):
		return []embedded{{v4(b[12], b[13], b[14], b[15]), "a NAT64"}}
	case nat64Local.Contains(ip):
		// The local-use prefix may be any of the lengths RFC 6052
		// allows from /48 on, each putting the IPv4 address elsewhere
		// (bits 64-71 are skipped). Every position is judged; a
		// position holding 0.0.0.0/8 is taken as unused.
		var out []embedded
		for _, a := range []netip.Addr{
			v4(b[6], b[7], b[9], b[10]),    // /48
			v4(b[7], b[9], b[10], b[11]),   // /56
			v4(b[9], b[10], b[11], b[12]),  // /64
			v4(b[12], b[13], b[14], b[15]), // /96
		} {
			if !thisNetwork.Contains(a) {
				out = append(out, embedded{a, "a NAT64"})
			}
		}
		return out
	case sixToFour.Contains(ip):
		return []embedded{{v4(b[2], b[3], b[4], b[5]), "a 6to4"}}
	case teredo.Contains(ip):
		// The client's address, where the traffic goes, is stored
		// with its bits inverted.
		return []embedded{{v4(^b[12], ^b[13], ^b[14], ^b[15]), "a Teredo"}}
	}
	return nil
}

// guardedDialer dials registries, refusing forbidden addresses for hosts
// that are not allowed. The check runs on the address actually dialed,
// after name resolution, so DNS rebinding cannot bypass it.
type guardedDialer struct {
	dialer  net.Dialer
	allowed map[string]bool // "host:port" and "host"

	mu      sync.RWMutex
	proxies map[string]bool // "host:port" of the HTTP proxies in use
}

// allowProxy lets the dialer reach an HTTP proxy the operator set.
func (g *guardedDialer) allowProxy(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proxies == nil {
		g.proxies = map[string]bool{}
	}
	g.proxies[addr] = true
}

func (g *guardedDialer) isProxy(addr string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.proxies[addr]
}

func newGuardedDialer(allowed []string) *guardedDialer {
	g := &guardedDialer{allowed: make(map[string]bool, len(allowed))}
	for _, a := range allowed {
		g.allowed[a] = true
	}
	return g
}

func (g *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if g.allowed[addr] || g.allowed[host] || g.isProxy(addr) {
		return g.dialer.DialContext(ctx, network, addr)
	}
	d := g.dialer
	d.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if why := forbidden(ap.Addr()); why != "" {
			return &blockedError{addr: addr, why: why}
		}
		return nil
	}
	return d.DialContext(ctx, network, addr)
}
