package chart

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tagpin/tagpin/internal/helmtest"
)

// Release and namespace of every render, as in deploy/tagpin.yaml.
const (
	release   = "tagpin"
	namespace = "tagpin"
)

// kubeVersion is the Kubernetes version Helm renders for. Helm built
// with go tool assumes 1.20 (its release builds set the version with
// -ldflags), which the chart's kubeVersion refuses.
const kubeVersion = "1.37.0"

// root returns the repository root: go test runs in test/chart.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hack", "tools", "go.mod")); err != nil {
		t.Fatalf("no tools module under %s: %v", dir, err)
	}
	return dir
}

// helm runs Helm from the tools module (go tool builds it once into the
// Go build cache) in the repository root, with Helm's own directories in
// a temporary one. It returns standard output, and an error carrying
// standard error when Helm fails.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("go test -short: skipping the chart tests (they build Helm from the tools module)")
	}
	dir := root(t)
	if args[0] == "template" || args[0] == "lint" {
		args = append(args, "--kube-version", kubeVersion)
	}
	return helmtest.Run(t.Context(), dir, args...)
}

// valuesFile writes values (YAML) to a file for helm -f.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// render runs helm template on the chart with the values files (paths
// relative to the repository root) and returns the objects, CRDs first.
func render(t *testing.T, valueFiles ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", release, "charts/tagpin", "--namespace", namespace, "--include-crds"}
	for _, f := range valueFiles {
		args = append(args, "-f", f)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := helmtest.Decode(out)
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v", err)
	}
	return objs
}

// find returns the object of that kind and name, failing t when there
// is none.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the rendered chart (have %v)", kind, name, kinds(objs))
	return nil
}

// kinds lists "Kind/name" of objs.
func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// typed converts u into a typed object.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}
