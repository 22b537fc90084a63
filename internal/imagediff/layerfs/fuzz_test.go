package layerfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	return [][]byte{
		tarLayer(f, dir("etc/"), file("etc/a", "a"), symlink("etc/l", "a"), hardlink("etc/h", "etc/a")),
		tarLayer(f, whiteout("etc/.wh.a"), tf{name: "var/.wh..wh..opq", typ: tar.TypeReg}, file("var/x", "x")),
		tarLayer(f, file("../escape", "x"), hardlink("h", "missing"), file("a/b", "b"), file("a", "a"), file("a/b/c", "c")),
		tarLayer(f, file("caf\xe9", "x"), dir(".wh..wh.plnk/"), whiteout(".wh.")),
		{},
		bytes.Repeat([]byte{0}, 1024),
	}
}

// checkTree asserts what every tree Apply builds must satisfy.
func checkTree(t *testing.T, tree *layerfs.Tree) {
	t.Helper()
	var prev string
	n := 0
	dirs := map[string]bool{"": true}
	err := tree.Walk(func(e *layerfs.Entry) error {
		n++
		p := e.Path
		if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
			t.Errorf("path %q is not clean", p)
		}
		for part := range strings.SplitSeq(p, "/") {
			if part == "." || part == ".." || strings.IndexByte(part, 0) >= 0 {
				t.Errorf("path %q holds %q", p, part)
			}
		}
		if n > 1 && layerfs.ComparePaths(prev, p) >= 0 {
			t.Errorf("Walk: %q after %q", p, prev)
		}
		parent := ""
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			parent = p[:i]
		}
		if !dirs[parent] {
			t.Errorf("%q: parent %q is not a directory of the tree", p, parent)
		}
		if e.Type == layerfs.Dir {
			dirs[p] = true
		}
		if got, ok := tree.Get(p); !ok || got.Path != p || got.Type != e.Type {
			t.Errorf("Get(%q) = %+v, %v", p, got, ok)
		}
		prev = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != tree.Len() {
		t.Errorf("Walk saw %d entries, Len() = %d", n, tree.Len())
	}
	if d := layerfs.Diff(tree, tree, layerfs.DiffOptions{}); len(d) != 0 {
		t.Errorf("Diff of a tree with itself: %d changes", len(d))
	}
}

var fuzzLimits = layerfs.Limits{MaxEntries: 1000, MaxLayerBytes: 1 << 20, MaxFileSize: 256 << 10}

// FuzzApply feeds arbitrary bytes to Apply: as a tar stream (mode 0), as
// the tar inside a gzip stream (mode 1) and as a blob of unknown
// compression (mode 2), applied twice to final and overlay trees.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		for mode := range uint8(3) {
			f.Add(s, mode)
		}
	}
	f.Add(gzipBytes(f, fuzzSeeds(f)[0]), uint8(2))
	f.Add(zstdBytes(f, fuzzSeeds(f)[1]), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		blob := data
		if mode%3 == 1 {
			blob = gzipBytes(t, data)
		}
		for _, tree := range []*layerfs.Tree{layerfs.NewTree(), layerfs.NewOverlay()} {
			for range 2 {
				var r io.Reader = bytes.NewReader(blob)
				if mode%3 != 0 {
					rc, err := layerfs.Decompress("", r)
					if err != nil {
						if !errors.Is(err, layerfs.ErrUnsupportedMediaType) && !errors.Is(err, layerfs.ErrCorrupt) {
							t.Fatalf("Decompress: unclassified error %v", err)
						}
						return
					}
					defer rc.Close()
					r = rc
				}
				_, err := tree.Apply(context.Background(), r, layerfs.ApplyOptions{Limits: fuzzLimits})
				if err != nil {
					var le *layerfs.LayerError
					if !errors.As(err, &le) || !(errors.Is(err, layerfs.ErrCorrupt) || errors.Is(err, layerfs.ErrLimit)) {
						t.Fatalf("Apply: unclassified error %v", err)
					}
					return
				}
				checkTree(t, tree)
			}
		}
	})
}

// FuzzDecompress feeds arbitrary blobs to Decompress.
func FuzzDecompress(f *testing.F) {
	raw := fuzzSeeds(f)[0]
	for _, s := range [][]byte{raw, gzipBytes(f, raw), zstdBytes(f, raw), zstdWindowFrame(27, []byte("x")), []byte("\xfd7zXZ\x00"), {0x1f, 0x8b}, {0x28, 0xb5, 0x2f, 0xfd}} {
		f.Add(s, layerfs.MediaTypeOCILayerGzip)
		f.Add(s, "")
	}
	f.Add(raw, layerfs.MediaTypeDockerForeignLayer)
	f.Fuzz(func(t *testing.T, blob []byte, mediaType string) {
		rc, err := layerfs.Decompress(mediaType, bytes.NewReader(blob))
		if err != nil {
			if !errors.Is(err, layerfs.ErrUnsupportedMediaType) && !errors.Is(err, layerfs.ErrCorrupt) {
				t.Fatalf("Decompress: unclassified error %v", err)
			}
			return
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, io.LimitReader(rc, 8<<20))
		if err != nil && !errors.Is(err, layerfs.ErrCorrupt) && !errors.Is(err, layerfs.ErrLimit) {
			t.Fatalf("reading: unclassified error %v", err)
		}
	})
}
