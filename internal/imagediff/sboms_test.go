package imagediff_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imagediff"
	"github.com/tagpin/tagpin/internal/registrytest"
)

// newReferrersRegistry is a counting in-process registry, with the OCI
// referrers API when referrers is true.
func newReferrersRegistry(t *testing.T, referrers bool) *countingRegistry {
	t.Helper()
	cr := &countingRegistry{blobs: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrers))
	cr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, d, ok := strings.Cut(r.URL.Path, "/blobs/"); ok && r.Method == http.MethodGet {
			cr.mu.Lock()
			cr.blobs[d]++
			cr.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(cr.srv.Close)
	return cr
}

// pkg is a package of a test SBOM.
type pkg struct{ name, version, purl string }

func spdxDoc(pkgs ...pkg) []byte {
	type ref struct {
		ReferenceCategory string `json:"referenceCategory"`
		ReferenceType     string `json:"referenceType"`
		ReferenceLocator  string `json:"referenceLocator"`
	}
	type p struct {
		SPDXID       string `json:"SPDXID"`
		Name         string `json:"name"`
		VersionInfo  string `json:"versionInfo,omitempty"`
		ExternalRefs []ref  `json:"externalRefs,omitempty"`
	}
	doc := struct {
		SPDXVersion string `json:"spdxVersion"`
		Name        string `json:"name"`
		Packages    []p    `json:"packages"`
	}{SPDXVersion: "SPDX-2.3", Name: "test"}
	for i, x := range pkgs {
		q := p{SPDXID: fmt.Sprintf("SPDXRef-Package-%d", i), Name: x.name, VersionInfo: x.version}
		if x.purl != "" {
			q.ExternalRefs = []ref{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: x.purl}}
		}
		doc.Packages = append(doc.Packages, q)
	}
	b, _ := json.Marshal(doc)
	return b
}

func cycloneDXDoc(pkgs ...pkg) []byte {
	type c struct {
		Type    string `json:"type"`
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
		PURL    string `json:"purl,omitempty"`
	}
	doc := struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Components  []c    `json:"components"`
	}{BOMFormat: "CycloneDX", SpecVersion: "1.5"}
	for _, x := range pkgs {
		doc.Components = append(doc.Components, c{Type: "library", Name: x.name, Version: x.version, PURL: x.purl})
	}
	b, _ := json.Marshal(doc)
	return b
}

// attestation is predicate wrapped in an in-toto statement about
// subject, in a DSSE envelope, as cosign attaches it.
func attestation(predicateType string, subject digest.Digest, predicate []byte) []byte {
	st, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": predicateType,
		"subject":       []any{map[string]any{"name": "app", "digest": map[string]string{"sha256": subject.Encoded()}}},
		"predicate":     json.RawMessage(predicate),
	})
	b, _ := json.Marshal(map[string]any{
		"payloadType": "application/vnd.in-toto+json",
		"payload":     base64.StdEncoding.EncodeToString(st),
		"signatures":  []map[string]string{{"keyid": "", "sig": "MEUCIQ=="}},
	})
	return b
}

// document is one layer of an artifact.
type document struct {
	mediaType   string
	body        []byte
	annotations map[string]string
}

