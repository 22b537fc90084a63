package resolve_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
)

func mustParse(t *testing.T, s string) imageref.Reference {
	t.Helper()
	ref, err := imageref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// newResolver returns a resolver allowed to talk plain HTTP to reg.
func newResolver(reg *registrytest.Registry, opts ...resolve.Option) *resolve.Resolver {
	base := []resolve.Option{
		resolve.WithAllowRegistry(reg.Addr()),
		resolve.WithInsecureRegistry(reg.Addr()),
		resolve.WithKeychain(authn.NewMultiKeychain()),
	}
	return resolve.New(append(base, opts...)...)
}

func resolveOK(t *testing.T, r *resolve.Resolver, ref string) *resolve.Result {
	t.Helper()
	res, err := r.Resolve(t.Context(), mustParse(t, ref))
	if err != nil {
		t.Fatalf("Resolve(%s): %v", ref, err)
	}
	return res
}

func TestResolveTagOneHeadInSteadyState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []registrytest.Option
		// first resolution of a new registry, then of a second repository
		// on it, then steady state
		wantFirst, wantSecondRepo registrytest.Counts
	}{
		{
			name:           "anonymous registry",
			wantFirst:      registrytest.Counts{Head: 1},
			wantSecondRepo: registrytest.Counts{Head: 1},
		},
		{
			name:           "anonymous bearer tokens",
			opts:           []registrytest.Option{registrytest.WithTokenAuth("", "")},
			wantFirst:      registrytest.Counts{Head: 2, Token: 1},
			wantSecondRepo: registrytest.Counts{Head: 1, Token: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, tc.opts...)
			want := reg.PushImage(t, "app:1.0")
			want2 := reg.PushImage(t, "other:2.0")
			r := newResolver(reg)

			res := resolveOK(t, r, reg.Ref("app:1.0"))
			if res.Digest != want {
				t.Errorf("digest = %s, want %s", res.Digest, want)
			}
			if diff := cmp.Diff(tc.wantFirst, reg.Counts()); diff != "" {
				t.Errorf("first resolution requests (-want +got):\n%s", diff)
			}
			reg.ResetCounts()
			if got := resolveOK(t, r, reg.Ref("other:2.0")).Digest; got != want2 {
				t.Errorf("digest = %s, want %s", got, want2)
			}
			if diff := cmp.Diff(tc.wantSecondRepo, reg.Counts()); diff != "" {
				t.Errorf("second repository requests (-want +got):\n%s", diff)
			}
			for range 5 {
				reg.ResetCounts()
				resolveOK(t, r, reg.Ref("app:1.0"))
				if diff := cmp.Diff(registrytest.Counts{Head: 1}, reg.Counts()); diff != "" {
					t.Fatalf("steady state requests (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestResolveResult(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	want := reg.PushImage(t, "app:1.0")
	r := newResolver(reg)
	ref := reg.Ref("app:1.0")
	res := resolveOK(t, r, ref)
	if got, want := res.Pinned(), ref+"@"+want.String(); got != want {
		t.Errorf("Pinned() = %s, want %s", got, want)
	}
	if res.MediaType == "" || res.Registry != reg.Addr() {
		t.Errorf("MediaType = %q, Registry = %q; want a media type and %s", res.MediaType, res.Registry, reg.Addr())
	}
	// Untagged means latest.
	latest := reg.PushImage(t, "app:latest")
	if got := resolveOK(t, r, reg.Ref("app")); got.Digest != latest || got.Pinned() != reg.Ref("app:latest@"+latest.String()) {
		t.Errorf("untagged: got %s (%s), want latest %s", got.Digest, got.Pinned(), latest)
	}
}

func TestResolveMissingDigestHeader(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	want := reg.PushImage(t, "app:1.0")
	reg.SetFault(registrytest.NoDigestHeader)
	res := resolveOK(t, newResolver(reg), reg.Ref("app:1.0"))
	if res.Digest != want {
		t.Errorf("digest = %s, want %s (sha256 of the body)", res.Digest, want)
	}
	if diff := cmp.Diff(registrytest.Counts{Head: 1, Get: 1}, reg.Counts()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestResolveZeroGetsWithDigestHeader(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	idx, _ := reg.PushIndex(t, "multi:1", "linux/amd64", "linux/arm64")
	r := newResolver(reg)
	for range 3 {
		if got := resolveOK(t, r, reg.Ref("multi:1")).Digest; got != idx {
			t.Fatalf("digest = %s, want index %s", got, idx)
		}
	}
	if c := reg.Counts(); c.Get != 0 || c.Head != 3 {
		t.Errorf("requests = %+v, want 3 HEADs and no GET", c)
	}
}

func TestResolvePlatform(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	idx, per := reg.PushIndex(t, "multi:1", "linux/amd64", "linux/arm64/v8", "linux/arm/v7")
	single := reg.PushImage(t, "single:1") // random images claim linux/amd64? checked below
	tests := []struct {
		ref, platform string
		want          digest.Digest
		wantErr       error
	}{
		{ref: "multi:1", platform: "", want: idx},
		{ref: "multi:1", platform: "linux/amd64", want: per["linux/amd64"]},
		{ref: "multi:1", platform: "linux/arm64", want: per["linux/arm64/v8"]},
		{ref: "multi:1", platform: "linux/arm/v7", want: per["linux/arm/v7"]},
		{ref: "multi:1", platform: "linux/s390x", wantErr: resolve.ErrNotFound},
		{ref: "single:1", platform: "windows/amd64", wantErr: resolve.ErrNotFound},
		{ref: "single:1", platform: "", want: single},
	}
	for _, tc := range tests {
		t.Run(tc.ref+"_"+tc.platform, func(t *testing.T) {
			t.Parallel()
			var opts []resolve.Option
			if tc.platform != "" {
				p, err := resolve.ParsePlatform(tc.platform)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, resolve.WithPlatform(p))
			}
			res, err := newResolver(reg, opts...).Resolve(t.Context(), mustParse(t, reg.Ref(tc.ref)))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.platform) {
					t.Errorf("error %q does not name the platform %s", err, tc.platform)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != tc.want {
				t.Errorf("digest = %s, want %s", res.Digest, tc.want)
			}
		})
	}
}

func TestResolveDigestReferences(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	d := reg.PushImage(t, "app:1.0")
	missing := digest.FromString("nothing")

	res := resolveOK(t, newResolver(reg), reg.Ref("app:1.0@"+d.String()))
	if res.Digest != d || res.Registry != "reference" || reg.Counts().Total() != 0 {
		t.Errorf("unverified pinned reference: got %+v with %d requests, want the digest as written and no request", res, reg.Counts().Total())
	}
	verifying := newResolver(reg, resolve.WithVerify(true))
	if got := resolveOK(t, verifying, reg.Ref("app@"+d.String())).Digest; got != d {
		t.Errorf("verified digest = %s, want %s", got, d)
	}
	_, err := verifying.Resolve(t.Context(), mustParse(t, reg.Ref("app:1.0@"+missing.String())))
	if !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("verifying a missing digest: err = %v, want ErrNotFound", err)
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithTokenAuth("alice", "secret"))
	reg.PushImage(t, "app:1.0")
	good := newResolver(reg, resolve.WithAuth(reg.Addr(), &authn.Basic{Username: "alice", Password: "secret"}))
	tests := []struct {
		name       string
		r          *resolve.Resolver
		ref        string
		wantErr    error
		wantReason resolve.Reason
		// wantData is the rest of the error's data: Status, Refused,
		// Anonymous.
		wantData string
	}{
		{"unknown tag", good, "app:2.0", resolve.ErrNotFound, resolve.ReasonManifestUnknown, "404  false"},
		{"unknown repository", good, "nope:1.0", resolve.ErrNotFound, resolve.ReasonManifestUnknown, "404  false"},
		{"no credentials", newResolver(reg), "app:1.0", resolve.ErrUnauthorized, resolve.ReasonTokenService, "401  true"},
		{"wrong password", newResolver(reg, resolve.WithAuth(reg.Addr(), &authn.Basic{Username: "alice", Password: "wrong"})), "app:1.0", resolve.ErrUnauthorized, resolve.ReasonTokenService, "401  false"},
		{"not allowed", resolve.New(resolve.WithInsecureRegistry(reg.Addr())), "app:1.0", resolve.ErrBlocked, resolve.ReasonBlockedAddress, "0 " + reg.Addr() + " true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.r.Resolve(t.Context(), mustParse(t, reg.Ref(tc.ref)))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var e *resolve.Error
			if !errors.As(err, &e) || e.Ref != reg.Ref(tc.ref) || e.Registry != reg.Addr() {
				t.Fatalf("error %v is not a *resolve.Error for %s at %s", err, reg.Ref(tc.ref), reg.Addr())
			}
			if got := fmt.Sprintf("%d %s %v", e.Status, e.Refused, e.Anonymous); e.Reason != tc.wantReason || got != tc.wantData {
				t.Errorf("reason %s, data %q; want %s, %q", e.Reason, got, tc.wantReason, tc.wantData)
			}
			// One line saying what happened to which image; what to
			// do about it is the caller's to say.
			msg := err.Error()
			if !strings.Contains(msg, reg.Ref(tc.ref)) || strings.Contains(msg, "\n") || strings.Contains(msg, "--") {
				t.Errorf("message %q: want one line naming the reference and no flags", msg)
			}
		})
	}
	if got := resolveOK(t, good, reg.Ref("app:1.0")); got.Digest == "" {
		t.Error("no digest with good credentials")
	}
}

func TestResolveFaultsHonourDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      registrytest.Fault
		retryAfter time.Duration
		timeout    time.Duration
		wantHeads  func(n int) bool
	}{
		{"hang", registrytest.Hang, 0, 200 * time.Millisecond, func(n int) bool { return n == 1 }},
		{"503 forever", registrytest.Unavailable, 0, 400 * time.Millisecond, func(n int) bool { return n >= 1 && n <= 4 }},
		{"429 beyond the budget", registrytest.RateLimited, 30 * time.Second, 2 * time.Second, func(n int) bool { return n == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			reg.PushImage(t, "app:1.0")
			reg.SetFault(tc.fault)
			reg.SetRetryAfter(tc.retryAfter)
			_, err := newResolver(reg, resolve.WithTimeout(tc.timeout)).Resolve(t.Context(), mustParse(t, reg.Ref("app:1.0")))
			if !errors.Is(err, resolve.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if n := reg.Counts().Head; !tc.wantHeads(n) {
				t.Errorf("%d HEAD requests", n)
			}
		})
	}
}

func TestResolveRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	want := reg.PushImage(t, "app:1.0")
	reg.FailNext(2)
	res := resolveOK(t, newResolver(reg), reg.Ref("app:1.0"))
	if res.Digest != want {
		t.Errorf("digest = %s, want %s", res.Digest, want)
	}
	if got := reg.Counts().Head; got != 3 {
		t.Errorf("HEAD requests = %d, want 3 (two 503s, one success)", got)
	}
}

// waitBlocked waits until every goroutine of the test binary but the
// caller is blocked, as synctest.Wait does for a bubble (which cannot
// hold tests that use real sockets). It reads the scheduler's counts from
// runtime/metrics, so the test calling it must not run in parallel with
// others. It fails the test after 10s.
func waitBlocked(t *testing.T) {
	t.Helper()
	samples := []metrics.Sample{
		{Name: "/sched/goroutines/running:goroutines"},
		{Name: "/sched/goroutines/runnable:goroutines"},
		{Name: "/sched/goroutines/not-in-go:goroutines"},
	}
	deadline := time.After(10 * time.Second)
	for {
		metrics.Read(samples)
		running, runnable, syscall := samples[0].Value.Uint64(), samples[1].Value.Uint64(), samples[2].Value.Uint64()
		if running == 1 && runnable == 0 && syscall == 0 {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("goroutines still running after 10s: %d running, %d runnable, %d in system calls", running, runnable, syscall)
		case <-time.After(time.Millisecond):
		}
	}
}

func TestResolveCoalescesConcurrentCalls(t *testing.T) {
	// Not parallel: waitBlocked looks at every goroutine in the binary.
	reg := registrytest.New(t)
	want := reg.PushImage(t, "app:1.0")
	r := newResolver(reg)
	reg.Hold()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			res, err := r.Resolve(t.Context(), mustParse(t, reg.Ref("app:1.0")))
			if err == nil && res.Digest != want {
				err = errors.New("wrong digest " + res.Digest.String())
			}
			errs <- err
		})
	}
	// Every caller waits for the shared request, which the registry holds.
	reg.WaitHeld(t, 1)
	waitBlocked(t)
	reg.Release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(registrytest.Counts{Head: 1}, reg.Counts()); diff != "" {
		t.Errorf("%d concurrent resolutions made these requests (-want +got):\n%s", n, diff)
	}
}

