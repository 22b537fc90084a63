package pin_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the package free of Kubernetes and of the resolver:
// resolution is injected.
func TestImports(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "github.com/tagpin/tagpin/internal/pin").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 2 {
		t.Fatalf("go list found no dependencies: %q", out)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") || dep == "github.com/tagpin/tagpin/internal/resolve" {
			t.Errorf("internal/pin depends on %s", dep)
		}
	}
}
