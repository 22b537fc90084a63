package resolve_test

import (
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/resolve"
)

var redirectDigest = digest.FromString("redirected manifest")

// authLog records the Authorization header of every request a server got.
type authLog struct {
	mu    sync.Mutex
	auths []string
}

func (l *authLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.auths = append(l.auths, r.Header.Get("Authorization"))
}

func (l *authLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.auths...)
}

// manifestServer answers every request with a manifest digest (or a
// token) and logs its Authorization header.
func manifestServer(t *testing.T, log *authLog) (addr string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		if strings.HasSuffix(r.URL.Path, "/token") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"token":"t0k3n"}`))
			return
		}
		w.Header().Set("Docker-Content-Digest", redirectDigest.String())
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// redirectingRegistry is a registry that demands credentials (basic, or
// a bearer token from a realm of its own when bearer is set) and
// redirects the manifest (or the token request) to location(self).
type redirectingRegistry struct {
	bearer   bool
	location func(self string) string
	log      authLog
}

func (rr *redirectingRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.log.add(r)
	self := "http://" + r.Host
	if r.TLS != nil {
		self = "https://" + r.Host
	}
	switch {
	case r.URL.Path == "/token":
		http.Redirect(w, r, rr.location(self), http.StatusTemporaryRedirect)
	case r.URL.Path == "/moved":
		w.Header().Set("Docker-Content-Digest", redirectDigest.String())
	case r.Header.Get("Authorization") == "":
		if rr.bearer {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+self+`/token",service="test"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		}
		w.WriteHeader(http.StatusUnauthorized)
	case rr.bearer:
		w.Header().Set("Docker-Content-Digest", redirectDigest.String())
	default:
		http.Redirect(w, r, rr.location(self), http.StatusTemporaryRedirect)
	}
}

func TestCredentialsDoNotFollowRedirectsElsewhere(t *testing.T) {
	t.Parallel()
	const basic = "Basic YWxpY2U6c2VjcmV0" // alice:secret
	tests := []struct {
		name   string
		bearer bool
		// to is where the registry redirects, given the registry's own
		// URL and the other server's host:port.
		to string
		// wantOther and wantMoved are the Authorization headers the
		// other server and the registry's /moved path received.
		wantOther, wantMoved []string
	}{
		{name: "manifest to another port of the same host", to: "http://OTHER/v2/app/manifests/1.0", wantOther: []string{""}},
		{name: "manifest to another path of the registry", to: "SELF/moved", wantMoved: []string{basic}},
		{name: "token request to another port of the same host", bearer: true, to: "http://localhost:OTHERPORT/token", wantOther: []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var other authLog
			otherAddr := manifestServer(t, &other)
			_, otherPort, _ := strings.Cut(otherAddr, ":")
			rr := &redirectingRegistry{bearer: tc.bearer, location: func(self string) string {
				return strings.NewReplacer("SELF", self, "OTHERPORT", otherPort, "OTHER", otherAddr).Replace(tc.to)
			}}
			srv := httptest.NewServer(rr)
			t.Cleanup(srv.Close)
			addr := strings.TrimPrefix(srv.URL, "http://")
			r := resolve.New(
				// The token service's redirect goes to a name: the token
				// client refuses redirects to loopback literals outright.
				resolve.WithAllowRegistry(addr, otherAddr, "localhost:"+otherPort),
				resolve.WithInsecureRegistry(addr, otherAddr),
				resolve.WithKeychain(authn.NewMultiKeychain()),
				resolve.WithAuth(addr, &authn.Basic{Username: "alice", Password: "secret"}),
			)
			res, err := r.Resolve(t.Context(), mustParse(t, addr+"/app:1.0"))
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if res.Digest != redirectDigest {
				t.Errorf("digest = %s, want %s", res.Digest, redirectDigest)
			}
			if diff := cmp.Diff(tc.wantOther, other.get()); diff != "" {
				t.Errorf("Authorization received by the other server (-want +got):\n%s", diff)
			}
			if tc.wantMoved != nil {
				// The redirected request is the last one the registry got.
				log := rr.log.get()
				if diff := cmp.Diff(tc.wantMoved, log[len(log)-1:]); diff != "" {
					t.Errorf("Authorization received at /moved (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRedirectToPlainHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		insecureDest bool
		wantReason   resolve.Reason
		wantOther    []string
	}{
		{name: "refused", wantReason: resolve.ReasonDowngrade},
		{name: "to an insecure registry, without the credential", insecureDest: true, wantOther: []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var other authLog
			otherAddr := manifestServer(t, &other)
			rr := &redirectingRegistry{location: func(string) string { return "http://" + otherAddr + "/v2/app/manifests/1.0" }}
			srv := httptest.NewTLSServer(rr)
			t.Cleanup(srv.Close)
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			addr := strings.TrimPrefix(srv.URL, "https://")
			opts := []resolve.Option{
				resolve.WithAllowRegistry(addr, otherAddr),
				resolve.WithRootCAs(roots),
				resolve.WithKeychain(authn.NewMultiKeychain()),
				resolve.WithAuth(addr, &authn.Basic{Username: "alice", Password: "secret"}),
			}
			if tc.insecureDest {
				opts = append(opts, resolve.WithInsecureRegistry(otherAddr))
			}
			_, err := resolve.New(opts...).Resolve(t.Context(), mustParse(t, addr+"/app:1.0"))
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
			} else {
				var e *resolve.Error
				if !errors.As(err, &e) || !errors.Is(err, resolve.ErrBlocked) || e.Reason != tc.wantReason || e.Refused != otherAddr {
					t.Fatalf("err = %#v, want ErrBlocked, reason %s, refusing %s", err, tc.wantReason, otherAddr)
				}
			}
			if diff := cmp.Diff(tc.wantOther, other.get()); diff != "" {
				t.Errorf("Authorization received over plain HTTP (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBlockedRedirectTargetIsNamed(t *testing.T) {
	t.Parallel()
	var other authLog
	otherAddr := manifestServer(t, &other)
	srv := httptest.NewServer(http.RedirectHandler("http://"+otherAddr+"/v2/app/manifests/1.0", http.StatusTemporaryRedirect))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	r := resolve.New(
		resolve.WithAllowRegistry(addr),
		resolve.WithInsecureRegistry(addr, otherAddr),
		resolve.WithKeychain(authn.NewMultiKeychain()),
	)
	_, err := r.Resolve(t.Context(), mustParse(t, addr+"/app:1.0"))
	var e *resolve.Error
	if !errors.As(err, &e) || !errors.Is(err, resolve.ErrBlocked) {
		t.Fatalf("err = %v, want ErrBlocked", err)
	}
	if diff := cmp.Diff(struct{ Registry, Refused string }{addr, otherAddr}, struct{ Registry, Refused string }{e.Registry, e.Refused}); diff != "" {
		t.Errorf("registry and refused address (-want +got):\n%s", diff)
	}
	if n := len(other.get()); n != 0 {
		t.Errorf("the refused server got %d requests", n)
	}
}
