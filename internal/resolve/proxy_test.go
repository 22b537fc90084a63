package resolve_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
)

// forwardProxy is an HTTP proxy on loopback: CONNECT tunnels and
// absolute-form requests, counting what it was asked for.
type forwardProxy struct {
	*httptest.Server
	mu    sync.Mutex
	hosts []string
}

func startProxy(t *testing.T) *forwardProxy {
	t.Helper()
	p := &forwardProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hosts = append(p.hosts, r.Host)
		p.mu.Unlock()
		if r.Method == http.MethodConnect {
			upstream, err := (&net.Dialer{}).DialContext(r.Context(), "tcp", r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				upstream.Close()
				return
			}
			_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
			go func() { _, _ = io.Copy(upstream, conn); upstream.Close() }()
			_, _ = io.Copy(conn, upstream)
			conn.Close()
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *forwardProxy) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

// TestProxy: with a proxy, requests go through it (the proxy itself may
// be on a private address: the operator chose it), and the address
// rules still hold for the registries behind it.
func TestProxy(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	d := reg.PushImage(t, "app:1.0")
	proxy := startProxy(t)
	// Every request through the proxy (HTTPS_PROXY's function never
	// proxies loopback addresses, where the test registry is).
	proxyURL, err := url.Parse(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	viaProxy := resolve.WithProxy(func(*url.URL) (*url.URL, error) { return proxyURL, nil })
	base := []resolve.Option{resolve.WithInsecureRegistry(reg.Addr()), resolve.WithKeychain(authn.NewMultiKeychain())}

	t.Run("through the proxy", func(t *testing.T) {
		r := resolve.New(append(base, resolve.WithAllowRegistry(reg.Addr()), viaProxy)...)
		defer r.Close()
		res, err := r.Resolve(t.Context(), mustParse(t, reg.Ref("app:1.0")))
		if err != nil || res.Digest != d {
			t.Fatalf("%+v, %v; want %s", res, err, d)
		}
		if asked := proxy.asked(); len(asked) == 0 || asked[len(asked)-1] != reg.Addr() {
			t.Errorf("the proxy was asked for %v, want %s", asked, reg.Addr())
		}
	})
	t.Run("a forbidden registry stays forbidden behind the proxy", func(t *testing.T) {
		before := len(proxy.asked())
		r := resolve.New(append(base, viaProxy)...)
		defer r.Close()
		for _, ref := range []string{reg.Ref("app:1.0"), "localhost" + reg.Addr()[strings.LastIndex(reg.Addr(), ":"):] + "/app:1.0"} {
			_, err := r.Resolve(t.Context(), mustParse(t, ref))
			var e *resolve.Error
			if !errors.As(err, &e) || e.Reason != resolve.ReasonBlockedAddress {
				t.Errorf("%s: err = %v, want blocked", ref, err)
			}
		}
		if asked := proxy.asked(); len(asked) != before {
			t.Errorf("the proxy was asked for %v", asked[before:])
		}
	})
}
