package pin_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/pin"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden pins (with Update) the input files of every case under
// testdata/golden, together, and compares each result with
// <input>.golden and the report with report.golden. Cases whose name
// ends in -add-digests run with HelmDigests.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, dir := range goldenCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			names := goldenInputs(t, dir)
			tmp := t.TempDir()
			for _, name := range names {
				input, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(tmp, name), input, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fake := &fakeResolver{derive: true}
			opts := pin.Options{Update: true, HelmDigests: strings.HasSuffix(dir, "-add-digests")}
			report, err := pin.Run(t.Context(), []string{tmp}, fake.resolve, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range names {
				got, err := os.ReadFile(filepath.Join(tmp, name))
				if err != nil {
					t.Fatal(err)
				}
				compareGolden(t, filepath.Join(dir, name+".golden"), got)
			}
			for i := range report.Items {
				report.Items[i].File = strings.TrimPrefix(report.Items[i].File, tmp+string(filepath.Separator))
				report.Items[i].Message = strings.ReplaceAll(report.Items[i].Message, tmp+string(filepath.Separator), "")
			}
			var gotReport bytes.Buffer
			enc := json.NewEncoder(&gotReport)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(report); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join(dir, "report.golden"), gotReport.Bytes())
		})
	}
}

func goldenCases(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases in testdata/golden (%v)", err)
	}
	return dirs
}

// goldenInputs returns the names of the input files of a case: every
// file but the *.golden ones.
func goldenInputs(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".golden") {
			inputs = append(inputs, e.Name())
		}
	}
	if len(inputs) == 0 {
		t.Fatalf("%s: no input file besides *.golden", dir)
	}
	return inputs
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}
