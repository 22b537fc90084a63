package layerfs_test

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

// TestApply checks the final tree of an image (NewTree) against the OCI
// image-spec rules for applying layers.
func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		layers      [][]tf
		want        []layerfs.Entry
		wantSkipped [][]layerfs.Skipped
	}{
		{
			name: "files, directories, symlinks, implicit parents",
			layers: [][]tf{{
				dir("etc/"), file("etc/hostname", "box\n"), file("./usr/bin/env", "#!"),
				symlink("bin", "usr/bin"), file("/abs/x", "x"),
			}},
			want: []layerfs.Entry{
				wImplicit("abs"), wFile("abs/x", "x"), wSymlink("bin", "usr/bin"),
				wDir("etc"), wFile("etc/hostname", "box\n"),
				wImplicit("usr"), wImplicit("usr/bin"), wFile("usr/bin/env", "#!"),
			},
		},
		{
			name: "whiteout removes a lower file",
			layers: [][]tf{
				{file("a", "1"), file("b", "2")},
				{whiteout(".wh.a")},
			},
			want: []layerfs.Entry{wFile("b", "2")},
		},
		{
			name: "whiteout removes a lower directory and everything below it",
			layers: [][]tf{
				{dir("d/"), file("d/x", "x"), dir("d/e/"), file("d/e/y", "y"), file("dz", "z")},
				{whiteout(".wh.d")},
			},
			want: []layerfs.Entry{wFile("dz", "z")},
		},
		{
			name: "whiteout does not remove an entry of its own layer, before or after it",
			layers: [][]tf{
				{file("a", "old"), file("b", "old")},
				{whiteout(".wh.a"), file("a", "new"), file("b", "new"), whiteout(".wh.b")},
			},
			want: []layerfs.Entry{wFile("a", "new"), wFile("b", "new")},
		},
		{
			name: "whiteout of a lower directory keeps the same layer's entries below it",
			layers: [][]tf{
				{dir("d/"), file("d/old", "o"), dir("d/sub/"), file("d/sub/old", "o")},
				{file("d/sub/new", "n"), whiteout(".wh.d")},
			},
			want: []layerfs.Entry{wImplicit("d"), wImplicit("d/sub"), wFile("d/sub/new", "n")},
		},
		{
			name: "opaque directory hides lower entries, keeps its own layer's",
			layers: [][]tf{
				{dir("d/"), file("d/old", "o"), dir("d/sub/"), file("d/sub/old", "o"), file("e", "e")},
				{file("d/new1", "1"), dir("d/"), tf{name: "d/.wh..wh..opq", typ: tar.TypeReg}, file("d/new2", "2")},
			},
			want: []layerfs.Entry{wDir("d"), wFile("d/new1", "1"), wFile("d/new2", "2"), wFile("e", "e")},
		},
		{
			name: "opaque marker without its directory entry",
			layers: [][]tf{
				{dir("d/"), file("d/old", "o")},
				{tf{name: "d/.wh..wh..opq", typ: tar.TypeReg}},
			},
			want: []layerfs.Entry{wDir("d")},
		},
		{
			name: "opaque root hides every lower entry",
			layers: [][]tf{
				{file("a", "a"), dir("d/"), file("d/x", "x")},
				{tf{name: ".wh..wh..opq", typ: tar.TypeReg}, file("b", "b")},
			},
			want: []layerfs.Entry{wFile("b", "b")},
		},
		{
			name: "whiteout in a lower layer, path written again above",
			layers: [][]tf{
				{dir("d/"), file("d/x", "x")},
				{whiteout(".wh.d")},
				{dir("d/"), file("d/y", "y")},
			},
			want: []layerfs.Entry{wDir("d"), wFile("d/y", "y")},
		},
		{
			name: "file replaces a directory and what was below it",
			layers: [][]tf{
				{dir("d/"), file("d/x", "x")},
				{file("d", "now a file")},
			},
			want: []layerfs.Entry{wFile("d", "now a file")},
		},
		{
			name: "directory over a directory keeps its entries and takes the new attributes",
			layers: [][]tf{
				{dir("d/"), file("d/x", "x")},
				{tf{name: "d/", typ: tar.TypeDir, mode: 0o1777, uid: 5, gid: 6}},
			},
			want: []layerfs.Entry{
				{Path: "d", Type: layerfs.Dir, Mode: 0o777 | fs.ModeSticky, UID: 5, GID: 6},
				wFile("d/x", "x"),
			},
		},
		{
			name: "modes, owners and special files",
			layers: [][]tf{{
				tf{name: "su", typ: tar.TypeReg, mode: 0o4755, uid: 0, gid: 0, body: "s"},
				tf{name: "sg", typ: tar.TypeReg, mode: 0o2711, uid: 1000, gid: 50, body: "g"},
				tf{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
				tf{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660, gid: 6},
				tf{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
			}},
			want: []layerfs.Entry{
				wImplicit("dev"),
				{Path: "dev/null", Type: layerfs.Char, Mode: 0o666},
				{Path: "dev/sda", Type: layerfs.Block, Mode: 0o660, GID: 6},
				wImplicit("run"),
				{Path: "run/fifo", Type: layerfs.FIFO, Mode: 0o600},
				{Path: "sg", Type: layerfs.Regular, Mode: 0o711 | fs.ModeSetgid, UID: 1000, GID: 50, Size: 1, Digest: sha("g")},
				{Path: "su", Type: layerfs.Regular, Mode: 0o755 | fs.ModeSetuid, Size: 1, Digest: sha("s")},
			},
		},
		{
			name: "duplicate entries in one layer: the last wins",
			layers: [][]tf{{
				file("a", "first"), file("a", "second"), dir("d/"), file("d/x", "x"), symlink("d", "elsewhere"),
			}},
			want: []layerfs.Entry{wFile("a", "second"), wSymlink("d", "elsewhere")},
		},
		{
			name: "hard links take their target's content",
			layers: [][]tf{{
				file("bin/a", "payload"), hardlink("bin/b", "bin/a"), hardlink("bin/c", "/bin/b"),
			}},
			want: []layerfs.Entry{
				wImplicit("bin"), wFile("bin/a", "payload"),
				wHardlink("bin/b", "bin/a", "payload"), wHardlink("bin/c", "bin/b", "payload"),
			},
		},
		{
			name: "hard link keeps the content it had when its target is rewritten or removed",
			layers: [][]tf{
				{file("a", "v1"), hardlink("b", "a"), file("c", "c"), hardlink("d", "c")},
				{file("a", "v2"), whiteout(".wh.c")},
			},
			want: []layerfs.Entry{wFile("a", "v2"), wHardlink("b", "a", "v1"), wHardlink("d", "c", "c")},
		},
		{
			name:   "hard link to a symlink is that symlink",
			layers: [][]tf{{symlink("s", "target"), hardlink("t", "s")}},
			want:   []layerfs.Entry{wSymlink("s", "target"), wSymlink("t", "target")},
		},
		{
			name: "hard links to missing targets, to directories, to themselves and in a loop are skipped",
			layers: [][]tf{{
				dir("d/"), hardlink("x", "missing"), hardlink("y", "d"), hardlink("z", "z"),
				hardlink("later", "after"), file("after", "a"), hardlink("p", "q"), hardlink("q", "p"),
			}},
			want: []layerfs.Entry{wFile("after", "a"), wDir("d")},
			wantSkipped: [][]layerfs.Skipped{{
				{Path: "x", Reason: layerfs.SkipLinkMissing, Detail: "missing"},
				{Path: "y", Reason: layerfs.SkipLinkDir, Detail: "d"},
				{Path: "z", Reason: layerfs.SkipLinkMissing, Detail: "z"},
				{Path: "later", Reason: layerfs.SkipLinkMissing, Detail: "after"},
				{Path: "p", Reason: layerfs.SkipLinkMissing, Detail: "q"},
				{Path: "q", Reason: layerfs.SkipLinkMissing, Detail: "p"},
			}},
		},
		{
			name: "entries below a symlink or a file are skipped, nothing is written through them",
			layers: [][]tf{
				{symlink("lib", "/etc"), file("f", "f")},
				{file("lib/passwd", "evil"), file("f/x", "x"), whiteout("lib/.wh.shadow")},
			},
			want: []layerfs.Entry{wFile("f", "f"), wSymlink("lib", "/etc")},
			wantSkipped: [][]layerfs.Skipped{nil, {
				{Path: "lib/passwd", Reason: layerfs.SkipParent, Detail: `"lib" is a symlink`},
				{Path: "f/x", Reason: layerfs.SkipParent, Detail: `"f" is a file`},
				{Path: "lib/.wh.shadow", Reason: layerfs.SkipParent, Detail: `"lib" is a symlink`},
			}},
		},
		{
			name: "aufs metadata and malformed whiteouts are skipped",
			layers: [][]tf{{
				file("a", "a"), dir(".wh..wh.plnk/"), whiteout(".wh."), whiteout("d/.wh.."),
			}},
			want: []layerfs.Entry{wFile("a", "a")},
			wantSkipped: [][]layerfs.Skipped{{
				{Path: ".wh..wh.plnk/", Reason: layerfs.SkipAufsMetadata},
				{Path: ".wh.", Reason: layerfs.SkipBadWhiteout},
				{Path: "d/.wh..", Reason: layerfs.SkipBadWhiteout},
			}},
		},
		{
			name: "names that escape the root are skipped; inner .. is resolved",
			layers: [][]tf{{
				file("../etc/passwd", "x"), file("a/../../b", "x"), file("ok/../c", "c"),
				hardlink("h", "../../etc/shadow"),
			}},
			want: []layerfs.Entry{wFile("c", "c")},
			wantSkipped: [][]layerfs.Skipped{{
				{Path: "../etc/passwd", Reason: layerfs.SkipEscapes},
				{Path: "a/../../b", Reason: layerfs.SkipEscapes},
				{Path: "h", Reason: layerfs.SkipLinkEscapes, Detail: `"../../etc/shadow"`},
			}},
		},
		{
			name:   "names that are not UTF-8 are kept as they are",
			layers: [][]tf{{file("caf\xe9", "latin1")}},
			want:   []layerfs.Entry{wFile("caf\xe9", "latin1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tree, stats := build(t, false, tt.layers...)
			got := entries(t, tree)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if tree.Len() != len(tt.want) {
				t.Errorf("Len() = %d, want %d", tree.Len(), len(tt.want))
			}
			var gotSkipped [][]layerfs.Skipped
			for _, s := range stats {
				gotSkipped = append(gotSkipped, s.Skipped)
			}
			wantSkipped := tt.wantSkipped
			for len(wantSkipped) < len(stats) {
				wantSkipped = append(wantSkipped, nil)
			}
			if diff := cmp.Diff(wantSkipped, gotSkipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyEStargz(t *testing.T) {
	t.Parallel()
	layer := tarLayer(t, file(".prefetch.landmark", "\xf0"), file("bin/app", "app"), file("stargz.index.json", "{}"), file("etc/stargz.index.json", "kept"))
	for _, tt := range []struct {
		estargz bool
		want    []layerfs.Entry
	}{
		{true, []layerfs.Entry{wImplicit("bin"), wFile("bin/app", "app"), wImplicit("etc"), wFile("etc/stargz.index.json", "kept")}},
		{false, []layerfs.Entry{
			wFile(".prefetch.landmark", "\xf0"), wImplicit("bin"), wFile("bin/app", "app"), wImplicit("etc"),
			wFile("etc/stargz.index.json", "kept"), wFile("stargz.index.json", "{}"),
		}},
	} {
		tree := layerfs.NewTree()
		if _, err := tree.Apply(t.Context(), bytes.NewReader(layer), layerfs.ApplyOptions{EStargz: tt.estargz}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, entries(t, tree)); diff != "" {
			t.Errorf("EStargz %v: tree (-want +got):\n%s", tt.estargz, diff)
		}
	}
}
