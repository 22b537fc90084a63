package controlplanetest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// TestStartWithoutBinaries checks that Start neither builds nor finds
// binaries it was not given, and says why.
func TestStartWithoutBinaries(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name       string
		assets     string // KUBEBUILDER_ASSETS
		notBuilt   bool   // errors.Is ErrNotBuilt: tests skip
		wantInText []string
	}{
		{"not built", "", true, []string{"KUBEBUILDER_ASSETS is unset", "make controlplane", "hack/controlplane.sh"}},
		{"KUBEBUILDER_ASSETS without them", empty, false, []string{empty, "KUBEBUILDER_ASSETS", "etcd"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBEBUILDER_ASSETS", tc.assets)
			t.Setenv("TAGPIN_CACHE", t.TempDir()) // where hack/controlplane.sh finds nothing
			cp, err := controlplanetest.Start(t.Context())
			if err == nil {
				_ = cp.Stop()
				t.Fatal("Start: no error")
			}
			if got := errors.Is(err, controlplanetest.ErrNotBuilt); got != tc.notBuilt {
				t.Errorf("errors.Is(%v, ErrNotBuilt) = %t, want %t", err, got, tc.notBuilt)
			}
			for _, want := range tc.wantInText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestStart checks what the harness promises: tagpin's CRDs served, an
// admin kubeconfig file that works and a controller manager running the
// controllers asked for.
func TestStart(t *testing.T) {
	cp := controlplanetest.ForTest(t, controlplanetest.WithControllerManager(nil, "serviceaccount"))

	var crds apiextensionsv1.CustomResourceDefinitionList
	if err := cp.Client.List(t.Context(), &crds); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range crds.Items {
		names = append(names, c.Name)
	}
	want := []string{"clusterimagetags.tagpin.dev", "imagetags.tagpin.dev", "revisionpins.tagpin.dev"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("CRDs %v, want %v", names, want)
	}
	if err := cp.Client.List(t.Context(), &kubestore.ClusterImageTagList{}); err != nil {
		t.Errorf("listing ClusterImageTags: %v", err)
	}

	c := kubeconfigClient(t, cp.Kubeconfig)
	if err := cp.CreateNamespaces(t.Context(), "harness"); err != nil {
		t.Fatal(err)
	}
	// The serviceaccount controller creates the namespace's default
	// service account; the kubeconfig's user may read it.
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKey{Namespace: "harness", Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Errorf("waiting for the default service account, as the kubeconfig's user: %v", err)
	}

	nobody, err := cp.AddUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := controlplanetest.WriteKubeconfig(path, nobody); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(raw, []byte(nobody.Host)) {
		t.Errorf("kubeconfig %s: %v\n%s", path, err, raw)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "harness-nobody"}}
	if err := kubeconfigClient(t, path).Create(t.Context(), ns); err == nil {
		t.Error("a user of no group created a namespace")
	}
}

// kubeconfigClient returns a client as the user of a kubeconfig file.
func kubeconfigClient(t *testing.T, kubeconfig string) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", kubeconfig, err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
