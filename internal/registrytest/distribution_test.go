package registrytest

import (
	"errors"
	"net/http"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestDistributionAuth(t *testing.T) {
	t.Parallel()
	type probe struct {
		name, user, password string
		want                 int
	}
	tests := []struct {
		name   string
		opts   DistributionOptions
		probes []probe
	}{
		{
			name: "no users",
			opts: DistributionOptions{},
			probes: []probe{
				{name: "anonymous", want: http.StatusOK},
			},
		},
		{
			name: "htpasswd",
			opts: DistributionOptions{Users: map[string]string{"alice": "s3cret", "bob": "hunter2"}},
			probes: []probe{
				{name: "anonymous", want: http.StatusUnauthorized},
				{name: "alice", user: "alice", password: "s3cret", want: http.StatusOK},
				{name: "bob", user: "bob", password: "hunter2", want: http.StatusOK},
				{name: "wrong password", user: "alice", password: "hunter2", want: http.StatusUnauthorized},
				{name: "unknown user", user: "mallory", password: "s3cret", want: http.StatusUnauthorized},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := StartDistribution(t, tc.opts)
			for _, p := range tc.probes {
				t.Run(p.name, func(t *testing.T) {
					t.Parallel()
					status, challenge, err := getV2(t, d.Addr(), p.user, p.password)
					if err != nil {
						t.Fatal(err)
					}
					if status != p.want {
						t.Errorf("GET /v2/ = %d, want %d", status, p.want)
					}
					if want := `Basic realm="registrytest"`; p.want == http.StatusUnauthorized && challenge != want {
						t.Errorf("WWW-Authenticate = %q, want %q", challenge, want)
					}
				})
			}
		})
	}
}

func TestDistributionRestart(t *testing.T) {
	t.Parallel()
	d := StartDistribution(t, DistributionOptions{Users: map[string]string{"ci": "hunter2"}})
	addr := d.Addr()
	ref, err := name.ParseReference(d.Ref("team/app:1.0"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "ci", Password: "hunter2"})

	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, auth, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	if got := pulledDigest(t, ref, auth); got != want {
		t.Errorf("pulled %s = %s, want %s", ref, got, want)
	}

	d.Stop()
	d.Stop() // a second Stop does nothing
	if status, _, err := getV2(t, addr, "", ""); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("GET /v2/ after Stop = %d, %v; want connection refused", status, err)
	}

	d.Start()
	if d.Addr() != addr {
		t.Errorf("Addr after Start = %s, want %s", d.Addr(), addr)
	}
	if status, _, err := getV2(t, addr, "", ""); err != nil || status != http.StatusUnauthorized {
		t.Errorf("anonymous GET /v2/ after Start = %d, %v; want 401 (users kept)", status, err)
	}
	if got := pulledDigest(t, ref, auth); got != want {
		t.Errorf("pulled %s after Start = %s, want %s (storage kept)", ref, got, want)
	}
}

// getV2 sends GET /v2/ on a fresh connection, with basic credentials when
// user is set, and returns the status and the WWW-Authenticate challenge.
func getV2(t *testing.T, addr, user, password string) (status int, challenge string, err error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/v2/", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), nil
}

func pulledDigest(t *testing.T, ref name.Reference, opts ...remote.Option) v1.Hash {
	t.Helper()
	img, err := remote.Image(ref, append(opts, remote.WithContext(t.Context()))...)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
