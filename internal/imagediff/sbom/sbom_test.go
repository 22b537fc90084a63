package sbom

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/imagediff/pkgdb"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dsse wraps an in-toto statement in a DSSE envelope as cosign attaches it.
func dsse(statement []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"payloadType": "application/vnd.in-toto+json",
		"payload":     base64.StdEncoding.EncodeToString(statement),
		"signatures":  []map[string]string{{"keyid": "", "sig": "MEUCIQ=="}},
	})
	return b
}

// statement wraps a predicate in an in-toto statement.
func statement(predicateType string, predicate any) []byte {
	b, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": predicateType,
		"subject":       []any{},
		"predicate":     predicate,
	})
	return b
}

func TestParse(t *testing.T) {
	t.Parallel()
	spdx := readFile(t, "testdata/spdx.json")
	cdx := readFile(t, "testdata/cyclonedx.json")
	intoto := readFile(t, "testdata/intoto-cyclonedx.json")
	wantSPDX := &Document{Format: SPDX, SpecVersion: "SPDX-2.3", Packages: []Package{
		{Name: "base-files", Version: "12.4+deb12u11", PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u11?arch=amd64&distro=debian-12"},
		{Name: "golang.org/x/net", Version: "v0.30.0", PURL: "pkg:golang/golang.org/x/net@v0.30.0"},
		{Name: "app"},
	}}
	wantCDX := &Document{Format: CycloneDX, SpecVersion: "1.5", Packages: []Package{
		{Name: "musl", Version: "1.2.5-r0", PURL: "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3"},
		{Name: "app", Version: "1.0.0"},
		{Name: "org.example/lib", Version: "2.0"},
	}}
	wantInToto := &Document{Format: CycloneDX, SpecVersion: "1.4", Envelope: "in-toto", Packages: []Package{
		{Name: "openssl", Version: "3.0.2-1.el9", PURL: "pkg:rpm/redhat/openssl@3.0.2-1.el9?arch=x86_64"},
	}}
	withEnvelope := func(d *Document, env string) *Document {
		c := *d
		c.Envelope = env
		return &c
	}
	tests := []struct {
		name      string
		mediaType string
		in        []byte
		want      *Document
	}{
		{"spdx", "application/spdx+json", spdx, wantSPDX},
		{"spdx, cosign's media type", "text/spdx+json", spdx, wantSPDX},
		{"spdx, no media type", "", spdx, wantSPDX},
		{"cyclonedx", "application/vnd.cyclonedx+json; version=1.5", cdx, wantCDX},
		{"in-toto statement", "application/vnd.in-toto+json", intoto, wantInToto},
		{"dsse envelope", "application/vnd.dsse.envelope.v1+json", dsse(intoto), withEnvelope(wantInToto, "dsse")},
		{"dsse envelope of spdx", "application/vnd.dsse.envelope.v1+json", dsse(statement("https://spdx.dev/Document", json.RawMessage(spdx))), withEnvelope(wantSPDX, "dsse")},
		{"cosign custom predicate", "", statement("https://cosign.sigstore.dev/attestation/v1", map[string]any{"Data": string(cdx), "Timestamp": "2026-01-02T03:04:05Z"}), withEnvelope(wantCDX, "in-toto")},
		{"empty package list", "", []byte(`{"spdxVersion":"SPDX-2.2","packages":null}`), &Document{Format: SPDX, SpecVersion: "SPDX-2.2", Packages: []Package{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.mediaType, bytes.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	intoto := readFile(t, "testdata/intoto-cyclonedx.json")
	nest := func(levels int) []byte {
		inner := `{"name":"leaf"}`
		for range levels {
			inner = `{"name":"n","components":[` + inner + `]}`
		}
		return []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[` + inner + `]}`)
	}
	if d, err := Parse("", bytes.NewReader(nest(maxNesting))); err != nil || len(d.Packages) != maxNesting+1 {
		t.Fatalf("Parse(%d levels of components) = %v, %v", maxNesting, d, err)
	}
	nested := nest(maxNesting + 1)
	tests := []struct {
		name      string
		mediaType string
		in        io.Reader
		want      error
	}{
		{"spdx tag-value", "text/spdx", strings.NewReader("SPDXVersion: SPDX-2.3\n"), ErrUnsupportedFormat},
		{"cyclonedx xml", "application/vnd.cyclonedx+xml", strings.NewReader("<bom/>"), ErrUnsupportedFormat},
		{"not json", "", strings.NewReader("hello"), ErrUnsupportedFormat},
		{"truncated json", "", strings.NewReader(`{"spdxVersion": "SPDX-2.3", "packages": [`), ErrMalformed},
		{"spdx 3", "", strings.NewReader(`{"spdxVersion": "SPDX-3.0"}`), ErrUnsupportedFormat},
		{"cyclonedx 1.0", "", strings.NewReader(`{"bomFormat": "CycloneDX", "specVersion": "1.0"}`), ErrUnsupportedFormat},
		{"other json", "", strings.NewReader(`{"a": 1}`), ErrUnsupportedFormat},
		{"packages of the wrong type", "", strings.NewReader(`{"spdxVersion": "SPDX-2.3", "packages": {}}`), ErrMalformed},
		{"dsse of another payload type", "", strings.NewReader(`{"payloadType": "text/plain", "payload": ""}`), ErrUnsupportedFormat},
		{"dsse with bad base64", "", strings.NewReader(`{"payloadType": "application/vnd.in-toto+json", "payload": "!!!"}`), ErrMalformed},
		{"statement without predicate", "", strings.NewReader(`{"_type": "https://in-toto.io/Statement/v1"}`), ErrMalformed},
		{"envelopes nested too deep", "", bytes.NewReader(dsse(dsse(dsse(dsse(dsse(intoto)))))), ErrMalformed},
		{"components nested too deep", "", bytes.NewReader(nested), ErrMalformed},
		{"too large", "", io.MultiReader(strings.NewReader(`{"spdxVersion":"SPDX-2.3","x":"`), io.LimitReader(zeros{}, MaxSize)), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.mediaType, tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse: got %+v, %v; want an error wrapping %v", got, err, tt.want)
			}
		})
	}
}

// zeros reads as an endless run of '0'.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

func TestDiff(t *testing.T) {
	t.Parallel()
	a := &Document{Packages: []Package{
		{Name: "base-files", Version: "12.4+deb12u10", PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u10?arch=amd64&distro=debian-12"},
		{Name: "musl", Version: "1.2.5-r1", PURL: "pkg:apk/alpine/musl@1.2.5-r1?arch=x86_64"},
		{Name: "golang.org/x/net", Version: "v0.30.0", PURL: "pkg:golang/golang.org/x/net@v0.30.0"},
		{Name: "gone", Version: "1"},
		{Name: "same", Version: "1"},
		{Name: "libc6", Version: "2.36", PURL: "pkg:deb/debian/libc6@2.36?arch=amd64"},
	}}
	b := &Document{Packages: []Package{
		{Name: "base-files", Version: "12.4+deb12u11", PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u11?arch=amd64&distro=debian-12"},
		{Name: "musl", Version: "1.2.5-r0", PURL: "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64"},
		{Name: "golang.org/x/net", Version: "v0.31.0", PURL: "pkg:golang/golang.org/x/net@v0.31.0"},
		{Name: "new", Version: "2"},
		{Name: "same", Version: "1"},
		{Name: "libc6", Version: "2.36", PURL: "pkg:deb/debian/libc6@2.36?arch=amd64"},
		{Name: "libc6", Version: "2.36", PURL: "pkg:deb/debian/libc6@2.36?arch=i386"},
	}}
	want := []Change{
		{Name: "base-files", PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u11?arch=amd64&distro=debian-12", Kind: pkgdb.Upgraded, Before: "12.4+deb12u10", After: "12.4+deb12u11"},
		{Name: "golang.org/x/net", PURL: "pkg:golang/golang.org/x/net@v0.31.0", Kind: pkgdb.Changed, Before: "v0.30.0", After: "v0.31.0"},
		{Name: "gone", Kind: pkgdb.Removed, Before: "1"},
		{Name: "libc6", PURL: "pkg:deb/debian/libc6@2.36?arch=i386", Kind: pkgdb.Added, After: "2.36"},
		{Name: "musl", PURL: "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64", Kind: pkgdb.Downgraded, Before: "1.2.5-r1", After: "1.2.5-r0"},
		{Name: "new", Kind: pkgdb.Added, After: "2"},
	}
	if diff := cmp.Diff(want, Diff(a, b)); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
	if got := Diff(nil, nil); len(got) != 0 {
		t.Errorf("Diff(nil, nil) = %v", got)
	}
	if got := Diff(nil, &Document{Packages: []Package{{Name: "x"}}}); len(got) != 1 || got[0].Kind.String() != "added" {
		t.Errorf("Diff(nil, x) = %v", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/spdx.json", "testdata/cyclonedx.json", "testdata/intoto-cyclonedx.json"} {
		b := readFile(f, name)
		f.Add("", b)
	}
	f.Add("application/vnd.dsse.envelope.v1+json", dsse(readFile(f, "testdata/intoto-cyclonedx.json")))
	f.Fuzz(func(t *testing.T, mediaType string, b []byte) {
		d, err := Parse(mediaType, bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if d.Format != SPDX && d.Format != CycloneDX {
			t.Fatalf("format %q", d.Format)
		}
		if len(Diff(d, d)) != 0 {
			t.Fatalf("a document differs from itself: %v", Diff(d, d))
		}
	})
}
