package layerfs

import (
	"errors"
	"fmt"
)

// Error classes.
var (
	// ErrUnsupportedMediaType: the blob is not a layer tagpin can read (a
	// foreign layer, a non-tar artifact, an unknown media type or an
	// unsupported compression). Errors of this class are *MediaTypeError.
	ErrUnsupportedMediaType = errors.New("unsupported layer media type")
	// ErrCorrupt: the tar, gzip or zstd stream is truncated or malformed.
	ErrCorrupt = errors.New("corrupt layer")
	// ErrLimit: a layer exceeds a limit (Limits). Errors of this class are
	// *LimitError.
	ErrLimit = errors.New("layer limit exceeded")
)

// MediaTypeError says which media type or compression cannot be read.
type MediaTypeError struct {
	// MediaType is the media type the caller gave.
	MediaType string
	// Compression, when set, is the compression the blob's first bytes
	// show ("xz", "bzip2") and tagpin does not read.
	Compression string
	// Foreign is true for foreign (non-distributable Windows) layers,
	// whose blob usually lives outside the registry.
	Foreign bool
}

func (e *MediaTypeError) Error() string {
	switch {
	case e.Compression != "":
		return fmt.Sprintf("layer compressed with %s (media type %q) is not supported", e.Compression, e.MediaType)
	case e.Foreign:
		return fmt.Sprintf("foreign layer (media type %q) is not read", e.MediaType)
	default:
		return fmt.Sprintf("media type %q is not a layer", e.MediaType)
	}
}

// Is makes errors.Is(err, ErrUnsupportedMediaType) true.
func (e *MediaTypeError) Is(target error) bool { return target == ErrUnsupportedMediaType }

// Limit names a limit of Limits.
type Limit string

// Limits a layer can exceed.
const (
	LimitEntries    Limit = "entries"
	LimitFileSize   Limit = "file-size"
	LimitLayerBytes Limit = "layer-bytes"
	LimitLayers     Limit = "layers"
	// LimitZstdWindow: the zstd stream asks for a larger decoding window
	// than Decompress allows.
	LimitZstdWindow Limit = "zstd-window"
)

// LimitError says which limit a layer exceeded.
type LimitError struct {
	Limit Limit
	// Max is the limit's value; Path the entry that crossed it, if any.
	Max  int64
	Path string
}

func (e *LimitError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%s limit %d exceeded at %q", e.Limit, e.Max, e.Path)
	}
	return fmt.Sprintf("%s limit %d exceeded", e.Limit, e.Max)
}

// Is makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// LayerError is the error Apply returns: which layer of the tree (Layer,
// counting the Apply calls from 0) and which entry (Path, the last entry
// read, empty before the first) it was reading.
type LayerError struct {
	Layer int
	Path  string
	Err   error
}

func (e *LayerError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("reading layer %d at %q: %v", e.Layer, e.Path, e.Err)
	}
	return fmt.Sprintf("reading layer %d: %v", e.Layer, e.Err)
}

func (e *LayerError) Unwrap() error { return e.Err }

// corrupt marks err as ErrCorrupt, keeping it.
func corrupt(err error) error {
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}
