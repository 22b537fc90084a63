package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// header is what a test compares of a tar header.
type header struct {
	Name     string
	Typeflag byte
	Mode     int64
	UID, GID int
	Size     int64
	ModTime  time.Time
	Uname    string
	Gname    string
}

func readHeaders(t *testing.T, b []byte) []header {
	t.Helper()
	var got []header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatalf("reading the tar: %v", err)
		}
		got = append(got, header{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.ModTime.UTC(), h.Uname, h.Gname})
	}
}

func TestLayerTar(t *testing.T) {
	t.Parallel()
	mtime := time.Unix(1700000000, 0).UTC()
	entries := []entry{
		{path: "/usr/local/bin/tagpin", mode: 0o755, data: []byte("binary")},
		{path: "/tmp", dir: true, mode: 0o1777},
		{path: "/home/nonroot", dir: true, mode: 0o700, uid: 65532, gid: 65532},
		{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0::/:/sbin/nologin\n")},
	}
	want := []header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 28, ModTime: mtime},
		{Name: "home/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "home/nonroot/", Typeflag: tar.TypeDir, Mode: 0o700, UID: 65532, GID: 65532, ModTime: mtime},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: mtime},
		{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "usr/local/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "usr/local/bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "usr/local/bin/tagpin", Typeflag: tar.TypeReg, Mode: 0o755, Size: 6, ModTime: mtime},
	}
	var first bytes.Buffer
	if err := layerTar(&first, entries, mtime); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, readHeaders(t, first.Bytes())); diff != "" {
		t.Errorf("tar headers (-want +got):\n%s", diff)
	}

	// The same entries in another order give the same bytes.
	reversed := []entry{entries[3], entries[2], entries[1], entries[0]}
	var second bytes.Buffer
	if err := layerTar(&second, reversed, mtime); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("the tar of the same entries in another order differs")
	}
}

func TestLayerTarRefusesBadEntries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"relative path", []entry{{path: "etc/passwd"}}, `"etc/passwd": want an absolute path`},
		{"root", []entry{{path: "/", dir: true}}, `"/": want an absolute path below /`},
		{"listed twice", []entry{{path: "/a"}, {path: "/b/../a"}}, `"/a" is listed twice`},
		{"file with children", []entry{{path: "/a"}, {path: "/a/b"}}, `"/a" is a file but other entries are below it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := layerTar(io.Discard, tt.entries, time.Unix(0, 0))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("layerTar() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestNewLayerIsReproducible: compression adds nothing that varies.
func TestNewLayerIsReproducible(t *testing.T) {
	t.Parallel()
	mtime := time.Unix(1700000000, 0)
	digest := func() string {
		l, err := newLayer(baseEntries([]byte("-----BEGIN CERTIFICATE-----\n")), mtime)
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if a, b := digest(), digest(); a != b {
		t.Errorf("two layers of the same entries: digests %s and %s", a, b)
	}
}
