package webhook

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClusterPullSecrets reads pods' pull secrets and their ServiceAccounts'
// through a reader, meant to be an informer cache so that admission
// makes no API call.
type ClusterPullSecrets struct {
	Reader client.Reader
}

// Keychain implements PullSecrets: the pod's imagePullSecrets, then its
// ServiceAccount's, in order. Missing secrets are left out, as the
// kubelet leaves them out.
func (c *ClusterPullSecrets) Keychain(ctx context.Context, namespace string, pod *corev1.Pod) (authn.Keychain, error) {
	names := make([]string, 0, len(pod.Spec.ImagePullSecrets))
	for _, s := range pod.Spec.ImagePullSecrets {
		names = append(names, s.Name)
	}
	saName := pod.Spec.ServiceAccountName
	if saName == "" {
		saName = "default"
	}
	var sa corev1.ServiceAccount
	switch err := c.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: saName}, &sa); {
	case err == nil:
		for _, s := range sa.ImagePullSecrets {
			names = append(names, s.Name)
		}
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading service account %s/%s: %w", namespace, saName, err)
	}
	var kc PullSecretKeychain
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		var secret corev1.Secret
		if err := c.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &secret); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("reading pull secret %s/%s: %w", namespace, name, err)
		}
		entries, err := parsePullSecret(&secret)
		if err != nil {
			return nil, fmt.Errorf("pull secret %s/%s: %w", namespace, name, err)
		}
		kc = append(kc, entries...)
	}
	return kc, nil
}

// PullSecretKeychain holds the entries of pull secrets, in order; the
// first entry matching a registry wins.
type PullSecretKeychain []PullSecretEntry

// PullSecretEntry is one registry's credential in a pull secret.
type PullSecretEntry struct {
	// Pattern is the host[:port][/path] the entry is for; the host may
	// start with a *. glob, as the kubelet allows.
	Pattern string
	Auth    authn.AuthConfig
}

// Resolve implements authn.Keychain.
func (k PullSecretKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	for _, e := range k {
		if matchRegistry(e.Pattern, r) {
			return authn.FromConfig(e.Auth), nil
		}
	}
	return authn.Anonymous, nil
}

// matchRegistry reports whether a pull secret's key matches r, the way
// the kubelet matches them: same host and port (globs allowed), Docker
// Hub's names taken as one, and the key's path, if any, a prefix of the
// repository. Unlike the kubelet, which compares the path as a string,
// the prefix is of whole path segments: registry.example/team does not
// cover registry.example/teamx.
func matchRegistry(pattern string, r authn.Resource) bool {
	host, prefix, _ := strings.Cut(pattern, "/")
	if !matchHost(host, normalizeHost(r.RegistryStr())) {
		return false
	}
	if prefix == "" {
		return true
	}
	repo := strings.TrimPrefix(r.String(), r.RegistryStr()+"/")
	return repo == prefix || strings.HasPrefix(repo, strings.TrimSuffix(prefix, "/")+"/")
}

func matchHost(pattern, host string) bool {
	if pattern == host {
		return true
	}
	ph, pp, _ := strings.Cut(pattern, ":")
	hh, hp, _ := strings.Cut(host, ":")
	if pp != hp || !strings.Contains(ph, "*") {
		return false
	}
	if strings.Count(ph, ".") != strings.Count(hh, ".") {
		return false
	}
	ok, err := path.Match(strings.ReplaceAll(ph, ".", "/"), strings.ReplaceAll(hh, ".", "/"))
	return err == nil && ok
}

// normalizeHost maps Docker Hub's names to one.
func normalizeHost(h string) string {
	switch h {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		return "index.docker.io"
	}
	return h
}

// normalizeKey turns a docker config key (https://index.docker.io/v1/,
// registry.example:5000, registry.example/team) into host[:port][/path].
func normalizeKey(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key = strings.TrimSuffix(key, "/")
	host, rest, _ := strings.Cut(key, "/")
	host = normalizeHost(host)
	if host == "index.docker.io" && (rest == "v1" || rest == "v2") {
		rest = ""
	}
	if rest == "" {
		return host
	}
	return host + "/" + rest
}

type dockerConfigEntry struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// parsePullSecret reads a kubernetes.io/dockerconfigjson or
// kubernetes.io/dockercfg secret; other types hold no pull credentials.
func parsePullSecret(s *corev1.Secret) ([]PullSecretEntry, error) {
	var auths map[string]dockerConfigEntry
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
			return nil, fmt.Errorf("%s is not a docker config: %w", corev1.DockerConfigJsonKey, err)
		}
		auths = cfg.Auths
	case corev1.SecretTypeDockercfg:
		if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &auths); err != nil {
			return nil, fmt.Errorf("%s is not a docker config: %w", corev1.DockerConfigKey, err)
		}
	default:
		return nil, nil
	}
	out := make([]PullSecretEntry, 0, len(auths))
	for key, e := range auths {
		cfg := authn.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		if e.Auth != "" && cfg.Username == "" {
			raw, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("auth for %s is not base64: %w", key, err)
			}
			cfg.Username, cfg.Password, _ = strings.Cut(string(raw), ":")
		}
		out = append(out, PullSecretEntry{Pattern: normalizeKey(key), Auth: cfg})
	}
	// Longer (more specific) patterns first, as the kubelet orders them.
	slices.SortFunc(out, func(a, b PullSecretEntry) int {
		if c := cmp.Compare(len(b.Pattern), len(a.Pattern)); c != 0 {
			return c
		}
		return strings.Compare(a.Pattern, b.Pattern)
	})
	return out, nil
}
