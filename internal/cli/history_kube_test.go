package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"k8s.io/client-go/rest"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
	"github.com/tagpin/tagpin/internal/store/kubestore/kubestoretest"
)

// kubeconfigFile writes a kubeconfig for cfg and returns its path.
func kubeconfigFile(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubestoretest.WriteKubeconfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHistoryFromACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: needs a Kubernetes control plane (etcd, kube-apiserver); run make test")
	}
	env, err := kubestoretest.Start(t.Context(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	if err := env.CreateNamespaces(t.Context(), "team-a"); err != nil {
		t.Fatal(err)
	}
	st, err := kubestore.New(t.Context(), env.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := store.TagKey{Registry: "registry.example", Repository: "shop/web", Tag: "latest"}
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for i, d := range []digest.Digest{d1, d2} {
		if _, err := st.Observe(t.Context(), key, d, t0.Add(time.Duration(i)*time.Hour), store.SourceAdmission); err != nil {
			t.Fatal(err)
		}
	}
	scoped := key
	scoped.Scope = "team-a"
	if _, err := st.Observe(t.Context(), scoped, d1, t0, store.SourceAdmission); err != nil {
		t.Fatal(err)
	}
	admin := kubeconfigFile(t, env.Config)

	out, errOut, code := tagpin(t, "", "history", "--full", "--kubeconfig", admin, "registry.example/shop/web:latest")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], d2.String()) || !strings.HasPrefix(lines[2], d1.String()) || !strings.Contains(lines[1], "admission") {
		t.Errorf("history from the cluster: exit %d\n%s\nstderr: %s", code, out, errOut)
	}
	out, errOut, code = tagpin(t, "", "history", "--full", "--kubeconfig", admin, "--namespace", "team-a", "registry.example/shop/web:latest")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], d1.String()) {
		t.Errorf("scoped history from the cluster: exit %d\n%s\nstderr: %s", code, out, errOut)
	}

	nobody, err := env.AddUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	closed := rest.CopyConfig(env.Config)
	closed.Host = "https://127.0.0.1:1"
	for _, tc := range []struct {
		name       string
		kubeconfig string
		ref        string
		want       string
	}{
		{"unknown tag", admin, "registry.example/shop/web:v9", "no history for registry.example/shop/web:v9"},
		{"no RBAC", kubeconfigFile(t, nobody), "registry.example/shop/web:latest", "RBAC"},
		{"unreachable", kubeconfigFile(t, closed), "registry.example/shop/web:latest", "unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := tagpin(t, "", "history", "--kubeconfig", tc.kubeconfig, tc.ref)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, tc.want)
			}
		})
	}
}
