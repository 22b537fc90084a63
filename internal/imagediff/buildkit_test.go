package imagediff_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tagpin/tagpin/internal/imagediff"
)

// statement is an in-toto statement about subject, as BuildKit writes
// it into an attestation manifest's layer (no DSSE envelope).
func statement(t *testing.T, predicateType string, subject v1.Hash, predicate []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": predicateType,
		"subject":       []any{map[string]any{"name": "pkg:docker/app", "digest": map[string]string{"sha256": subject.Hex}}},
		"predicate":     json.RawMessage(predicate),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDiffBuildKitAttestations reads the SBOMs BuildKit puts into an
// index (docker buildx build --sbom): an attestation manifest per
// platform image, platform unknown/unknown, pointing at the image with
// vnd.docker.reference.digest; its provenance layer is never fetched.
func TestDiffBuildKitAttestations(t *testing.T) {
	t.Parallel()
	reg := newCountingRegistry(t)
	base := layer(t, map[string]string{"etc/os-release": "ID=debian\n"})
	var provenance []string
	for i, tc := range []struct {
		tag  string
		pkgs []pkg
	}{{"bk:1", pkgsV1}, {"bk:2", pkgsV2}} {
		img := image(t, v1.Config{Env: []string{fmt.Sprintf("V=%d", i+1)}}, "linux/amd64", nil, base)
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		prov := static.NewLayer(statement(t, "https://slsa.dev/provenance/v0.2", d, []byte(`{"builder":{"id":"x"}}`)), "application/vnd.in-toto+json")
		provDigest, err := prov.Digest()
		if err != nil {
			t.Fatal(err)
		}
		provenance = append(provenance, provDigest.String())
		att, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
			mutate.Addendum{Layer: static.NewLayer(statement(t, "https://spdx.dev/Document", d, spdxDoc(tc.pkgs...)), "application/vnd.in-toto+json"),
				Annotations: map[string]string{"in-toto.io/predicate-type": "https://spdx.dev/Document"}},
			mutate.Addendum{Layer: prov, Annotations: map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}})
		if err != nil {
			t.Fatal(err)
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
			mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
				Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d.String()},
			}})
		ref, err := name.ParseReference(reg.addr()+"/"+tc.tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
	}
	reg.reset()
	r := newResolver(reg.addr())
	defer r.Close()
	rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/bk:1"), source(t, r, reg.addr()+"/bk:2"),
		imagediff.Options{Host: &imagediff.Platform{OS: "linux", Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 1 {
		t.Fatalf("%d platforms compared, want 1 (attestation manifests are not platforms)", len(rep.Images))
	}
	rf := rep.Images[0].Referrers
	if rf == nil || rf.Packages == nil || len(rf.Packages.Databases) != 1 {
		t.Fatalf("referrers: %+v, want the SPDX packages of the attestation manifests compared; notes: %v", rf, rep.Notes)
	}
	db := rf.Packages.Databases[0]
	if db.Ecosystem != "spdx" || len(db.Upgraded)+len(db.Added)+len(db.Removed)+len(db.Changed)+len(db.Downgraded) == 0 {
		t.Errorf("SPDX packages: %+v, want the changes between the two SBOMs", db)
	}
	gets := reg.gets()
	for _, p := range provenance {
		if n := gets[p]; n != 0 {
			t.Errorf("provenance layer %s fetched %d times, want never", p, n)
		}
	}
	var sboms int
	for _, f := range rep.Fetched.Blobs {
		if f.Kind == imagediff.KindSBOM {
			sboms++
			if gets[string(f.Digest)] != 1 {
				t.Errorf("document %s fetched %d times, want once", f.Digest, gets[string(f.Digest)])
			}
		}
	}
	if sboms != 2 {
		t.Errorf("%d SBOM documents fetched, want 2: %+v", sboms, rep.Fetched.Blobs)
	}
}
