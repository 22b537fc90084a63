package registrytest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

// Fault is a misbehaviour of the registry's public endpoint.
type Fault int

const (
	// NoFault serves normally.
	NoFault Fault = iota
	// Hang never answers until the client gives up.
	Hang
	// Unavailable answers 503 to everything.
	Unavailable
	// RateLimited answers 429 with the Retry-After set by SetRetryAfter.
	RateLimited
	// NoDigestHeader serves manifests without Docker-Content-Digest.
	NoDigestHeader
)

// Counts are the requests the public endpoint received.
type Counts struct {
	Head  int // manifest HEADs
	Get   int // manifest GETs
	Token int // token requests
	Other int // everything else (pings, blobs)
}

// Total is the number of requests of any kind.
func (c Counts) Total() int { return c.Head + c.Get + c.Token + c.Other }

// Option configures a Registry.
type Option func(*Registry)

// WithTokenAuth makes the registry demand bearer tokens from a token
// service on the same host (realm /token). With a non-empty user, the
// token service requires those basic credentials; otherwise it hands out
// anonymous tokens.
func WithTokenAuth(user, password string) Option {
	return func(r *Registry) {
		r.tokenAuth = true
		r.user, r.password = user, password
	}
}

// Registry is an in-process registry with a faulty, counting public
// endpoint and a clean endpoint used to push test content.
type Registry struct {
	public, admin *httptest.Server

	tokenAuth      bool
	user, password string

	mu         sync.Mutex
	counts     Counts
	fault      Fault
	retryAfter time.Duration
	latency    time.Duration
	tokens     map[string]bool
	failNext   int
	held       chan struct{}
	heldN      int           // requests that arrived while held, since Hold
	arrived    chan struct{} // closed and replaced when heldN grows
	stop       chan struct{}
	// inFlight counts public requests being served, maxInFlight the
	// most at once.
	inFlight, maxInFlight int
}

// waitHeldTimeout bounds WaitHeld.
const waitHeldTimeout = 30 * time.Second

// New starts a registry on loopback; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r := &Registry{tokens: map[string]bool{}, stop: make(chan struct{}), arrived: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	h := registry.New(registry.Logger(nullLogger()))
	r.admin = httptest.NewServer(h)
	r.public = httptest.NewServer(r.middleware(h))
	t.Cleanup(r.Close)
	return r
}

// Close stops both endpoints, releasing hung requests first.
func (r *Registry) Close() {
	r.mu.Lock()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.mu.Unlock()
	r.public.CloseClientConnections()
	r.public.Close()
	r.admin.Close()
}

// Addr is the public endpoint's "127.0.0.1:port".
func (r *Registry) Addr() string { return strings.TrimPrefix(r.public.URL, "http://") }

// Ref returns Addr()+"/"+repoTag.
func (r *Registry) Ref(repoTag string) string { return r.Addr() + "/" + repoTag }

// SetFault switches the public endpoint's behaviour.
func (r *Registry) SetFault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fault = f
}

// SetRetryAfter sets the Retry-After that RateLimited answers with.
func (r *Registry) SetRetryAfter(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retryAfter = d
}

// SetLatency delays every public request by d (for benchmarks).
func (r *Registry) SetLatency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency = d
}

// FailNext answers the next n public requests with 503, then serves
// normally again.
func (r *Registry) FailNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = n
}

// Hold makes public requests wait until Release.
func (r *Registry) Hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = make(chan struct{})
	r.heldN = 0
}

// WaitHeld waits until n public requests have arrived since Hold (and so
// wait for Release). It fails the test when they have not within 30 s.
// Call it from the test's goroutine.
func (r *Registry) WaitHeld(t testing.TB, n int) {
	t.Helper()
	timeout := time.NewTimer(waitHeldTimeout)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		got, arrived := r.heldN, r.arrived
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-arrived:
		case <-timeout.C:
			t.Fatalf("registrytest: %d of %d requests reached the held registry within %s", got, n, waitHeldTimeout)
		}
	}
}

// Release lets held requests (and later ones) through.
func (r *Registry) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held != nil {
		close(r.held)
		r.held = nil
	}
}

// Counts returns the requests received so far.
func (r *Registry) Counts() Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts
}

// ResetCounts zeroes the counters.
func (r *Registry) ResetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts = Counts{}
	r.maxInFlight = r.inFlight
}

// MaxInFlight returns the most public requests served at once since the
// registry started or the counts were last reset.
func (r *Registry) MaxInFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxInFlight
}

// addInFlight adds delta to the requests in flight.
func (r *Registry) addInFlight(delta int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight += delta
	r.maxInFlight = max(r.maxInFlight, r.inFlight)
}

// ExpireTokens invalidates every token issued so far.
func (r *Registry) ExpireTokens() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = map[string]bool{}
}

