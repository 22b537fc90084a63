package imagediff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/resolve"
)

// Annotation keys the report reads.
const (
	annotationBaseName   = "org.opencontainers.image.base.name"
	annotationBaseDigest = "org.opencontainers.image.base.digest"
)

// maxConfigBytes bounds an image config read into memory.
const maxConfigBytes = 4 << 20

// ErrPlatform is wrapped by errors about platforms: one asked for that
// an image does not have, or two indexes with no platform in common.
var ErrPlatform = errors.New("platform not found")

// PlatformError says that an image has no manifest for a platform.
type PlatformError struct {
	// Image is the image as written, Platform the one asked for.
	Image, Platform string
	// Available lists the platforms the image has.
	Available []string
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("%s has no image for platform %s (it has %s)", e.Image, e.Platform, strings.Join(e.Available, ", "))
}

// Unwrap makes errors.Is(err, ErrPlatform) hold.
func (e *PlatformError) Unwrap() error { return ErrPlatform }

// ErrInvalidImage is wrapped by errors about manifests or configs that
// cannot be decoded.
var ErrInvalidImage = errors.New("invalid image")

// Diff compares image a (the old one) with image b (the new one), up to
// opts.Level. It fetches manifests and configs, and, for levels files and
// packages, only the layers above the two images' common prefix, each
// once. Errors from the sources are wrapped as they are (for a
// RegistrySource, *resolve.Error values).
func Diff(ctx context.Context, a, b Source, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	d := &differ{a: a, b: b, opts: opts, fetched: map[digest.Digest]bool{}}
	return d.run(ctx)
}

type differ struct {
	a, b    Source
	opts    Options
	report  Report
	fetched map[digest.Digest]bool
	// attachments are the artifacts attached to each manifest, by source
	// and digest, once read (an index's serve all its platforms).
	attachments map[string]attached
}

// image is one side's manifest, parsed.
type image struct {
	src      Source
	manifest *Manifest
	index    *v1.IndexManifest // when the manifest is an index
	image    *v1.Manifest      // when it is an image manifest
	// parent is the index an image manifest was found in, if any.
	parent *v1.IndexManifest
}

func (d *differ) run(ctx context.Context) (*Report, error) {
	d.report = Report{SchemaVersion: SchemaVersion, Level: d.opts.Level, Images: []ImageDiff{}, Fetched: Fetched{Blobs: []FetchedBlob{}}}
	ia, err := d.root(ctx, d.a)
	if err != nil {
		return nil, err
	}
	ib, err := d.root(ctx, d.b)
	if err != nil {
		return nil, err
	}
	d.report.A = ImageID{Reference: d.a.Name(), Digest: ia.manifest.Digest, MediaType: ia.manifest.MediaType}
	d.report.B = ImageID{Reference: d.b.Name(), Digest: ib.manifest.Digest, MediaType: ib.manifest.MediaType}

	pairs, err := d.pairs(ctx, ia, ib)
	if err != nil {
		return nil, err
	}
	identical := d.report.Index == nil || (d.report.Index.MediaType == nil && len(d.report.Index.Added) == 0 &&
		len(d.report.Index.Removed) == 0 && len(d.report.Index.Annotations) == 0)
	for _, p := range pairs {
		id, err := d.image(ctx, p)
		if err != nil {
			return nil, err
		}
		identical = identical && id.Identical
		d.report.Images = append(d.report.Images, *id)
	}
	d.report.Identical = identical
	return &d.report, nil
}

// root fetches and parses src's own manifest.
func (d *differ) root(ctx context.Context, src Source) (*image, error) {
	return d.manifest(ctx, src, "")
}

