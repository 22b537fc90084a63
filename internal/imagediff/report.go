package imagediff

import "github.com/opencontainers/go-digest"

// SchemaVersion is the version of the Report's JSON form. It changes
// only when a field changes meaning or goes away; new fields may appear.
const SchemaVersion = 1

// Report is what Diff found. Its JSON form is stable (docs/diff.md).
type Report struct {
	SchemaVersion int `json:"schemaVersion"`
	// A and B are the two images: A is the old one, B the new one.
	A ImageID `json:"a"`
	B ImageID `json:"b"`
	// Level is the deepest level compared.
	Level Level `json:"level"`
	// Identical is true when A and B have the same digest, or when
	// nothing compared differs.
	Identical bool `json:"identical"`
	// Index compares the two indexes, when at least one is an index.
	Index *IndexDiff `json:"index,omitempty"`
	// Images has one entry per platform compared, the host's platform
	// first, then in platform order.
	Images []ImageDiff `json:"images"`
	// Notes says what could not be compared and why.
	Notes []string `json:"notes,omitempty"`
	// Fetched lists what was downloaded.
	Fetched Fetched `json:"fetched"`
}

// ImageID names one side of a diff.
type ImageID struct {
	// Reference is the image as written.
	Reference string `json:"reference"`
	// Digest is the digest of its manifest or index.
	Digest digest.Digest `json:"digest"`
	// MediaType is that manifest's media type.
	MediaType string `json:"mediaType"`
}

// IndexDiff compares two indexes (or an index with a single manifest).
type IndexDiff struct {
	// MediaType is set when the media types differ.
	MediaType *Change `json:"mediaType,omitempty"`
	// Common lists the platforms both have, Added those only B has,
	// Removed those only A has.
	Common  []string `json:"common"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Annotations are the index annotations that differ.
	Annotations []KeyChange `json:"annotations,omitempty"`
}

// Change is a value that differs: From in A, To in B.
type Change struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ListChange is a list (entrypoint, cmd) that differs.
type ListChange struct {
	From []string `json:"from"`
	To   []string `json:"to"`
}

// SetChange lists the members of a set (ports, volumes) only B has
// (Added) or only A has (Removed).
type SetChange struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Kinds of change of a key, a layer, a file or a package.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// KeyChange is a key (environment variable, label, annotation) added,
// removed or changed.
type KeyChange struct {
	Key    string `json:"key"`
	Change string `json:"change"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Masked is true when From and To are hidden because the key looks
	// like it holds a secret.
	Masked bool `json:"masked,omitempty"`
}

// ImageDiff compares the images of one platform.
type ImageDiff struct {
	// Platform is os/arch[/variant], from the index or the config.
	Platform string `json:"platform"`
	// A and B are the manifest digests of this platform.
	A digest.Digest `json:"a"`
	B digest.Digest `json:"b"`
	// Identical is true when nothing compared differs.
	Identical bool `json:"identical"`
	// Manifest compares the two image manifests.
	Manifest *ManifestDiff `json:"manifest,omitempty"`
	// Config compares the two image configs (level config and deeper).
	Config *ConfigDiff `json:"config,omitempty"`
	// Layers compares the layer lists (level layers and deeper).
	Layers *LayersDiff `json:"layers,omitempty"`
	// Files, Packages and GoBinaries compare the contents of the layers
	// that differ (levels files and packages), when a LayerReader is
	// set.
	Files      *FilesDiff      `json:"files,omitempty"`
	Packages   *PackagesDiff   `json:"packages,omitempty"`
	GoBinaries *GoBinariesDiff `json:"goBinaries,omitempty"`
	// Referrers compares the artifacts attached to the two manifests
	// (level packages, when the source can list referrers).
	Referrers *ReferrersDiff `json:"referrers,omitempty"`
}

// ManifestDiff compares two image manifests.
type ManifestDiff struct {
	MediaType   *Change     `json:"mediaType,omitempty"`
	Annotations []KeyChange `json:"annotations,omitempty"`
}