func TestResolveRefreshesExpiredTokenOnce(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithTokenAuth("", ""))
	const n = 32
	for i := range n {
		reg.PushImage(t, fmt.Sprintf("app:t%d", i))
	}
	r := newResolver(reg)
	resolveOK(t, r, reg.Ref("app:t0"))
	reg.ExpireTokens()
	reg.ResetCounts()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := r.Resolve(t.Context(), mustParse(t, reg.Ref(fmt.Sprintf("app:t%d", i)))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := reg.Counts().Token; got != 1 {
		t.Errorf("token requests after expiry under a burst of %d = %d, want 1", n, got)
	}
}

func TestResolveMirror(t *testing.T) {
	t.Parallel()
	origin := registrytest.New(t)
	mirror := registrytest.New(t)
	want := mirror.PushImage(t, "team/app:1.0")
	originDigest := origin.PushImage(t, "team/app:1.0")

	r := resolve.New(
		resolve.WithAllowRegistry(origin.Addr(), mirror.Addr()),
		resolve.WithInsecureRegistry(origin.Addr(), mirror.Addr()),
		resolve.WithKeychain(authn.NewMultiKeychain()),
		resolve.WithMirror(origin.Addr(), mirror.Addr()),
	)
	ref := origin.Ref("team/app:1.0")
	res := resolveOK(t, r, ref)
	if res.Digest != want || res.Registry != mirror.Addr() || res.Pinned() != ref+"@"+want.String() {
		t.Errorf("through mirror: got %s from %s (%s), want %s from %s named after the origin", res.Digest, res.Registry, res.Pinned(), want, mirror.Addr())
	}
	if n := origin.Counts().Total(); n != 0 {
		t.Errorf("origin got %d requests while the mirror answered", n)
	}
	mirror.SetFault(registrytest.Unavailable)
	res = resolveOK(t, r, ref)
	if res.Digest != originDigest || res.Registry != origin.Addr() {
		t.Errorf("mirror down: got %s from %s, want %s from the origin", res.Digest, res.Registry, originDigest)
	}
}

