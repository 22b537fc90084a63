package track_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
)

// clock is a settable clock for stamping observations.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T, opts ...resolve.Option) (*registrytest.Registry, *store.Memory, *clock, *track.Tracker) {
	t.Helper()
	reg := registrytest.New(t)
	r := newResolver(t, reg, opts...)
	st := store.NewMemory(0)
	c := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	return reg, st, c, track.New(r, st, store.SourceCLI, track.WithClock(c.now))
}

// newResolver returns a resolver allowed to talk plain HTTP to reg.
func newResolver(t *testing.T, reg *registrytest.Registry, opts ...resolve.Option) *resolve.Resolver {
	t.Helper()
	base := []resolve.Option{
		resolve.WithAllowRegistry(reg.Addr()),
		resolve.WithInsecureRegistry(reg.Addr()),
		resolve.WithKeychain(authn.NewMultiKeychain()),
		resolve.WithTimeout(2 * time.Second),
	}
	r := resolve.New(append(base, opts...)...)
	t.Cleanup(r.Close)
	return r
}

func parse(t *testing.T, s string) imageref.Reference {
	t.Helper()
	ref, err := imageref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestResolveRecordsMoves(t *testing.T) {
	reg, st, c, tr := setup(t)
	old := reg.PushImage(t, "app:latest")
	ref := parse(t, reg.Ref("app"))

	res, err := tr.Resolve(t.Context(), track.Query{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != old || res.From != track.FromRegistry || res.Observation.Moved || res.RecordErr != nil {
		t.Errorf("first resolution: %+v; want %s from the registry, not moved, recorded", res, old)
	}
	if want := reg.Ref("app:latest@" + old.String()); res.Pinned() != want {
		t.Errorf("Pinned() = %s, want %s", res.Pinned(), want)
	}

	c.t = c.t.Add(time.Hour)
	cur := reg.PushImage(t, "app:latest")
	res, err = tr.Resolve(t.Context(), track.Query{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Observation{Moved: true, Previous: old}); res.Digest != cur || res.Observation != want {
		t.Errorf("after a push: digest %s, observation %+v; want %s, %+v", res.Digest, res.Observation, cur, want)
	}

	tag, err := st.Tag(t.Context(), track.Key(ref, store.Public))
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	want := []store.Move{
		{Digest: cur, FirstSeen: first.Add(time.Hour), LastSeen: first.Add(time.Hour), Source: store.SourceCLI},
		{Digest: old, FirstSeen: first, LastSeen: first, Source: store.SourceCLI},
	}
	if diff := cmp.Diff(want, tag.History); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if tag.Key.Registry != reg.Addr() || tag.Key.Repository != "app" || tag.Key.Tag != "latest" {
		t.Errorf("key %+v: want registry %s, repository app, tag latest", tag.Key, reg.Addr())
	}
}

func TestFallback(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault registrytest.Fault
	}{
		{"503", registrytest.Unavailable},
		{"429", registrytest.RateLimited},
		{"hang", registrytest.Hang},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, st, c, tr := setup(t, resolve.WithTimeout(300*time.Millisecond))
			d := reg.PushImage(t, "app:1.0")
			ref := parse(t, reg.Ref("app:1.0"))
			if _, err := tr.Resolve(t.Context(), track.Query{Ref: ref}); err != nil {
				t.Fatal(err)
			}
			verified := c.t
			c.t = c.t.Add(time.Hour)
			reg.SetRetryAfter(time.Hour)
			reg.SetFault(tc.fault)

			res, err := tr.Resolve(t.Context(), track.Query{Ref: ref})
			if err != nil {
				t.Fatalf("registry %s with a last-known digest: %v", tc.name, err)
			}
			if res.Digest != d || res.From != track.FromFallback || !res.Verified.Equal(verified) || !errors.Is(res.Unavailable, resolve.ErrUnavailable) {
				t.Errorf("fallback: digest %s from %s verified %s (cause %v); want %s from %s verified %s, cause unavailable",
					res.Digest, res.From, res.Verified, res.Unavailable, d, track.FromFallback, verified)
			}

			// Without fallback, unavailable is an error.
			noFallback := track.New(newResolver(t, reg, resolve.WithTimeout(300*time.Millisecond)), st, store.SourceCLI, track.WithoutFallback())
			if _, err := noFallback.Resolve(t.Context(), track.Query{Ref: ref}); !errors.Is(err, resolve.ErrUnavailable) {
				t.Errorf("WithoutFallback: err = %v, want unavailable", err)
			}

		})
	}
}

func TestFallbackAfterCallerDeadline(t *testing.T) {
	reg, _, _, tr := setup(t)
	d := reg.PushImage(t, "app:1.0")
	ref := parse(t, reg.Ref("app:1.0"))
	if _, err := tr.Resolve(t.Context(), track.Query{Ref: ref}); err != nil {
		t.Fatal(err)
	}
	reg.SetFault(registrytest.Hang)
	// The caller's deadline, shorter than the resolver's, runs out while
	// the registry hangs: the store is still consulted.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	res, err := tr.Resolve(ctx, track.Query{Ref: ref})
	if err != nil || res.Digest != d || res.From != track.FromFallback {
		t.Fatalf("Resolve = %+v, %v; want %s from fallback", res, err, d)
	}
}

func TestNoFallback(t *testing.T) {
	reg, st, _, tr := setup(t)
	ref := parse(t, reg.Ref("gone:1.0"))
	// The store remembers a tag the registry no longer has: not found
	// is an answer, not an outage.
	if _, err := st.Observe(t.Context(), track.Key(ref, store.Public), digest.FromString("gone"), time.Now(), store.SourceCLI); err != nil {
		t.Fatal(err)
	}
	_, err := tr.Resolve(t.Context(), track.Query{Ref: ref})
	if !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("missing tag with a store record: err = %v, want not found", err)
	}

	// Unavailable without a record fails and says so.
	reg.SetFault(registrytest.Unavailable)
	_, err = tr.Resolve(t.Context(), track.Query{Ref: parse(t, reg.Ref("never-seen:1"))})
	if !errors.Is(err, resolve.ErrUnavailable) {
		t.Errorf("unavailable, no record: err = %v, want unavailable", err)
	}
}

