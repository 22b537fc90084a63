package pin_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/pin"
)

// TestRunExclude: --exclude patterns and the walked directory's
// .tagpinignore leave paths out with gitignore's rules; testdata is
// walked like anything else unless excluded; a file named on the
// command line is pinned even when a pattern names it.
func TestRunExclude(t *testing.T) {
	t.Parallel()
	const ref = "image: nginx:1.27\n"
	files := map[string]string{
		"deploy/app.yaml":               ref,
		"deploy/generated/app.yaml":     ref,
		"deploy/kept.yaml":              ref,
		"examples/old/pod.yaml":         ref,
		"examples/pod.yaml":             ref,
		"testdata/fixture.yaml":         ref,
		"internal/testdata/golden.yaml": ref,
		"charts/app/values.yaml":        ref,
		"charts/app/templates/pod.yaml": ref,
		"generated.yaml":                ref,
		"sub/generated.yaml":            ref,
	}
	for _, tc := range []struct {
		name    string
		exclude []string
		ignore  string // .tagpinignore, when not empty
		extra   []string
		want    []string // files pinned
	}{
		{
			name: "nothing excluded: testdata is walked",
			want: []string{"charts/app/templates/pod.yaml", "charts/app/values.yaml", "deploy/app.yaml", "deploy/generated/app.yaml", "deploy/kept.yaml",
				"examples/old/pod.yaml", "examples/pod.yaml", "generated.yaml", "internal/testdata/golden.yaml", "sub/generated.yaml", "testdata/fixture.yaml"},
		},
		{
			name:    "a name matches at any depth; a directory takes its content",
			exclude: []string{"testdata", "generated.yaml"},
			want: []string{"charts/app/templates/pod.yaml", "charts/app/values.yaml", "deploy/app.yaml", "deploy/generated/app.yaml", "deploy/kept.yaml",
				"examples/old/pod.yaml", "examples/pod.yaml"},
		},
		{
			name:    "a slash anchors to the walked directory; ** spans directories",
			exclude: []string{"/generated.yaml", "charts/**/templates/", "deploy/*/app.yaml"},
			want: []string{"charts/app/values.yaml", "deploy/app.yaml", "deploy/kept.yaml", "examples/old/pod.yaml", "examples/pod.yaml",
				"internal/testdata/golden.yaml", "sub/generated.yaml", "testdata/fixture.yaml"},
		},
		{
			name:   ".tagpinignore, with negation and comments; a trailing slash is for directories",
			ignore: "# fixtures are not deployed\ntestdata/\n\nexamples/*\n!examples/pod.yaml\ndeploy/*.yaml\n!deploy/kept.yaml\ngenerated.yaml/\n",
			want: []string{"charts/app/templates/pod.yaml", "charts/app/values.yaml", "deploy/generated/app.yaml", "deploy/kept.yaml",
				"examples/pod.yaml", "generated.yaml", "sub/generated.yaml"},
		},
		{
			name:    "--exclude and .tagpinignore add up; the file's ! re-includes",
			exclude: []string{"charts", "deploy/app.yaml"},
			ignore:  "testdata\n!deploy/app.yaml\n",
			want: []string{"deploy/app.yaml", "deploy/generated/app.yaml", "deploy/kept.yaml", "examples/old/pod.yaml", "examples/pod.yaml",
				"generated.yaml", "sub/generated.yaml"},
		},
		{
			name:    "a file named on the command line is pinned anyway",
			exclude: []string{"*.yaml"},
			extra:   []string{"testdata/fixture.yaml"},
			want:    []string{"testdata/fixture.yaml"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTree(t, dir, files)
			if tc.ignore != "" {
				writeTree(t, dir, map[string]string{pin.IgnoreFile: tc.ignore})
			}
			paths := []string{dir}
			for _, p := range tc.extra {
				paths = append(paths, filepath.Join(dir, p))
			}
			report, err := pin.Run(t.Context(), paths, registry().resolve, pin.Options{Exclude: tc.exclude})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range relItems(dir, report.Items) {
				if it.Action == "pinned" {
					got = append(got, it.File)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pinned files (-want +got):\n%s", diff)
			}
			after := readTree(t, dir)
			for name, content := range files {
				if !slices.Contains(got, name) && after[name] != content {
					t.Errorf("%s was changed though it is excluded:\n%s", name, after[name])
				}
			}
		})
	}
}

// TestRunBadExclusions: a bad --exclude pattern stops the run before it
// touches anything; a bad .tagpinignore fails its directory, whose files
// stay as they were, and the other paths are still pinned.
func TestRunBadExclusions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{"a/pod.yaml": "image: nginx:1.27\n", "a/" + pin.IgnoreFile: "ok\n[z-a\n", "b/pod.yaml": "image: nginx:1.27\n"}
	writeTree(t, dir, files)

	_, err := pin.Run(t.Context(), []string{dir}, registry().resolve, pin.Options{Exclude: []string{"deploy/[a-"}})
	if want := `exclusion pattern "deploy/[a-": bad exclusion pattern: check its brackets and escapes`; !errors.Is(err, pin.ErrBadPattern) || err.Error() != want {
		t.Errorf("a bad --exclude pattern: err = %v, want %q (ErrBadPattern)", err, want)
	}
	report, err := pin.Run(t.Context(), []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}, registry().resolve, pin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []pin.Item{
		{File: "a/" + pin.IgnoreFile, Action: "failed", Message: filepath.Join(dir, "a", pin.IgnoreFile) + `, line 2: "[z-a": bad exclusion pattern: check its brackets and escapes; fix it: nothing under ` + filepath.Join(dir, "a") + " was pinned"},
		{File: "b/pod.yaml", Line: 1, Ref: "nginx:1.27", Action: "pinned", Digest: nginxNew.String()},
	}
	if diff := cmp.Diff(want, relItems(dir, report.Items)); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a", "pod.yaml")); string(b) != files["a/pod.yaml"] {
		t.Errorf("a/pod.yaml changed under a bad %s: %q", pin.IgnoreFile, b)
	}
}
