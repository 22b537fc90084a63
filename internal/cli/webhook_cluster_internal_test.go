package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/webhook"
)

// TestClusterCacheKeepsPullCredentialsOnly starts the webhook's cluster
// cache against a real API server holding pull secrets and other
// Secrets, and checks what the cache holds: the data of pull secrets,
// nothing of other types (data, or kubectl's last-applied annotation
// that repeats it), no Secret at all of the common types that never hold
// pull credentials, and that pull secrets still give credentials.
func TestClusterCacheKeepsPullCredentialsOnly(t *testing.T) {
	env := controlplanetest.ForTest(t)
	const ns = "team-a"
	if err := env.CreateNamespaces(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	basic := func(user, pass string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)) }
	lastApplied := map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"tls.key":"c2VjcmV0"}}`}
	secrets := []*corev1.Secret{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "pull-json", Annotations: lastApplied},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil, `{"auths":{"json.example":{"auth":%q}}}`, basic("json-user", "json-pass"))},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "pull-cfg", Labels: map[string]string{"team": "a"}},
			Type:       corev1.SecretTypeDockercfg,
			Data:       map[string][]byte{corev1.DockerConfigKey: fmt.Appendf(nil, `{"cfg.example":{"auth":%q}}`, basic("cfg-user", "cfg-pass"))},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "tls", Annotations: lastApplied},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("secret")},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.web.v1", Labels: map[string]string{"owner": "helm"}},
			Type:       "helm.sh/release.v1",
			Data:       map[string][]byte{"release": make([]byte, 64<<10)},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "opaque"},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"password": []byte("hunter2")},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "custom", Annotations: lastApplied},
			Type:       "example.com/custom",
			Data:       map[string][]byte{"token": []byte("t0k3n")},
		},
	}
	for _, s := range secrets {
		s.Namespace = ns
		if err := env.Client.Create(t.Context(), s.DeepCopy()); err != nil {
			t.Fatal(err)
		}
	}
	sa := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "builder", Namespace: ns, Annotations: map[string]string{"note": "x"}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull-cfg"}},
	}
	if err := env.Client.Create(t.Context(), sa); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	var g errgroup.Group
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
	}()
	c, err := startCluster(ctx, &g, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	for _, s := range secrets {
		t.Run("secret "+s.Name, func(t *testing.T) {
			var got corev1.Secret
			err := c.reader.Get(t.Context(), client.ObjectKeyFromObject(s), &got)
			if s.Type == corev1.SecretTypeTLS || s.Type == corev1.SecretTypeOpaque || s.Type == "helm.sh/release.v1" {
				// Types that never hold pull credentials are not watched.
				if !apierrors.IsNotFound(err) {
					t.Fatalf("a %s Secret in the cache (error %v), want it left out by the watch's field selector", s.Type, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want map[string][]byte
			if s.Type == corev1.SecretTypeDockerConfigJson || s.Type == corev1.SecretTypeDockercfg {
				want = s.Data
			}
			if diff := cmp.Diff(want, got.Data); diff != "" {
				t.Errorf("cached data (-want +got):\n%s", diff)
			}
			if got.Type != s.Type {
				t.Errorf("cached type %q, want %q", got.Type, s.Type)
			}
			if len(got.Annotations)+len(got.Labels)+len(got.ManagedFields) != 0 {
				t.Errorf("cached metadata: annotations %v, labels %v, %d managedFields entries; want none", got.Annotations, got.Labels, len(got.ManagedFields))
			}
		})
	}

	pull := &webhook.ClusterPullSecrets{Reader: c.reader}
	for _, tc := range []struct {
		name     string
		pod      corev1.PodSpec
		registry string
		want     authn.AuthConfig
	}{
		{"the pod's pull secret", corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull-json"}}}, "json.example",
			authn.AuthConfig{Username: "json-user", Password: "json-pass"}},
		{"its service account's", corev1.PodSpec{ServiceAccountName: "builder"}, "cfg.example",
			authn.AuthConfig{Username: "cfg-user", Password: "cfg-pass"}},
		{"a secret that is not a pull secret", corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "tls"}}}, "json.example",
			authn.AuthConfig{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := pull.Keychain(t.Context(), ns, &corev1.Pod{Spec: tc.pod})
			if err != nil {
				t.Fatal(err)
			}
			reg, err := name.NewRegistry(tc.registry)
			if err != nil {
				t.Fatal(err)
			}
			a, err := kc.Resolve(reg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("credentials for %s (-want +got):\n%s", tc.registry, diff)
			}
		})
	}
}
