package layerfs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Layer media types Decompress knows.
const (
	MediaTypeOCILayer           = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeOCILayerGzip       = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeOCILayerZstd       = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeOCIForeign         = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	MediaTypeOCIForeignGzip     = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	MediaTypeOCIForeignZstd     = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// zstdMaxWindow bounds the memory a zstd stream may ask for. 64 MiB covers
// every level zstd offers without --ultra (8 MiB windows at most) and
// --long up to 26; a stream asking for more (--ultra -22 on large input,
// --long=27) stops with a *LimitError.
const zstdMaxWindow = 64 << 20

var (
	gzipMagic  = []byte{0x1f, 0x8b}
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	bzip2Magic = []byte{'B', 'Z', 'h'}
)

// Decompress returns the tar stream of a layer blob of the given media
// type. The compression is read from the blob's first bytes, so a media
// type that says gzip over a plain tar (or the reverse) still reads; an
// empty media type is sniffed the same way. Foreign (non-distributable)
// layers and media types that are not layers give a *MediaTypeError, as do
// xz and bzip2 streams.
//
// Read errors of the returned stream wrap ErrCorrupt when the compressed
// data is malformed or truncated; an error of r itself is returned as it
// is. Close releases the decompressor; it does not close r.
func Decompress(mediaType string, r io.Reader) (io.ReadCloser, error) {
	switch mediaType {
	case "", MediaTypeOCILayer, MediaTypeOCILayerGzip, MediaTypeOCILayerZstd,
		MediaTypeDockerLayer, MediaTypeDockerLayerGzip:
	case MediaTypeOCIForeign, MediaTypeOCIForeignGzip, MediaTypeOCIForeignZstd, MediaTypeDockerForeignLayer:
		return nil, &MediaTypeError{MediaType: mediaType, Foreign: true}
	default:
		return nil, &MediaTypeError{MediaType: mediaType}
	}
	src := &sourceReader{r: r}
	br := bufio.NewReaderSize(src, 512)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	d := &decompressed{src: src}
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			if src.err != nil {
				return nil, src.err
			}
			return nil, corrupt(err)
		}
		d.r, d.close = zr, zr.Close
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, corrupt(err)
		}
		d.r, d.close = zr, func() error { zr.Close(); return nil }
	case bytes.HasPrefix(magic, xzMagic):
		return nil, &MediaTypeError{MediaType: mediaType, Compression: "xz"}
	case bytes.HasPrefix(magic, bzip2Magic):
		return nil, &MediaTypeError{MediaType: mediaType, Compression: "bzip2"}
	default:
		d.r, d.close = br, func() error { return nil }
	}
	return d, nil
}

// sourceReader remembers the error of the blob stream, so that a network
// failure is not mistaken for corrupt data.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

type decompressed struct {
	src    *sourceReader
	r      io.Reader
	close  func() error
	closed bool
}

func (d *decompressed) Read(p []byte) (int, error) {
	if d.closed {
		return 0, errors.New("read after close")
	}
	n, err := d.r.Read(p)
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	if d.src.err != nil {
		return n, d.src.err
	}
	if errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return n, &LimitError{Limit: LimitZstdWindow, Max: zstdMaxWindow}
	}
	return n, corrupt(err)
}

func (d *decompressed) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	return d.close()
}
