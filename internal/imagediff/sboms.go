package imagediff

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	"golang.org/x/mod/semver"

	"github.com/tagpin/tagpin/internal/imagediff/pkgdb"
	"github.com/tagpin/tagpin/internal/imagediff/sbom"
	"github.com/tagpin/tagpin/internal/resolve"
)

// KindSBOM is the kind of a fetched SBOM or attestation document.
const KindSBOM = "sbom"

// Bounds on what is read of the artifacts attached to one image.
const (
	// maxAttachedArtifacts is how many SBOM and attestation artifacts
	// are read per image.
	maxAttachedArtifacts = 16
	// maxAttachedLayers is how many documents are read per artifact.
	maxAttachedLayers = 16
	// maxAttachedBytes bounds the documents read per image, in total.
	maxAttachedBytes = 256 << 20
)

// Media and artifact types of SBOMs and attestations.
const (
	mediaSPDX       = "application/spdx+json"
	mediaSPDXText   = "text/spdx+json"
	mediaCycloneDX  = "application/vnd.cyclonedx+json"
	mediaInToto     = "application/vnd.in-toto+json"
	mediaDSSE       = "application/vnd.dsse.envelope.v1+json"
	mediaCosignSBOM = "application/vnd.dev.cosign.artifact.sbom.v1+json"
)

// Suffixes of the tags cosign attaches artifacts under (sha256-<hex>.sbom).
const (
	cosignSBOM        = ".sbom"
	cosignAttestation = ".att"
	cosignSignature   = ".sig"
)

// TagSource is a Source that can also read a manifest by tag in the
// image's repository: cosign attaches SBOMs, attestations and signatures
// under tags named after the image's digest (sha256-<hex>.sbom, .att,
// .sig).
type TagSource interface {
	Source
	// TaggedManifest returns the manifest tagged tag. A tag that does
	// not exist is an error wrapping resolve.ErrNotFound.
	TaggedManifest(ctx context.Context, tag string) (*Manifest, error)
}

// TaggedManifest implements TagSource.
func (s *RegistrySource) TaggedManifest(ctx context.Context, tag string) (*Manifest, error) {
	ref := s.ref
	ref.Tag, ref.TagWritten, ref.Digest = tag, true, ""
	m, err := s.r.Manifest(ctx, ref, s.kc)
	if err != nil {
		return nil, err
	}
	return &Manifest{Digest: m.Digest, MediaType: m.MediaType, Body: m.Body}, nil
}

// attachment is one artifact attached to an image: a referrer or a
// cosign tag.
type attachment struct {
	listed Referrer
	// where says where it came from: "referrer sha256:…",
	// "tag sha256-….sbom", prefixed with "index " for an index's.
	where string
	// manifest is the artifact's manifest once read.
	manifest *Manifest
	// docs are the SBOMs read from it.
	docs []*sbom.Document
}

// attachedDoc is an SBOM read from an attachment.
type attachedDoc struct {
	where string
	doc   *sbom.Document
}

// attached lists the artifacts attached to both images of p (the
// referrers listed, la and lb, and the cosign tags) and to the indexes
// they belong to, reads their SBOMs and attestations and fills
// id.Referrers. Nothing here fails the diff: what cannot be read is a
// note. listed is false when a side's referrers could not be listed:
// artifact types are then not said added or removed.
func (d *differ) attached(ctx context.Context, p pair, id *ImageDiff, la, lb []Descriptor, listed bool) {
	sides := [2][]*attachment{}
	for i, s := range []struct {
		src      Source
		manifest digest.Digest
		root     ImageID
		list     []Descriptor
		parent   *v1.IndexManifest
	}{{p.a.src, p.a.manifest.Digest, d.report.A, la, p.a.parent}, {p.b.src, p.b.manifest.Digest, d.report.B, lb, p.b.parent}} {
		sides[i], _ = d.attachmentsOf(ctx, id.Platform, s.src, s.manifest, "", func() ([]Descriptor, bool) { return s.list, true })
		sides[i] = append(sides[i], d.buildKitAttestations(ctx, id.Platform, s.src, s.parent, s.manifest)...)
		if s.root.Digest == s.manifest || !resolve.IsIndex(s.root.MediaType) {
			continue
		}
		// SBOMs attached to the index the image belongs to.
		rootList := func() ([]Descriptor, bool) {
			rs, ok := s.src.(ReferrerSource)
			if !ok {
				return nil, true
			}
			l, err := rs.Referrers(ctx, s.root.Digest)
			if err != nil {
				d.note(fmt.Sprintf("referrers of %s (index %s) not listed: %v", s.src.Name(), s.root.Digest, err))
				return nil, false
			}
			return l, true
		}
		fromRoot, ok := d.attachmentsOf(ctx, id.Platform, s.src, s.root.Digest, "index ", rootList)
		listed = listed && ok
		sides[i] = append(sides[i], fromRoot...)
	}
	sa, sb := sides[0], sides[1]
	if len(sa) == 0 && len(sb) == 0 {
		return
	}
	rd := &ReferrersDiff{}
	typesA, typesB := map[string]bool{}, map[string]bool{}
	for _, a := range sa {
		rd.A = append(rd.A, a.listed)
		typesA[a.listed.ArtifactType] = true
	}
	for _, a := range sb {
		rd.B = append(rd.B, a.listed)
		typesB[a.listed.ArtifactType] = true
	}
	if listed {
		rd.Added, rd.Removed = setDiff(typesA, typesB)
	}
	rd.Packages = d.diffAttached(id.Platform, p.a.src.Name(), p.b.src.Name(), docsOf(sa), docsOf(sb))
	if rd.Packages != nil {
		for _, db := range rd.Packages.Databases {
			if len(db.Added)+len(db.Removed)+len(db.Upgraded)+len(db.Downgraded)+len(db.Changed) > 0 {
				id.Identical = false
			}
		}
	}
	id.Referrers = rd
}