// ConfigDiff compares two image configs. Only what differs is set.
type ConfigDiff struct {
	Env          []KeyChange  `json:"env,omitempty"`
	Entrypoint   *ListChange  `json:"entrypoint,omitempty"`
	Cmd          *ListChange  `json:"cmd,omitempty"`
	User         *Change      `json:"user,omitempty"`
	WorkingDir   *Change      `json:"workingDir,omitempty"`
	ExposedPorts *SetChange   `json:"exposedPorts,omitempty"`
	Volumes      *SetChange   `json:"volumes,omitempty"`
	Labels       []KeyChange  `json:"labels,omitempty"`
	StopSignal   *Change      `json:"stopSignal,omitempty"`
	Created      *Change      `json:"created,omitempty"`
	History      *HistoryDiff `json:"history,omitempty"`
}

// HistoryDiff compares the build histories: the entries after the
// history both share at the start.
type HistoryDiff struct {
	// Common is how many entries both start with.
	Common  int            `json:"common"`
	Removed []HistoryEntry `json:"removed,omitempty"`
	Added   []HistoryEntry `json:"added,omitempty"`
}

// HistoryEntry is one build step.
type HistoryEntry struct {
	CreatedBy  string `json:"createdBy"`
	Comment    string `json:"comment,omitempty"`
	EmptyLayer bool   `json:"emptyLayer,omitempty"`
}

// Relations between two layer lists.
const (
	// RelationIdentical: the same layers.
	RelationIdentical = "identical"
	// RelationSameBase: the images share their bottom layers (and the
	// same base image, when both name it); only top layers changed.
	RelationSameBase = "same-base"
	// RelationBaseChanged: the bottom layers differ, or the base image
	// named in the annotations did.
	RelationBaseChanged = "base-changed"
)

// LayersDiff compares the layer lists.
type LayersDiff struct {
	// Relation is RelationIdentical, RelationSameBase or
	// RelationBaseChanged.
	Relation string `json:"relation"`
	// CommonPrefix is how many bottom layers are the same, in order.
	CommonPrefix int `json:"commonPrefix"`
	// Base is set when either image names its base image.
	Base *BaseDiff `json:"base,omitempty"`
	// CountA, CountB, SizeA and SizeB are the layers of each image and
	// their total compressed size.
	CountA int   `json:"countA"`
	CountB int   `json:"countB"`
	SizeA  int64 `json:"sizeA"`
	SizeB  int64 `json:"sizeB"`
	// SizeDelta is SizeB - SizeA.
	SizeDelta int64 `json:"sizeDelta"`
	// Shared are the layers both have (by digest), Removed those only A
	// has, Added those only B has.
	Shared  []Layer `json:"shared"`
	Removed []Layer `json:"removed,omitempty"`
	Added   []Layer `json:"added,omitempty"`
}

// Layer is one layer of an image.
type Layer struct {
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	MediaType string        `json:"mediaType"`
	// Index is the layer's position, from 0 at the bottom: in B for
	// shared and added layers, in A for removed ones.
	Index int `json:"index"`
}

// BaseDiff is the base image each image names in its annotations
// (org.opencontainers.image.base.name and .base.digest).
type BaseDiff struct {
	A       *Base `json:"a,omitempty"`
	B       *Base `json:"b,omitempty"`
	Changed bool  `json:"changed"`
}

