package resolve_test

import (
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
)

// TestDistribution resolves against the real CNCF Distribution server with
// htpasswd (basic) auth.
func TestDistribution(t *testing.T) {
	t.Parallel()
	reg := registrytest.StartDistribution(t, registrytest.DistributionOptions{Users: map[string]string{"ci": "hunter2"}})
	user := &authn.Basic{Username: "ci", Password: "hunter2"}
	push := func(repoTag string) digest.Digest {
		t.Helper()
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(reg.Addr()+"/"+repoTag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithAuth(user), remote.WithContext(t.Context())); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return digest.Digest(d.String())
	}
	want := push("team/app:1.0")

	base := []resolve.Option{
		resolve.WithAllowRegistry(reg.Addr()),
		resolve.WithInsecureRegistry(reg.Addr()),
		resolve.WithKeychain(authn.NewMultiKeychain()),
		// The test restarts the registry and expects the next request
		// to reach it at once.
		resolve.WithProbeInterval(0),
	}
	authed := resolve.New(append(base, resolve.WithAuth(reg.Addr(), user))...)
	ref := mustParse(t, reg.Addr()+"/team/app:1.0")
	for range 2 {
		res, err := authed.Resolve(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if res.Digest != want {
			t.Errorf("digest = %s, want %s", res.Digest, want)
		}
	}

	moved := push("team/app:1.0")
	if res, err := authed.Resolve(t.Context(), ref); err != nil || res.Digest != moved {
		t.Errorf("after the tag moved: %v, %v; want %s", res, err, moved)
	}

	tests := []struct {
		name    string
		r       *resolve.Resolver
		ref     string
		wantErr error
	}{
		{"anonymous", resolve.New(base...), "team/app:1.0", resolve.ErrUnauthorized},
		{"wrong password", resolve.New(append(base, resolve.WithAuth(reg.Addr(), &authn.Basic{Username: "ci", Password: "nope"}))...), "team/app:1.0", resolve.ErrUnauthorized},
		{"unknown tag", authed, "team/app:9.9", resolve.ErrNotFound},
		{"unknown repository", authed, "team/none:1.0", resolve.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.Resolve(t.Context(), mustParse(t, reg.Addr()+"/"+tc.ref))
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}

	reg.Stop()
	if _, err := authed.Resolve(t.Context(), ref); !errors.Is(err, resolve.ErrUnavailable) {
		t.Errorf("registry stopped: err = %v, want ErrUnavailable", err)
	}
	reg.Start()
	if res, err := authed.Resolve(t.Context(), ref); err != nil || res.Digest != moved {
		t.Errorf("registry restarted: %v, %v; want %s", res, err, moved)
	}
}
