package pin_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/pin"
)

// TestRunBuiltHere checks that images the repository's Skaffold and Tilt
// configurations build, and ko:// references, are neither resolved nor
// pinned nor counted by --check, whichever file is walked first.
func TestRunBuiltHere(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"a/deploy.yaml":    "containers:\n- image: web\n- image: api:dev\n- image: ko://example.com/cmd/job\n- image: nginx:1.27\n",
		"z/skaffold.yaml":  "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n  - image: docker.io/library/web\n",
		"z/tilt/Tiltfile":  "docker_build(\"api\", \".\")\n",
		"b/other.yaml":     "image: api\n",
		"c/unrelated.yaml": "image: webapp:1\n",
	}
	for _, check := range []bool{false, true} {
		dir := t.TempDir()
		writeTree(t, dir, files)
		reg := registry()
		reg.derive = true
		report, err := pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{Check: check})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"docker.io/library/nginx:1.27": 1, "docker.io/library/webapp:1": 1}
		if check {
			want = map[string]int{}
		}
		if diff := cmp.Diff(want, reg.callCounts()); diff != "" {
			t.Errorf("check=%v: resolutions (-want +got):\n%s", check, diff)
		}
		var skipped []string
		for _, it := range relItems(dir, report.Items) {
			if it.Action == "skipped" {
				skipped = append(skipped, it.File+" "+it.Ref)
			}
		}
		wantSkipped := []string{"a/deploy.yaml web", "a/deploy.yaml api:dev", "a/deploy.yaml ko://example.com/cmd/job", "b/other.yaml api", "z/skaffold.yaml docker.io/library/web"}
		if diff := cmp.Diff(wantSkipped, skipped); diff != "" {
			t.Errorf("check=%v: skipped (-want +got):\n%s", check, diff)
		}
		if !check {
			again, err := pin.Run(t.Context(), []string{dir}, reg.resolve, pin.Options{Check: true})
			if err != nil {
				t.Fatal(err)
			}
			if again.Drift() {
				t.Errorf("--check after pinning reports drift: %v", again.Items)
			}
			continue
		}
		unpinned := 0
		for _, it := range report.Items {
			if it.Action == "unpinned" {
				unpinned++
			}
		}
		if unpinned != 2 {
			t.Errorf("--check: %d unpinned, want 2 (nginx, webapp): %v", unpinned, report.Items)
		}
	}
}
