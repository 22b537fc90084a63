package webhook

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

func TestPullSecretKeychain(t *testing.T) {
	// One docker config per secret; each case asks a secret's keychain
	// for a repository and wants the user it answers with ("" for
	// anonymous).
	secrets := map[string]string{
		"mixed": `{
			"https://index.docker.io/v1/": {"auth": "aHViOmh1Yi1wYXNz"},
			"registry.example:5000": {"username": "port", "password": "p"},
			"registry.example/team": {"username": "team", "password": "t"},
			"registry.example": {"username": "any", "password": "a"},
			"*.glob.example": {"username": "glob", "password": "g"}
		}`,
		// What kubectl create secret docker-registry --docker-server=docker.io
		// writes; the kubelet uses it for Docker Hub images.
		"docker.io":  `{"docker.io": {"username": "hub-short", "password": "h"}}`,
		"registry-1": `{"https://registry-1.docker.io": {"username": "hub-reg1", "password": "h"}}`,
	}
	for _, tc := range []struct {
		secret   string
		resource string // a repository, or a registry with asRegistry
		// asRegistry asks for the registry alone, as the resolver does.
		asRegistry bool
		user       string
	}{
		{"mixed", "nginx", false, "hub"},
		{"mixed", "index.docker.io/library/nginx", false, "hub"},
		{"mixed", "index.docker.io", true, "hub"},
		{"mixed", "registry.example:5000/app", false, "port"},
		{"mixed", "registry.example:5000", true, "port"},
		{"mixed", "registry.example/team/app", false, "team"},
		// A path-scoped key covers whole path segments only.
		{"mixed", "registry.example/teamx/app", false, "any"},
		{"mixed", "registry.example/other", false, "any"},
		{"mixed", "registry.example", true, "any"},
		{"mixed", "eu.glob.example/app", false, "glob"},
		{"mixed", "eu.glob.example", true, "glob"},
		{"mixed", "a.b.glob.example/app", false, ""},
		{"mixed", "registry.example:5001/app", false, ""},
		{"mixed", "ghcr.io/org/app", false, ""},
		{"docker.io", "nginx", false, "hub-short"},
		{"docker.io", "docker.io/team/app", false, "hub-short"},
		{"docker.io", "docker.io", true, "hub-short"},
		{"docker.io", "ghcr.io/org/app", false, ""},
		{"registry-1", "nginx", false, "hub-reg1"},
		{"registry-1", "index.docker.io", true, "hub-reg1"},
	} {
		t.Run(tc.secret+"/"+tc.resource, func(t *testing.T) {
			entries, err := parsePullSecret(&corev1.Secret{
				Type: corev1.SecretTypeDockerConfigJson,
				Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths": ` + secrets[tc.secret] + `}`)},
			})
			if err != nil {
				t.Fatal(err)
			}
			var r authn.Resource
			if tc.asRegistry {
				r, err = name.NewRegistry(tc.resource)
			} else {
				r, err = name.NewRepository(tc.resource)
			}
			if err != nil {
				t.Fatal(err)
			}
			auth, err := PullSecretKeychain(entries).Resolve(r)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := authn.Authorization(t.Context(), auth)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tc.user {
				t.Errorf("user %q, want %q", cfg.Username, tc.user)
			}
		})
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
