package pin_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/pin"
)

// fuzzDigest is the digest every reference is pinned to in fuzzing.
const fuzzDigest = digest.Digest("sha256:" + hexB)

// fuzzNames are the file names a fuzz input is scanned as, one per rule
// set.
var fuzzNames = []string{"a.yaml", "a.json", "Dockerfile", "-", "a.sh"}

// pinAll returns an edit pinning every reference that is not skipped.
func pinAll(fs []pin.Finding) []pin.Edit {
	var edits []pin.Edit
	for _, f := range fs {
		if f.Kind != pin.Skipped {
			edits = append(edits, pin.Edit{Start: f.Start, End: f.End, New: f.Ref.WithDigest(fuzzDigest)})
		}
	}
	return edits
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzScanPreservesBytes checks that findings lie in bounds, in order,
// without overlap, with Text equal to their span; that pinning every one
// of them changes no byte outside the spans; and that the pinned
// references are found again, pinned.
func FuzzScanPreservesBytes(f *testing.F) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, dir := range dirs {
		name := goldenInput(f, dir)
		content := readFile(f, filepath.Join(dir, name))
		for i := range fuzzNames {
			f.Add(uint8(i), content)
		}
	}
	f.Fuzz(func(t *testing.T, rules uint8, content []byte) {
		name := fuzzNames[int(rules)%len(fuzzNames)]
		fs := pin.Scan(name, content)
		end := 0
		for _, fd := range fs {
			if fd.Start < end || fd.End < fd.Start || fd.End > len(content) {
				t.Fatalf("finding %q [%d:%d] out of order, overlapping or out of bounds (previous end %d, length %d)", fd.Text, fd.Start, fd.End, end, len(content))
			}
			end = fd.End
			if got := string(content[fd.Start:fd.End]); got != fd.Text {
				t.Fatalf("content[%d:%d] = %q, Text = %q", fd.Start, fd.End, got, fd.Text)
			}
			if fd.Kind != pin.Skipped && fd.Ref.Original != fd.Text {
				t.Fatalf("Ref.Original = %q, Text = %q", fd.Ref.Original, fd.Text)
			}
		}
		edits := pinAll(fs)
		out := pin.Apply(content, edits)
		// Walk both contents edit by edit: the bytes between edits match.
		in, o := 0, 0
		for _, e := range edits {
			gap := e.Start - in
			if string(out[o:o+gap]) != string(content[in:e.Start]) {
				t.Fatalf("bytes before offset %d changed: %q became %q", e.Start, content[in:e.Start], out[o:o+gap])
			}
			o += gap
			if string(out[o:o+len(e.New)]) != e.New {
				t.Fatalf("edit at %d: got %q, want %q", e.Start, out[o:o+len(e.New)], e.New)
			}
			o += len(e.New)
			in = e.End
		}
		if string(out[o:]) != string(content[in:]) {
			t.Fatalf("bytes after the last edit changed: %q became %q", content[in:], out[o:])
		}

		// Pinning is idempotent: the second scan finds every rewritten
		// reference again, pinned, so a second run changes nothing.
		again := map[string]pin.Kind{}
		for _, fd := range pin.Scan(name, out) {
			again[fd.Text] = fd.Kind
		}
		for _, e := range edits {
			if kind, ok := again[e.New]; !ok || kind != pin.Pinned && kind != pin.DigestOnly {
				t.Fatalf("after pinning, %q is found as %v (found: %v)", e.New, kind, ok)
			}
		}
	})
}
