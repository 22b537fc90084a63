package layerfs_test

import (
	"archive/tar"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

// TestDiffFull compares final trees (NewTree) of two images.
func TestDiffFull(t *testing.T) {
	t.Parallel()
	base := []tf{
		dir("etc/"), file("etc/a", "aaaa"), file("etc/b", "bbbb"), symlink("etc/l", "a"),
		dir("usr/"), dir("usr/lib/"), file("usr/lib/x", "x"), file("usr/lib/y", "y"),
	}
	tests := []struct {
		name  string
		a, b  [][]tf
		scope func(string) bool
		want  []layerfs.Change
	}{
		{
			name: "identical",
			a:    [][]tf{base},
			b:    [][]tf{base},
		},
		{
			name: "the same bytes rewritten by a new layer, with another mtime, are no change",
			a:    [][]tf{base},
			b:    [][]tf{base, {tf{name: "etc/a", typ: tar.TypeReg, mode: 0o644, body: "aaaa", mtime: 1_700_000_000}}},
		},
		{
			name: "content changed, same size",
			a:    [][]tf{base},
			b:    [][]tf{base, {file("etc/a", "AAAA")}},
			want: []layerfs.Change{{
				Path: "etc/a", Kind: layerfs.Changed, Before: ptr(wFile("etc/a", "aaaa")), After: ptr(wFile("etc/a", "AAAA")),
				Fields: []string{"content"},
			}},
		},
		{
			name: "mode, owner, size, link",
			a:    [][]tf{base},
			b: [][]tf{base, {
				tf{name: "etc/a", typ: tar.TypeReg, mode: 0o600, uid: 1, gid: 2, body: "aaaa"},
				file("etc/b", "bbbbbb"), symlink("etc/l", "b"),
			}},
			want: []layerfs.Change{
				{
					Path: "etc/a", Kind: layerfs.Changed, Before: ptr(wFile("etc/a", "aaaa")),
					After:  &layerfs.Entry{Path: "etc/a", Type: layerfs.Regular, Mode: 0o600, UID: 1, GID: 2, Size: 4, Digest: sha("aaaa")},
					Fields: []string{"mode", "uid", "gid"},
				},
				{
					Path: "etc/b", Kind: layerfs.Changed, Before: ptr(wFile("etc/b", "bbbb")), After: ptr(wFile("etc/b", "bbbbbb")),
					Fields: []string{"size", "content"},
				},
				{
					Path: "etc/l", Kind: layerfs.Changed, Before: ptr(wSymlink("etc/l", "a")), After: ptr(wSymlink("etc/l", "b")),
					Fields: []string{"link"},
				},
			},
		},
		{
			name: "added and removed, a directory with its entries, in path order",
			a:    [][]tf{base},
			b:    [][]tf{base, {whiteout(".wh.usr"), file("opt/app", "app"), file("etc-x", "x")}},
			want: []layerfs.Change{
				{Path: "etc-x", Kind: layerfs.Added, After: ptr(wFile("etc-x", "x"))},
				{Path: "opt", Kind: layerfs.Added, After: ptr(wImplicit("opt"))},
				{Path: "opt/app", Kind: layerfs.Added, After: ptr(wFile("opt/app", "app"))},
				{Path: "usr", Kind: layerfs.Removed, Before: ptr(wDir("usr"))},
				{Path: "usr/lib", Kind: layerfs.Removed, Before: ptr(wDir("usr/lib"))},
				{Path: "usr/lib/x", Kind: layerfs.Removed, Before: ptr(wFile("usr/lib/x", "x"))},
				{Path: "usr/lib/y", Kind: layerfs.Removed, Before: ptr(wFile("usr/lib/y", "y"))},
			},
		},
		{
			name: "a file becomes a directory",
			a:    [][]tf{base},
			b:    [][]tf{base, {dir("etc/a/")}},
			want: []layerfs.Change{{
				Path: "etc/a", Kind: layerfs.Changed, Before: ptr(wFile("etc/a", "aaaa")), After: ptr(wDir("etc/a")),
				Fields: []string{"type", "mode", "size", "content"},
			}},
		},
		{
			name: "a file becomes a hard link to the same content",
			a:    [][]tf{base},
			b:    [][]tf{base, {hardlink("etc/b", "etc/a"), file("etc/a", "bbbb")}},
			want: []layerfs.Change{
				{
					Path: "etc/a", Kind: layerfs.Changed, Before: ptr(wFile("etc/a", "aaaa")), After: ptr(wFile("etc/a", "bbbb")),
					Fields: []string{"content"},
				},
				{
					Path: "etc/b", Kind: layerfs.Changed, Before: ptr(wFile("etc/b", "bbbb")), After: ptr(wHardlink("etc/b", "etc/a", "aaaa")),
					Fields: []string{"type", "link", "content"},
				},
			},
		},
		{
			name:  "scope",
			a:     [][]tf{base},
			b:     [][]tf{base, {file("etc/a", "AAAA"), file("usr/lib/x", "X")}},
			scope: func(p string) bool { return strings.HasPrefix(p, "usr/") },
			want: []layerfs.Change{{
				Path: "usr/lib/x", Kind: layerfs.Changed, Before: ptr(wFile("usr/lib/x", "x")), After: ptr(wFile("usr/lib/x", "X")),
				Fields: []string{"content"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := build(t, false, tt.a...)
			b, _ := build(t, false, tt.b...)
			got := layerfs.Diff(a, b, layerfs.DiffOptions{Scope: tt.scope})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDiffOverlay compares overlay trees: the top layers of two images
// over a base they share and Diff never sees.
func TestDiffOverlay(t *testing.T) {
	t.Parallel()
	opq := func(d string) tf { return tf{name: d + "/.wh..wh..opq", typ: tar.TypeReg} }
	tests := []struct {
		name string
		a, b []tf
		want []layerfs.Change
	}{
		{
			name: "a file on one side, the base on the other: removed, base unknown",
			a:    []tf{file("app", "1")},
			want: []layerfs.Change{{Path: "app", Kind: layerfs.Removed, Before: ptr(wFile("app", "1")), BaseUnknown: true}},
		},
		{
			name: "the base on one side, a file on the other: added, base unknown",
			b:    []tf{file("app", "1")},
			want: []layerfs.Change{{Path: "app", Kind: layerfs.Added, After: ptr(wFile("app", "1")), BaseUnknown: true}},
		},
		{
			name: "whited out on one side, the base on the other: added, base unknown",
			a:    []tf{whiteout(".wh.app")},
			want: []layerfs.Change{{Path: "app", Kind: layerfs.Added, BaseUnknown: true}},
		},
		{
			name: "the base on one side, whited out on the other: removed (was in a shared layer)",
			b:    []tf{whiteout(".wh.app")},
			want: []layerfs.Change{{Path: "app", Kind: layerfs.Removed, BaseUnknown: true}},
		},
		{
			name: "whited out on both sides: absent in both",
			a:    []tf{whiteout(".wh.app")},
			b:    []tf{whiteout(".wh.app")},
		},
		{
			name: "a file on one side, whited out on the other: removed",
			a:    []tf{file("app", "1")},
			b:    []tf{whiteout(".wh.app")},
			want: []layerfs.Change{{Path: "app", Kind: layerfs.Removed, Before: ptr(wFile("app", "1"))}},
		},
		{
			name: "whited out on one side, a file on the other: added",
			a:    []tf{whiteout(".wh.app")},
			b:    []tf{file("app", "1")},
			want: []layerfs.Change{{Path: "app", Kind: layerfs.Added, After: ptr(wFile("app", "1"))}},
		},
		{
			name: "the same file on both sides: no change",
			a:    []tf{file("app", "1")},
			b:    []tf{file("app", "1")},
		},
		{
			name: "a file on both sides: compared",
			a:    []tf{file("app", "1")},
			b:    []tf{file("app", "2")},
			want: []layerfs.Change{{
				Path: "app", Kind: layerfs.Changed, Before: ptr(wFile("app", "1")), After: ptr(wFile("app", "2")),
				Fields: []string{"content"},
			}},
		},
		{
			name: "directories against the base are not compared, their entries are",
			a:    []tf{dir("usr/"), file("usr/bin/tool", "t")},
			want: []layerfs.Change{{Path: "usr/bin/tool", Kind: layerfs.Removed, Before: ptr(wFile("usr/bin/tool", "t")), BaseUnknown: true}},
		},
		{
			name: "an implicit directory against a directory: its attributes are the base's, not compared",
			a:    []tf{file("srv/x", "x")},
			b:    []tf{{name: "srv/", typ: tar.TypeDir, mode: 0o700, uid: 9}, file("srv/x", "x")},
		},
		{
			name: "an opaque directory against the base: changed, base unknown",
			a:    []tf{dir("d/"), opq("d")},
			want: []layerfs.Change{{Path: "d", Kind: layerfs.Changed, Before: ptr(opaque(wDir("d"))), BaseUnknown: true}},
		},
		{
			name: "an opaque directory against a directory: changed (opaque), base unknown",
			a:    []tf{dir("d/"), opq("d")},
			b:    []tf{dir("d/")},
			want: []layerfs.Change{{
				Path: "d", Kind: layerfs.Changed, Before: ptr(opaque(wDir("d"))), After: ptr(wDir("d")),
				Fields: []string{"opaque"}, BaseUnknown: true,
			}},
		},
		{
			name: "entries below an opaque directory are absent on that side",
			a:    []tf{dir("d/"), opq("d"), file("d/x", "x")},
			b:    []tf{dir("d/"), opq("d"), file("d/y", "y")},
			want: []layerfs.Change{
				{Path: "d/x", Kind: layerfs.Removed, Before: ptr(wFile("d/x", "x"))},
				{Path: "d/y", Kind: layerfs.Added, After: ptr(wFile("d/y", "y"))},
			},
		},
		{
			name: "a hard link to a base entry: its type and content are the base's, base unknown",
			a:    []tf{hardlink("l", "t")},
			b:    []tf{symlink("l", "t")},
			want: []layerfs.Change{{
				Path: "l", Kind: layerfs.Changed,
				Before: &layerfs.Entry{Path: "l", Type: layerfs.Hardlink, Mode: 0o644, Link: "t"}, After: ptr(wSymlink("l", "t")),
				Fields: []string{"type", "mode"}, BaseUnknown: true,
			}},
		},
		{
			name: "a hard link to a base entry against a whiteout: added, base unknown (the base entry may be a directory)",
			a:    []tf{whiteout(".wh.l")},
			b:    []tf{hardlink("l", "t")},
			want: []layerfs.Change{{
				Path: "l", Kind: layerfs.Added, After: &layerfs.Entry{Path: "l", Type: layerfs.Hardlink, Mode: 0o644, Link: "t"},
				BaseUnknown: true,
			}},
		},
		{
			name: "a whited-out directory against a new one",
			a:    []tf{whiteout(".wh.d")},
			b:    []tf{file("d/x", "x")},
			want: []layerfs.Change{
				{Path: "d", Kind: layerfs.Added, After: ptr(wImplicit("d"))},
				{Path: "d/x", Kind: layerfs.Added, After: ptr(wFile("d/x", "x"))},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := build(t, true, tt.a)
			b, _ := build(t, true, tt.b)
			got := layerfs.Diff(a, b, layerfs.DiffOptions{})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	a, _ := build(t, false, []tf{
		file("etc/a", "aaaa"), file("etc/b", "bb"), file("usr/bin/x", "xxxxxxxx"), file("root", "r"),
	})
	b, _ := build(t, false, []tf{
		file("etc/a", "aaaaaa"), file("usr/bin/x", "xxxxxxxx"), hardlink("usr/bin/y", "usr/bin/x"), file("var/log", "123"),
	})
	got := layerfs.Summarize(layerfs.Diff(a, b, layerfs.DiffOptions{}))
	want := layerfs.Summary{
		Counts: layerfs.Counts{Added: 3, Removed: 2, Changed: 1, AddedBytes: 3, RemovedBytes: 3, SizeDelta: 2},
		Dirs: []layerfs.DirSummary{
			{Dir: "etc", Counts: layerfs.Counts{Removed: 1, Changed: 1, RemovedBytes: 2, SizeDelta: 0}},
			{Dir: "root", Counts: layerfs.Counts{Removed: 1, RemovedBytes: 1, SizeDelta: -1}},
			{Dir: "usr", Counts: layerfs.Counts{Added: 1}},
			{Dir: "var", Counts: layerfs.Counts{Added: 2, AddedBytes: 3, SizeDelta: 3}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

// TestConcurrentReaders: Walk, Get and Diff of finished trees may run at
// once (run with -race).
func TestConcurrentReaders(t *testing.T) {
	t.Parallel()
	a, _ := build(t, false, []tf{file("a", "1"), file("d/b", "2")})
	b, _ := build(t, true, []tf{file("a", "2"), whiteout("d/.wh.b")})
	done := make(chan int)
	for range 4 {
		go func() {
			n := len(layerfs.Diff(a, b, layerfs.DiffOptions{}))
			_ = a.Walk(func(e *layerfs.Entry) error { _, _ = b.Get(e.Path); return nil })
			done <- n
		}()
	}
	for range 4 {
		if n := <-done; n != 2 {
			t.Errorf("Diff: %d changes, want 2", n)
		}
	}
}
