package imagediff_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imagediff"
	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/resolve"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// countingRegistry is an in-process registry that counts blob GETs by
// digest.
type countingRegistry struct {
	srv *httptest.Server

	mu    sync.Mutex
	blobs map[string]int
}

func newCountingRegistry(t *testing.T) *countingRegistry {
	t.Helper()
	cr := &countingRegistry{blobs: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	cr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, d, ok := strings.Cut(r.URL.Path, "/blobs/"); ok && r.Method == http.MethodGet {
			cr.mu.Lock()
			cr.blobs[d]++
			cr.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(cr.srv.Close)
	return cr
}

func (cr *countingRegistry) addr() string { return strings.TrimPrefix(cr.srv.URL, "http://") }

func (cr *countingRegistry) gets() map[string]int {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	out := map[string]int{}
	for k, v := range cr.blobs {
		out[k] = v
	}
	return out
}

func (cr *countingRegistry) reset() {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.blobs = map[string]int{}
}

func (cr *countingRegistry) push(t *testing.T, repoTag string, img v1.Image) digest.Digest {
	t.Helper()
	ref, err := name.ParseReference(cr.addr()+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing %s: %v", repoTag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(d.String())
}

func (cr *countingRegistry) pushIndex(t *testing.T, repoTag string, imgs map[string]v1.Image) digest.Digest {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	plats := make([]string, 0, len(imgs))
	for p := range imgs {
		plats = append(plats, p)
	}
	sort.Strings(plats)
	for _, p := range plats {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: imgs[p], Descriptor: v1.Descriptor{Platform: plat}})
	}
	ref, err := name.ParseReference(cr.addr()+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("pushing %s: %v", repoTag, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(d.String())
}

// layer is a gzip layer holding files (path → content), the same bytes
// every run.
func layer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, files[p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// image builds an OCI image from layers with cfg as its config.
func image(t *testing.T, cfg v1.Config, platform string, annotations map[string]string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer, History: v1.History{CreatedBy: "COPY " + mustDigest(t, l)[7:19] + " /"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	if annotations != nil {
		img = mutate.Annotations(img, annotations).(v1.Image)
	}
	return img
}

func mustDigest(t *testing.T, l v1.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// listingReader is a LayerReader that lists the files of each layer it
// is given: those of A's layers as removed, those of B's as added.
type listingReader struct {
	mu      sync.Mutex
	applied []string // digest and placements, in call order
	files   map[imagediff.Side][]string
}

func (lr *listingReader) ApplyLayer(_ context.Context, layer imagediff.Descriptor, at []imagediff.Placement, r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		names = append(names, h.Name)
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	where := layer.Digest.Encoded()[:12]
	for _, p := range at {
		where += " " + string(p.Side) + string(rune('0'+p.Index))
		lr.files[p.Side] = append(lr.files[p.Side], names...)
	}
	lr.applied = append(lr.applied, where)
	return nil
}

func (lr *listingReader) Result(context.Context, imagediff.Level) (*imagediff.Contents, error) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	g := map[string]*imagediff.FileGroup{}
	var s imagediff.FilesSummary
	for side, change := range map[imagediff.Side]string{imagediff.SideA: imagediff.Removed, imagediff.SideB: imagediff.Added} {
		for _, f := range lr.files[side] {
			dir, _, _ := strings.Cut(f, "/")
			if g[dir] == nil {
				g[dir] = &imagediff.FileGroup{Dir: dir}
			}
			g[dir].Changes = append(g[dir].Changes, imagediff.FileChange{Path: f, Change: change, Type: "file"})
			if change == imagediff.Added {
				s.Added++
			} else {
				s.Removed++
			}
		}
	}
	files := &imagediff.FilesDiff{Summary: s}
	for _, dir := range slices.Sorted(func(yield func(string) bool) {
		for k := range g {
			if !yield(k) {
				return
			}
		}
	}) {
		slices.SortFunc(g[dir].Changes, func(a, b imagediff.FileChange) int { return strings.Compare(a.Path+a.Change, b.Path+b.Change) })
		files.Groups = append(files.Groups, *g[dir])
	}
	return &imagediff.Contents{Files: files}, nil
}

func source(t *testing.T, r *resolve.Resolver, ref string) imagediff.Source {
	t.Helper()
	parsed, err := imageref.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return imagediff.NewRegistrySource(r, parsed, nil)
}

// golden compares got with testdata/name, or rewrites it with -update.
// The registry's address is replaced by REGISTRY.
func golden(t *testing.T, name string, got []byte, addr string) {
	t.Helper()
	got = bytes.ReplaceAll(got, []byte(addr), []byte("REGISTRY"))
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func newResolver(addr string) *resolve.Resolver {
	return resolve.New(resolve.WithAllowRegistry(addr), resolve.WithInsecureRegistry(addr), resolve.WithKeychain(authn.NewMultiKeychain()))
}

func TestDiff(t *testing.T) {
	t.Parallel()
	reg := newCountingRegistry(t)
	base1 := layer(t, map[string]string{"etc/os-release": "ID=debian\n", "usr/bin/sh": "shell"})
	base2 := layer(t, map[string]string{"usr/lib/libc.so": "libc"})
	app1 := layer(t, map[string]string{"app/server": "v1"})
	app2 := layer(t, map[string]string{"app/server": "v2", "app/static/index.html": "<html>"})
	extra := layer(t, map[string]string{"etc/app.conf": "debug=false"})
	otherBase := layer(t, map[string]string{"etc/os-release": "ID=alpine\n"})

	cfgA := v1.Config{
		Env:          []string{"PATH=/usr/bin", "GITHUB_TOKEN=ghp_old", "MODE=prod", "GONE=1"},
		Entrypoint:   []string{"/app/server"},
		Cmd:          []string{"--port", "8080"},
		User:         "app",
		WorkingDir:   "/app",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Labels:       map[string]string{"org.opencontainers.image.version": "1.0", "org.opencontainers.image.authors": "me"},
	}
	cfgB := v1.Config{
		Env:          []string{"PATH=/usr/local/bin:/usr/bin", "GITHUB_TOKEN=ghp_new", "MODE=prod", "DB_PASSWORD=hunter2"},
		Entrypoint:   []string{"/app/server"},
		Cmd:          []string{"--port", "9090"},
		User:         "65532",
		WorkingDir:   "/app",
		ExposedPorts: map[string]struct{}{"9090/tcp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
		Labels:       map[string]string{"org.opencontainers.image.version": "1.1", "org.opencontainers.image.authors": "me"},
		StopSignal:   "SIGTERM",
	}
	baseAnn := func(d string) map[string]string {
		return map[string]string{"org.opencontainers.image.base.name": "docker.io/library/debian:12", "org.opencontainers.image.base.digest": d}
	}

	a := reg.push(t, "app:1", image(t, cfgA, "linux/amd64", nil, base1, base2, app1))
	b := reg.push(t, "app:2", image(t, cfgB, "linux/amd64", nil, base1, base2, app2, extra))
	reg.push(t, "app:rebased", image(t, cfgA, "linux/amd64", baseAnn("sha256:2222"), otherBase, app1))
	reg.push(t, "app:based", image(t, cfgA, "linux/amd64", baseAnn("sha256:1111"), base1, base2, app1))
	// The same two layers above the base, in the other order.
	reg.push(t, "app:xy", image(t, cfgA, "linux/amd64", nil, base1, app1, extra))
	reg.push(t, "app:yx", image(t, cfgA, "linux/amd64", nil, base1, extra, app1))
	reg.pushIndex(t, "multi:1", map[string]v1.Image{
		"linux/amd64": image(t, cfgA, "linux/amd64", nil, base1, app1),
		"linux/arm64": image(t, cfgA, "linux/arm64", nil, base2, app1),
		"linux/386":   image(t, cfgA, "linux/386", nil, base2),
	})
	reg.pushIndex(t, "multi:2", map[string]v1.Image{
		"linux/amd64": image(t, cfgB, "linux/amd64", nil, base1, app2),
		"linux/arm64": image(t, cfgA, "linux/arm64", nil, base2, app1),
		"linux/s390x": image(t, cfgA, "linux/s390x", nil, base2),
	})
	_ = a
	_ = b

	host := &imagediff.Platform{OS: "linux", Architecture: "arm64"}
	layered := func(platform string) imagediff.LayerReader {
		return &listingReader{files: map[imagediff.Side][]string{}}
	}
	tests := []struct {
		name   string
		a, b   string
		opts   imagediff.Options
		golden string
		// wantFetched are the layers fetched, wantNever those that must
		// never be.
		wantFetched, wantNever []v1.Layer
	}{
		{
			name: "same base, new top layers", a: "app:1", b: "app:2",
			opts:        imagediff.Options{NewLayerReader: layered},
			golden:      "same-base.json",
			wantFetched: []v1.Layer{app1, app2, extra}, wantNever: []v1.Layer{base1, base2},
		},
		{
			name: "level layers fetches no layer", a: "app:1", b: "app:2",
			opts:      imagediff.Options{Level: imagediff.LevelLayers, NewLayerReader: layered},
			golden:    "level-layers.json",
			wantNever: []v1.Layer{base1, base2, app1, app2, extra},
		},
		{
			name: "level config", a: "app:1", b: "app:2",
			opts:      imagediff.Options{Level: imagediff.LevelConfig},
			golden:    "level-config.json",
			wantNever: []v1.Layer{base1, base2, app1, app2, extra},
		},
		{
			name: "base image changed", a: "app:based", b: "app:rebased",
			opts:   imagediff.Options{Level: imagediff.LevelLayers},
			golden: "base-changed.json",
		},
		{
			name: "layers in both above the prefix are fetched once", a: "app:xy", b: "app:yx",
			opts:        imagediff.Options{NewLayerReader: layered},
			golden:      "reordered.json",
			wantFetched: []v1.Layer{app1, extra}, wantNever: []v1.Layer{base1},
		},
		{
			name: "identical", a: "app:1", b: "app:1",
			opts:      imagediff.Options{NewLayerReader: layered},
			golden:    "identical.json",
			wantNever: []v1.Layer{base1, base2, app1},
		},
		{
			name: "index against index", a: "multi:1", b: "multi:2",
			opts:   imagediff.Options{Level: imagediff.LevelLayers, Host: host},
			golden: "index.json",
		},
		{
			name: "index against index, one platform", a: "multi:1", b: "multi:2",
			opts:   imagediff.Options{Level: imagediff.LevelLayers, Host: host, Platform: &imagediff.Platform{OS: "linux", Architecture: "amd64"}},
			golden: "index-platform.json",
		},
		{
			name: "image against index", a: "app:1", b: "multi:2",
			opts:   imagediff.Options{Level: imagediff.LevelLayers, Host: host},
			golden: "image-index.json",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the blob counts are the registry's.
			reg.reset()
			r := newResolver(reg.addr())
			defer r.Close()
			if tc.opts.Host == nil {
				tc.opts.Host = &imagediff.Platform{OS: "linux", Architecture: "amd64"}
			}
			rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/"+tc.a), source(t, r, reg.addr()+"/"+tc.b), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := imagediff.WriteJSON(&buf, rep); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, buf.Bytes(), reg.addr())

			gets := reg.gets()
			for _, l := range tc.wantNever {
				if n := gets[mustDigest(t, l)]; n != 0 {
					t.Errorf("layer %s fetched %d times, want never", mustDigest(t, l), n)
				}
			}
			for _, l := range tc.wantFetched {
				if n := gets[mustDigest(t, l)]; n != 1 {
					t.Errorf("layer %s fetched %d times, want once", mustDigest(t, l), n)
				}
			}
			var recorded int64
			for _, f := range rep.Fetched.Blobs {
				if f.Kind == imagediff.KindLayer {
					recorded++
				}
			}
			if want := int64(len(tc.wantFetched)); recorded != want {
				t.Errorf("report lists %d layers fetched, want %d", recorded, want)
			}
		})
	}
}

func TestDiffRenders(t *testing.T) {
	t.Parallel()
	reg := newCountingRegistry(t)
	base := layer(t, map[string]string{"etc/os-release": "ID=debian\n"})
	reg.push(t, "app:1", image(t, v1.Config{Env: []string{"A=1", "API_KEY=k1"}, Cmd: []string{"serve"}, Labels: map[string]string{"x": "\x1b[31mred"}}, "linux/amd64", nil, base, layer(t, map[string]string{"app/bin": "1"})))
	reg.push(t, "app:2", image(t, v1.Config{Env: []string{"A=2", "API_KEY=k2", "B=3"}, Cmd: []string{"serve", "--fast"}}, "linux/amd64", nil, base, layer(t, map[string]string{"app/bin": "2"})))
	r := newResolver(reg.addr())
	rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/app:1"), source(t, r, reg.addr()+"/app:2"),
		imagediff.Options{NewLayerReader: func(string) imagediff.LayerReader { return &listingReader{files: map[imagediff.Side][]string{}} }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		golden string
		write  func(io.Writer) error
	}{
		{"render.txt", func(w io.Writer) error { return imagediff.WriteText(w, rep, imagediff.TextOptions{}) }},
		{"render.color.txt", func(w io.Writer) error { return imagediff.WriteText(w, rep, imagediff.TextOptions{Color: true}) }},
		{"render.md", func(w io.Writer) error { return imagediff.WriteMarkdown(w, rep) }},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := tc.write(&buf); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), "k1") || strings.Contains(buf.String(), "k2") {
				t.Errorf("a secret-looking value is shown:\n%s", buf.String())
			}
			if strings.Contains(buf.String(), "\x1b[31mred") {
				t.Errorf("an escape sequence from a label reaches the output:\n%s", buf.String())
			}
			golden(t, tc.golden, buf.Bytes(), reg.addr())
		})
	}
}

func TestDiffErrors(t *testing.T) {
	t.Parallel()
	reg := newCountingRegistry(t)
	reg.pushIndex(t, "multi:1", map[string]v1.Image{"linux/amd64": image(t, v1.Config{}, "linux/amd64", nil, layer(t, map[string]string{"a": "1"}))})
	reg.pushIndex(t, "multi:2", map[string]v1.Image{"linux/arm64": image(t, v1.Config{}, "linux/arm64", nil, layer(t, map[string]string{"a": "1"}))})
	r := newResolver(reg.addr())
	tests := []struct {
		name  string
		a, b  string
		opts  imagediff.Options
		check func(error) bool
	}{
		{"no common platform", "multi:1", "multi:2", imagediff.Options{}, func(err error) bool { return errors.Is(err, imagediff.ErrPlatform) }},
		{"platform missing", "multi:1", "multi:1", imagediff.Options{Platform: &imagediff.Platform{OS: "linux", Architecture: "s390x"}}, func(err error) bool {
			var pe *imagediff.PlatformError
			return errors.As(err, &pe) && slices.Equal(pe.Available, []string{"linux/amd64"})
		}},
		{"image missing", "multi:1", "absent:1", imagediff.Options{}, func(err error) bool {
			return errors.Is(err, resolve.ErrNotFound) && strings.Contains(err.Error(), "absent:1")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/"+tc.a), source(t, r, reg.addr()+"/"+tc.b), tc.opts)
			if !tc.check(err) {
				t.Errorf("Diff = %v", err)
			}
		})
	}
}
