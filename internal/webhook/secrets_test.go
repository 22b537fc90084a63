package webhook

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

func TestPullSecretKeychain(t *testing.T) {
	secret := &corev1.Secret{
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths": {
			"https://index.docker.io/v1/": {"auth": "aHViOmh1Yi1wYXNz"},
			"registry.example:5000": {"username": "port", "password": "p"},
			"registry.example/team": {"username": "team", "password": "t"},
			"registry.example": {"username": "any", "password": "a"},
			"*.glob.example": {"username": "glob", "password": "g"}
		}}`)},
	}
	entries, err := parsePullSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	kc := PullSecretKeychain(entries)
	for _, tc := range []struct {
		repo, user string
	}{
		{"nginx", "hub"},
		{"index.docker.io/library/nginx", "hub"},
		{"registry.example:5000/app", "port"},
		{"registry.example/team/app", "team"},
		{"registry.example/teamx/app", "any"},
		{"registry.example/other", "any"},
		{"eu.glob.example/app", "glob"},
		{"a.b.glob.example/app", ""},
		{"registry.example:5001/app", ""},
		{"ghcr.io/org/app", ""},
	} {
		repo, err := name.NewRepository(tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		auth, err := kc.Resolve(repo)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := authn.Authorization(t.Context(), auth)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != tc.user {
			t.Errorf("%s: user %q, want %q", tc.repo, cfg.Username, tc.user)
		}
	}
}

func TestParsePullSecretErrors(t *testing.T) {
	for _, s := range []*corev1.Secret{
		{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}},
		{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"r.example": {"auth": "%%%"}}`)}},
	} {
		if _, err := parsePullSecret(s); err == nil {
			t.Errorf("%s secret %q: no error", s.Type, s.Data)
		}
	}
	if e, err := parsePullSecret(&corev1.Secret{Type: corev1.SecretTypeOpaque}); err != nil || e != nil {
		t.Errorf("opaque secret: %v, %v; want nothing", e, err)
	}
}