func docsOf(as []*attachment) []attachedDoc {
	var out []attachedDoc
	for _, a := range as {
		for _, doc := range a.docs {
			out = append(out, attachedDoc{where: a.where, doc: doc})
		}
	}
	return out
}

// attached is what is attached to one manifest.
type attached struct {
	artifacts []*attachment
	// listed is false when the referrers could not be listed.
	listed bool
}

// attachmentsOf returns the artifacts attached to subject in src (the
// referrers list returns, then the cosign tags) with their SBOMs read,
// once per diff, and whether the referrers could be listed.
func (d *differ) attachmentsOf(ctx context.Context, platform string, src Source, subject digest.Digest, prefix string, list func() ([]Descriptor, bool)) ([]*attachment, bool) {
	key := src.Name() + "@" + subject.String()
	if at, ok := d.attachments[key]; ok {
		return at.artifacts, at.listed
	}
	if d.attachments == nil {
		d.attachments = map[string]attached{}
	}
	listed, ok := list()
	as := d.listAttached(ctx, platform, src, subject, prefix, listed)
	d.readAttached(ctx, platform, src, as)
	d.attachments[key] = attached{artifacts: as, listed: ok}
	return as, ok
}

// listAttached returns the referrers listed and the cosign tags of
// subject, in that order: referrers by artifact type and digest, then
// tags.
// prefix is "index " for an index's.
func (d *differ) listAttached(ctx context.Context, platform string, src Source, subject digest.Digest, prefix string, listed []Descriptor) []*attachment {
	var as []*attachment
	index := prefix != ""
	for _, r := range listed {
		as = append(as, &attachment{
			listed: Referrer{Digest: r.Digest, ArtifactType: r.ArtifactType, MediaType: r.MediaType, Size: r.Size, Index: index},
			where:  prefix + "referrer " + r.Digest.String(),
		})
	}
	slices.SortStableFunc(as, func(x, y *attachment) int {
		return cmp.Or(cmp.Compare(x.listed.ArtifactType, y.listed.ArtifactType), cmp.Compare(x.listed.Digest, y.listed.Digest))
	})
	ts, ok := src.(TagSource)
	if !ok || subject.Validate() != nil {
		return as
	}
	for _, suffix := range []string{cosignAttestation, cosignSBOM, cosignSignature} {
		tag := subject.Algorithm().String() + "-" + subject.Encoded() + suffix
		m, err := ts.TaggedManifest(ctx, tag)
		switch {
		case errors.Is(err, resolve.ErrNotFound):
			continue
		case err != nil:
			d.note(fmt.Sprintf("%s: cosign tag %s of %s not read: %v", platform, tag, src.Name(), err))
			continue
		}
		d.record(m.Digest, KindManifest, int64(len(m.Body)), false)
		a := &attachment{
			listed:   Referrer{Digest: m.Digest, MediaType: m.MediaType, Size: int64(len(m.Body)), Tag: tag, Index: index},
			where:    prefix + "tag " + tag,
			manifest: m,
		}
		if am, err := parseArtifact(m); err == nil {
			a.listed.ArtifactType = am.artifactType()
		}
		as = append(as, a)
	}
	return as
}