// rawManifest is a manifest pushed as it is.
type rawManifest struct {
	body []byte
	mt   types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// artifact describes an artifact manifest to push.
type artifact struct {
	// configType is the config's media type (the in-process registry
	// lists it as the artifact type); artifactType the manifest's field.
	configType, artifactType string
	docs                     []document
}

// pushArtifact pushes a's blobs and its manifest to repo at tag (by
// digest when tag is empty), with subject when it is not nil, and
// returns the manifest's descriptor.
func pushArtifact(t *testing.T, addr, repo, tag string, subject *v1.Descriptor, a artifact) v1.Descriptor {
	t.Helper()
	r, err := name.NewRepository(addr+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	config := static.NewLayer([]byte("{}"), types.MediaType(a.configType))
	blobs := []v1.Layer{config}
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	m := struct {
		SchemaVersion int            `json:"schemaVersion"`
		MediaType     string         `json:"mediaType"`
		ArtifactType  string         `json:"artifactType,omitempty"`
		Config        desc           `json:"config"`
		Layers        []desc         `json:"layers"`
		Subject       *v1.Descriptor `json:"subject,omitempty"`
	}{SchemaVersion: 2, MediaType: string(types.OCIManifestSchema1), ArtifactType: a.artifactType, Subject: subject,
		Config: desc{MediaType: a.configType, Digest: digest.FromString("{}").String(), Size: 2}, Layers: []desc{}}
	for _, d := range a.docs {
		blobs = append(blobs, static.NewLayer(d.body, types.MediaType(d.mediaType)))
		m.Layers = append(m.Layers, desc{MediaType: d.mediaType, Digest: digest.FromBytes(d.body).String(), Size: int64(len(d.body)), Annotations: d.annotations})
	}
	for _, l := range blobs {
		if err := remote.WriteLayer(r, l); err != nil {
			t.Fatalf("pushing a blob to %s: %v", repo, err)
		}
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	dg := digest.FromBytes(body)
	target := tag
	if target == "" {
		target = dg.String()
	}
	ref, err := name.ParseReference(addr+"/"+repo+":"+target, name.Insecure)
	if strings.HasPrefix(target, "sha256:") {
		ref, err = name.ParseReference(addr+"/"+repo+"@"+target, name.Insecure)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest{body: body, mt: types.OCIManifestSchema1}); err != nil {
		t.Fatalf("pushing %s:%s: %v", repo, target, err)
	}
	h, _ := v1.NewHash(dg.String())
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(body)), ArtifactType: cmpOr(a.artifactType, a.configType)}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// pushReferrersTag pushes the referrers tag schema's index (tagged
// sha256-<hex> after subject) listing descs.
func pushReferrersTag(t *testing.T, addr, repo string, subject digest.Digest, descs ...v1.Descriptor) {
	t.Helper()
	body, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(addr+"/"+repo+":sha256-"+subject.Encoded(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest{body: body, mt: types.OCIImageIndex}); err != nil {
		t.Fatalf("pushing the referrers tag of %s: %v", subject, err)
	}
}

// subjectOf is the descriptor of the manifest repoTag names.
func subjectOf(t *testing.T, addr, repoTag string) *v1.Descriptor {
	t.Helper()
	ref, err := name.ParseReference(addr+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	return &v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// Packages of the test SBOMs: version 1 and version 2 of an image.
var (
	pkgsV1 = []pkg{
		{"libc6", "2.36-9+deb12u9", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=debian-12"},
		{"openssl", "3.0.15-1~deb12u1", "pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=debian-12"},
		{"golang.org/x/net", "v0.31.0", "pkg:golang/golang.org/x/net@v0.31.0"},
		{"left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0"},
		{"curl", "7.88.1-10+deb12u8", "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u8?arch=amd64&distro=debian-12"},
	}
	pkgsV2 = []pkg{
		{"libc6", "2.36-9+deb12u9", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=debian-12"},
		{"openssl", "3.0.16-1~deb12u1", "pkg:deb/debian/openssl@3.0.16-1~deb12u1?arch=amd64&distro=debian-12"},
		{"golang.org/x/net", "v0.30.0", "pkg:golang/golang.org/x/net@v0.30.0"},
		{"left-pad", "1.3.1", "pkg:npm/left-pad@1.3.1"},
		{"zlib1g", "1:1.2.13.dfsg-1", "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12"},
	}
)

const provenancePredicate = "https://slsa.dev/provenance/v1"

// attachments puts SBOMs on the images app:1 and app:2 of addr in one
// of the ways tools attach them.
type attachments func(t *testing.T, addr string, a, b *v1.Descriptor) (never []digest.Digest)

// referrerSBOMs attaches SPDX and CycloneDX SBOMs to both images, and a
// signature to b, as OCI referrers.
func referrerSBOMs(t *testing.T, addr string, a, b *v1.Descriptor) []digest.Digest {
	pushArtifact(t, addr, "app", "", a, artifact{configType: "application/spdx+json", docs: []document{{"application/spdx+json", spdxDoc(pkgsV1...), nil}}})
	pushArtifact(t, addr, "app", "", a, artifact{configType: "application/vnd.cyclonedx+json", docs: []document{{"application/vnd.cyclonedx+json", cycloneDXDoc(pkgsV1[:2]...), nil}}})
	pushArtifact(t, addr, "app", "", b, artifact{configType: "application/spdx+json", docs: []document{{"application/spdx+json", spdxDoc(pkgsV2...), nil}}})
	pushArtifact(t, addr, "app", "", b, artifact{configType: "application/vnd.cyclonedx+json", docs: []document{{"application/vnd.cyclonedx+json", cycloneDXDoc(pkgsV2[:2]...), nil}}})
	sig := []byte(`{"critical":{}}`)
	pushArtifact(t, addr, "app", "", b, artifact{configType: "application/vnd.dev.cosign.artifact.sig.v1+json", docs: []document{{"application/vnd.dev.cosign.simplesigning.v1+json", sig, nil}}})
	return []digest.Digest{digest.FromBytes(sig)}
}

// cosignTags attaches an SPDX SBOM to both images under .sbom tags, and
// to b an attestation (.att: an SPDX SBOM, a CycloneDX SBOM and a
// provenance) and a signature (.sig).
func cosignTags(t *testing.T, addr string, a, b *v1.Descriptor) []digest.Digest {
	tag := func(d *v1.Descriptor, suffix string) string { return "sha256-" + d.Digest.Hex + suffix }
	pushArtifact(t, addr, "app", tag(a, ".sbom"), nil, artifact{configType: "application/vnd.oci.image.config.v1+json", docs: []document{{"text/spdx+json", spdxDoc(pkgsV1...), nil}}})
	pushArtifact(t, addr, "app", tag(b, ".sbom"), nil, artifact{configType: "application/vnd.oci.image.config.v1+json", docs: []document{{"text/spdx+json", spdxDoc(pkgsV2...), nil}}})
	bd := digest.Digest(b.Digest.String())
	provenance := attestation(provenancePredicate, bd, []byte(`{"buildDefinition":{}}`))
	pushArtifact(t, addr, "app", tag(b, ".att"), nil, artifact{configType: "application/vnd.oci.image.config.v1+json", docs: []document{
		{"application/vnd.dsse.envelope.v1+json", attestation("https://spdx.dev/Document", bd, spdxDoc(pkgsV2...)), map[string]string{"predicateType": "https://spdx.dev/Document"}},
		{"application/vnd.dsse.envelope.v1+json", provenance, map[string]string{"predicateType": provenancePredicate}},
		{"application/vnd.dsse.envelope.v1+json", attestation("https://cyclonedx.org/bom", bd, cycloneDXDoc(pkgsV2...)), map[string]string{"predicateType": "https://cyclonedx.org/bom"}},
	}})
	sig := []byte(`{"critical":{"image":{}}}`)
	pushArtifact(t, addr, "app", tag(b, ".sig"), nil, artifact{configType: "application/vnd.oci.image.config.v1+json", docs: []document{{"application/vnd.dev.cosign.simplesigning.v1+json", sig, nil}}})
	return []digest.Digest{digest.FromBytes(provenance), digest.FromBytes(sig)}
}

// referrersTag attaches the SBOMs of referrerSBOMs through the
// referrers tag schema (sha256-<hex> indexes), for registries without
// the referrers API; the artifacts have the OCI 1.1 artifactType field
// and an empty config.
func referrersTag(t *testing.T, addr string, a, b *v1.Descriptor) []digest.Digest {
	const empty = "application/vnd.oci.empty.v1+json"
	for _, side := range []struct {
		subject *v1.Descriptor
		pkgs    []pkg
	}{{a, pkgsV1}, {b, pkgsV2}} {
		spdx := pushArtifact(t, addr, "app", "", side.subject, artifact{configType: empty, artifactType: "application/spdx+json", docs: []document{{"application/spdx+json", spdxDoc(side.pkgs...), nil}}})
		cdx := pushArtifact(t, addr, "app", "", side.subject, artifact{configType: empty, artifactType: "application/vnd.cyclonedx+json", docs: []document{{"application/vnd.cyclonedx+json", cycloneDXDoc(side.pkgs...), nil}}})
		pushReferrersTag(t, addr, "app", digest.Digest(side.subject.Digest.String()), spdx, cdx)
	}
	return nil
}

// malformedSBOM attaches an SPDX SBOM to a, and to b one that is not
// JSON and a CycloneDX XML one.
func malformedSBOM(t *testing.T, addr string, a, b *v1.Descriptor) []digest.Digest {
	pushArtifact(t, addr, "app", "", a, artifact{configType: "application/spdx+json", docs: []document{{"application/spdx+json", spdxDoc(pkgsV1...), nil}}})
	pushArtifact(t, addr, "app", "", b, artifact{configType: "application/spdx+json", docs: []document{{"application/spdx+json", []byte(`{"spdxVersion": "SPDX-2.3", "packages": [`), nil}}})
	xml := []byte(`<bom xmlns="http://cyclonedx.org/schema/bom/1.5"/>`)
	pushArtifact(t, addr, "app", "", b, artifact{configType: "application/vnd.cyclonedx+xml", docs: []document{{"application/vnd.cyclonedx+xml", xml, nil}}})
	return []digest.Digest{digest.FromBytes(xml)}
}

// attachedReport is the part of a report attached artifacts fill.
type attachedReport struct {
	Referrers *imagediff.ReferrersDiff `json:"referrers"`
	Notes     []string                 `json:"notes"`
	Fetched   []imagediff.FetchedBlob  `json:"fetched"`
}

// pushSBOMImages pushes app:1 and app:2 (other configs, the same
// layer) and attaches SBOMs with attach.
func pushSBOMImages(t *testing.T, push func(t *testing.T, repoTag string, img v1.Image), addr string, attach attachments) []digest.Digest {
	t.Helper()
	l := layer(t, map[string]string{"etc/os-release": "ID=debian\n"})
	push(t, "app:1", image(t, v1.Config{Env: []string{"VERSION=1"}}, "linux/amd64", nil, l))
	push(t, "app:2", image(t, v1.Config{Env: []string{"VERSION=2"}}, "linux/amd64", nil, l))
	return attach(t, addr, subjectOf(t, addr, "app:1"), subjectOf(t, addr, "app:2"))
}

// writeAttached writes the referrers section of rep, its notes and what
// was fetched besides the images' manifests and configs.
func writeAttached(t *testing.T, rep *imagediff.Report) []byte {
	t.Helper()
	ar := attachedReport{Referrers: rep.Images[0].Referrers, Notes: rep.Notes, Fetched: []imagediff.FetchedBlob{}}
	images := map[digest.Digest]bool{rep.A.Digest: true, rep.B.Digest: true}
	for _, id := range rep.Images {
		images[id.A], images[id.B] = true, true
	}
	for _, f := range rep.Fetched.Blobs {
		if f.Kind != imagediff.KindConfig && !images[f.Digest] {
			ar.Fetched = append(ar.Fetched, f)
		}
	}
	b, err := json.MarshalIndent(ar, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestDiffAttachedSBOMs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		referrers bool // the registry has the referrers API
		attach    attachments
		golden    string
	}{
		{"OCI referrers", true, referrerSBOMs, "sboms/referrers.json"},
		{"cosign tags", false, cosignTags, "sboms/cosign-tags.json"},
		{"referrers tag schema", false, referrersTag, "sboms/referrers-tag.json"},
		{"malformed SBOM", true, malformedSBOM, "sboms/malformed.json"},
		{"none", true, func(*testing.T, string, *v1.Descriptor, *v1.Descriptor) []digest.Digest { return nil }, "sboms/none.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := newReferrersRegistry(t, tc.referrers)
			never := pushSBOMImages(t, func(t *testing.T, repoTag string, img v1.Image) { reg.push(t, repoTag, img) }, reg.addr(), tc.attach)
			reg.reset()
			r := newResolver(reg.addr())
			defer r.Close()
			rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/app:1"), source(t, r, reg.addr()+"/app:2"), imagediff.Options{})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, writeAttached(t, rep), reg.addr())
			gets := reg.gets()
			for _, d := range never {
				if n := gets[d.String()]; n != 0 {
					t.Errorf("blob %s fetched %d times, want never", d, n)
				}
			}
			for _, f := range rep.Fetched.Blobs {
				if f.Kind == imagediff.KindSBOM && gets[f.Digest.String()] != 1 {
					t.Errorf("document %s fetched %d times, want once", f.Digest, gets[f.Digest.String()])
				}
			}
		})
	}
}

// TestDiffAttachedSBOMsLevels checks that SBOMs are read at level
// packages only.
func TestDiffAttachedSBOMsLevels(t *testing.T) {
	t.Parallel()
	reg := newReferrersRegistry(t, true)
	pushSBOMImages(t, func(t *testing.T, repoTag string, img v1.Image) { reg.push(t, repoTag, img) }, reg.addr(), referrerSBOMs)
	r := newResolver(reg.addr())
	defer r.Close()
	for _, level := range []imagediff.Level{imagediff.LevelConfig, imagediff.LevelLayers, imagediff.LevelFiles} {
		t.Run(level.String(), func(t *testing.T) {
			rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/app:1"), source(t, r, reg.addr()+"/app:2"), imagediff.Options{Level: level})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Images[0].Referrers != nil {
				t.Errorf("level %s: referrers %+v, want none", level, rep.Images[0].Referrers)
			}
			for _, f := range rep.Fetched.Blobs {
				if f.Kind == imagediff.KindSBOM {
					t.Errorf("level %s: fetched SBOM %s", level, f.Digest)
				}
			}
		})
	}
}

// TestDiffAttachedSBOMsDistribution reads SBOMs attached the ways a
// registry without the referrers API allows (the referrers tag schema,
// cosign tags) from the real Distribution server.
func TestDiffAttachedSBOMsDistribution(t *testing.T) {
	t.Parallel()
	reg := registrytest.StartDistribution(t, registrytest.DistributionOptions{})
	push := func(t *testing.T, repoTag string, img v1.Image) {
		t.Helper()
		ref, err := name.ParseReference(reg.Ref(repoTag), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("pushing %s: %v", repoTag, err)
		}
	}
	both := func(t *testing.T, addr string, a, b *v1.Descriptor) []digest.Digest {
		return append(referrersTag(t, addr, a, b), cosignTags(t, addr, a, b)...)
	}
	pushSBOMImages(t, push, reg.Addr(), both)
	r := newResolver(reg.Addr())
	defer r.Close()
	rep, err := imagediff.Diff(t.Context(), source(t, r, reg.Ref("app:1")), source(t, r, reg.Ref("app:2")), imagediff.Options{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sboms/distribution.json", writeAttached(t, rep), reg.Addr())
}

// TestDiffAttachedSBOMsFaults checks that what cannot be read of the
// attached artifacts is a note, never an error.
func TestDiffAttachedSBOMsFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fault answers the requests it wants to fail; a and b are the
		// images' digests, doc B's SPDX document's.
		fault func(w http.ResponseWriter, r *http.Request, a, b, doc digest.Digest) bool
		// wantNotes are in the notes; wantSPDX says whether SPDX
		// packages are compared.
		wantNotes []string
		wantSPDX  bool
	}{
		{
			name: "SBOM blob missing",
			fault: func(w http.ResponseWriter, r *http.Request, _, _, doc digest.Digest) bool {
				if strings.HasSuffix(r.URL.Path, "/blobs/"+doc.String()) {
					http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
					return true
				}
				return false
			},
			wantNotes: []string{"document " + "DOC" + " of tag sha256-", "has no blob", "SPDX SBOM packages not compared: only a"},
		},
		{
			name: "SBOM blob corrupt",
			fault: func(w http.ResponseWriter, r *http.Request, _, _, doc digest.Digest) bool {
				if strings.HasSuffix(r.URL.Path, "/blobs/"+doc.String()) {
					_, _ = io.WriteString(w, `{"spdxVersion":"SPDX-2.3","packages":[]}`)
					return true
				}
				return false
			},
			wantNotes: []string{"hashes to", "SPDX SBOM packages not compared: only a"},
		},
		{
			name: "cosign tag forbidden",
			fault: func(w http.ResponseWriter, r *http.Request, _, b, _ digest.Digest) bool {
				if strings.HasSuffix(r.URL.Path, "/manifests/sha256-"+b.Encoded()+".sbom") {
					http.Error(w, `{"errors":[{"code":"DENIED"}]}`, http.StatusForbidden)
					return true
				}
				return false
			},
			wantNotes: []string{"cosign tag sha256-", ".sbom of REGISTRY/app:2 not read", "SPDX SBOM packages not compared: only a"},
		},
		{
			name: "referrers not listed",
			fault: func(w http.ResponseWriter, r *http.Request, a, _, _ digest.Digest) bool {
				if strings.HasSuffix(r.URL.Path, "/referrers/"+a.String()) {
					http.Error(w, `{"errors":[{"code":"DENIED"}]}`, http.StatusForbidden)
					return true
				}
				return false
			},
			wantNotes: []string{"referrers of REGISTRY/app:1 not listed", "SPDX SBOM packages not compared: only b"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var a, b digest.Digest
			doc := digest.FromBytes(spdxDoc(pkgsV2...))
			h := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
			var ready atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if ready.Load() && r.Method == http.MethodGet && tc.fault(w, r, a, b, doc) {
					return
				}
				h.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			addr := strings.TrimPrefix(srv.URL, "http://")
			push := func(t *testing.T, repoTag string, img v1.Image) {
				t.Helper()
				ref, err := name.ParseReference(addr+"/"+repoTag, name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.Write(ref, img); err != nil {
					t.Fatalf("pushing %s: %v", repoTag, err)
				}
			}
			// a: an SPDX referrer; b: an SPDX SBOM under a cosign tag, and
			// a signature referrer.
			attach := func(t *testing.T, addr string, da, db *v1.Descriptor) []digest.Digest {
				a, b = digest.Digest(da.Digest.String()), digest.Digest(db.Digest.String())
				pushArtifact(t, addr, "app", "", da, artifact{configType: "application/spdx+json", docs: []document{{"application/spdx+json", spdxDoc(pkgsV1...), nil}}})
				pushArtifact(t, addr, "app", "sha256-"+db.Digest.Hex+".sbom", nil, artifact{configType: "application/vnd.oci.image.config.v1+json", docs: []document{{"application/spdx+json", spdxDoc(pkgsV2...), nil}}})
				pushArtifact(t, addr, "app", "", db, artifact{configType: "application/vnd.dev.cosign.artifact.sig.v1+json", docs: []document{{"application/vnd.dev.cosign.simplesigning.v1+json", []byte("{}"), nil}}})
				return nil
			}
			pushSBOMImages(t, push, addr, attach)
			ready.Store(true)
			r := newResolver(addr)
			defer r.Close()
			rep, err := imagediff.Diff(t.Context(), source(t, r, addr+"/app:1"), source(t, r, addr+"/app:2"), imagediff.Options{})
			if err != nil {
				t.Fatalf("Diff = %v, want a report with notes", err)
			}
			notes := strings.ReplaceAll(strings.Join(rep.Notes, "\n"), addr, "REGISTRY")
			for _, want := range tc.wantNotes {
				want = strings.ReplaceAll(want, "DOC", doc.String())
				if !strings.Contains(notes, want) {
					t.Errorf("notes lack %q:\n%s", want, notes)
				}
			}
			rf := rep.Images[0].Referrers
			if rf == nil {
				t.Fatal("no referrers section")
			}
			if gotSPDX := rf.Packages != nil && len(rf.Packages.Databases) == 1; gotSPDX != tc.wantSPDX {
				t.Errorf("SPDX packages compared: %v, want %v (%+v)", gotSPDX, tc.wantSPDX, rf.Packages)
			}
			if tc.name == "referrers not listed" && (len(rf.Added) > 0 || len(rf.Removed) > 0) {
				t.Errorf("artifact types added %v, removed %v with a side not listed; want none", rf.Added, rf.Removed)
			}
		})
	}
}

// TestDiffAttachedSBOMsRender renders a report with SBOM packages.
func TestDiffAttachedSBOMsRender(t *testing.T) {
	t.Parallel()
	reg := newReferrersRegistry(t, true)
	pushSBOMImages(t, func(t *testing.T, repoTag string, img v1.Image) { reg.push(t, repoTag, img) }, reg.addr(), referrerSBOMs)
	r := newResolver(reg.addr())
	defer r.Close()
	rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/app:1"), source(t, r, reg.addr()+"/app:2"), imagediff.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if err := imagediff.WriteText(&buf, rep, imagediff.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "sboms/render.txt", []byte(buf.String()), reg.addr())
}

// TestDiffAttachedSBOMsIndex reads the SBOMs attached to the indexes of
// two multi-platform images, once for all their platforms.
func TestDiffAttachedSBOMsIndex(t *testing.T) {
	t.Parallel()
	reg := newReferrersRegistry(t, true)
	l := layer(t, map[string]string{"etc/os-release": "ID=debian\n"})
	for i, tag := range []string{"multi:1", "multi:2"} {
		env := []string{fmt.Sprintf("VERSION=%d", i+1)}
		reg.pushIndex(t, tag, map[string]v1.Image{
			"linux/amd64": image(t, v1.Config{Env: env}, "linux/amd64", nil, l),
			"linux/arm64": image(t, v1.Config{Env: env}, "linux/arm64", nil, l),
		})
	}
	a, b := subjectOf(t, reg.addr(), "multi:1"), subjectOf(t, reg.addr(), "multi:2")
	// a: an SPDX SBOM attested under the index's .att tag; b: one as a
	// referrer of the index.
	pushArtifact(t, reg.addr(), "multi", "sha256-"+a.Digest.Hex+".att", nil, artifact{configType: "application/vnd.oci.image.config.v1+json", docs: []document{
		{"application/vnd.dsse.envelope.v1+json", attestation("https://spdx.dev/Document", digest.Digest(a.Digest.String()), spdxDoc(pkgsV1...)), map[string]string{"predicateType": "https://spdx.dev/Document"}},
	}})
	pushArtifact(t, reg.addr(), "multi", "", b, artifact{configType: "application/spdx+json", docs: []document{{"application/spdx+json", spdxDoc(pkgsV2...), nil}}})
	reg.reset()
	r := newResolver(reg.addr())
	defer r.Close()
	rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/multi:1"), source(t, r, reg.addr()+"/multi:2"),
		imagediff.Options{Host: &imagediff.Platform{OS: "linux", Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 2 {
		t.Fatalf("%d platforms compared, want 2", len(rep.Images))
	}
	if diff := cmp.Diff(rep.Images[0].Referrers, rep.Images[1].Referrers); diff != "" {
		t.Errorf("the platforms' referrers differ (-amd64 +arm64):\n%s", diff)
	}
	golden(t, "sboms/index.json", writeAttached(t, rep), reg.addr())
	gets := reg.gets()
	for _, f := range rep.Fetched.Blobs {
		if f.Kind == imagediff.KindSBOM && gets[f.Digest.String()] != 1 {
			t.Errorf("document %s fetched %d times, want once", f.Digest, gets[f.Digest.String()])
		}
	}
}
