package blobcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// FuzzOpenDigest opens arbitrary digest text: it never panics, refuses
// what is not a sha256 or sha512 digest with a classified error, and
// writes nothing but dir/<algorithm>/<hex>.
func FuzzOpenDigest(f *testing.F) {
	f.Add("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", []byte("hello"))
	f.Add("sha512:9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043", []byte("hello"))
	f.Add("sha256:../../etc/passwd", []byte{})
	f.Add("sha384:x", []byte{})
	f.Add("sha256", []byte{})
	f.Fuzz(func(t *testing.T, text string, data []byte) {
		dir := t.TempDir()
		c, err := Open(dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		d := digest.Digest(text)
		fetch := func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		r, err := c.Open(t.Context(), d, int64(len(data)), fetch)
		if err != nil {
			if !errors.Is(err, ErrInvalidDigest) && !errors.Is(err, ErrUnsupportedAlgorithm) {
				t.Fatalf("Open(%q) error %v is not classified", text, err)
			}
			return
		}
		got, err := io.ReadAll(r)
		_ = r.Close()
		match := digest.Digest(text) == d.Algorithm().FromBytes(data)
		var de *DigestError
		if match && (err != nil || !bytes.Equal(got, data)) || !match && !errors.As(err, &de) {
			t.Fatalf("reading %q: %v (digest matches: %v)", text, err, match)
		}
		err = filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			if want := filepath.Join(dir, string(d.Algorithm()), d.Encoded()); !match || path != want {
				t.Errorf("file %s in the cache, want only %s (digest matches: %v)", path, want, match)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
