package resolve

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// origin is a URL's scheme and host:port, the port made explicit: what a
// credential is bound to.
func origin(u *url.URL) string {
	return u.Scheme + "://" + hostPort(u)
}

// hostPort is u's host:port, with the scheme's default port if none is
// written.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// redirectPolicy follows up to 10 redirects. A credential only goes where
// the first request went (same scheme, host and port; http.Client itself
// would send it to any port of the same host name), and a redirect from
// HTTPS to plain HTTP is refused unless its target is an insecure
// registry.
func redirectPolicy(insecure map[string]bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		first := via[0].URL
		if first.Scheme == "https" && req.URL.Scheme != "https" && !insecure[req.URL.Host] && !insecure[hostPort(req.URL)] {
			return &downgradeError{from: first.Host, to: hostPort(req.URL)}
		}
		if origin(req.URL) != origin(first) {
			req.Header.Del("Authorization")
		}
		return nil
	}
}

// realmGuard carries the token requests to one realm: a credential
// goes to the realm's own origin only, never where it redirects.
type realmGuard struct {
	inner http.RoundTripper
	realm string // origin
}

func (g *realmGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if origin(req.URL) != g.realm && req.Header.Get("Authorization") != "" {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return g.inner.RoundTrip(req)
}

// validateRealm checks the token service a registry announced: HTTPS
// (plain HTTP only for an insecure registry) and, unless it is on the
// registry's own host:port, not an address literal tagpin may not dial.
// Names are checked when they are dialed.
func validateRealm(realm string, h *host) error {
	u, err := url.Parse(realm)
	if err != nil || u.Host == "" {
		return &realmError{realm: realm, why: "not a URL"}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && h.scheme == "http":
	default:
		return &realmError{realm: realm, why: "a token service must use HTTPS"}
	}
	if u.Host == h.name {
		return nil
	}
	if ip, ok := parseIP(u.Hostname()); ok {
		if why := forbidden(ip); why != "" {
			return &realmError{realm: realm, why: "the address is " + why}
		}
	}
	return nil
}

// parseIP parses an address literal as the dialer would read it,
// including the legacy IPv4 forms ("127.1", "0x7f.0.0.1", "2130706433").
func parseIP(host string) (netip.Addr, bool) {
	host, _, _ = strings.Cut(host, "%")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), true
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, p := range parts[:len(parts)-1] {
		v, err := strconv.ParseUint(p, 0, 8)
		if err != nil {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
	}
	last, err := strconv.ParseUint(parts[len(parts)-1], 0, 8*(5-len(parts)))
	if err != nil {
		return netip.Addr{}, false
	}
	for i := 3; i >= len(parts)-1; i-- {
		b[i] = byte(last)
		last >>= 8
	}
	return netip.AddrFrom4(b), true
}

// hostLimiter bounds the requests under way to each host: a request
// holds a slot from when it is sent until its body is closed, and waits
// for one no longer than its context allows.
type hostLimiter struct {
	inner http.RoundTripper
	n     int

	mu    sync.Mutex
	slots map[string]chan struct{} // host:port → slots in use
}

func newHostLimiter(inner http.RoundTripper, n int) http.RoundTripper {
	if n <= 0 {
		return inner
	}
	return &hostLimiter{inner: inner, n: n, slots: map[string]chan struct{}{}}
}

func (l *hostLimiter) slot(host string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.slots[host]
	if !ok {
		s = make(chan struct{}, l.n)
		l.slots[host] = s
	}
	return s
}

func (l *hostLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	s := l.slot(hostPort(req.URL))
	select {
	case s <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	if err := req.Context().Err(); err != nil {
		<-s // both were ready; the deadline wins
		return nil, err
	}
	resp, err := l.inner.RoundTrip(req)
	if err != nil {
		<-s
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: sync.OnceFunc(func() { <-s })}
	return resp, nil
}

// releasingBody gives its request's slot back when it is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	defer b.release()
	return b.ReadCloser.Close()
}
