package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files of tagpin audit's output")

// TestAuditOutput renders one report of every finding as a table and as
// JSON and compares them with testdata/audit.*.golden (go test -update
// rewrites them).
func TestAuditOutput(t *testing.T) {
	t.Parallel()
	verified := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	const (
		d1 = "sha256:8517664a1f4a0ed3dbf1591f39989a061b0600c30597bcd003ca3d282794b6bf"
		d2 = "sha256:b10cf1e6fd02dc304131ce8be9daab7c0eb77f7585854a4565514c8ff1edb226"
	)
	restart := "kubectl rollout restart deployment/web --namespace shop --context prod"
	findings := []auditFinding{
		{Namespace: "", Kind: "ClusterImageTag", Name: "library-nginx-1-27-4c1f0c5e1a2b3c4d", Image: "docker.io/library/nginx:1.27", Finding: findingStale,
			Detail: "last verified 26h ago (--stale-after 30m0s); used by shop/web-6d4cf56db6", LastVerified: &verified},
		{Namespace: "shop", Kind: "Pod", Name: "web-6d4cf56db6-x7k2p", Image: "nginx:1.27", Finding: findingUnpinned, Field: "container/web",
			Detail: "container web: admitted without tagpin", Workload: &auditObject{Kind: "Deployment", Name: "web"}, Restart: restart},
		{Namespace: "shop", Kind: "Pod", Name: "web-6d4cf56db6-q9m4r", Image: "nginx:1.27@" + d1, Finding: findingOffPin, Field: "container/web",
			Detail: "container web runs sha256:8517664a1f4a; its ReplicaSet web-6d4cf56db6 is pinned to sha256:b10cf1e6fd02",
			Digest: d1, PinnedDigest: d2, Owner: &auditObject{Kind: "ReplicaSet", Name: "web-6d4cf56db6"},
			Workload: &auditObject{Kind: "Deployment", Name: "web"}, Restart: restart},
		{Namespace: "shop", Kind: "Pod", Name: "debug", Image: "busybox", Finding: findingUnpinned, Field: "container/main",
			Detail: "container main: admitted without tagpin", Recreate: "pod/debug --namespace shop: a pod without a workload; delete it and create it again"},
		{Namespace: "shop", Kind: "RevisionPin", Name: "web-6d4cf56db6-nginx-1-27-0a1b2c3d4e5f6a7b", Image: "nginx:1.27", Finding: findingDigestMissing,
			Detail: "ReplicaSet web-6d4cf56db6 is pinned to sha256:b10cf1e6fd02, which the registry no longer has", Digest: d2,
			Owner: &auditObject{Kind: "ReplicaSet", Name: "web-6d4cf56db6"}},
	}
	report := auditReport{Cluster: "https://prod.example:6443", AllNamespaces: true, CheckRegistry: true, StaleAfter: "30m0s", Findings: findings,
		Warnings: []string{"not checking public tag records for staleness: listing clusterimagetags.tagpin.dev is not allowed (RBAC)"}}
	report.Restart, report.Recreate = remedies(findings)

	var table, clean, errw bytes.Buffer
	if err := printAudit(&table, &errw, &report); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := writeJSON(&js, report); err != nil {
		t.Fatal(err)
	}
	empty := auditReport{Cluster: "https://prod.example:6443", Namespace: "shop"}
	if err := printAudit(&bytes.Buffer{}, &clean, &empty); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  []byte
	}{
		{"audit.table.golden", table.Bytes()},
		{"audit.json.golden", js.Bytes()},
		{"audit.clean.golden", clean.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.name)
			if *update {
				if err := os.WriteFile(path, tc.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(tc.got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
	if errw.Len() != 0 {
		t.Errorf("a report with findings wrote %q on stderr", errw.String())
	}
}
