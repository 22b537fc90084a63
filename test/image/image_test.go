package image

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tagpin/tagpin/internal/imagetest"
	"github.com/tagpin/tagpin/internal/registrytest"
)

const (
	nonroot  = 65532
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
)

// platforms are what make image builds, in the index's order.
var platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
}

// elfMachine is the ELF machine of each architecture's binary.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// TestImage builds the image twice, once pushed to the Distribution
// registry and written to an OCI layout, once to another layout; checks
// the two are the same; then pulls the pushed one back by digest and
// checks what it holds, down to running its binary.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("image: skipped under -short: builds tagpin for linux/amd64 and linux/arm64 twice (minutes on a cold build cache) and pushes it to the Distribution server; run make test, or go test ./test/image without -short")
	}
	reg := registrytest.StartDistribution(t, registrytest.DistributionOptions{})
	repo := reg.Ref("tagpin")
	layoutA, layoutB := t.TempDir(), t.TempDir()

	first, err := imagetest.Build(t.Context(), imagetest.BuildOptions{Repo: repo, Layout: layoutA, Tags: []string{"latest"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first build:\n%s%s", first.Log, strings.Join(first.Lines, "\n"))
	second, err := imagetest.Build(t.Context(), imagetest.BuildOptions{Layout: layoutB})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reproducible", func(t *testing.T) {
		if first.Digest != second.Digest {
			t.Errorf("two builds of the same work tree: index digests %s and %s", first.Digest, second.Digest)
		}
		// Blob by blob, so that a failure says which layer or config differs.
		if diff := cmp.Diff(blobs(t, layoutA), blobs(t, layoutB)); diff != "" {
			t.Errorf("blobs of the two OCI layouts (-first +second):\n%s", diff)
		}
	})

	t.Run("printed references", func(t *testing.T) {
		d := first.Digest.String()
		want := []string{
			"oci:" + layoutA + ":" + first.Version + "@" + d,
			"oci:" + layoutA + ":latest@" + d,
			repo + ":" + first.Version + "@" + d,
			repo + ":latest@" + d,
		}
		if diff := cmp.Diff(want, first.Lines); diff != "" {
			t.Errorf("hack/image's output (-want +got):\n%s", diff)
		}
	})

	idx, err := remote.Index(first.Ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pulling %s back: %v", first.Ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	revision := gitHead(t)

	t.Run("index", func(t *testing.T) {
		if im.MediaType != types.OCIImageIndex {
			t.Errorf("index media type = %s, want %s", im.MediaType, types.OCIImageIndex)
		}
		var got []v1.Platform
		for _, m := range im.Manifests {
			if m.MediaType != types.OCIManifestSchema1 {
				t.Errorf("manifest %s: media type %s, want %s", m.Digest, m.MediaType, types.OCIManifestSchema1)
			}
			if m.Platform != nil {
				got = append(got, *m.Platform)
			}
		}
		if diff := cmp.Diff(platforms, got); diff != "" {
			t.Errorf("platforms of the index (-want +got):\n%s", diff)
		}
		if got := im.Annotations["org.opencontainers.image.version"]; got != first.Version {
			t.Errorf("index annotation version = %q, want %q", got, first.Version)
		}
	})

	for _, p := range platforms {
		img, err := imagetest.PlatformImage(t.Context(), first.Ref, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(p.OS+"/"+p.Architecture, func(t *testing.T) {
			t.Run("config", func(t *testing.T) { checkConfig(t, img, p, first.Version, revision) })
			t.Run("files", func(t *testing.T) { checkFiles(t, img, p) })
		})
	}

	t.Run("binary runs", func(t *testing.T) {
		bin := imagetest.ExtractBinary(t, first.Ref)
		tests := []struct {
			name string
			args []string
			want []string // substrings of the output
		}{
			{"version", []string{"--version"}, []string{"tagpin version " + first.Version + "\n"}},
			{"resolve help", []string{"resolve", "--help"}, []string{"Usage:\n  tagpin resolve"}},
			// The binary does real work: it resolves its own image's tag
			// in the registry to the digest the build printed.
			{"resolve its own image", []string{
				"resolve", "--no-record", "--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(), repo + ":latest",
			}, []string{first.Digest.String()}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cmd := exec.CommandContext(t.Context(), bin, tt.args...)
				cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", bin, strings.Join(tt.args, " "), err, out)
				}
				for _, w := range tt.want {
					if !strings.Contains(string(out), w) {
						t.Errorf("%s %s printed:\n%s\nwant it to contain %q", bin, strings.Join(tt.args, " "), out, w)
					}
				}
			})
		}
	})

	t.Run("size", func(t *testing.T) {
		for _, p := range platforms {
			img, err := imagetest.PlatformImage(t.Context(), first.Ref, p)
			if err != nil {
				t.Fatal(err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, l := range m.Layers {
				total += l.Size
			}
			t.Logf("%s/%s: %d layers, %.1f MiB compressed", p.OS, p.Architecture, len(m.Layers), float64(total)/(1<<20))
		}
	})
}

func checkConfig(t *testing.T, img v1.Image, p v1.Platform, version, revision string) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	type config struct {
		OS, Architecture string
		User             string
		Entrypoint, Cmd  []string
		WorkingDir       string
		Env              []string
		Labels           map[string]string
		Layers           int
	}
	got := config{cf.OS, cf.Architecture, cf.Config.User, cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.WorkingDir, cf.Config.Env, cf.Config.Labels, len(cf.RootFS.DiffIDs)}
	want := config{
		OS: p.OS, Architecture: p.Architecture,
		User:       "65532",
		Entrypoint: []string{imagetest.BinaryPath},
		WorkingDir: "/home/nonroot",
		// Nothing but PATH: no secret, no build machine's variable.
		Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels: map[string]string{
			"org.opencontainers.image.source":   "https://github.com/tagpin/tagpin",
			"org.opencontainers.image.revision": revision,
			"org.opencontainers.image.version":  version,
			"org.opencontainers.image.created":  cf.Created.UTC().Format(time.RFC3339),
			"org.opencontainers.image.title":    "tagpin",
		},
		Layers: 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image config (-want +got):\n%s", diff)
	}
	if cf.Created.IsZero() || cf.Created.After(time.Now()) {
		t.Errorf("created = %s, want the commit time", cf.Created)
	}
}

// file is what the test checks of an entry of the image's filesystem.
type file struct {
	Type     byte
	Mode     int64
	UID, GID int
}

func checkFiles(t *testing.T, img v1.Image, p v1.Platform) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	files, contents := readFilesystem(t, img, cf.Created.Time)

	// Names as mutate.Extract writes them: cleaned, no trailing slash.
	want := map[string]file{
		"etc":                               {tar.TypeDir, 0o755, 0, 0},
		"etc/group":                         {tar.TypeReg, 0o644, 0, 0},
		"etc/nsswitch.conf":                 {tar.TypeReg, 0o644, 0, 0},
		"etc/passwd":                        {tar.TypeReg, 0o644, 0, 0},
		"etc/ssl":                           {tar.TypeDir, 0o755, 0, 0},
		"etc/ssl/certs":                     {tar.TypeDir, 0o755, 0, 0},
		"etc/ssl/certs/ca-certificates.crt": {tar.TypeReg, 0o644, 0, 0},
		"home":                              {tar.TypeDir, 0o755, 0, 0},
		"home/nonroot":                      {tar.TypeDir, 0o700, nonroot, nonroot},
		"root":                              {tar.TypeDir, 0o700, 0, 0},
		"tmp":                               {tar.TypeDir, 0o1777, 0, 0},
		"usr":                               {tar.TypeDir, 0o755, 0, 0},
		"usr/local":                         {tar.TypeDir, 0o755, 0, 0},
		"usr/local/bin":                     {tar.TypeDir, 0o755, 0, 0},
		"usr/local/bin/tagpin":              {tar.TypeReg, 0o755, 0, 0},
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("files of the image (-want +got):\n%s", diff)
	}

	hostBundle, err := os.ReadFile(caBundle)
	if err != nil {
		t.Fatalf("the build machine's CA bundle: %v", err)
	}
	if !bytes.Equal(contents["etc/ssl/certs/ca-certificates.crt"], hostBundle) {
		t.Errorf("the image's %s differs from the build machine's", caBundle)
	}
	for path, line := range map[string]string{
		"etc/passwd": "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":  "nonroot:x:65532:\n",
	} {
		if !strings.Contains(string(contents[path]), line) {
			t.Errorf("/%s:\n%s\nwant a line %q", path, contents[path], line)
		}
	}
	checkBinary(t, contents["usr/local/bin/tagpin"], p)
}