// BuildKit's annotations of the attestation manifests it puts in an
// index (docker buildx build --sbom, --provenance).
const (
	annotationReferenceType   = "vnd.docker.reference.type"
	annotationReferenceDigest = "vnd.docker.reference.digest"
	referenceTypeAttestation  = "attestation-manifest"
)

// buildKitAttestations returns the attestation manifests that parent,
// the index an image was found in, holds for the image subject, with
// their SBOMs read (their provenance is not).
func (d *differ) buildKitAttestations(ctx context.Context, platform string, src Source, parent *v1.IndexManifest, subject digest.Digest) []*attachment {
	if parent == nil {
		return nil
	}
	key := src.Name() + "@" + subject.String() + "#buildkit"
	if at, ok := d.attachments[key]; ok {
		return at.artifacts
	}
	var as []*attachment
	for _, m := range parent.Manifests {
		if m.Annotations[annotationReferenceType] != referenceTypeAttestation || m.Annotations[annotationReferenceDigest] != subject.String() {
			continue
		}
		dg := digest.Digest(m.Digest.String())
		as = append(as, &attachment{
			listed: Referrer{Digest: dg, ArtifactType: mediaInToto, MediaType: string(m.MediaType), Size: m.Size, Index: true},
			where:  "attestation manifest " + dg.String(),
		})
	}
	d.readAttached(ctx, platform, src, as)
	if d.attachments == nil {
		d.attachments = map[string]attached{}
	}
	d.attachments[key] = attached{artifacts: as, listed: true}
	return as
}

// artifactManifest is the part of an artifact's manifest read here.
type artifactManifest struct {
	MediaType    string       `json:"mediaType"`
	ArtifactType string       `json:"artifactType"`
	Config       Descriptor   `json:"config"`
	Layers       []Descriptor `json:"layers"`
}

func parseArtifact(m *Manifest) (*artifactManifest, error) {
	var am artifactManifest
	if err := json.Unmarshal(m.Body, &am); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	if resolve.IsIndex(m.MediaType) || resolve.IsIndex(am.MediaType) {
		return nil, fmt.Errorf("%w: an index, not an artifact manifest", ErrInvalidImage)
	}
	return &am, nil
}

// artifactType is the manifest's artifact type: its artifactType field,
// else its config's media type unless that is an image config's or the
// empty descriptor's, else its first layer's media type.
func (am *artifactManifest) artifactType() string {
	switch {
	case am.ArtifactType != "":
		return am.ArtifactType
	case am.Config.MediaType != "" && !genericConfig(am.Config.MediaType):
		return am.Config.MediaType
	case len(am.Layers) > 0:
		return am.Layers[0].MediaType
	}
	return ""
}

func genericConfig(mt string) bool {
	switch baseType(mt) {
	case "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json", "application/vnd.oci.empty.v1+json":
		return true
	}
	return false
}