func (d *differ) manifest(ctx context.Context, src Source, dg digest.Digest) (*image, error) {
	m, err := src.Manifest(ctx, dg)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", src.Name(), err)
	}
	d.record(m.Digest, KindManifest, int64(len(m.Body)), false)
	im := &image{src: src, manifest: m}
	if resolve.IsIndex(m.MediaType) {
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(m.Body)))
		if err != nil {
			return nil, fmt.Errorf("decoding the index of %s: %w: %w", src.Name(), ErrInvalidImage, err)
		}
		im.index = idx
		return im, nil
	}
	man, err := v1.ParseManifest(strings.NewReader(string(m.Body)))
	if err != nil {
		return nil, fmt.Errorf("decoding the manifest of %s: %w: %w", src.Name(), ErrInvalidImage, err)
	}
	if man.Config.Digest.Hex == "" {
		return nil, fmt.Errorf("decoding the manifest of %s: %w: no config (media type %q)", src.Name(), ErrInvalidImage, m.MediaType)
	}
	im.image = man
	return im, nil
}

func (d *differ) record(dg digest.Digest, kind string, size int64, cached bool) {
	if d.fetched[dg] {
		return
	}
	d.fetched[dg] = true
	d.report.Fetched.Blobs = append(d.report.Fetched.Blobs, FetchedBlob{Digest: dg, Kind: kind, Size: size, Cached: cached})
	if !cached {
		d.report.Fetched.Bytes += size
	}
}

// pair is the two images of one platform.
type pair struct {
	platform string
	a, b     *image
	// index annotations, for base-image names
	aIndexAnn, bIndexAnn map[string]string
}

// platformEntry is a platform manifest of an index.
type platformEntry struct {
	name string
	desc v1.Descriptor
}

// platforms lists idx's platform manifests, leaving out attestation
// manifests (unknown/unknown).
func platforms(idx *v1.IndexManifest) []platformEntry {
	var out []platformEntry
	for _, m := range idx.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" || m.Platform.OS == "" {
			continue
		}
		p := Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}
		out = append(out, platformEntry{name: p.String(), desc: m})
	}
	return out
}

func platformNames(es []platformEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.name
	}
	return out
}

// matches reports whether platform name satisfies want (a want without
// a variant matches any variant).
func matches(want Platform, name string) bool {
	if want.String() == name {
		return true
	}
	if want.Variant != "" {
		return name == want.String() || (want.Architecture == "arm64" && want.Variant == "v8" && name == want.OS+"/arm64")
	}
	return strings.HasPrefix(name, want.OS+"/"+want.Architecture+"/")
}

func find(es []platformEntry, want Platform) (platformEntry, bool) {
	for _, e := range es {
		if matches(want, e.name) {
			return e, true
		}
	}
	return platformEntry{}, false
}

