package layerfs_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
	"github.com/tagpin/tagpin/internal/registrytest"
)

func imageLayer(t *testing.T, zstd bool, entries ...tf) v1.Layer {
	t.Helper()
	raw := tarLayer(t, entries...)
	opts := []tarball.LayerOption{}
	if zstd {
		opts = append(opts, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pushPull pushes an image made of layers to the registry and pulls it
// back, so that the blobs read are the registry's.
func pushPull(t *testing.T, reg *registrytest.Registry, repoTag string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Ref(repoTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	return pulled
}

// applyImage applies the image's layers from index from on, reading the
// compressed blobs through Decompress.
func applyImage(t *testing.T, tree *layerfs.Tree, img v1.Image, from int) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers[from:] {
		mt, err := l.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		blob, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layerfs.Decompress(string(mt), blob)
		if err != nil {
			t.Fatalf("layer %d (%s): %v", from+i, mt, err)
		}
		if _, err := tree.Apply(t.Context(), rc, layerfs.ApplyOptions{}); err != nil {
			t.Fatalf("layer %d (%s): %v", from+i, mt, err)
		}
		rc.Close()
		blob.Close()
	}
}

// TestRealImages builds two images sharing a base layer with
// go-containerregistry, pushes them to the in-process registry, reads
// their layers back (gzip and zstd) and diffs them: as final trees, and
// as overlays of their top layers only.
func TestRealImages(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	base := imageLayer(t, false,
		dir("etc/"), file("etc/os-release", "ID=debian\n"), file("etc/motd", "hi\n"),
		dir("usr/"), dir("usr/bin/"), file("usr/bin/app", "app v1"), symlink("usr/bin/sh", "dash"),
		dir("var/"), dir("var/cache/"), file("var/cache/a", "a"), file("var/cache/b", "b"),
	)
	imgA := pushPull(t, reg, "app:a", base, imageLayer(t, true,
		file("usr/bin/app", "app v2"), whiteout("etc/.wh.motd"),
	))
	imgB := pushPull(t, reg, "app:b", base, imageLayer(t, false,
		file("usr/bin/app", "app v3"), dir("var/cache/"), tf{name: "var/cache/.wh..wh..opq", typ: '0'}, file("var/cache/c", "c"),
	), imageLayer(t, true, file("opt/new", "n")))

	// Read once through Uncompressed too: the same tree.
	fullA := layerfs.NewTree()
	applyImage(t, fullA, imgA, 0)
	viaUncompressed := layerfs.NewTree()
	layers, err := imgA.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := viaUncompressed.Apply(t.Context(), rc, layerfs.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if diff := cmp.Diff(entries(t, fullA), entries(t, viaUncompressed)); diff != "" {
		t.Errorf("Compressed+Decompress and Uncompressed differ (-want +got):\n%s", diff)
	}

	fullB := layerfs.NewTree()
	applyImage(t, fullB, imgB, 0)
	want := []layerfs.Change{
		{Path: "etc/motd", Kind: layerfs.Added, After: ptr(wFile("etc/motd", "hi\n"))},
		{Path: "opt", Kind: layerfs.Added, After: ptr(wImplicit("opt"))},
		{Path: "opt/new", Kind: layerfs.Added, After: ptr(wFile("opt/new", "n"))},
		{
			Path: "usr/bin/app", Kind: layerfs.Changed, Before: ptr(wFile("usr/bin/app", "app v2")),
			After: ptr(wFile("usr/bin/app", "app v3")), Fields: []string{"content"},
		},
		{Path: "var/cache/a", Kind: layerfs.Removed, Before: ptr(wFile("var/cache/a", "a"))},
		{Path: "var/cache/b", Kind: layerfs.Removed, Before: ptr(wFile("var/cache/b", "b"))},
		{Path: "var/cache/c", Kind: layerfs.Added, After: ptr(wFile("var/cache/c", "c"))},
	}
	if diff := cmp.Diff(want, layerfs.Diff(fullA, fullB, layerfs.DiffOptions{})); diff != "" {
		t.Errorf("Diff of final trees (-want +got):\n%s", diff)
	}

	// The shared base layer is never read: overlays of the top layers.
	overA, overB := layerfs.NewOverlay(), layerfs.NewOverlay()
	applyImage(t, overA, imgA, 1)
	applyImage(t, overB, imgB, 1)
	wantOver := []layerfs.Change{
		{Path: "etc/motd", Kind: layerfs.Added, BaseUnknown: true},
		{Path: "opt/new", Kind: layerfs.Added, After: ptr(wFile("opt/new", "n")), BaseUnknown: true},
		{
			Path: "usr/bin/app", Kind: layerfs.Changed, Before: ptr(wFile("usr/bin/app", "app v2")),
			After: ptr(wFile("usr/bin/app", "app v3")), Fields: []string{"content"},
		},
		{Path: "var/cache", Kind: layerfs.Changed, After: ptr(opaque(wDir("var/cache"))), BaseUnknown: true},
		{Path: "var/cache/c", Kind: layerfs.Added, After: ptr(wFile("var/cache/c", "c")), BaseUnknown: true},
	}
	if diff := cmp.Diff(wantOver, layerfs.Diff(overA, overB, layerfs.DiffOptions{})); diff != "" {
		t.Errorf("Diff of overlays (-want +got):\n%s", diff)
	}
}
