package imagediff

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

// Level is how deep Diff compares; each level includes the ones before.
type Level int

// Levels, cheapest first.
const (
	// LevelConfig compares manifests, indexes and image configs.
	LevelConfig Level = iota + 1
	// LevelLayers also compares the layer lists (no layer is fetched).
	LevelLayers
	// LevelFiles also reads the layers that differ, for the files.
	LevelFiles
	// LevelPackages also reads package databases, Go binaries and
	// attached SBOMs: everything. The default.
	LevelPackages
)

var levelNames = map[Level]string{LevelConfig: "config", LevelLayers: "layers", LevelFiles: "files", LevelPackages: "packages"}

func (l Level) String() string {
	if s, ok := levelNames[l]; ok {
		return s
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// ParseLevel parses config, layers, files or packages.
func ParseLevel(s string) (Level, error) {
	for l, n := range levelNames {
		if n == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown level %q: want config, layers, files or packages", s)
}

// MarshalText implements encoding.TextMarshaler.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Side says which image a layer belongs to.
type Side string

// The two sides.
const (
	SideA Side = "a"
	SideB Side = "b"
)

// Placement is where a layer sits in one image: its side and its index
// from 0 at the bottom.
type Placement struct {
	Side  Side
	Index int
}

// LayerReader reads the layers that differ between the images of one
// platform and says what they change. Diff calls ApplyLayer once per
// distinct layer digest above the common prefix, with every place the
// layer holds (a layer both images have above the prefix is read once),
// then Result. Layers of one side come in increasing index order, except
// that a layer present in both is given at its first place in A. r is
// the layer blob as stored (compressed); it is valid only during the
// call.
type LayerReader interface {
	ApplyLayer(ctx context.Context, layer Descriptor, at []Placement, r io.Reader) error
	// Result returns the sections it fills; levels says how deep to go
	// (LevelFiles: files only; LevelPackages: packages and Go binaries
	// too). The common prefix's contents are the same on both sides and
	// were not read.
	Result(ctx context.Context, level Level) (*Contents, error)
}

// Contents is what a LayerReader found.
type Contents struct {
	Files      *FilesDiff
	Packages   *PackagesDiff
	GoBinaries *GoBinariesDiff
	// Notes says what could not be read and why.
	Notes []string
}

// Cache keeps blobs between runs. Open returns the blob desc from the
// cache, or else calls fetch, and returns a reader that stores what it
// reads once the blob has been read to the end and verified. hit says
// whether the blob came from the cache.
type Cache interface {
	Open(ctx context.Context, desc Descriptor, fetch func(context.Context) (io.ReadCloser, error)) (rc io.ReadCloser, hit bool, err error)
}

// Platform is os/arch[/variant].
type Platform struct {
	OS, Architecture, Variant string
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Options says what Diff compares and with what.
type Options struct {
	// Level is how deep to compare (default LevelPackages).
	Level Level
	// Platform, when set, compares only that platform of two indexes.
	Platform *Platform
	// Host is the platform compared first and used to pick the image of
	// an index compared with a single image (default: this machine's).
	Host *Platform
	// NewLayerReader returns a reader for the layers of one platform;
	// without it, files and packages are not compared (a note says so).
	NewLayerReader func(platform string) LayerReader
	// Cache, when set, is asked for layers before the source.
	Cache Cache
	// Progress, when set, is told of each blob as it starts (total
	// bytes) and as it is read (done bytes).
	Progress func(p Progress)
}

// Progress reports a download.
type Progress struct {
	Digest      string
	Done, Total int64
}

func (o Options) withDefaults() Options {
	if o.Level == 0 {
		o.Level = LevelPackages
	}
	if o.Host == nil {
		o.Host = &Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	}
	return o
}
