package layerfs_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	t.Parallel()
	raw := tarLayer(t, file("etc/os-release", "ID=test\n"), dir("var/"))
	gz, zs := gzipBytes(t, raw), zstdBytes(t, raw)
	tests := []struct {
		name      string
		mediaType string
		blob      []byte
	}{
		{"oci gzip", layerfs.MediaTypeOCILayerGzip, gz},
		{"docker gzip", layerfs.MediaTypeDockerLayerGzip, gz},
		{"oci zstd", layerfs.MediaTypeOCILayerZstd, zs},
		{"oci plain", layerfs.MediaTypeOCILayer, raw},
		{"docker plain", layerfs.MediaTypeDockerLayer, raw},
		{"unknown media type, gzip", "", gz},
		{"unknown media type, zstd", "", zs},
		{"unknown media type, plain", "", raw},
		{"says gzip, is plain", layerfs.MediaTypeOCILayerGzip, raw},
		{"says plain, is zstd", layerfs.MediaTypeOCILayer, zs},
		{"says zstd, is gzip", layerfs.MediaTypeOCILayerZstd, gz},
		{"zstd with a 64 MiB window", layerfs.MediaTypeOCILayerZstd, zstdWindowFrame(26, raw)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One byte at a time: the sniffing must not depend on reads
			// returning whole headers.
			rc, err := layerfs.Decompress(tt.mediaType, iotest.OneByteReader(bytes.NewReader(tt.blob)))
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if err := rc.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("got %d bytes, want the %d bytes of the tar", len(got), len(raw))
			}
		})
	}
}

func TestDecompressErrors(t *testing.T) {
	t.Parallel()
	raw := tarLayer(t, file("a", string(bytes.Repeat([]byte("abcdefgh"), 4096))))
	gz := gzipBytes(t, raw)
	zs := zstdBytes(t, raw)
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-6] ^= 0xff
	network := errors.New("connection reset")
	tests := []struct {
		name      string
		mediaType string
		r         io.Reader
		// wantOpen is the error of Decompress, wantRead of reading.
		wantOpen, wantRead error
		wantMT             *layerfs.MediaTypeError
	}{
		{
			name: "windows foreign layer", mediaType: layerfs.MediaTypeDockerForeignLayer, r: bytes.NewReader(gz),
			wantOpen: layerfs.ErrUnsupportedMediaType,
			wantMT:   &layerfs.MediaTypeError{MediaType: layerfs.MediaTypeDockerForeignLayer, Foreign: true},
		},
		{
			name: "oci non-distributable layer", mediaType: layerfs.MediaTypeOCIForeignGzip, r: bytes.NewReader(gz),
			wantOpen: layerfs.ErrUnsupportedMediaType,
			wantMT:   &layerfs.MediaTypeError{MediaType: layerfs.MediaTypeOCIForeignGzip, Foreign: true},
		},
		{
			name: "helm chart", mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", r: bytes.NewReader(gz),
			wantOpen: layerfs.ErrUnsupportedMediaType,
			wantMT:   &layerfs.MediaTypeError{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip"},
		},
		{
			name: "xz", r: bytes.NewReader([]byte("\xfd7zXZ\x00rest")),
			wantOpen: layerfs.ErrUnsupportedMediaType,
			wantMT:   &layerfs.MediaTypeError{Compression: "xz"},
		},
		{
			name: "bzip2", mediaType: layerfs.MediaTypeOCILayerGzip, r: bytes.NewReader([]byte("BZh91AY&SY")),
			wantOpen: layerfs.ErrUnsupportedMediaType,
			wantMT:   &layerfs.MediaTypeError{MediaType: layerfs.MediaTypeOCILayerGzip, Compression: "bzip2"},
		},
		{name: "gzip header cut", r: bytes.NewReader(gz[:5]), wantOpen: layerfs.ErrCorrupt},
		{name: "gzip truncated", r: bytes.NewReader(gz[:len(gz)/2]), wantRead: layerfs.ErrCorrupt},
		{name: "gzip checksum", r: bytes.NewReader(badCRC), wantRead: layerfs.ErrCorrupt},
		{name: "zstd truncated", r: bytes.NewReader(zs[:len(zs)/2]), wantRead: layerfs.ErrCorrupt},
		{
			name:     "zstd window above the limit",
			r:        bytes.NewReader(zstdWindowFrame(27, []byte("hello"))),
			wantRead: layerfs.ErrLimit,
		},
		{
			name:     "the blob stream fails: its error, not corrupt",
			r:        io.MultiReader(bytes.NewReader(gz[:len(gz)/2]), iotest.ErrReader(network)),
			wantRead: network,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc, err := layerfs.Decompress(tt.mediaType, tt.r)
			if !errors.Is(err, tt.wantOpen) || (tt.wantOpen == nil) != (err == nil) {
				t.Fatalf("Decompress: %v, want %v", err, tt.wantOpen)
			}
			if tt.wantMT != nil {
				var mt *layerfs.MediaTypeError
				if !errors.As(err, &mt) {
					t.Fatalf("Decompress: %T, want *MediaTypeError", err)
				}
				if diff := cmp.Diff(tt.wantMT, mt); diff != "" {
					t.Errorf("MediaTypeError (-want +got):\n%s", diff)
				}
			}
			if err != nil {
				return
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			if !errors.Is(err, tt.wantRead) || err == nil {
				t.Fatalf("reading: %v, want %v", err, tt.wantRead)
			}
			if errors.Is(tt.wantRead, network) && errors.Is(err, layerfs.ErrCorrupt) {
				t.Errorf("reading: %v is classified corrupt", err)
			}
		})
	}
}

// TestApplyThroughDecompress applies gzip and zstd layers end to end.
func TestApplyThroughDecompress(t *testing.T) {
	t.Parallel()
	raw := tarLayer(t, file("etc/os-release", "ID=test\n"))
	for name, blob := range map[string][]byte{"gzip": gzipBytes(t, raw), "zstd": zstdBytes(t, raw), "plain": raw} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rc, err := layerfs.Decompress("", bytes.NewReader(blob))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			tree := layerfs.NewTree()
			st, err := tree.Apply(context.Background(), rc, layerfs.ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Bytes != int64(len(raw)) || st.Entries != 1 {
				t.Errorf("stats = %+v, want %d bytes and 1 entry", st, len(raw))
			}
			want := []layerfs.Entry{wImplicit("etc"), wFile("etc/os-release", "ID=test\n")}
			if diff := cmp.Diff(want, entries(t, tree)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

// zstdWindowFrame writes a zstd frame that declares a window of
// 1<<windowLog bytes and holds data as one raw block.
func zstdWindowFrame(windowLog int, data []byte) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte((windowLog - 10) << 3)}
	h := 1 | len(data)<<3 // last block, raw
	b = append(b, byte(h), byte(h>>8), byte(h>>16))
	return append(b, data...)
}
