package imagetest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestParseOutput(t *testing.T) {
	t.Parallel()
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const other = "sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hash, err := v1.NewHash(d)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		out     string
		want    Built
		wantErr string
	}{
		{
			name: "layout and registry",
			out:  "oci:/tmp/l:v1.2.3@" + d + "\noci:/tmp/l:latest@" + d + "\n127.0.0.1:5000/tagpin:v1.2.3@" + d + "\n",
			want: Built{Version: "v1.2.3", Digest: hash, Lines: []string{
				"oci:/tmp/l:v1.2.3@" + d, "oci:/tmp/l:latest@" + d, "127.0.0.1:5000/tagpin:v1.2.3@" + d,
			}},
		},
		{name: "nothing", out: "\n", wantErr: "printed no reference"},
		{name: "no digest", out: "127.0.0.1:5000/tagpin:v1\n", wantErr: "not NAME:TAG@DIGEST"},
		{name: "bad digest", out: "r:v1@sha256:abc\n", wantErr: "r:v1@sha256:abc"},
		{name: "two digests", out: "r:v1@" + d + "\nr:latest@" + other + "\n", wantErr: "digest differs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseOutput(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseOutput() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b name.Digest) bool { return a.String() == b.String() })); diff != "" {
				t.Errorf("parseOutput() (-want +got):\n%s", diff)
			}
		})
	}
}