// recorder is a registry stand-in that records Authorization headers.
type recorder struct {
	mu    sync.Mutex
	auths []string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rec.mu.Lock()
	rec.auths = append(rec.auths, req.Header.Get("Authorization"))
	rec.mu.Unlock()
	w.Header().Set("WWW-Authenticate", `Basic realm="other"`)
	w.WriteHeader(http.StatusUnauthorized)
}

func TestCredentialsStayWithTheirRegistry(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithTokenAuth("alice", "secret"))
	reg.PushImage(t, "app:1.0")
	rec := &recorder{}
	other := httptest.NewServer(rec)
	t.Cleanup(other.Close)
	otherAddr := strings.TrimPrefix(other.URL, "http://")

	r := resolve.New(
		resolve.WithAllowRegistry(reg.Addr(), otherAddr),
		resolve.WithInsecureRegistry(reg.Addr(), otherAddr),
		resolve.WithKeychain(authn.NewMultiKeychain()),
		resolve.WithAuth(reg.Addr(), &authn.Basic{Username: "alice", Password: "secret"}),
	)
	resolveOK(t, r, reg.Ref("app:1.0"))
	_, err := r.Resolve(t.Context(), mustParse(t, otherAddr+"/app:1.0"))
	if !errors.Is(err, resolve.ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, a := range rec.auths {
		if a != "" {
			t.Errorf("other registry received Authorization %q", a)
		}
	}
	if len(rec.auths) != 1 {
		t.Errorf("other registry got %d requests, want 1", len(rec.auths))
	}
}

