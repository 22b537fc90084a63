package layerfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"testing"
	"time"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

// tf is one tar entry of a test layer. typ defaults to a regular file
// (a directory when the name ends in "/").
type tf struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
	mtime    int64
}

func file(name, body string) tf { return tf{name: name, typ: tar.TypeReg, mode: 0o644, body: body} }
func dir(name string) tf        { return tf{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) tf {
	return tf{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func hardlink(name, target string) tf {
	return tf{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}
func whiteout(name string) tf { return tf{name: name, typ: tar.TypeReg, mode: 0o644} }

// tarLayer writes entries as an uncompressed tar.
func tarLayer(t testing.TB, entries ...tf) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.name,
			Typeflag: e.typ,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			Linkname: e.link,
			ModTime:  time.Unix(e.mtime, 0),
			Format:   tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("writing header %q: %v", e.name, err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

// build applies the layers to a new tree (an overlay when overlay is
// true) and fails the test on an error.
func build(t testing.TB, overlay bool, layers ...[]tf) (*layerfs.Tree, []layerfs.LayerStats) {
	t.Helper()
	tree := layerfs.NewTree()
	if overlay {
		tree = layerfs.NewOverlay()
	}
	var stats []layerfs.LayerStats
	for i, l := range layers {
		st, err := tree.Apply(context.Background(), bytes.NewReader(tarLayer(t, l...)), layerfs.ApplyOptions{})
		if err != nil {
			t.Fatalf("applying layer %d: %v", i, err)
		}
		stats = append(stats, st)
	}
	return tree, stats
}

func entries(t testing.TB, tree *layerfs.Tree) []layerfs.Entry {
	t.Helper()
	var out []layerfs.Entry
	if err := tree.Walk(func(e *layerfs.Entry) error {
		out = append(out, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Shorthands for expected entries.
func wFile(p, body string) layerfs.Entry {
	return layerfs.Entry{Path: p, Type: layerfs.Regular, Mode: 0o644, Size: int64(len(body)), Digest: sha(body)}
}

func wDir(p string) layerfs.Entry {
	return layerfs.Entry{Path: p, Type: layerfs.Dir, Mode: 0o755}
}

func wImplicit(p string) layerfs.Entry {
	e := wDir(p)
	e.Implicit = true
	return e
}

func wSymlink(p, target string) layerfs.Entry {
	return layerfs.Entry{Path: p, Type: layerfs.Symlink, Mode: fs.FileMode(0o777), Link: target}
}

func wHardlink(p, target, body string) layerfs.Entry {
	return layerfs.Entry{Path: p, Type: layerfs.Hardlink, Mode: 0o644, Size: int64(len(body)), Digest: sha(body), Link: target}
}

func wWhiteout(p string) layerfs.Entry { return layerfs.Entry{Path: p, Type: layerfs.Whiteout} }

func opaque(e layerfs.Entry) layerfs.Entry {
	e.Opaque = true
	return e
}
