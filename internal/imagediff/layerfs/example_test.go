package layerfs_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

// gzipLayer writes a small gzip-compressed layer: name → content, a name
// starting with ".wh." is a whiteout.
func gzipLayer(files map[string]string, order ...string) io.Reader {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range order {
		body := files[name]
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	_ = zw.Close()
	return &buf
}

// Two images share a base layer; only their top layers are read, into
// overlays, and compared.
func Example() {
	ctx := context.Background()
	apply := func(tree *layerfs.Tree, blob io.Reader) {
		rc, err := layerfs.Decompress(layerfs.MediaTypeOCILayerGzip, blob)
		if err != nil {
			panic(err)
		}
		defer rc.Close()
		if _, err := tree.Apply(ctx, rc, layerfs.ApplyOptions{}); err != nil {
			panic(err)
		}
	}
	a, b := layerfs.NewOverlay(), layerfs.NewOverlay()
	apply(a, gzipLayer(map[string]string{"app/main": "v1", "app/config": "x=1"}, "app/main", "app/config"))
	apply(b, gzipLayer(map[string]string{"app/main": "v2", "app/config": "x=1", "etc/.wh.motd": ""}, "app/main", "app/config", "etc/.wh.motd"))

	changes := layerfs.Diff(a, b, layerfs.DiffOptions{})
	for _, c := range changes {
		fmt.Println(c.Kind, "/"+c.Path, c.Fields, "base unknown:", c.BaseUnknown)
	}
	s := layerfs.Summarize(changes)
	fmt.Printf("%d added, %d removed, %d changed\n", s.Added, s.Removed, s.Changed)
	// Output:
	// changed /app/main [content] base unknown: false
	// removed /etc/motd [] base unknown: true
	// 0 added, 1 removed, 1 changed
}
