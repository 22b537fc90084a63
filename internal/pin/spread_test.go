package pin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/pin"
)

// TestPinSpread pins every reference a scan finds to digest A and
// compares the result: references spelled by several keys get their
// digest key added or refreshed, every other byte stays; scan options
// change what is found.
func TestPinSpread(t *testing.T) {
	t.Parallel()
	const d = "sha256:" + hexA
	tests := []struct {
		name, file, content, want string
		opts                      []pin.ScanOption
	}{
		{
			"kustomize add", "kustomization.yaml",
			"images:\n- name: nginx\n  newTag: \"1.27\"\n",
			"images:\n- name: nginx\n  newTag: \"1.27\"\n  digest: " + d + "\n", nil,
		},
		{
			"kustomize crlf", "overlay/kustomization.yml",
			"resources:\r\n- app.yaml\r\nimages:\r\n  - name: app\r\n    newName: ghcr.io/acme/app\r\n    newTag: v3 # release\r\n",
			"resources:\r\n- app.yaml\r\nimages:\r\n  - name: app\r\n    newName: ghcr.io/acme/app\r\n    newTag: v3 # release\r\n    digest: " + d + "\r\n", nil,
		},
		{
			"kustomize no trailing newline", "Kustomization",
			"images:\n- name: app\n  newTag: v3",
			"images:\n- name: app\n  newTag: v3\n  digest: " + d, nil,
		},
		{
			"kustomize crlf without trailing newline", "kustomization.yaml",
			"kind: Kustomization\r\nimages:\r\n- newTag: v3\r\n  name: app",
			"kind: Kustomization\r\nimages:\r\n- newTag: v3\r\n  digest: " + d + "\r\n  name: app", nil,
		},
		{
			"kustomize refresh keeps quotes and comments", "kustomization.yaml",
			"images:\n- name: app\n  newTag: v3\n  digest: 'sha256:" + hexB + "' # pinned\n",
			"images:\n- name: app\n  newTag: v3\n  digest: '" + d + "' # pinned\n", nil,
		},
		{
			"kustomize empty digest key", "kustomization.yaml",
			"images:\n- name: app\n  digest: # filled by tagpin\n  newTag: v3\n",
			"images:\n- name: app\n  digest: " + d + " # filled by tagpin\n  newTag: v3\n", nil,
		},
		{
			"kustomize null digest", "kustomization.yaml",
			"images:\n- name: app\n  newTag: v3\n  digest: null\n",
			"images:\n- name: app\n  newTag: v3\n  digest: " + d + "\n", nil,
		},
		{
			"kustomize images under another key", "kustomization.yaml",
			"helmCharts:\n- name: app\n  valuesInline:\n    images:\n    - name: app\n      newTag: v3\n",
			"helmCharts:\n- name: app\n  valuesInline:\n    images:\n    - name: app\n      newTag: v3\n", nil,
		},
		{
			"kustomize flow entries", "kustomization.yaml",
			"images: [{name: app, newTag: v3}]\nimages:\n- {name: app, newTag: v3}\n",
			"images: [{name: app, newTag: v3}]\nimages:\n- {name: app, newTag: v3}\n", nil,
		},
		{
			"kustomize newTag in a patch", "kustomization.yaml",
			"patches:\n- patch: |\n    images:\n    - name: app\n      newTag: v3\n",
			"patches:\n- patch: |\n    images:\n    - name: app\n      newTag: v3\n", nil,
		},
		{
			"images list outside kustomization", "values.yaml",
			"images:\n- name: app\n  newTag: v3\n",
			"images:\n- name: app\n  newTag: v3\n", nil,
		},
		{
			"kustomize second document", "kustomization.yaml",
			"images:\n- name: a\n  newTag: \"1\"\n---\nimages:\n- name: b\n  newTag: \"2\"\n",
			"images:\n- name: a\n  newTag: \"1\"\n  digest: " + d + "\n---\nimages:\n- name: b\n  newTag: \"2\"\n  digest: " + d + "\n", nil,
		},
		{
			"helm values without digest key", "values.yaml",
			"image:\n  repository: nginx\n  tag: 1.27\n",
			"image:\n  repository: nginx\n  tag: 1.27\n", nil,
		},
		{
			"helm values add digest", "values.yaml",
			"image:\r\n  repository: nginx\r\n  tag: 1.27 # app\r\n  pullPolicy: Always\r\n",
			"image:\r\n  repository: nginx\r\n  tag: 1.27 # app\r\n  digest: " + d + "\r\n  pullPolicy: Always\r\n",
			[]pin.ScanOption{pin.AddHelmDigests()},
		},
		{
			"helm values indented with tabs", "values.yaml",
			"image:\n\t repository: nginx\n\t tag: 1.27\n",
			"image:\n\t repository: nginx\n\t tag: 1.27\n\t digest: " + d + "\n",
			[]pin.ScanOption{pin.AddHelmDigests()},
		},
		{
			"helm values in a list", "values.yaml",
			"sidecars:\n  - name: shipper\n    image:\n      tag: \"3\"\n      repository: ghcr.io/acme/shipper\n      digest: ''\n",
			"sidecars:\n  - name: shipper\n    image:\n      tag: \"3\"\n      repository: ghcr.io/acme/shipper\n      digest: '" + d + "'\n", nil,
		},
		{
			"helm values initImage at the end", "values.yml",
			"initImage:\n  repository: busybox\n  tag: \"1.36\"",
			"initImage:\n  repository: busybox\n  tag: \"1.36\"\n  digest: " + d,
			[]pin.ScanOption{pin.AddHelmDigests()},
		},
		{
			"not helm values image maps", "values.yaml",
			"images:\n  repository: a\n  tag: \"1\"\nimage:\n  repo: b\n  tag: \"2\"\nnotes: |\n  image:\n    repository: c\n    tag: \"3\"\nimagePolicy:\n  repository: d\n  tag: \"4\"\n",
			"images:\n  repository: a\n  tag: \"1\"\nimage:\n  repo: b\n  tag: \"2\"\nnotes: |\n  image:\n    repository: c\n    tag: \"3\"\nimagePolicy:\n  repository: d\n  tag: \"4\"\n",
			[]pin.ScanOption{pin.AddHelmDigests()},
		},
		{
			"env keys a compose file uses", ".env.local",
			"WEB=nginx:1.27\nDB=postgres:16\n",
			"WEB=nginx:1.27@" + d + "\nDB=postgres:16\n",
			[]pin.ScanOption{pin.EnvImageKeys("WEB")},
		},
		{
			"helm values text in a script", "values.yaml",
			"command:\n  - sh\n  - |\n    cat <<EOF\n    image:\n      repository: a\n      tag: \"1\"\n      digest: \"\"\n    EOF\n",
			"command:\n  - sh\n  - |\n    cat <<EOF\n    image:\n      repository: a\n      tag: \"1\"\n      digest: \"\"\n    EOF\n",
			[]pin.ScanOption{pin.AddHelmDigests()},
		},
		{
			"helm values in json", "values.json",
			"{\"image\": {\"repository\": \"nginx\", \"tag\": \"1.27\"}}\n",
			"{\"image\": {\"repository\": \"nginx\", \"tag\": \"1.27\"}}\n",
			[]pin.ScanOption{pin.AddHelmDigests()},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var edits []pin.Edit
			for _, f := range pin.Scan(tc.file, []byte(tc.content), tc.opts...) {
				if f.Kind != pin.Skipped {
					edits = append(edits, f.Pin(d))
				}
			}
			got, err := pin.Apply([]byte(tc.content), edits)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("pinned (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunSpreadReferences runs pin over a repository whose references
// are spelled by several keys as well as written whole: each tag is
// resolved once whatever its spelling, --check after an update finds
// nothing, and a moved tag is reported stale, then refreshed, in place.
func TestRunSpreadReferences(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"base/deploy.yaml": "spec:\n  containers:\n  - image: nginx:1.27\n  - image: docker.io/library/redis:7\n",
		"overlays/prod/kustomization.yaml": "resources:\n- ../../base\nimages:\n- name: nginx\n  newTag: \"1.27\"\n" +
			"- name: redis\n  newName: index.docker.io/library/redis\n  newTag: \"7\"\n",
	}
	writeTree(t, dir, files)
	reg := registry()
	report, err := pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pin.Report{Files: 2, Pinned: 4}, counts(report)); diff != "" {
		t.Errorf("first run (-want +got):\n%s\n%v", diff, report.Items)
	}
	if diff := cmp.Diff(map[string]int{"docker.io/library/nginx:1.27": 1, "docker.io/library/redis:7": 1}, reg.callCounts()); diff != "" {
		t.Errorf("resolutions (-want +got):\n%s", diff)
	}
	want := map[string]string{
		"base/deploy.yaml": "spec:\n  containers:\n  - image: nginx:1.27@" + nginxNew.String() + "\n  - image: docker.io/library/redis:7@" + redisNew.String() + "\n",
		"overlays/prod/kustomization.yaml": "resources:\n- ../../base\nimages:\n- name: nginx\n  newTag: \"1.27\"\n  digest: " + nginxNew.String() + "\n" +
			"- name: redis\n  newName: index.docker.io/library/redis\n  newTag: \"7\"\n  digest: " + redisNew.String() + "\n",
	}
	if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
		t.Fatalf("pinned tree (-want +got):\n%s", diff)
	}

	check, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if check.Drift() {
		t.Errorf("check after pinning reports drift: %v", check.Items)
	}

	// redis:7 moves: the kustomize digest is stale, then refreshed.
	moved := registry()
	moved.tags["docker.io/library/redis:7"] = redisOld
	check, err = pin.Run(t.Context(), []string{dir}, moved.resolve, pin.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for _, it := range relItems(dir, check.Items) {
		if it.Action == "stale" {
			stale = append(stale, fmt.Sprintf("%s:%d %s", it.File, it.Line, it.Ref))
		}
	}
	wantStale := []string{
		"base/deploy.yaml:4 docker.io/library/redis:7@" + redisNew.String(),
		"overlays/prod/kustomization.yaml:10 index.docker.io/library/redis:7@" + redisNew.String(),
	}
	if diff := cmp.Diff(wantStale, stale); diff != "" {
		t.Errorf("stale pins (-want +got):\n%s", diff)
	}
	if _, err := pin.Run(t.Context(), []string{dir}, moved.resolve, pin.Options{Update: true}); err != nil {
		t.Fatal(err)
	}
	for name, content := range want {
		want[name] = strings.ReplaceAll(content, redisNew.String(), redisOld.String())
	}
	if diff := cmp.Diff(want, readTree(t, dir)); diff != "" {
		t.Errorf("refreshed tree (-want +got):\n%s", diff)
	}
}
