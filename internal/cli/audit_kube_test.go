package cli_test

import (
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagpin/tagpin/internal/controlplanetest"
)

// TestAuditWithoutCRDs: on a cluster without tagpin's CRDs, tagpin audit
// fails saying so and what to do, naming the cluster.
func TestAuditWithoutCRDs(t *testing.T) {
	env := controlplanetest.ForTest(t)
	for _, name := range []string{"revisionpins.tagpin.dev", "imagetags.tagpin.dev", "clusterimagetags.tagpin.dev"} {
		crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := env.Client.Delete(t.Context(), crd); err != nil {
			t.Fatal(err)
		}
	}
	// The API server stops serving the resources once the deletions are
	// done; until then the audit may still find them.
	var (
		errOut string
		code   int
	)
	end := time.Now().Add(30 * time.Second)
	for {
		var out string
		out, errOut, code = tagpin(t, "", "audit", "--kubeconfig", env.Kubeconfig, "-A")
		if code != 0 && out == "" && strings.Contains(errOut, "CRDs are not installed") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("audit after deleting the CRDs: exit %d, stdout %q, stderr %q; want exit 1 and the CRDs are not installed", code, out, errOut)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, want := range []string{"the cluster at " + env.Config.Host, "the tagpin.dev CRDs are not installed: install tagpin's chart"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, want)
		}
	}
}
