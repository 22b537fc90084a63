package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user, as in distroless's nonroot images.
const (
	nonrootID   = 65532
	nonrootName = "nonroot"
	nonrootHome = "/home/nonroot"
	// binaryPath is where tagpin is, the image's entrypoint.
	binaryPath = "/usr/local/bin/tagpin"
	// caBundlePath is where Go's crypto/x509 looks first on Linux.
	caBundlePath = "/etc/ssl/certs/ca-certificates.crt"
)

// entry is one file or directory of a layer.
type entry struct {
	path     string // absolute, without a trailing slash
	dir      bool
	mode     int64 // permission bits, with the sticky bit (0o1000) where set
	uid, gid int
	data     []byte // a file's content
}

// baseEntries are the files a static Go binary needs: users, name
// resolution order, the CA bundle, a home and /tmp.
func baseEntries(caBundle []byte) []entry {
	return []entry{
		{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			fmt.Sprintf("%s:x:%d:%d:%s:%s:/sbin/nologin\n", nonrootName, nonrootID, nonrootID, nonrootName, nonrootHome))},
		{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\n" +
			fmt.Sprintf("%s:x:%d:\n", nonrootName, nonrootID))},
		// Without it Go's resolver would ask DNS before /etc/hosts.
		{path: "/etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{path: caBundlePath, mode: 0o644, data: caBundle},
		{path: "/root", dir: true, mode: 0o700},
		{path: nonrootHome, dir: true, mode: 0o700, uid: nonrootID, gid: nonrootID},
		{path: "/tmp", dir: true, mode: 0o1777},
	}
}

// binaryEntries is the layer holding tagpin.
func binaryEntries(binary []byte) []entry {
	return []entry{{path: binaryPath, mode: 0o755, data: binary}}
}

// layerTar writes entries as a tar stream in path order, parent
// directories first (added as root-owned 0755 when not listed), every
// timestamp mtime, no user or group names: the same entries always give
// the same bytes.
func layerTar(w io.Writer, entries []entry, mtime time.Time) error {
	byPath := map[string]entry{}
	for _, e := range entries {
		p := path.Clean(e.path)
		if !path.IsAbs(p) || p == "/" {
			return fmt.Errorf("layer entry %q: want an absolute path below /", e.path)
		}
		if _, dup := byPath[p]; dup {
			return fmt.Errorf("layer entry %q is listed twice", p)
		}
		e.path = p
		byPath[p] = e
	}
	for p := range byPath {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = entry{path: d, dir: true, mode: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p, e := range byPath {
		if !e.dir && hasChildren(byPath, p) {
			return fmt.Errorf("layer entry %q is a file but other entries are below it", p)
		}
		paths = append(paths, p)
	}
	// Byte order puts a directory before what it holds ("/etc" < "/etc/x").
	slices.Sort(paths)

	tw := tar.NewWriter(w)
	for _, p := range paths {
		e := byPath[p]
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if e.dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing %s into the layer: %w", p, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("writing %s into the layer: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("closing the layer: %w", err)
	}
	return nil
}

func hasChildren(byPath map[string]entry, dir string) bool {
	for p := range byPath {
		if strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// newLayer returns entries as a gzip-compressed OCI layer, compressed once
// and kept in memory. gzip writes no name and a zero time in its header,
// so the compressed bytes depend only on the tar and the Go version.
func newLayer(entries []entry, mtime time.Time) (v1.Layer, error) {
	var compressed bytes.Buffer
	zw := gzip.NewWriter(&compressed)
	if err := layerTar(zw, entries, mtime); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing the layer: %w", err)
	}
	b := compressed.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
