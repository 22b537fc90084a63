package cli_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// TestAuditCluster runs tagpin audit in-process against a control plane:
// --check-registry checks each distinct pinned digest once, concurrently,
// and lists the pins whose digest is gone; then, on a cluster without
// tagpin's CRDs, the audit fails saying so and what to do, naming the
// cluster.
func TestAuditCluster(t *testing.T) {
	env := controlplanetest.ForTest(t)
	reg := registrytest.New(t)
	if err := env.CreateNamespaces(t.Context(), "shop"); err != nil {
		t.Fatal(err)
	}
	st, err := kubestore.New(t.Context(), env.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Eight revisions (no pods: the pins alone are checked), two per
	// image of four; the digest of app1 is then deleted from the registry.
	digests := map[string]digest.Digest{}
	for i := range 4 {
		repo := fmt.Sprintf("app%d", i)
		digests[repo] = reg.PushImage(t, repo+":1")
	}
	pinKey := func(i int) store.RevisionKey {
		return store.RevisionKey{Namespace: "shop", Image: reg.Ref(fmt.Sprintf("app%d:1", i%4)),
			Owner: store.Owner{Kind: "ReplicaSet", Name: fmt.Sprintf("web-%d", i), UID: fmt.Sprintf("uid-%d", i)}}
	}
	for i := range 8 {
		if _, err := st.PinRevision(t.Context(), pinKey(i), digests[fmt.Sprintf("app%d", i%4)]); err != nil {
			t.Fatal(err)
		}
	}
	gone := digests["app1"]
	reg.DeleteManifest(t, "app1", gone)
	reg.ResetCounts()
	out, errOut, code := tagpin(t, "", append([]string{"audit", "--kubeconfig", env.Kubeconfig, "-n", "shop", "--check-registry", "-o", "json"}, regFlags(reg)...)...)
	var report struct {
		Findings []struct{ Name, Finding, Digest string }
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v in %q (stderr %q)", err, out, errOut)
	}
	var missing []string
	for _, f := range report.Findings {
		if f.Finding != "PinnedDigestMissing" || f.Digest != gone.String() {
			t.Errorf("finding %+v; want only PinnedDigestMissing of %s", f, gone)
		}
		missing = append(missing, f.Name)
	}
	want := []string{kubestore.RevisionObjectName(pinKey(1).Owner), kubestore.RevisionObjectName(pinKey(5).Owner)}
	slices.Sort(want)
	if diff := cmp.Diff(want, missing); diff != "" || code != 1 {
		t.Errorf("exit %d (want 1); pins listed as missing (-want +got):\n%s", code, diff)
	}
	if c := reg.Counts(); c.Head != 4 || c.Get != 0 {
		t.Errorf("registry requests %+v; want one HEAD per distinct digest (4), no GET", c)
	}

	// What the webhook's vanished-digest watch recorded is listed
	// without asking any registry.
	since := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	if err := st.MarkMissing(t.Context(), pinKey(2), since); err != nil {
		t.Fatal(err)
	}
	reg.ResetCounts()
	waitAudit := time.Now().Add(30 * time.Second)
	for {
		out, errOut, code = tagpin(t, "", "audit", "--kubeconfig", env.Kubeconfig, "-n", "shop", "-o", "json")
		var recorded struct {
			Findings []struct{ Name, Finding, Detail string }
		}
		if err := json.Unmarshal([]byte(out), &recorded); err != nil {
			t.Fatalf("%v in %q (stderr %q)", err, out, errOut)
		}
		if len(recorded.Findings) == 1 {
			f := recorded.Findings[0]
			if f.Name != kubestore.RevisionObjectName(pinKey(2).Owner) || f.Finding != "PinnedDigestMissing" || code != 1 ||
				!strings.Contains(f.Detail, "missing since "+since.Format(time.RFC3339)+" (120m ago)") {
				t.Errorf("exit %d, finding %+v; want pin 2 missing since %s", code, f, since.Format(time.RFC3339))
			}
			break
		}
		if time.Now().After(waitAudit) {
			t.Fatalf("audit without --check-registry: %+v (exit %d, stderr %q); want the recorded missing digest", recorded.Findings, code, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c := reg.Counts(); c.Total() != 0 {
		t.Errorf("registry requests %+v without --check-registry; want none", c)
	}

	st.Close() // its informers would watch the CRDs go
	for _, name := range []string{"revisionpins.tagpin.dev", "imagetags.tagpin.dev", "clusterimagetags.tagpin.dev"} {
		crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := env.Client.Delete(t.Context(), crd); err != nil {
			t.Fatal(err)
		}
	}
	// The API server stops serving the resources once the deletions are
	// done; until then the audit may still find them.
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
