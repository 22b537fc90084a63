package cli_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/registrytest"
)

// contentReport is the part of tagpin diff -o json the cache test reads.
type contentReport struct {
	Images []struct {
		Packages struct {
			Databases []struct {
				Path     string
				Upgraded []struct{ Name, From, To string }
			}
		}
	}
	Fetched struct {
		Blobs []struct {
			Digest digest.Digest
			Kind   string
			Size   int64
			Cached bool
		}
		Bytes int64
	}
}

// tarLayer is a layer of regular files (path, content pairs).
func tarLayer(t *testing.T, files ...string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, files[i+1]); err != nil {
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

func pushLayers(t *testing.T, reg *registrytest.Registry, repoTag string, layers ...v1.Layer) {
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
		t.Fatalf("pushing %s: %v", repoTag, err)
	}
}

// TestDiffLayerCache runs tagpin diff twice with the same cache: the
// second run downloads no layer, and its report says each came from the
// cache.
func TestDiffLayerCache(t *testing.T) {
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	reg := registrytest.New(t)
	status := func(version string) string {
		return "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: " + version + "\n\n"
	}
	base := tarLayer(t, "var/lib/dpkg/status", status("2.36-9+deb12u4"), "etc/os-release", "ID=debian\n")
	pushLayers(t, reg, "app:1", base, tarLayer(t, "app/server", "v1"))
	// B's layers change the status: the shared base layer is read too.
	pushLayers(t, reg, "app:2", base, tarLayer(t, "app/server", "v2", "var/lib/dpkg/status", status("2.36-9+deb12u7")))
	args := append([]string{"diff", "-o", "json", reg.Ref("app:1"), reg.Ref("app:2")}, regFlags(reg)...)

	run := func() (contentReport, int) {
		t.Helper()
		reg.ResetCounts()
		out, errOut, code := tagpin(t, "", args...)
		if code != 0 {
			t.Fatalf("diff: exit %d: %s", code, errOut)
		}
		var rep contentReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		return rep, reg.Counts().Other
	}
	layers := func(rep contentReport) (all []digest.Digest, cached int) {
		for _, b := range rep.Fetched.Blobs {
			if b.Kind == "layer" {
				all = append(all, b.Digest)
				if b.Cached {
					cached++
				}
			}
		}
		return all, cached
	}

	first, otherFirst := run()
	firstLayers, cached := layers(first)
	if len(firstLayers) != 3 || cached != 0 {
		t.Fatalf("first run: layers %v, %d from the cache; want the 3 layers, none cached", firstLayers, cached)
	}
	if got := first.Images[0].Packages.Databases; len(got) != 1 || len(got[0].Upgraded) != 1 || got[0].Upgraded[0].To != "2.36-9+deb12u7" {
		t.Errorf("first run: packages %+v, want libc6 upgraded", got)
	}
	if entries, err := os.ReadDir(filepath.Join(cacheHome, "tagpin", "blobs")); err != nil || len(entries) == 0 {
		t.Errorf("cache %s: %v entries, %v", filepath.Join(cacheHome, "tagpin", "blobs"), len(entries), err)
	}

	second, otherSecond := run()
	secondLayers, cached := layers(second)
	if diff := cmp.Diff(firstLayers, secondLayers); diff != "" {
		t.Errorf("second run's layers (-first +second):\n%s", diff)
	}
	if cached != len(secondLayers) {
		t.Errorf("second run: %d of %d layers from the cache, want all", cached, len(secondLayers))
	}
	if diff := cmp.Diff(first.Images, second.Images); diff != "" {
		t.Errorf("second run's report (-first +second):\n%s", diff)
	}
	// Blob GETs and pings: the same requests less one GET per layer.
	if otherSecond != otherFirst-len(firstLayers) {
		t.Errorf("second run made %d blob and ping requests, want %d (the first run's %d less %d layers)", otherSecond, otherFirst-len(firstLayers), otherFirst, len(firstLayers))
	}
	var layerBytes int64
	for _, b := range first.Fetched.Blobs {
		if b.Kind == "layer" {
			layerBytes += b.Size
		}
	}
	if want := first.Fetched.Bytes - layerBytes; second.Fetched.Bytes != want {
		t.Errorf("second run downloaded %d bytes, want %d (the first run's %d less %d of layers)", second.Fetched.Bytes, want, first.Fetched.Bytes, layerBytes)
	}
}
