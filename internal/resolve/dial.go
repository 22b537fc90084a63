package resolve

import (
	"context"
	"net"
	"net/netip"
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

// forbidden reports why ip may not be dialed, or "" when it may.
func forbidden(ip netip.Addr) string {
	ip = ip.Unmap()
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

// guardedDialer dials registries, refusing forbidden addresses for hosts
// that are not allowed. The check runs on the address actually dialed,
// after name resolution, so DNS rebinding cannot bypass it.
type guardedDialer struct {
	dialer  net.Dialer
	allowed map[string]bool // "host:port" and "host"
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
	if g.allowed[addr] || g.allowed[host] {
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