// pairs decides which images to compare and fills the report's index
// section.
func (d *differ) pairs(ctx context.Context, ia, ib *image) ([]pair, error) {
	if ia.index == nil && ib.index == nil {
		return []pair{{a: ia, b: ib}}, nil
	}
	d.report.Index = &IndexDiff{Common: []string{}}
	if ia.manifest.MediaType != ib.manifest.MediaType {
		d.report.Index.MediaType = &Change{From: ia.manifest.MediaType, To: ib.manifest.MediaType}
	}
	var annA, annB map[string]string
	if ia.index != nil {
		annA = ia.index.Annotations
	}
	if ib.index != nil {
		annB = ib.index.Annotations
	}
	d.report.Index.Annotations = diffKeys(annA, annB, false)

	// An index against a single image: the index's image for the
	// platform asked for, else for the single image's platform.
	if ia.index == nil || ib.index == nil {
		single, idx := ia, ib
		if ib.index == nil {
			single, idx = ib, ia
		}
		want := d.opts.Platform
		if want == nil {
			cfg, err := d.config(ctx, single)
			if err != nil {
				return nil, err
			}
			want = &Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		}
		es := platforms(idx.index)
		e, ok := find(es, *want)
		if !ok {
			return nil, &PlatformError{Image: idx.src.Name(), Platform: want.String(), Available: platformNames(es)}
		}
		child, err := d.manifest(ctx, idx.src, digest.Digest(e.desc.Digest.String()))
		if err != nil {
			return nil, err
		}
		if child.image == nil {
			return nil, fmt.Errorf("reading %s for %s: %w: a nested index", idx.src.Name(), e.name, ErrInvalidImage)
		}
		child.parent = idx.index
		d.report.Index.Common = []string{e.name}
		p := pair{platform: e.name, a: single, b: child}
		if idx == ia {
			p.a, p.b = child, single
		}
		return []pair{p}, nil
	}

	ea, eb := platforms(ia.index), platforms(ib.index)
	var common []string
	for _, e := range ea {
		if _, ok := find(eb, mustPlatform(e.name)); ok && !slices.Contains(common, e.name) {
			common = append(common, e.name)
		} else if !ok {
			d.report.Index.Removed = append(d.report.Index.Removed, e.name)
		}
	}
	for _, e := range eb {
		if _, ok := find(ea, mustPlatform(e.name)); !ok {
			d.report.Index.Added = append(d.report.Index.Added, e.name)
		}
	}
	slices.Sort(common)
	slices.Sort(d.report.Index.Added)
	slices.Sort(d.report.Index.Removed)
	host := d.opts.Host.String()
	slices.SortStableFunc(common, func(x, y string) int {
		hx, hy := matches(*d.opts.Host, x) || x == host, matches(*d.opts.Host, y) || y == host
		switch {
		case hx && !hy:
			return -1
		case hy && !hx:
			return 1
		}
		return 0
	})
	d.report.Index.Common = append(d.report.Index.Common, common...)
	if d.opts.Platform != nil {
		want := *d.opts.Platform
		if _, ok := find(ea, want); !ok {
			return nil, &PlatformError{Image: ia.src.Name(), Platform: want.String(), Available: platformNames(ea)}
		}
		if _, ok := find(eb, want); !ok {
			return nil, &PlatformError{Image: ib.src.Name(), Platform: want.String(), Available: platformNames(eb)}
		}
		common = slices.DeleteFunc(common, func(n string) bool { return !matches(want, n) })
		common = common[:min(len(common), 1)]
	}
	if len(common) == 0 {
		return nil, fmt.Errorf("%s (%s) and %s (%s) have no platform in common: %w",
			ia.src.Name(), strings.Join(platformNames(ea), ", "), ib.src.Name(), strings.Join(platformNames(eb), ", "), ErrPlatform)
	}
	var out []pair
	for _, name := range common {
		pa, _ := find(ea, mustPlatform(name))
		pb, _ := find(eb, mustPlatform(name))
		ca, err := d.manifest(ctx, ia.src, digest.Digest(pa.desc.Digest.String()))
		if err != nil {
			return nil, err
		}
		cb, err := d.manifest(ctx, ib.src, digest.Digest(pb.desc.Digest.String()))
		if err != nil {
			return nil, err
		}
		if ca.image == nil || cb.image == nil {
			return nil, fmt.Errorf("reading %s and %s for %s: %w: a nested index", ia.src.Name(), ib.src.Name(), name, ErrInvalidImage)
		}
		ca.parent, cb.parent = ia.index, ib.index
		out = append(out, pair{platform: name, a: ca, b: cb, aIndexAnn: annA, bIndexAnn: annB})
	}
	return out, nil
}

func mustPlatform(name string) Platform {
	parts := strings.SplitN(name, "/", 3)
	p := Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p
}

// config fetches and parses im's image config.
func (d *differ) config(ctx context.Context, im *image) (*v1.ConfigFile, error) {
	desc := toDescriptor(im.image.Config)
	rc, err := im.src.Blob(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", im.src.Name(), err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", im.src.Name(), err)
	}
	if len(body) > maxConfigBytes {
		return nil, fmt.Errorf("reading the config of %s: %w: larger than %d bytes", im.src.Name(), ErrInvalidImage, maxConfigBytes)
	}
	d.record(desc.Digest, KindConfig, int64(len(body)), false)
	var cfg v1.ConfigFile
	if err := json.Unmarshal(body, &cfg); err != nil {
		return nil, fmt.Errorf("decoding the config of %s: %w: %w", im.src.Name(), ErrInvalidImage, err)
	}
	return &cfg, nil
}

