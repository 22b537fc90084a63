package imageref_test

import (
	"errors"
	"testing"

	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
)

const d1 = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want imageref.Reference
		pin  string // WithDigest(d2)
	}{
		{"nginx", imageref.Reference{Original: "nginx", Name: "nginx", Domain: "docker.io", Path: "library/nginx", Tag: "latest"}, "nginx:latest@" + d2},
		{"nginx:1.27", imageref.Reference{Original: "nginx:1.27", Name: "nginx", Domain: "docker.io", Path: "library/nginx", Tag: "1.27", TagWritten: true}, "nginx:1.27@" + d2},
		{"docker.io/library/nginx:1.27", imageref.Reference{Original: "docker.io/library/nginx:1.27", Name: "docker.io/library/nginx", Domain: "docker.io", Path: "library/nginx", Tag: "1.27", TagWritten: true}, "docker.io/library/nginx:1.27@" + d2},
		{"localhost:5000/app", imageref.Reference{Original: "localhost:5000/app", Name: "localhost:5000/app", Domain: "localhost:5000", Path: "app", Tag: "latest"}, "localhost:5000/app:latest@" + d2},
		{"ghcr.io/org/app:v1@" + d1, imageref.Reference{Original: "ghcr.io/org/app:v1@" + d1, Name: "ghcr.io/org/app", Domain: "ghcr.io", Path: "org/app", Tag: "v1", TagWritten: true, Digest: d1}, "ghcr.io/org/app:v1@" + d2},
		{"app@" + d1, imageref.Reference{Original: "app@" + d1, Name: "app", Domain: "docker.io", Path: "library/app", Digest: d1}, "app@" + d2},
		{"[::1]:5000/app:1", imageref.Reference{Original: "[::1]:5000/app:1", Name: "[::1]:5000/app", Domain: "[::1]:5000", Path: "app", Tag: "1", TagWritten: true}, "[::1]:5000/app:1@" + d2},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := imageref.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
			}
			if p := got.WithDigest(digest.Digest(d2)); p != tc.pin {
				t.Errorf("WithDigest = %s, want %s", p, tc.pin)
			}
		})
	}
}

const d2 = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

// TestParseAgreesWithDistribution checks accept/reject against the
// canonical grammar on inputs at its edges.
func TestParseAgreesWithDistribution(t *testing.T) {
	t.Parallel()
	inputs := []string{
		"", "nginx", "NGINX", "nginx:", ":tag", "nginx:1.27", "nginx:-bad", "nginx:" + string(make([]byte, 0)) + "a",
		"a/b/c/d:e", "Registry.Example.com/app:1", "registry.example.com/App:1", "localhost/app", "localhost:5000/app:v1",
		"127.0.0.1:5000/app", "[::1]:5000/app", "[fe80::1%eth0]:5000/app", "app@sha256:abc", "app@" + d1, "app:tag@" + d1,
		"app:tag@sha512:" + d1[7:], "a..b/c", "a_b/c", "a__b/c", "a___b/c", "-app", "app-", "app.", "ex ample/app",
		"app:{{ .Values.tag }}", "${IMAGE}", "<your-image>", "app:" + string(make([]byte, 129)),
		"docker.io/library/nginx:1.27", "index.docker.io/nginx", "example.com:99999/app",
	}
	for _, in := range inputs {
		_, wantErr := reference.ParseNormalizedNamed(in)
		_, err := imageref.Parse(in)
		if (err == nil) != (wantErr == nil) {
			t.Errorf("Parse(%q) error = %v, distribution/reference error = %v", in, err, wantErr)
		}
		if err != nil && !errors.Is(err, imageref.ErrInvalid) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"nginx", "nginx:1.27", "ghcr.io/org/app:v1@" + d1, "localhost:5000/app", "app@" + d1} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, wantErr := reference.ParseNormalizedNamed(s)
		r, err := imageref.Parse(s)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("Parse(%q) error = %v, distribution/reference error = %v", s, err, wantErr)
		}
		if err != nil {
			return
		}
		// Re-pinning keeps the name as written and parses again.
		p := r.WithDigest(digest.Digest(d2))
		again, err := imageref.Parse(p)
		if err != nil {
			t.Fatalf("WithDigest(%q) = %q does not parse: %v", s, p, err)
		}
		if again.Name != r.Name || again.Digest != digest.Digest(d2) || (r.Tag != "" && again.Tag != r.Tag) {
			t.Fatalf("WithDigest(%q) = %q parsed as %+v", s, p, again)
		}
	})
}