// Base is a base image as an image names it.
type Base struct {
	Name   string `json:"name,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// FilesDiff compares the final file trees.
type FilesDiff struct {
	Summary FilesSummary `json:"summary"`
	// Groups has the changes grouped by top directory ("usr", "etc"; ""
	// for files at the root), in path order.
	Groups []FileGroup `json:"groups"`
}

// FilesSummary counts the file changes.
type FilesSummary struct {
	Added     int   `json:"added"`
	Removed   int   `json:"removed"`
	Changed   int   `json:"changed"`
	SizeDelta int64 `json:"sizeDelta"`
}

// FileGroup is the file changes under one top directory.
type FileGroup struct {
	Dir     string       `json:"dir"`
	Changes []FileChange `json:"changes"`
}

// FileChange is one path added, removed or changed.
type FileChange struct {
	// Path is slash-separated, without a leading slash.
	Path   string `json:"path"`
	Change string `json:"change"`
	// Type is the entry type in B (A for removed ones): file, dir,
	// symlink, hardlink, char, block, fifo.
	Type     string `json:"type"`
	SizeFrom int64  `json:"sizeFrom,omitempty"`
	SizeTo   int64  `json:"sizeTo,omitempty"`
	// What lists what changed: type, mode, owner, size, content, target,
	// opaque.
	What []string `json:"what,omitempty"`
	// BaseUnknown is true when one side of the path is whatever the
	// shared bottom layers hold there, which were not read: "added" then
	// means "B's layers write it; A has the shared layers' copy, if any",
	// and "removed" the converse.
	BaseUnknown bool `json:"baseUnknown,omitempty"`
}

// PackagesDiff compares the OS packages, per package database.
type PackagesDiff struct {
	Databases []PackageDatabaseDiff `json:"databases"`
}

// PackageDatabaseDiff compares one package database.
type PackageDatabaseDiff struct {
	// Ecosystem is dpkg, apk or rpm (or spdx, cyclonedx for SBOMs).
	Ecosystem string `json:"ecosystem"`
	// Path is where the database is in the image; for SBOMs, where each
	// side's came from ("a: referrer sha256:…; b: tag sha256-….sbom").
	Path       string          `json:"path"`
	Added      []Package       `json:"added,omitempty"`
	Removed    []Package       `json:"removed,omitempty"`
	Upgraded   []PackageChange `json:"upgraded,omitempty"`
	Downgraded []PackageChange `json:"downgraded,omitempty"`
	// Changed are packages at the same version with another
	// architecture or source package; for SBOMs, packages at another
	// version in an ecosystem whose version order is not known.
	Changed []PackageChange `json:"changed,omitempty"`
	// Unsupported says why the database could not be read, if so.
	Unsupported string `json:"unsupported,omitempty"`
}

// Package is one package at one version.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
}

// PackageChange is a package whose version changed.
type PackageChange struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
	Arch string `json:"arch,omitempty"`
}

// GoBinariesDiff compares the Go binaries.
type GoBinariesDiff struct {
	Binaries []GoBinaryChange `json:"binaries"`
}

// GoBinaryChange is a Go binary added, removed or changed.
type GoBinaryChange struct {
	Path      string         `json:"path"`
	Change    string         `json:"change"`
	GoVersion *Change        `json:"goVersion,omitempty"`
	Main      string         `json:"main,omitempty"`
	Modules   []ModuleChange `json:"modules,omitempty"`
	// BaseUnknown is true for a binary only one image's layers hold
	// when the other may have it in the shared bottom layers (not read).
	BaseUnknown bool `json:"baseUnknown,omitempty"`
	// Note says why the build info could not be compared.
	Note string `json:"note,omitempty"`
}

// ModuleChange is a Go module added, removed or at another version.
type ModuleChange struct {
	Path   string `json:"path"`
	Change string `json:"change"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// ReferrersDiff lists the artifacts attached to each manifest.
type ReferrersDiff struct {
	A []Referrer `json:"a,omitempty"`
	B []Referrer `json:"b,omitempty"`
	// Added and Removed are the artifact types only B, or only A, has.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Packages compares the packages of the SBOMs and SBOM attestations
	// attached to both images, one database per format (spdx,
	// cyclonedx) both have.
	Packages *PackagesDiff `json:"packages,omitempty"`
}

// Referrer is an artifact attached to a manifest: listed by the OCI
// referrers API (or its sha256-<hex> tag), or tagged the cosign way.
type Referrer struct {
	Digest       digest.Digest `json:"digest"`
	ArtifactType string        `json:"artifactType,omitempty"`
	MediaType    string        `json:"mediaType"`
	Size         int64         `json:"size"`
	// Tag is the cosign tag the artifact was found under
	// (sha256-<hex>.sbom, .att or .sig); empty for a referrer.
	Tag string `json:"tag,omitempty"`
	// Index is true for an artifact attached to the index the image
	// belongs to rather than to the image's own manifest.
	Index bool `json:"index,omitempty"`
}

// Fetched is what Diff downloaded.
type Fetched struct {
	// Blobs lists each manifest and blob, once, in the order fetched.
	Blobs []FetchedBlob `json:"blobs"`
	// Bytes is the total downloaded (cache hits excluded).
	Bytes int64 `json:"bytes"`
}

// Kinds of fetched content.
const (
	KindManifest = "manifest"
	KindConfig   = "config"
	KindLayer    = "layer"
)

// FetchedBlob is one manifest or blob Diff read.
type FetchedBlob struct {
	Digest digest.Digest `json:"digest"`
	Kind   string        `json:"kind"`
	Size   int64         `json:"size"`
	// Cached is true when it came from the cache.
	Cached bool `json:"cached,omitempty"`
}
