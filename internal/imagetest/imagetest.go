package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	// BinaryPath is where the image holds tagpin: its entrypoint.
	BinaryPath = "/usr/local/bin/tagpin"
	// modulePath is the module whose hack/image builds the image.
	modulePath = "github.com/tagpin/tagpin"
)

// BuildOptions says where hack/image writes the image. At least one of
// Repo and Layout must be set.
type BuildOptions struct {
	// Repo is the repository to push to, e.g. 127.0.0.1:5000/tagpin.
	Repo string
	// Layout is the directory of an OCI image layout to write into.
	Layout string
	// Tags are tags beyond the version, e.g. latest.
	Tags []string
	// Platforms are os/arch pairs; empty means hack/image's default,
	// linux/amd64 and linux/arm64.
	Platforms []string
	// Env is added to hack/image's environment, e.g. SOURCE_DATE_EPOCH=N.
	Env []string
}

// Built is what hack/image wrote.
type Built struct {
	// Version is the image's version: its first tag and what
	// tagpin --version prints.
	Version string
	// Digest is the image index's digest.
	Digest v1.Hash
	// Ref is Repo@Digest, when BuildOptions.Repo was set.
	Ref name.Digest
	// Lines are what hack/image printed, one per tag and destination:
	// REPO:TAG@DIGEST or oci:DIR:TAG@DIGEST.
	Lines []string
	// Log is what it printed on stderr.
	Log string
}

// Build builds the image from the tagpin module containing the current
// directory with hack/image.
func Build(ctx context.Context, opts BuildOptions) (Built, error) {
	if opts.Repo == "" && opts.Layout == "" {
		return Built{}, errors.New("imagetest: set Repo or Layout")
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return Built{}, err
	}
	tmp, err := os.MkdirTemp("", "imagetest-")
	if err != nil {
		return Built{}, err
	}
	defer os.RemoveAll(tmp)
	// Built, then run: killing `go run` would leave its child running.
	tool := filepath.Join(tmp, "image")
	if out, err := command(ctx, root, "go", "build", "-o", tool, "./hack/image").CombinedOutput(); err != nil {
		return Built{}, fmt.Errorf("imagetest: building hack/image: %w\n%s", err, out)
	}

	args := []string{"--dir", root}
	if opts.Repo != "" {
		args = append(args, "--repo", opts.Repo)
	}
	if opts.Layout != "" {
		args = append(args, "--layout", opts.Layout)
	}
	for _, tag := range opts.Tags {
		args = append(args, "--tag", tag)
	}
	if len(opts.Platforms) > 0 {
		args = append(args, "--platform", strings.Join(opts.Platforms, ","))
	}
	cmd := command(ctx, root, tool, args...)
	cmd.Env = append(cmd.Environ(), opts.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Built{}, fmt.Errorf("imagetest: hack/image %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	b, err := parseOutput(stdout.String())
	if err != nil {
		return Built{}, fmt.Errorf("imagetest: hack/image %s: %w\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	b.Log = stderr.String()
	if opts.Repo != "" {
		if b.Ref, err = name.NewDigest(opts.Repo + "@" + b.Digest.String()); err != nil {
			return Built{}, fmt.Errorf("imagetest: %w", err)
		}
	}
	return b, nil
}

// parseOutput reads hack/image's lines, NAME:TAG@DIGEST: one digest for
// all, the first tag is the version.
func parseOutput(out string) (Built, error) {
	var b Built
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		named, digest, ok := strings.Cut(line, "@")
		colon := strings.LastIndex(named, ":")
		if !ok || colon < 0 {
			return Built{}, fmt.Errorf("line %q is not NAME:TAG@DIGEST", line)
		}
		h, err := v1.NewHash(digest)
		if err != nil {
			return Built{}, fmt.Errorf("line %q: %w", line, err)
		}
		if len(b.Lines) == 0 {
			b.Version, b.Digest = named[colon+1:], h
		} else if h != b.Digest {
			return Built{}, fmt.Errorf("line %q: digest differs from %s", line, b.Digest)
		}
		b.Lines = append(b.Lines, line)
	}
	if len(b.Lines) == 0 {
		return Built{}, errors.New("it printed no reference")
	}
	return b, nil
}

// moduleRoot is the directory of the tagpin module containing the
// current directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := command(ctx, "", "go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("imagetest: finding the tagpin module from the current directory: %w", err)
	}
	path, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if path != modulePath || dir == "" {
		return "", fmt.Errorf("imagetest: the current directory is in module %q, not in %s", path, modulePath)
	}
	return dir, nil
}

func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	return cmd
}

// ExtractFile writes the regular file at path (absolute, as in the image)
// of the image for platform in the image index ref into dst, with the
// file's permission bits. The file is read from the image's flattened
// filesystem: a later layer's version wins.
func ExtractFile(ctx context.Context, ref name.Reference, platform v1.Platform, path, dst string) error {
	img, err := PlatformImage(ctx, ref, platform)
	if err != nil {
		return err
	}
	want := strings.TrimPrefix(path, "/")
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("imagetest: %s has no file %s for %s", ref, path, platform)
		}
		if err != nil {
			return fmt.Errorf("imagetest: reading the files of %s for %s: %w", ref, platform, err)
		}
		if strings.TrimPrefix(h.Name, "./") != want {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("imagetest: %s in %s for %s is not a regular file (tar type %q)", path, ref, platform, h.Typeflag)
		}
		return writeFile(dst, tr, os.FileMode(h.Mode).Perm())
	}
}

func writeFile(dst string, r io.Reader, perm os.FileMode) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("imagetest: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("imagetest: writing %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("imagetest: writing %s: %w", dst, err)
	}
	return nil
}

// PlatformImage pulls the image for platform (OS and architecture) out
// of the image index ref.
func PlatformImage(ctx context.Context, ref name.Reference, platform v1.Platform) (v1.Image, error) {
	idx, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("imagetest: pulling the index %s: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("imagetest: reading the index %s: %w", ref, err)
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.OS == platform.OS && m.Platform.Architecture == platform.Architecture {
			img, err := idx.Image(m.Digest)
			if err != nil {
				return nil, fmt.Errorf("imagetest: pulling the %s image %s of %s: %w", platform, m.Digest, ref, err)
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("imagetest: the index %s has no image for %s/%s", ref, platform.OS, platform.Architecture)
}

// HostPlatform is the platform whose binaries this machine runs.
func HostPlatform() v1.Platform {
	return v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
}

// Push builds the image for linux/amd64 and linux/arm64 and pushes it to
// repo (e.g. a registrytest.Distribution's Ref("tagpin")), tagged with
// its version and tags. It fails the test when that fails.
func Push(t testing.TB, repo string, tags ...string) Built {
	t.Helper()
	b, err := Build(t.Context(), BuildOptions{Repo: repo, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ExtractBinary pulls the image index ref (push it with Push; refer to it
// by digest) and writes the tagpin binary of this machine's platform into
// a temporary directory of the test; it returns the binary's path.
func ExtractBinary(t testing.TB, ref name.Reference) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tagpin")
	if err := ExtractFile(t.Context(), ref, HostPlatform(), BinaryPath, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}
