package layerfs_test

import (
	"archive/tar"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

// TestOverlay checks what an overlay tree (NewOverlay) keeps of the
// applied layers on top of an unknown base.
func TestOverlay(t *testing.T) {
	t.Parallel()
	opq := func(d string) tf { return tf{name: d + "/.wh..wh..opq", typ: tar.TypeReg} }
	tests := []struct {
		name   string
		layers [][]tf
		want   []layerfs.Entry
	}{
		{
			name:   "a whiteout of a base path is an entry",
			layers: [][]tf{{whiteout("etc/.wh.motd"), file("etc/issue", "i")}},
			want:   []layerfs.Entry{wImplicit("etc"), wFile("etc/issue", "i"), wWhiteout("etc/motd")},
		},
		{
			name:   "a whiteout and a file of the same layer: the file",
			layers: [][]tf{{whiteout(".wh.a"), file("a", "new")}},
			want:   []layerfs.Entry{wFile("a", "new")},
		},
		{
			name:   "a whiteout and a directory of the same layer: an opaque directory",
			layers: [][]tf{{dir("d/"), file("d/x", "x"), whiteout(".wh.d")}},
			want:   []layerfs.Entry{opaque(wDir("d")), wFile("d/x", "x")},
		},
		{
			name:   "an opaque marker: an opaque directory, and its subdirectories too",
			layers: [][]tf{{dir("d/"), opq("d"), dir("d/sub/"), file("d/sub/x", "x")}},
			want:   []layerfs.Entry{opaque(wDir("d")), opaque(wDir("d/sub")), wFile("d/sub/x", "x")},
		},
		{
			name:   "an opaque marker alone: an implicit opaque directory",
			layers: [][]tf{{opq("var/cache")}},
			want:   []layerfs.Entry{wImplicit("var"), opaque(wImplicit("var/cache"))},
		},
		{
			name:   "a whiteout of what a lower applied layer wrote: a whiteout entry",
			layers: [][]tf{{dir("d/"), file("d/x", "x"), file("f", "f")}, {whiteout(".wh.d"), whiteout(".wh.f")}},
			want:   []layerfs.Entry{wWhiteout("d"), wWhiteout("f")},
		},
		{
			name:   "a directory written over a lower whiteout is opaque",
			layers: [][]tf{{whiteout(".wh.d")}, {dir("d/"), file("d/y", "y")}},
			want:   []layerfs.Entry{opaque(wDir("d")), wFile("d/y", "y")},
		},
		{
			name:   "an implicit directory over a lower whiteout is opaque",
			layers: [][]tf{{whiteout(".wh.d")}, {file("d/y", "y")}},
			want:   []layerfs.Entry{opaque(wImplicit("d")), wFile("d/y", "y")},
		},
		{
			name:   "a directory written over a lower file is opaque",
			layers: [][]tf{{file("d", "file")}, {dir("d/")}},
			want:   []layerfs.Entry{opaque(wDir("d"))},
		},
		{
			name:   "a whiteout of a directory and one below it: the directory's",
			layers: [][]tf{{whiteout("a/.wh.b"), whiteout(".wh.a")}},
			want:   []layerfs.Entry{wWhiteout("a")},
		},
		{
			name:   "a whiteout below an opaque directory is already hidden",
			layers: [][]tf{{dir("d/"), opq("d"), whiteout("d/.wh.x")}},
			want:   []layerfs.Entry{opaque(wDir("d"))},
		},
		{
			name:   "a hard link to a base file: unknown content",
			layers: [][]tf{{hardlink("bin/sh2", "bin/sh")}},
			want: []layerfs.Entry{
				wImplicit("bin"),
				{Path: "bin/sh2", Type: layerfs.Hardlink, Mode: 0o644, Link: "bin/sh"},
			},
		},
		{
			name:   "an opaque root",
			layers: [][]tf{{tf{name: ".wh..wh..opq", typ: tar.TypeReg}, file("a", "a")}},
			want:   []layerfs.Entry{wFile("a", "a")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tree, _ := build(t, true, tt.layers...)
			if diff := cmp.Diff(tt.want, entries(t, tree)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}
