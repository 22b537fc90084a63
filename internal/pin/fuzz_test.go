package pin_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/pin"
)

// fuzzDigest is the digest every reference is pinned to in fuzzing.
const fuzzDigest = digest.Digest("sha256:" + hexB)

// fuzzNames are the file names a fuzz input is scanned as, one per rule
// set.
var fuzzNames = []string{"a.yaml", "a.json", "Dockerfile", "-", "a.sh", "kustomization.yaml", ".env"}

// fuzzRules returns the file name and scan options a fuzz input is
// scanned with: the file name picks the rules, and every other pass
// through the names adds digest keys to Helm values image maps.
func fuzzRules(rules uint8) (string, []pin.ScanOption) {
	name := fuzzNames[int(rules)%len(fuzzNames)]
	if int(rules)/len(fuzzNames)%2 == 1 {
		return name, []pin.ScanOption{pin.AddHelmDigests()}
	}
	return name, nil
}

// pinAll returns an edit pinning every reference that is not skipped.
func pinAll(fs []pin.Finding) []pin.Edit {
	var edits []pin.Edit
	for _, f := range fs {
		if f.Kind != pin.Skipped {
			edits = append(edits, f.Pin(fuzzDigest))
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
		for _, name := range goldenInputs(f, dir) {
			content := readFile(f, filepath.Join(dir, name))
			for i := range fuzzNames {
				f.Add(uint8(i), content)
			}
		}
	}
	f.Fuzz(func(t *testing.T, rules uint8, content []byte) {
		name, opts := fuzzRules(rules)
		fs := pin.Scan(name, content, opts...)
		end := 0
		for _, fd := range fs {
			if fd.Start < end || fd.End < fd.Start || fd.End > len(content) {
				t.Fatalf("finding %q [%d:%d] out of order, overlapping or out of bounds (previous end %d, length %d)", fd.Text, fd.Start, fd.End, end, len(content))
			}
			end = fd.End
			if got := string(content[fd.Start:fd.End]); got != fd.Text {
				t.Fatalf("content[%d:%d] = %q, Text = %q", fd.Start, fd.End, got, fd.Text)
			}
			if fd.Kind != pin.Skipped && !fd.Spread && fd.Ref.Original != fd.Text {
				t.Fatalf("Ref.Original = %q, Text = %q", fd.Ref.Original, fd.Text)
			}
		}
		edits := pinAll(fs)
		out, err := pin.Apply(content, edits)
		if err != nil {
			t.Fatalf("Apply with the edits of a scan: %v", err)
		}
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
		for _, fd := range pin.Scan(name, out, opts...) {
			if fd.Kind != pin.Skipped {
				again[fd.Ref.Original] = fd.Kind
			}
		}
		for _, fd := range fs {
			if fd.Kind == pin.Skipped {
				continue
			}
			want := fd.Ref.WithDigest(fuzzDigest)
			if kind, ok := again[want]; !ok || kind != pin.Pinned && kind != pin.DigestOnly {
				t.Fatalf("after pinning, %q is found as %v (found: %v)", want, kind, ok)
			}
		}
		checkRepin(t, name, opts, out)
	})
}

// checkRepin pins content, already pinned to fuzzDigest, again: the
// edits of its scan apply, and change nothing.
func checkRepin(t *testing.T, name string, opts []pin.ScanOption, content []byte) {
	t.Helper()
	out, err := pin.Apply(content, pinAll(pin.Scan(name, content, opts...)))
	if err != nil {
		t.Fatalf("Apply with the edits of a scan of pinned content: %v", err)
	}
	if string(out) != string(content) {
		t.Fatalf("pinning twice is not idempotent:\nonce:  %q\ntwice: %q", content, out)
	}
}

// fragments are the pieces FuzzPinsInEveryPosition builds files from:
// references, pinned or not, in every position tagpin knows, and the
// text around them.
var fragments = []string{
	"# nginx:1@sha256:" + hexA,
	"ARG B=nginx:1@sha256:" + hexA,
	"FROM nginx:1@sha256:" + hexB,
	"FROM nginx:1",
	"FROM ${B} AS x",
	"image: nginx:1@sha256:" + hexB,
	"- image: nginx:1@sha256:" + hexA + " # nginx:1@sha256:" + hexB,
	"image: 'nginx:1'",
	"image: nginx@sha256:" + hexA,
	"  - {name: a, image: nginx:1@sha256:" + hexA + "}",
	"run: |",
	"body: >-",
	"  echo \"image: nginx:1\" nginx:1@sha256:" + hexB,
	"env: X=nginx:1@sha256:" + hexA,
	"jobs:",
	"  container: nginx:1@sha256:" + hexB,
	"  - uses: docker://nginx:1@sha256:" + hexA,
	"{\"image\": \"nginx:1@sha256:" + hexA + "\"}",
	"RUN echo \\",
	"nginx:1@sha256:" + hexA + "nginx:1@sha256:" + hexB,
	"image: ${REG}/nginx:1@sha256:" + hexA,
	"---",
	"images:",
	"- name: nginx",
	"  newTag: \"1.27\"",
	"  newName: ghcr.io/acme/nginx",
	"  digest: sha256:" + hexA,
	"  digest:",
	"- {name: a, newTag: b}",
	"initImage:",
	"  repository: ghcr.io/acme/init",
	"  tag: \"2\" # pinned by tagpin",
	"  registry: quay.io",
	"sidecar:\n  image:",
	"ARG B=\"alpine:3\"",
	"FROM \\",
	"COPY --from=alpine:3 /a /b",
	"  --platform=$P alpine:3.20 AS y",
	"APP_IMAGE=ghcr.io/acme/app:1.2 # app",
	"export BASE_IMAGE='alpine:3'",
	"DB_IMAGE=\"postgres:16@sha256:" + hexB + "\"",
	"steps:",
	"- name: 'gcr.io/cloud-builders/docker'",
	"  name: localhost:5000/a/b:1",
	"image:",
	"  nginx:1@sha256:" + hexA,
	"image: |-",
	"  - |",
	"apiVersion: skaffold/v4beta11",
	"  artifacts:",
	"image: ko://example.com/cmd/app",
}

// separators join fragments.
var separators = []string{"\n", " ", "", "\r\n", "\n  ", "="}

// FuzzPinsInEveryPosition builds files from fragments (each byte of
// layout picks a fragment and what follows it) so that existing pins
// stand in comments, ARG lines, image: values, FROM lines and block
// scalars, next to each other. Scanning never reports a span twice,
// Apply never fails on the edits of a scan, and pinning twice is
// idempotent.
func FuzzPinsInEveryPosition(f *testing.F) {
	f.Add(uint8(2), []byte{1, 2})                       // ARG pin, then FROM pin
	f.Add(uint8(0), []byte{0, 6})                       // comment pin, then image: pin
	f.Add(uint8(3), []byte{0, 1, 2, 5, 6, 7, 8})        // everything, as stdin
	f.Add(uint8(0), []byte{10, 12, 5})                  // a block scalar, then a key
	f.Add(uint8(0), []byte{14, 15, 16})                 // a workflow
	f.Add(uint8(4), []byte{19, 19, 0})                  // pins glued together, as a script
	f.Add(uint8(5), []byte{22, 23, 24, 26, 23, 25, 24}) // kustomize images entries
	f.Add(uint8(5), []byte{22, 23, 24, 27, 23})         // a digest: key without a value
	f.Fuzz(func(t *testing.T, rules uint8, layout []byte) {
		name, opts := fuzzRules(rules)
		var b strings.Builder
		for _, c := range layout {
			b.WriteString(fragments[int(c)%len(fragments)])
			b.WriteString(separators[int(c)/len(fragments)%len(separators)])
		}
		content := []byte(b.String())
		fs := pin.Scan(name, content, opts...)
		end := 0
		for _, fd := range fs {
			if fd.Start < end || fd.End < fd.Start || fd.End > len(content) {
				t.Fatalf("finding %q [%d:%d] out of order, overlapping or out of bounds (previous end %d) in %q", fd.Text, fd.Start, fd.End, end, content)
			}
			end = fd.End
		}
		out, err := pin.Apply(content, pinAll(fs))
		if err != nil {
			t.Fatalf("Apply with the edits of a scan of %q: %v", content, err)
		}
		checkRepin(t, name, opts, out)
	})
}