func toDescriptor(d v1.Descriptor) Descriptor {
	return Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size, ArtifactType: d.ArtifactType, Annotations: d.Annotations}
}

// image compares the images of one platform, level by level.
func (d *differ) image(ctx context.Context, p pair) (*ImageDiff, error) {
	id := &ImageDiff{Platform: p.platform, A: p.a.manifest.Digest, B: p.b.manifest.Digest}
	if id.A == id.B {
		id.Identical = true
		if id.Platform == "" {
			// Nothing else to fetch, but the platform is worth naming.
			cfg, err := d.config(ctx, p.a)
			if err != nil {
				return nil, err
			}
			id.Platform = platformOf(cfg)
		}
		return id, nil
	}
	md := &ManifestDiff{Annotations: diffKeys(p.a.image.Annotations, p.b.image.Annotations, false)}
	if p.a.manifest.MediaType != p.b.manifest.MediaType {
		md.MediaType = &Change{From: p.a.manifest.MediaType, To: p.b.manifest.MediaType}
	}
	if md.MediaType != nil || len(md.Annotations) > 0 {
		id.Manifest = md
	}

	ca, err := d.config(ctx, p.a)
	if err != nil {
		return nil, err
	}
	cb, err := d.config(ctx, p.b)
	if err != nil {
		return nil, err
	}
	if id.Platform == "" {
		id.Platform = platformOf(cb)
	}
	id.Config = diffConfig(ca, cb)
	if id.Config == nil && p.a.image.Config.Digest != p.b.image.Config.Digest {
		// Same fields, other bytes (rootfs, os.version…): say so.
		id.Config = &ConfigDiff{}
	}
	if d.opts.Level < LevelLayers {
		id.Identical = id.Manifest == nil && id.Config == nil
		return id, nil
	}
	id.Layers = diffLayers(p.a.image, p.b.image, base(p.a.image.Annotations, p.aIndexAnn), base(p.b.image.Annotations, p.bIndexAnn))
	id.Identical = id.Manifest == nil && id.Config == nil && id.Layers.Relation == RelationIdentical
	switch {
	case d.opts.Level < LevelFiles || id.Layers.Relation == RelationIdentical:
	case d.opts.NewLayerReader == nil:
		d.platformNote(id.Platform, "files and packages not compared: this build of tagpin has no layer reader")
	default:
		if err := d.contents(ctx, p, id); err != nil {
			return nil, err
		}
	}
	if d.opts.Level >= LevelPackages {
		d.referrers(ctx, p, id)
	}
	return id, nil
}

// platformNote notes s about the images of one platform.
func (d *differ) platformNote(platform, s string) {
	if platform != "" {
		s = platform + ": " + s
	}
	d.note(s)
}

func (d *differ) note(s string) {
	if !slices.Contains(d.report.Notes, s) {
		d.report.Notes = append(d.report.Notes, s)
	}
}

// base reads the base image annotations of a manifest, or its index's.
func base(ann, indexAnn map[string]string) *Base {
	for _, m := range []map[string]string{ann, indexAnn} {
		if m[annotationBaseName] != "" || m[annotationBaseDigest] != "" {
			return &Base{Name: m[annotationBaseName], Digest: m[annotationBaseDigest]}
		}
	}
	return nil
}