// readFilesystem reads the image's flattened filesystem: each entry's
// type, mode and owner, and the content of the files. Every entry must
// carry the image's creation time.
func readFilesystem(t *testing.T, img v1.Image, created time.Time) (map[string]file, map[string][]byte) {
	files, contents := map[string]file{}, map[string][]byte{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, contents
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = file{h.Typeflag, h.Mode, h.Uid, h.Gid}
		if !h.ModTime.Equal(created) {
			t.Errorf("%s: modification time %s, want the image's creation time %s", h.Name, h.ModTime.UTC(), created.UTC())
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			contents[h.Name] = b
		}
	}
}

// checkBinary checks that b is a static Linux executable for p's
// architecture, built with CGO off and -trimpath.
func checkBinary(t *testing.T, b []byte, p v1.Platform) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/usr/local/bin/tagpin is not an ELF executable: %v", err)
	}
	if f.Machine != elfMachine[p.Architecture] {
		t.Errorf("/usr/local/bin/tagpin: ELF machine %s, want %s", f.Machine, elfMachine[p.Architecture])
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("/usr/local/bin/tagpin has a dynamic loader (PT_INTERP): want a static binary")
		}
	}
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/usr/local/bin/tagpin: reading its Go build information: %v", err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": p.OS, "GOARCH": p.Architecture} {
		if settings[key] != want {
			t.Errorf("/usr/local/bin/tagpin: build setting %s=%q, want %q", key, settings[key], want)
		}
	}
}

// blobs maps each blob of the OCI layout in dir to its size.
func blobs(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	sizes := map[string]int64{}
	root := filepath.Join(dir, "blobs")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		sizes[filepath.ToSlash(rel)] = info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) == 0 {
		t.Fatalf("the OCI layout %s has no blobs", dir)
	}
	return sizes
}

// gitHead is the commit of the work tree, the image's revision label.
func gitHead(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	return strings.TrimSpace(string(out))
}
