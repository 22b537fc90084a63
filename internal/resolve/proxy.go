package resolve

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
)

// ProxyFunc returns the proxy a request goes through, or nil for none,
// like http.Transport's Proxy (see golang.org/x/net/http/httpproxy for
// one built from HTTPS_PROXY, HTTP_PROXY and NO_PROXY).
type ProxyFunc func(*url.URL) (*url.URL, error)

// guardedProxy applies the address rules to requests that go through an
// HTTP proxy, where the dialer only sees the proxy's address: a target
// that is, or resolves here to, a forbidden address is refused unless
// allowed; a name that does not resolve here is left to the proxy (it is
// often the only one that can). The proxies it returns are allowed to
// the dialer: the operator chose them.
type guardedProxy struct {
	proxy   ProxyFunc
	dialer  *guardedDialer
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)

	mu      sync.Mutex
	proxies map[string]bool
}

func newGuardedProxy(proxy ProxyFunc, dialer *guardedDialer) *guardedProxy {
	return &guardedProxy{
		proxy: proxy, dialer: dialer, proxies: map[string]bool{},
		resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
	}
}

// Proxy is the Transport's Proxy.
func (g *guardedProxy) Proxy(req *http.Request) (*url.URL, error) {
	u, err := g.proxy(req.URL)
	if err != nil || u == nil {
		return nil, err
	}
	addr := req.URL.Host
	host := req.URL.Hostname()
	if _, _, err := net.SplitHostPort(addr); err != nil {
		port := "443"
		if req.URL.Scheme == "http" {
			port = "80"
		}
		addr = net.JoinHostPort(host, port)
	}
	if !g.dialer.allowed[addr] && !g.dialer.allowed[host] {
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else if found, err := g.resolve(req.Context(), host); err == nil {
			ips = found
		}
		for _, ip := range ips {
			if why := forbidden(ip); why != "" {
				return nil, &blockedError{addr: addr, why: why}
			}
		}
	}
	proxyAddr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		proxyAddr = net.JoinHostPort(u.Hostname(), port)
	}
	g.mu.Lock()
	if !g.proxies[proxyAddr] {
		g.proxies[proxyAddr] = true
		g.dialer.allowProxy(proxyAddr)
	}
	g.mu.Unlock()
	return u, nil
}