// diffLayers compares two layer lists.
func diffLayers(a, b *v1.Manifest, baseA, baseB *Base) *LayersDiff {
	ld := &LayersDiff{CountA: len(a.Layers), CountB: len(b.Layers), Shared: []Layer{}}
	for ld.CommonPrefix < len(a.Layers) && ld.CommonPrefix < len(b.Layers) && a.Layers[ld.CommonPrefix].Digest == b.Layers[ld.CommonPrefix].Digest {
		ld.CommonPrefix++
	}
	inA := map[v1.Hash]bool{}
	for i, l := range a.Layers {
		ld.SizeA += l.Size
		inA[l.Digest] = true
		_ = i
	}
	inB := map[v1.Hash]bool{}
	for i, l := range b.Layers {
		ld.SizeB += l.Size
		inB[l.Digest] = true
		layer := Layer{Digest: digest.Digest(l.Digest.String()), Size: l.Size, MediaType: string(l.MediaType), Index: i}
		if inA[l.Digest] {
			ld.Shared = append(ld.Shared, layer)
		} else {
			ld.Added = append(ld.Added, layer)
		}
	}
	for i, l := range a.Layers {
		if !inB[l.Digest] {
			ld.Removed = append(ld.Removed, Layer{Digest: digest.Digest(l.Digest.String()), Size: l.Size, MediaType: string(l.MediaType), Index: i})
		}
	}
	ld.SizeDelta = ld.SizeB - ld.SizeA
	if baseA != nil || baseB != nil {
		ld.Base = &BaseDiff{A: baseA, B: baseB, Changed: baseA == nil || baseB == nil || *baseA != *baseB}
	}
	switch {
	case ld.CommonPrefix == len(a.Layers) && len(a.Layers) == len(b.Layers):
		ld.Relation = RelationIdentical
	case ld.Base != nil && ld.Base.A != nil && ld.Base.B != nil:
		// Both name their base: trust that over the layers.
		ld.Relation = RelationSameBase
		if ld.Base.Changed {
			ld.Relation = RelationBaseChanged
		}
	case ld.CommonPrefix == 0:
		ld.Relation = RelationBaseChanged
	default:
		ld.Relation = RelationSameBase
	}
	return ld
}

// contents hands the layers above the common prefix to a LayerReader,
// each distinct digest once, and copies what it found into id.
func (d *differ) contents(ctx context.Context, p pair, id *ImageDiff) error {
	type todo struct {
		desc Descriptor
		at   []Placement
		src  Source
	}
	var order []digest.Digest
	byDigest := map[digest.Digest]*todo{}
	add := func(side Side, src Source, layers []v1.Descriptor) {
		for i := id.Layers.CommonPrefix; i < len(layers); i++ {
			desc := toDescriptor(layers[i])
			t, ok := byDigest[desc.Digest]
			if !ok {
				t = &todo{desc: desc, src: src}
				byDigest[desc.Digest] = t
				order = append(order, desc.Digest)
			}
			t.at = append(t.at, Placement{Side: side, Index: i})
		}
	}
	add(SideA, p.a.src, p.a.image.Layers)
	add(SideB, p.b.src, p.b.image.Layers)

	lr := d.opts.NewLayerReader(id.Platform)
	for _, dg := range order {
		t := byDigest[dg]
		if err := d.applyLayer(ctx, lr, t.src, t.desc, t.at); err != nil {
			return err
		}
	}
	if br, ok := lr.(BaseReader); ok && d.opts.Level >= LevelPackages {
		if err := d.readBase(ctx, br, p, id); err != nil {
			return err
		}
	}
	c, err := lr.Result(ctx, d.opts.Level)
	if err != nil {
		return fmt.Errorf("comparing the contents of %s and %s (%s): %w", d.a.Name(), d.b.Name(), id.Platform, err)
	}
	if c == nil {
		return nil
	}
	id.Files, id.Packages, id.GoBinaries = c.Files, c.Packages, c.GoBinaries
	for _, n := range c.Notes {
		d.platformNote(id.Platform, n)
	}
	if (c.Files != nil && len(c.Files.Groups) > 0) || c.Packages != nil && len(c.Packages.Databases) > 0 || c.GoBinaries != nil && len(c.GoBinaries.Binaries) > 0 {
		id.Identical = false
	}
	return nil
}

