package layerfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

// syntheticLayer writes a layer of n files spread over directories like a
// distribution's /usr, totalling about size bytes of content.
func syntheticLayer(t testing.TB, n int, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	per := size / int64(n)
	body := bytes.Repeat([]byte("0123456789abcdef"), int(per/16)+1)[:per]
	for i := range n {
		if i%100 == 0 {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("usr/share/pkg%04d/", i/100), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		hdr := &tar.Header{
			Name: fmt.Sprintf("usr/share/pkg%04d/doc/file-%06d.txt", i/100, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: per,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		// Vary the content so that every digest differs.
		body[0] = byte(i)
		body[1] = byte(i >> 8)
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestIndexMemory: the index of 50k files stays well under 20 MiB; file
// bytes are never kept.
func TestIndexMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50k-file layer")
	}
	// Not parallel: it measures the heap.
	const files = 50_000
	layer := syntheticLayer(t, files, 20<<20)
	before := heapAlloc()
	tree := layerfs.NewTree()
	if _, err := tree.Apply(context.Background(), bytes.NewReader(layer), layerfs.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	after := heapAlloc()
	runtime.KeepAlive(tree)
	runtime.KeepAlive(layer)
	used := int64(after) - int64(before)
	const limit = 10 << 20
	t.Logf("%d entries: %d bytes, %d bytes per entry", tree.Len(), used, used/int64(tree.Len()))
	if used > limit {
		t.Errorf("the index of %d entries uses %d bytes, want at most %d", tree.Len(), used, limit)
	}
}

// BenchmarkApply reads a 20 MiB layer of 50k files, hashing every file.
func BenchmarkApply(b *testing.B) {
	layer := syntheticLayer(b, 50_000, 20<<20)
	b.SetBytes(int64(len(layer)))
	b.ReportAllocs()
	for b.Loop() {
		tree := layerfs.NewTree()
		if _, err := tree.Apply(context.Background(), bytes.NewReader(layer), layerfs.ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiff compares two 50k-entry trees differing in 1% of files.
func BenchmarkDiff(b *testing.B) {
	layer := syntheticLayer(b, 50_000, 5<<20)
	changed := tarLayer(b, file("usr/share/pkg0001/doc/file-000100.txt", "changed"))
	a, bt := layerfs.NewTree(), layerfs.NewTree()
	for _, l := range [][]byte{layer} {
		if _, err := a.Apply(context.Background(), bytes.NewReader(l), layerfs.ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, l := range [][]byte{layer, changed} {
		if _, err := bt.Apply(context.Background(), bytes.NewReader(l), layerfs.ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := layerfs.Diff(a, bt, layerfs.DiffOptions{}); len(got) != 1 {
			b.Fatalf("%d changes, want 1", len(got))
		}
	}
}