func TestDryRunAndPlatformRecordNothing(t *testing.T) {
	reg, st, _, tr := setup(t)
	reg.PushImage(t, "app:1.0")
	ref := parse(t, reg.Ref("app:1.0"))
	if _, err := tr.Resolve(t.Context(), track.Query{Ref: ref, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Tag(t.Context(), track.Key(ref, store.Public)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a dry run: Tag err = %v, want not found", err)
	}

	reg2, st2, _, tr2 := setup(t, resolve.WithPlatform(resolve.Platform{OS: "linux", Architecture: "arm64"}))
	reg2.PushIndex(t, "multi:1", "linux/amd64", "linux/arm64")
	ref2 := parse(t, reg2.Ref("multi:1"))
	if _, err := tr2.Resolve(t.Context(), track.Query{Ref: ref2}); err != nil {
		t.Fatal(err)
	}
	if _, err := st2.Tag(t.Context(), track.Key(ref2, store.Public)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a platform resolution: Tag err = %v, want not found (a platform digest is not the tag's)", err)
	}

	// A reference that carries its digest is not a sighting of the tag.
	pinned := parse(t, reg.Ref("app:1.0@sha256:"+"1111111111111111111111111111111111111111111111111111111111111111"))
	res, err := tr.Resolve(t.Context(), track.Query{Ref: pinned})
	if err != nil || res.From != track.FromReference {
		t.Errorf("pinned reference: %+v, %v; want From reference", res, err)
	}
	if _, err := st.Tag(t.Context(), track.Key(pinned, store.Public)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a pinned reference: Tag err = %v, want not found", err)
	}
}

func TestScopes(t *testing.T) {
	reg, st, _, tr := setup(t)
	d := reg.PushImage(t, "private:1.0")
	ref := parse(t, reg.Ref("private:1.0"))
	secret := registrytest.Keychain{reg.Addr(): &authn.Basic{Username: "team", Password: "secret"}}

	// Learned with team-a's pull secret: recorded in team-a only.
	res, err := tr.Resolve(t.Context(), track.Query{Ref: ref, Namespace: "team-a", PullSecrets: secret})
	if err != nil || res.Scope != "team-a" || res.Digest != d {
		t.Fatalf("with team-a's secret: %+v, %v; want %s in scope team-a", res, err, d)
	}
	if _, err := st.Tag(t.Context(), track.Key(ref, "team-a")); err != nil {
		t.Errorf("team-a record: %v", err)
	}
	if _, err := st.Tag(t.Context(), track.Key(ref, store.Public)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("public record after a credentialed resolution: err = %v, want not found", err)
	}
	// A namespace without a secret for the registry resolves publicly.
	if res, err := tr.Resolve(t.Context(), track.Query{Ref: ref, Namespace: "team-c", PullSecrets: registrytest.Keychain{}}); err != nil || res.Scope != store.Public {
		t.Errorf("without a secret: %+v, %v; want the public scope", res, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// During an outage each scope falls back to its own record only.
	reg2, _, _, tr2 := setup(t)
	reg2.PushImage(t, "private:1.0")
	ref2 := parse(t, reg2.Ref("private:1.0"))
	secret2 := registrytest.Keychain{reg2.Addr(): &authn.Basic{Username: "team", Password: "secret"}}
	if _, err := tr2.Resolve(t.Context(), track.Query{Ref: ref2, Namespace: "team-a", PullSecrets: secret2}); err != nil {
		t.Fatal(err)
	}
	reg2.SetFault(registrytest.Unavailable)
	res, err = tr2.Resolve(t.Context(), track.Query{Ref: ref2, Namespace: "team-a", PullSecrets: secret2})
	if err != nil || res.From != track.FromFallback || res.Scope != "team-a" {
		t.Errorf("team-a during an outage: %+v, %v; want a fallback from team-a", res, err)
	}
	for _, q := range []track.Query{
		{Ref: ref2, Namespace: "team-b", PullSecrets: secret2},
		{Ref: ref2, Namespace: "team-b"},
		{Ref: ref2},
	} {
		if res, err := tr2.Resolve(t.Context(), q); !errors.Is(err, resolve.ErrUnavailable) {
			t.Errorf("namespace %q (secrets: %v) during an outage: %+v, %v; want unavailable, not team-a's digest", q.Namespace, q.PullSecrets != nil, res, err)
		}
	}
}