func (r *Registry) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.addInFlight(1)
		defer r.addInFlight(-1)
		r.mu.Lock()
		isToken := req.URL.Path == "/token"
		isManifest := strings.Contains(req.URL.Path, "/manifests/")
		switch {
		case isToken:
			r.counts.Token++
		case isManifest && req.Method == http.MethodHead:
			r.counts.Head++
		case isManifest && req.Method == http.MethodGet:
			r.counts.Get++
		default:
			r.counts.Other++
		}
		fault, retryAfter, latency, held := r.fault, r.retryAfter, r.latency, r.held
		if held != nil {
			r.heldN++
			close(r.arrived)
			r.arrived = make(chan struct{})
		}
		if r.failNext > 0 {
			r.failNext--
			fault = Unavailable
		}
		r.mu.Unlock()

		if held != nil {
			select {
			case <-held:
			case <-r.stop:
				return
			}
		}

		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-req.Context().Done():
				return
			}
		}
		switch fault {
		case Hang:
			select {
			case <-req.Context().Done():
			case <-r.stop:
			}
			return
		case Unavailable:
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}`, http.StatusServiceUnavailable)
			return
		case RateLimited:
			w.Header().Set("Retry-After", fmt.Sprint(int(retryAfter.Seconds())))
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limited"}]}`, http.StatusTooManyRequests)
			return
		}
		if isToken {
			r.serveToken(w, req)
			return
		}
		if r.tokenAuth && !r.validToken(req.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="registrytest"`, r.public.URL+"/token"))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		if fault == NoDigestHeader {
			w = &stripDigest{ResponseWriter: w}
		}
		next.ServeHTTP(w, req)
	})
}

func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	if r.user != "" {
		u, p, ok := req.BasicAuth()
		if !ok || u != r.user || p != r.password {
			http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
			return
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	r.mu.Lock()
	r.tokens[tok] = true
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, tok)
}

func (r *Registry) validToken(h string) bool {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokens[tok]
}

// stripDigest drops Docker-Content-Digest from a response.
type stripDigest struct{ http.ResponseWriter }

func (s *stripDigest) WriteHeader(code int) {
	s.Header().Del("Docker-Content-Digest")
	s.ResponseWriter.WriteHeader(code)
}

func (s *stripDigest) Write(b []byte) (int, error) {
	s.Header().Del("Docker-Content-Digest")
	return s.ResponseWriter.Write(b)
}

func (r *Registry) adminRef(t testing.TB, repoTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(strings.TrimPrefix(r.admin.URL, "http://")+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return ref
}

// Tag tags the manifest at src (repository:tag) as tag in the same
// repository, and returns its digest.
func (r *Registry) Tag(t testing.TB, src, tag string) digest.Digest {
	t.Helper()
	desc, err := remote.Get(r.adminRef(t, src))
	if err != nil {
		t.Fatalf("registrytest: getting %s: %v", src, err)
	}
	repo, _, _ := strings.Cut(src, ":")
	if err := remote.Tag(r.adminRef(t, repo+":"+tag).(name.Tag), desc); err != nil {
		t.Fatalf("registrytest: tagging %s as %s: %v", src, tag, err)
	}
	return digest.Digest(desc.Digest.String())
}

// DeleteManifest deletes the manifest d from repository repo, as a
// registry's garbage collection or an operator would: requests for the
// digest then answer 404 MANIFEST_UNKNOWN. Tags stay as they are (the
// in-process registry keeps them apart), so a tag still pointing at d
// answers like a pull-through cache that lost the digest.
func (r *Registry) DeleteManifest(t testing.TB, repo string, d digest.Digest) {
	t.Helper()
	if err := remote.Delete(r.adminRef(t, repo+"@"+d.String())); err != nil {
		t.Fatalf("registrytest: deleting %s@%s: %v", repo, d, err)
	}
}

// PushImage pushes a small random single-platform image as repoTag
// ("repo:tag") and returns its digest.
func (r *Registry) PushImage(t testing.TB, repoTag string) digest.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatalf("registrytest: random image: %v", err)
	}
	if err := remote.Write(r.adminRef(t, repoTag), img); err != nil {
		t.Fatalf("registrytest: pushing %s: %v", repoTag, err)
	}
	return mustDigest(t, img)
}

// PushIndex pushes a multi-platform index with one random image per
// platform ("linux/amd64", "linux/arm64/v8", …) as repoTag. It returns the
// index digest and each platform's manifest digest.
func (r *Registry) PushIndex(t testing.TB, repoTag string, platforms ...string) (digest.Digest, map[string]digest.Digest) {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	per := map[string]digest.Digest{}
	for _, p := range platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatalf("registrytest: %v", err)
		}
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatalf("registrytest: random image: %v", err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatalf("registrytest: %v", err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatalf("registrytest: %v", err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
		per[p] = mustDigest(t, img)
	}
	if err := remote.WriteIndex(r.adminRef(t, repoTag), idx); err != nil {
		t.Fatalf("registrytest: pushing %s: %v", repoTag, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return digest.Digest(d.String()), per
}

func mustDigest(t testing.TB, img v1.Image) digest.Digest {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return digest.Digest(d.String())
}

// Keychain holds one credential per registry host, as a pod's pull
// secrets or a docker config would; other hosts get anonymous access.
type Keychain map[string]authn.Authenticator

// Resolve implements authn.Keychain.
func (k Keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[r.RegistryStr()]; ok {
		return a, nil
	}
	return authn.Anonymous, nil
}