func TestTokenRealmOnForbiddenAddress(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, realm string }{
		{"metadata literal", "http://169.254.169.254/token"},
		{"name resolving to loopback", "http://localhost:1/token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+tc.realm+`",service="evil"`)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			t.Cleanup(srv.Close)
			addr := strings.TrimPrefix(srv.URL, "http://")
			r := resolve.New(
				resolve.WithAllowRegistry(addr),
				resolve.WithInsecureRegistry(addr),
				resolve.WithKeychain(authn.NewMultiKeychain()),
				resolve.WithAuth(addr, &authn.Basic{Username: "alice", Password: "secret"}),
			)
			_, err := r.Resolve(t.Context(), mustParse(t, addr+"/app:1.0"))
			if !errors.Is(err, resolve.ErrBlocked) {
				t.Errorf("err = %v, want ErrBlocked", err)
			}
		})
	}
}

func TestDialTimeCheckFollowsNameResolution(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushImage(t, "app:1.0")
	_, port, _ := strings.Cut(reg.Addr(), ":")
	// Allowing 127.0.0.1:port does not allow a name that resolves to it.
	byName := "localhost:" + port
	r := newResolver(reg, resolve.WithInsecureRegistry(byName))
	_, err := r.Resolve(t.Context(), mustParse(t, byName+"/app:1.0"))
	if !errors.Is(err, resolve.ErrBlocked) {
		t.Errorf("err = %v, want ErrBlocked", err)
	}
	if n := reg.Counts().Total(); n != 0 {
		t.Errorf("registry got %d requests, want none", n)
	}
}

func TestResolveContextCancelledReturnsPromptly(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushImage(t, "app:1.0")
	reg.SetFault(registrytest.Hang)
	ctx, cancel := context.WithCancel(t.Context())
	r := newResolver(reg, resolve.WithTimeout(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, mustParse(t, reg.Ref("app:1.0")))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, resolve.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

func TestResolveWithCallKeychain(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithTokenAuth("alice", "secret"))
	d := reg.PushImage(t, "app:1.0")
	r := newResolver(reg)
	ref := mustParse(t, reg.Ref("app:1.0"))
	alice := registrytest.Keychain{reg.Addr(): &authn.Basic{Username: "alice", Password: "secret"}}
	elsewhere := registrytest.Keychain{"other.example": &authn.Basic{Username: "alice", Password: "secret"}}

	res, err := r.ResolveWith(t.Context(), ref, alice)
	if err != nil || res.Digest != d || !res.Credentialed {
		t.Errorf("with the pull secret: %+v, %v; want %s, Credentialed", res, err, d)
	}
	if _, err := r.ResolveWith(t.Context(), ref, elsewhere); !errors.Is(err, resolve.ErrUnauthorized) {
		t.Errorf("with a secret for another registry: err = %v, want unauthorized", err)
	}
	// The resolver's own credential is not Credentialed.
	own := newResolver(reg, resolve.WithAuth(reg.Addr(), &authn.Basic{Username: "alice", Password: "secret"}))
	if res, err := own.ResolveWith(t.Context(), ref, elsewhere); err != nil || res.Credentialed {
		t.Errorf("with the resolver's own credential: %+v, %v; want success, not Credentialed", res, err)
	}
	for kc, want := range map[string]bool{"alice": true, "elsewhere": false} {
		got, err := r.HasCredential(t.Context(), ref, map[string]registrytest.Keychain{"alice": alice, "elsewhere": elsewhere}[kc])
		if err != nil || got != want {
			t.Errorf("HasCredential(%s) = %v, %v; want %v", kc, got, err, want)
		}
	}
}

// repoKeychain answers only for the repositories it holds, by their
// full name, like pull secrets keyed by registry/path.
type repoKeychain map[string]authn.Authenticator

func (k repoKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[r.String()]; ok {
		return a, nil
	}
	return authn.Anonymous, nil
}

// A pull secret keyed by registry/path gives its credential to the
// images under that path, and only to them.
func TestCallKeychainIsAskedForTheRepository(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithTokenAuth("alice", "secret"))
	d := reg.PushImage(t, "team/app:1.0")
	reg.PushImage(t, "other/app:1.0")
	r := newResolver(reg)
	kc := repoKeychain{reg.Addr() + "/team/app": &authn.Basic{Username: "alice", Password: "secret"}}

	res, err := r.ResolveWith(t.Context(), mustParse(t, reg.Ref("team/app:1.0")), kc)
	if err != nil || res.Digest != d || !res.Credentialed {
		t.Errorf("team/app with a secret for it: %+v, %v; want %s, Credentialed", res, err, d)
	}
	if _, err := r.ResolveWith(t.Context(), mustParse(t, reg.Ref("other/app:1.0")), kc); !errors.Is(err, resolve.ErrUnauthorized) {
		t.Errorf("other/app with a secret for team/app: err = %v, want unauthorized", err)
	}
	for image, want := range map[string]bool{"team/app:1.0": true, "other/app:1.0": false} {
		got, err := r.HasCredential(t.Context(), mustParse(t, reg.Ref(image)), kc)
		if err != nil || got != want {
			t.Errorf("HasCredential(%s) = %v, %v; want %v", image, got, err, want)
		}
	}
}

func TestDownRegistryFailsFastWhileAProbeIsInFlight(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	d2 := reg.PushImage(t, "app:2")
	reg.PushImage(t, "app:1")
	r := newResolver(reg, resolve.WithTimeout(time.Minute), resolve.WithProbeInterval(0))

	reg.SetFault(registrytest.Unavailable)
	if _, err := r.Resolve(t.Context(), mustParse(t, reg.Ref("app:1"))); !errors.Is(err, resolve.ErrUnavailable) {
		t.Fatalf("503: err = %v, want unavailable", err)
	}
	// The registry is back but slow: the first request probes it.
	reg.SetFault(registrytest.NoFault)
	reg.Hold()
	reg.ResetCounts()
	probe := make(chan error, 1)
	go func() {
		_, err := r.Resolve(context.Background(), mustParse(t, reg.Ref("app:1")))
		probe <- err
	}()
	reg.WaitHeld(t, 1)
	// Meanwhile others fail at once, without a request.
	_, err := r.Resolve(t.Context(), mustParse(t, reg.Ref("app:2")))
	if !errors.Is(err, resolve.ErrUnavailable) || !strings.Contains(err.Error(), "failed recently") {
		t.Errorf("while the probe is in flight: err = %v, want unavailable saying the registry failed recently", err)
	}
	if n := reg.Counts().Total(); n != 1 {
		t.Errorf("%d requests while the probe is in flight, want only the probe's", n)
	}
	reg.Release()
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	// The probe's answer marked the registry up.
	if res := resolveOK(t, r, reg.Ref("app:2")); res.Digest != d2 {
		t.Errorf("after the probe: %s, want %s", res.Digest, d2)
	}
}

func TestProbesOfADownRegistryAreSpaced(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushImage(t, "app:1")
	r := newResolver(reg, resolve.WithProbeInterval(time.Hour))
	reg.SetFault(registrytest.Unavailable)
	if _, err := r.Resolve(t.Context(), mustParse(t, reg.Ref("app:1"))); !errors.Is(err, resolve.ErrUnavailable) {
		t.Fatalf("503: err = %v, want unavailable", err)
	}
	reg.SetFault(registrytest.NoFault)
	reg.ResetCounts()
	// Within the probe interval nothing reaches the registry, even
	// though it is back.
	for range 10 {
		if _, err := r.Resolve(t.Context(), mustParse(t, reg.Ref("app:1"))); !errors.Is(err, resolve.ErrUnavailable) {
			t.Fatalf("within the probe interval: err = %v, want unavailable", err)
		}
	}
	if n := reg.Counts().Total(); n != 0 {
		t.Errorf("%d requests within the probe interval, want 0", n)
	}
}
