package layerfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
)

// rawTar writes headers as given (PAX records included), bodies of the
// given sizes filled with zeros.
func rawTar(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing header %q: %v", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			if _, err := io.CopyN(tw, zeros{}, h.Size); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// paxWithNUL writes a tar whose PAX path record holds a NUL byte, which
// archive/tar's writer refuses to write.
func paxWithNUL(t testing.TB) []byte {
	t.Helper()
	b := rawTar(t, &tar.Header{Name: "n_ulé", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX})
	i := bytes.Index(b, []byte("path=n_ul"))
	if i < 0 {
		t.Fatal("no PAX path record")
	}
	b[i+len("path=n")] = 0
	return b
}

func TestApplyHostile(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("d/", 40) + "f"
	good := tarLayer(t, file("etc/a", "aaaa"), file("etc/b", strings.Repeat("b", 5000)))
	bomb := gzipBytes(t, rawTar(t, &tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8 << 20}))
	network := errors.New("connection reset")
	tests := []struct {
		name     string
		blob     []byte
		r        io.Reader // instead of blob
		gz       bool      // blob is gzip: go through Decompress
		limits   layerfs.Limits
		ctx      func() context.Context
		wantErr  error
		wantPath string
		wantLim  *layerfs.LimitError
		wantSkip []layerfs.Skipped
	}{
		{
			name: "tar cut inside a file", blob: good[:512+512+1024+100],
			wantErr: layerfs.ErrCorrupt, wantPath: "etc/b",
		},
		{
			name: "header garbage", blob: append(bytes.Repeat([]byte{0xa5}, 512), good...),
			wantErr: layerfs.ErrCorrupt,
		},
		{name: "NUL in a PAX path", blob: paxWithNUL(t), wantErr: layerfs.ErrCorrupt},
		{
			// etc/a and its implicit parent etc, then etc/b.
			name: "too many entries", blob: good, limits: layerfs.Limits{MaxEntries: 2},
			wantErr: layerfs.ErrLimit, wantPath: "etc/b",
			wantLim: &layerfs.LimitError{Limit: layerfs.LimitEntries, Max: 2},
		},
		{
			name: "a file larger than the limit", blob: good, limits: layerfs.Limits{MaxFileSize: 4096},
			wantErr: layerfs.ErrLimit, wantPath: "etc/b",
			wantLim: &layerfs.LimitError{Limit: layerfs.LimitFileSize, Max: 4096, Path: "etc/b"},
		},
		{
			name: "a decompression bomb", blob: bomb, gz: true, limits: layerfs.Limits{MaxLayerBytes: 1 << 20},
			wantErr: layerfs.ErrLimit, wantPath: "zeros",
			wantLim: &layerfs.LimitError{Limit: layerfs.LimitLayerBytes, Max: 1 << 20},
		},
		{
			name: "a layer of exactly the limit", blob: good, limits: layerfs.Limits{MaxLayerBytes: int64(len(good))},
		},
		{
			name: "gzip cut short", blob: bomb[:len(bomb)/2], gz: true,
			wantErr: layerfs.ErrCorrupt, wantPath: "zeros",
		},
		{
			name: "the blob stream fails", r: io.MultiReader(bytes.NewReader(good[:1700]), iotest.ErrReader(network)),
			wantErr: network, wantPath: "etc/b",
		},
		{
			name: "canceled", blob: good,
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantErr: context.Canceled,
		},
		{
			name: "skipped entries: long path, owner out of range, unknown type",
			blob: rawTar(t,
				&tar.Header{Name: long, Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX},
				&tar.Header{Name: "uid", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 1 << 40, Format: tar.FormatPAX},
				&tar.Header{Name: "vol", Typeflag: 'Z', Mode: 0o644},
			),
			limits: layerfs.Limits{MaxPathLen: 64},
			wantSkip: []layerfs.Skipped{
				{Path: long, Reason: layerfs.SkipPathTooLong, Detail: "81"},
				{Path: "uid", Reason: layerfs.SkipOwner, Detail: "1099511627776:0"},
				{Path: "vol", Reason: layerfs.SkipType, Detail: "'Z'"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			r := tt.r
			if r == nil {
				r = bytes.NewReader(tt.blob)
			}
			if tt.gz {
				rc, err := layerfs.Decompress(layerfs.MediaTypeOCILayerGzip, r)
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				r = rc
			}
			st, err := layerfs.NewTree().Apply(ctx, r, layerfs.ApplyOptions{Limits: tt.limits})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
			} else {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Apply: %v, want %v", err, tt.wantErr)
				}
				var le *layerfs.LayerError
				if !errors.As(err, &le) {
					t.Fatalf("Apply: %T, want *LayerError", err)
				}
				if le.Path != tt.wantPath || le.Layer != 0 {
					t.Errorf("LayerError at layer %d, path %q; want layer 0, path %q", le.Layer, le.Path, tt.wantPath)
				}
			}
			if tt.wantLim != nil {
				var lim *layerfs.LimitError
				if !errors.As(err, &lim) {
					t.Fatalf("Apply: %v, want a *LimitError", err)
				}
				if diff := cmp.Diff(tt.wantLim, lim); diff != "" {
					t.Errorf("LimitError (-want +got):\n%s", diff)
				}
			}
			if tt.limits.MaxLayerBytes > 0 && st.Bytes > tt.limits.MaxLayerBytes {
				t.Errorf("read %d bytes, more than the limit %d", st.Bytes, tt.limits.MaxLayerBytes)
			}
			if diff := cmp.Diff(tt.wantSkip, st.Skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLayerErrorNamesLayerAndPath: the second Apply of a tree is layer 1;
// a name that is not UTF-8 is quoted.
func TestLayerErrorNamesLayerAndPath(t *testing.T) {
	t.Parallel()
	tree, _ := build(t, false, []tf{file("a", "a")})
	bad := tarLayer(t, file("caf\xe9", strings.Repeat("x", 2000)))
	_, err := tree.Apply(context.Background(), bytes.NewReader(bad[:2500]), layerfs.ApplyOptions{})
	want := fmt.Sprintf("reading layer 1 at %q: corrupt layer: unexpected EOF", "caf\xe9")
	if err == nil || err.Error() != want {
		t.Errorf("Apply: %v, want %s", err, want)
	}
}

func TestInspect(t *testing.T) {
	t.Parallel()
	layer := tarLayer(t,
		file("var/lib/dpkg/status", "Package: a\nVersion: 1\n\nPackage: b\n"),
		file("usr/bin/tool", "ELF...."), hardlink("usr/bin/tool2", "usr/bin/tool"), file("etc/other", "o"),
	)
	var seen []string
	opts := layerfs.ApplyOptions{
		Want: func(e *layerfs.Entry) bool {
			seen = append(seen, e.Path)
			return e.Path != "etc/other"
		},
		Inspect: func(e *layerfs.Entry, r io.Reader) (any, error) {
			// Read part of the content only: the digest must still be the
			// whole file's.
			b := make([]byte, 4)
			n, err := io.ReadFull(r, b)
			if err != nil {
				return nil, err
			}
			return fmt.Sprintf("%s:%d:%s", e.Path, e.Size, b[:n]), nil
		},
	}
	tree := layerfs.NewTree()
	if _, err := tree.Apply(context.Background(), bytes.NewReader(layer), opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"var/lib/dpkg/status", "usr/bin/tool", "etc/other"}, seen); diff != "" {
		t.Errorf("Want called for (-want +got):\n%s", diff)
	}
	status := wFile("var/lib/dpkg/status", "Package: a\nVersion: 1\n\nPackage: b\n")
	status.Info = "var/lib/dpkg/status:34:Pack"
	tool := wFile("usr/bin/tool", "ELF....")
	tool.Info = "usr/bin/tool:7:ELF."
	tool2 := wHardlink("usr/bin/tool2", "usr/bin/tool", "ELF....")
	tool2.Info = tool.Info
	for _, want := range []layerfs.Entry{status, tool, tool2, wFile("etc/other", "o")} {
		got, ok := tree.Get(want.Path)
		if !ok {
			t.Errorf("Get(%q): missing", want.Path)
			continue
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Get(%q) (-want +got):\n%s", want.Path, diff)
		}
	}

	// An error of Inspect stops Apply and names the file.
	boom := errors.New("boom")
	opts.Inspect = func(*layerfs.Entry, io.Reader) (any, error) { return nil, boom }
	_, err := layerfs.NewTree().Apply(context.Background(), bytes.NewReader(layer), opts)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `inspecting "var/lib/dpkg/status"`) {
		t.Errorf("Apply: %v, want the Inspect error naming the file", err)
	}
}