// baseType is a media type without its parameters, lower case.
func baseType(mt string) string {
	if t, _, err := mime.ParseMediaType(mt); err == nil {
		return t
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// isSBOMType reports whether artifacts or documents of type mt are SBOMs
// or attestations; SBOM formats not read are included, so that a note
// says so.
func isSBOMType(mt string) bool {
	switch baseType(mt) {
	case mediaSPDX, mediaSPDXText, mediaCycloneDX, mediaInToto, mediaDSSE, mediaCosignSBOM,
		"text/spdx", "application/vnd.cyclonedx", "application/vnd.cyclonedx+xml":
		return true
	}
	return false
}

// isJSON reports whether documents of media type mt are JSON.
func isJSON(mt string) bool {
	t := baseType(mt)
	return t == "application/json" || strings.HasSuffix(t, "+json")
}

// isAttestation reports whether a layer of media type mt wraps a
// statement whose predicate may be something other than an SBOM.
func isAttestation(mt string) bool {
	t := baseType(mt)
	return t == mediaDSSE || t == mediaInToto
}

// sbomPredicate reports whether an in-toto predicate type is an SBOM's.
func sbomPredicate(pt string) bool {
	return strings.HasPrefix(pt, "https://spdx.dev/Document") || strings.HasPrefix(pt, "https://cyclonedx.org/bom")
}

// unknownType reports whether an artifact type says nothing: empty, or
// an image config's or the empty descriptor's media type (registries
// that list the config's media type as the artifact type).
func unknownType(t string) bool { return t == "" || genericConfig(t) }

// wanted reports whether a is worth reading for SBOMs: an artifact of an
// SBOM or attestation type, one whose type the listing did not say, or
// a cosign .sbom or .att tag.
func (a *attachment) wanted() bool {
	if a.listed.Tag != "" {
		return strings.HasSuffix(a.listed.Tag, cosignSBOM) || strings.HasSuffix(a.listed.Tag, cosignAttestation)
	}
	return unknownType(a.listed.ArtifactType) || isSBOMType(a.listed.ArtifactType)
}

// readAttached reads the SBOMs and attestations of artifacts, all
// attached to one manifest.
func (d *differ) readAttached(ctx context.Context, platform string, src Source, artifacts []*attachment) {
	read := 0
	budget := int64(maxAttachedBytes)
	for _, a := range artifacts {
		if !a.wanted() {
			continue
		}
		if read == maxAttachedArtifacts {
			d.note(fmt.Sprintf("%s: only the first %d SBOM and attestation artifacts of %s were read", platform, maxAttachedArtifacts, src.Name()))
			return
		}
		read++
		if a.manifest == nil {
			if err := a.listed.Digest.Validate(); err != nil {
				d.note(fmt.Sprintf("%s: a referrer of %s not read: invalid digest %q", platform, src.Name(), a.listed.Digest))
				continue
			}
			m, err := src.Manifest(ctx, a.listed.Digest)
			if err != nil {
				d.note(fmt.Sprintf("%s: %s of %s not read: %v", platform, a.where, src.Name(), err))
				continue
			}
			d.record(m.Digest, KindManifest, int64(len(m.Body)), false)
			a.manifest = m
		}
		am, err := parseArtifact(a.manifest)
		if err != nil {
			d.note(fmt.Sprintf("%s: %s of %s not read: %v", platform, a.where, src.Name(), err))
			continue
		}
		if unknownType(a.listed.ArtifactType) {
			if t := am.artifactType(); t != "" {
				a.listed.ArtifactType = t
			}
			if a.listed.Tag == "" && !isSBOMType(a.listed.ArtifactType) && !slices.ContainsFunc(am.Layers, func(l Descriptor) bool { return isSBOMType(l.MediaType) }) {
				continue
			}
		}
		if !d.readArtifact(ctx, platform, src, a, am, &budget) {
			return
		}
	}
}

// readArtifact reads the documents (layers) of one artifact into a.docs,
// within budget bytes; false when the budget is spent.
func (d *differ) readArtifact(ctx context.Context, platform string, src Source, a *attachment, am *artifactManifest, budget *int64) bool {
	for i, l := range am.Layers {
		if i == maxAttachedLayers {
			d.note(fmt.Sprintf("%s: only the first %d documents of %s of %s were read", platform, maxAttachedLayers, a.where, src.Name()))
			return true
		}
		if pt := predicateType(l.Annotations); pt != "" && !sbomPredicate(pt) {
			continue // provenance, vulnerability scan…: not an SBOM
		}
		what := fmt.Sprintf("%s: document %s of %s of %s", platform, l.Digest, a.where, src.Name())
		switch {
		case !isJSON(l.MediaType):
			if isSBOMType(l.MediaType) || isSBOMType(a.listed.ArtifactType) {
				d.note(fmt.Sprintf("%s not read: media type %s (only SPDX JSON and CycloneDX JSON are read)", what, l.MediaType))
			}
			continue
		case l.Size > sbom.MaxSize:
			d.note(fmt.Sprintf("%s not read: %d bytes, more than %d", what, l.Size, sbom.MaxSize))
			continue
		case l.Size > *budget:
			d.note(fmt.Sprintf("%s not read: the documents attached to %s exceed %d bytes", what, src.Name(), maxAttachedBytes))
			return false
		}
		body, err := d.readDocument(ctx, src, l)
		if err != nil {
			d.note(fmt.Sprintf("%s not read: %v", what, err))
			continue
		}
		*budget -= int64(len(body))
		doc, err := sbom.Parse(l.MediaType, bytes.NewReader(body))
		switch {
		case errors.Is(err, sbom.ErrUnsupportedFormat) && isAttestation(l.MediaType):
			// An attestation of another predicate, not annotated as such.
		case err != nil:
			d.note(fmt.Sprintf("%s not read: %v", what, err))
		default:
			a.docs = append(a.docs, doc)
		}
	}
	return true
}

// predicateType is the predicate type an attestation layer's
// annotations name (cosign's annotation, else BuildKit's).
func predicateType(ann map[string]string) string {
	return cmp.Or(ann["predicateType"], ann["in-toto.io/predicate-type"])
}

// readDocument reads one document blob (at most sbom.MaxSize bytes) to
// its end, which checks its digest, and records it.
func (d *differ) readDocument(ctx context.Context, src Source, desc Descriptor) ([]byte, error) {
	rc, err := src.Blob(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, sbom.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > sbom.MaxSize {
		return nil, fmt.Errorf("%w: more than %d bytes", sbom.ErrTooLarge, sbom.MaxSize)
	}
	d.record(desc.Digest, KindSBOM, int64(len(body)), false)
	return body, nil
}

// diffAttached compares the SBOM packages of both sides, one database
// per format both sides have; a format only one side has is a note.
func (d *differ) diffAttached(platform, nameA, nameB string, sa, sb []attachedDoc) *PackagesDiff {
	var out PackagesDiff
	for _, format := range []string{sbom.SPDX, sbom.CycloneDX} {
		da, wa := merged(sa, format)
		db, wb := merged(sb, format)
		switch {
		case da == nil && db == nil:
			continue
		case da == nil || db == nil:
			only, name := "b", nameB
			if db == nil {
				only, name = "a", nameA
			}
			d.note(fmt.Sprintf("%s: %s SBOM packages not compared: only %s (%s) has one", platform, formatName(format), only, name))
			continue
		}
		out.Databases = append(out.Databases, packagesFrom(format, "a: "+strings.Join(wa, ", ")+"; b: "+strings.Join(wb, ", "), sbom.Diff(da, db)))
	}
	if len(out.Databases) == 0 {
		return nil
	}
	return &out
}

func formatName(format string) string {
	if format == sbom.CycloneDX {
		return "CycloneDX"
	}
	return "SPDX"
}

// merged is the union of the packages of docs of format, and where they
// came from; nil when there is none.
func merged(docs []attachedDoc, format string) (*sbom.Document, []string) {
	var (
		out   *sbom.Document
		where []string
	)
	for _, ad := range docs {
		if ad.doc.Format != format {
			continue
		}
		if out == nil {
			out = &sbom.Document{Format: format}
		}
		if !slices.Contains(where, ad.where) {
			where = append(where, ad.where)
		}
		for _, p := range ad.doc.Packages {
			if !slices.Contains(out.Packages, p) {
				out.Packages = append(out.Packages, p)
			}
		}
	}
	return out, where
}

// packagesFrom turns SBOM changes into a database diff. A version change
// of a Go module (golang package URL) is an upgrade or a downgrade by
// semantic versioning; other changes whose order is unknown are Changed,
// From and To being the versions.
func packagesFrom(format, where string, changes []sbom.Change) PackageDatabaseDiff {
	db := PackageDatabaseDiff{Ecosystem: format, Path: where}
	for _, c := range changes {
		arch := purlArch(c.PURL)
		kind := c.Kind
		if kind == pkgdb.Changed && strings.HasPrefix(c.PURL, "pkg:golang/") && semver.IsValid(c.Before) && semver.IsValid(c.After) {
			switch semver.Compare(c.Before, c.After) {
			case -1:
				kind = pkgdb.Upgraded
			case 1:
				kind = pkgdb.Downgraded
			}
		}
		ch := PackageChange{Name: c.Name, From: c.Before, To: c.After, Arch: arch}
		switch kind {
		case pkgdb.Added:
			db.Added = append(db.Added, Package{Name: c.Name, Version: c.After, Arch: arch})
		case pkgdb.Removed:
			db.Removed = append(db.Removed, Package{Name: c.Name, Version: c.Before, Arch: arch})
		case pkgdb.Upgraded:
			db.Upgraded = append(db.Upgraded, ch)
		case pkgdb.Downgraded:
			db.Downgraded = append(db.Downgraded, ch)
		default:
			db.Changed = append(db.Changed, ch)
		}
	}
	return db
}

// purlArch is a package URL's arch qualifier.
func purlArch(purl string) string {
	_, q, ok := strings.Cut(purl, "?")
	if !ok {
		return ""
	}
	q, _, _ = strings.Cut(q, "#")
	v, err := url.ParseQuery(q)
	if err != nil {
		return ""
	}
	return v.Get("arch")
}