// readBase hands the shared bottom layers to br, from the top down,
// while it wants files from them (a package database only one image's
// layers changed: the other image's copy is below). Each layer read is
// fetched like the others, and a note says why.
func (d *differ) readBase(ctx context.Context, br BaseReader, p pair, id *ImageDiff) error {
	for i := id.Layers.CommonPrefix - 1; i >= 0; i-- {
		want := br.BasePaths()
		if len(want) == 0 {
			return nil
		}
		desc := toDescriptor(p.a.image.Layers[i])
		d.platformNote(id.Platform, fmt.Sprintf("shared layer %d (%s) read for /%s", i+1, desc.Digest, strings.Join(want, ", /")))
		apply := func(ctx context.Context, r io.Reader) error { return br.ApplyBase(ctx, desc, r) }
		if err := d.openLayer(ctx, p.a.src, desc, apply); err != nil {
			return err
		}
	}
	return nil
}

// applyLayer hands one layer to lr.
func (d *differ) applyLayer(ctx context.Context, lr LayerReader, src Source, desc Descriptor, at []Placement) error {
	return d.openLayer(ctx, src, desc, func(ctx context.Context, r io.Reader) error { return lr.ApplyLayer(ctx, desc, at, r) })
}

// openLayer opens one layer (from the cache when there is one), hands it
// to read, and reads what read left, so that the digest is checked and
// the cache completes.
func (d *differ) openLayer(ctx context.Context, src Source, desc Descriptor, read func(context.Context, io.Reader) error) error {
	fetch := func(ctx context.Context) (io.ReadCloser, error) { return src.Blob(ctx, desc) }
	var (
		rc  io.ReadCloser
		hit bool
		err error
	)
	if d.opts.Cache != nil {
		rc, hit, err = d.opts.Cache.Open(ctx, desc, fetch)
	} else {
		rc, err = fetch(ctx)
	}
	if err != nil {
		return fmt.Errorf("reading layer %s of %s: %w", desc.Digest, src.Name(), err)
	}
	defer rc.Close()
	var r io.Reader = rc
	if d.opts.Progress != nil {
		d.opts.Progress(Progress{Digest: desc.Digest.String(), Total: desc.Size})
		r = &progressReader{r: rc, p: Progress{Digest: desc.Digest.String(), Total: desc.Size}, f: d.opts.Progress}
	}
	if err := read(ctx, r); err != nil {
		return fmt.Errorf("reading layer %s of %s: %w", desc.Digest, src.Name(), err)
	}
	// Read what the reader left, so that the digest is checked and the
	// cache completes.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("reading layer %s of %s: %w", desc.Digest, src.Name(), err)
	}
	d.record(desc.Digest, KindLayer, desc.Size, hit)
	return nil
}

type progressReader struct {
	r io.Reader
	p Progress
	f func(Progress)
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	if n > 0 {
		pr.p.Done += int64(n)
		pr.f(pr.p)
	}
	return n, err
}

// referrers lists the artifacts attached to both manifests, when the
// sources can, and compares their SBOMs. Failing to list them is a note,
// not an error: the registry may not support it.
func (d *differ) referrers(ctx context.Context, p pair, id *ImageDiff) {
	var la, lb []Descriptor
	listed := true
	if ra, ok := p.a.src.(ReferrerSource); ok {
		var err error
		if la, err = ra.Referrers(ctx, p.a.manifest.Digest); err != nil {
			d.note(fmt.Sprintf("referrers of %s not listed: %v", ra.Name(), err))
			listed = false
		}
	}
	if rb, ok := p.b.src.(ReferrerSource); ok {
		var err error
		if lb, err = rb.Referrers(ctx, p.b.manifest.Digest); err != nil {
			d.note(fmt.Sprintf("referrers of %s not listed: %v", rb.Name(), err))
			listed = false
		}
	}
	d.attached(ctx, p, id, la, lb, listed)
}

// platformOf is a config's platform, "" when it names none.
func platformOf(cfg *v1.ConfigFile) string {
	if cfg.OS == "" && cfg.Architecture == "" {
		return ""
	}
	return Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}.String()
}
