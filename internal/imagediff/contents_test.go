package imagediff_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tagpin/tagpin/internal/imagediff"
	"github.com/tagpin/tagpin/internal/imagediff/layerfs"
	"github.com/tagpin/tagpin/internal/registrytest"
)

// entry is one tar entry of a test layer.
type entry struct {
	name string
	typ  byte // tar.TypeReg when zero
	mode int64
	uid  int
	gid  int
	body string
	link string
}

func file(name, body string) entry { return entry{name: name, body: body, mode: 0o644} }

func exe(name, body string) entry { return entry{name: name, body: body, mode: 0o755} }

func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }

func symlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}

func hardlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}

// whiteout deletes name from the layers below.
func whiteout(name string) entry {
	d, f := filepath.Split(name)
	return file(d+".wh."+f, "")
}

// opaque hides what the layers below hold under dir.
func opaque(dir string) entry { return file(dir+"/.wh..wh..opq", "") }

// tarBytes writes entries, in the order given, as an uncompressed tar
// with fixed times.
func tarBytes(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, Linkname: e.link,
			ModTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarLayer is a gzip layer of entries, the same bytes every run.
func tarLayer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// rawLayer is a layer whose blob is b exactly, possibly broken.
func rawLayer(b []byte) v1.Layer { return static.NewLayer(b, types.OCILayer) }

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dpkgPkg is one stanza of a dpkg status file.
type dpkgPkg struct{ name, version, arch, source string }

// dpkgStatus writes a status file as dpkg does: every package installed.
func dpkgStatus(pkgs ...dpkgPkg) string {
	var b strings.Builder
	for _, p := range pkgs {
		arch := p.arch
		if arch == "" {
			arch = "amd64"
		}
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 123\n", p.name)
		fmt.Fprintf(&b, "Maintainer: Debian Maintainers <debian@example.org>\nArchitecture: %s\n", arch)
		if p.source != "" {
			fmt.Fprintf(&b, "Source: %s\n", p.source)
		}
		fmt.Fprintf(&b, "Version: %s\nDescription: the %s package\n a longer description\n .\n with a paragraph\n\n", p.version, p.name)
	}
	return b.String()
}

// apkPkg is one entry of an apk installed database.
type apkPkg struct{ name, version, origin string }

// apkInstalled writes lib/apk/db/installed in apk's format.
func apkInstalled(pkgs ...apkPkg) string {
	var b strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&b, "C:Q1%s=\nP:%s\nV:%s\nA:x86_64\nS:1000\nI:2000\nT:the %s package\nU:https://example.org\nL:MIT\no:%s\nm:Maintainer <m@example.org>\nt:1700000000\nc:0123456789abcdef\nF:usr/lib\nR:lib%s.so\n\n",
			strings.Repeat("A", 26), p.name, p.version, p.name, p.origin, p.name)
	}
	return b.String()
}

// goldenContents compares got with testdata/contents/name.
func goldenContents(t *testing.T, name string, rep *imagediff.Report, addr string) {
	t.Helper()
	var buf bytes.Buffer
	if err := imagediff.WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Join("testdata", "contents"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, filepath.Join("contents", name), buf.Bytes(), addr)
}

// contentOptions are Diff's options with the content reader.
func contentOptions(t *testing.T, co imagediff.ContentOptions) imagediff.Options {
	if co.TempDir == "" {
		co.TempDir = t.TempDir()
	}
	return imagediff.Options{
		Host:           &imagediff.Platform{OS: "linux", Architecture: "amd64"},
		NewLayerReader: func(string) imagediff.LayerReader { return imagediff.NewContentReader(co) },
	}
}

// noSpools fails the test when dir holds files: spooled layers and
// databases are removed once read.
func noSpools(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("temporary files left behind: %v", names)
	}
}

// wantGets checks the blob GETs of layers: each of once fetched exactly
// once, each of never not at all.
func wantGets(t *testing.T, gets map[string]int, once, never []v1.Layer) {
	t.Helper()
	for _, l := range once {
		if n := gets[mustDigest(t, l)]; n != 1 {
			t.Errorf("layer %s fetched %d times, want once", mustDigest(t, l), n)
		}
	}
	for _, l := range never {
		if n := gets[mustDigest(t, l)]; n != 0 {
			t.Errorf("layer %s fetched %d times, want never", mustDigest(t, l), n)
		}
	}
}

// Debian packages of the test images.
var (
	debBasePkgs = []dpkgPkg{
		{"base-files", "12.4+deb12u5", "", ""},
		{"curl", "7.88.1-10+deb12u5", "", ""},
		{"libc6", "2.36-9+deb12u4", "", "glibc"},
		{"openssl", "3.0.11-1~deb12u2", "", ""},
		{"perl", "1:5.36.0-7+deb12u1", "", ""},
		{"tzdata", "2024a-0+deb12u1", "all", ""},
	}
	// debUpgradedPkgs: libc6 upgraded, openssl upgraded past its tilde
	// version, perl downgraded (the epoch dropped), tzdata downgraded,
	// curl removed, jq added.
	debUpgradedPkgs = []dpkgPkg{
		{"base-files", "12.4+deb12u5", "", ""},
		{"jq", "1.6-2.1", "", ""},
		{"libc6", "2.36-9+deb12u7", "", "glibc"},
		{"openssl", "3.0.11-1", "", ""},
		{"perl", "5.38.2-1", "", ""},
		{"tzdata", "2023c-5", "all", ""},
	}
)

// debianLayers are the layers of the Debian test images.
type debianLayers struct {
	lower, base, aptA, appV1, upgrade, appV2 v1.Layer
	// x, y, z, s: A = lower, base, x, s; B = lower, base, y, z, s.
	x, y, z, s v1.Layer
	other      v1.Layer
}

func newDebianLayers(t *testing.T) debianLayers {
	return debianLayers{
		lower: tarLayer(t, dir("usr"), dir("usr/share"), dir("usr/share/doc"), file("usr/share/doc/README", "shared, lowest")),
		base: tarLayer(t,
			dir("etc"), file("etc/os-release", "ID=debian\nVERSION_ID=12\n"), file("etc/config", "debug=false\n"),
			dir("usr/bin"), exe("usr/bin/tool", "#!/bin/sh\necho tool\n"),
			dir("usr/lib"), file("usr/lib/libfoo.so.1", "foo 1"), file("usr/lib/libfoo.so.2", "foo 2"), symlink("usr/lib/libfoo.so", "libfoo.so.1"),
			dir("opt"), dir("opt/cache"), file("opt/cache/a", "a"), file("opt/cache/b", "b"),
			dir("var"), dir("var/lib"), dir("var/lib/dpkg"), file("var/lib/dpkg/status", dpkgStatus(debBasePkgs...)),
		),
		aptA: tarLayer(t, file("var/lib/dpkg/status", dpkgStatus(append(slicesClone(debBasePkgs), dpkgPkg{"libapp1", "1.0-1", "", ""})...))),
		appV1: tarLayer(t,
			dir("app"), exe("app/server", "#!/bin/sh\necho v1\n"), hardlink("app/hard", "app/server"),
			dir("app/static"), file("app/static/index.html", "<html>v1</html>"),
			file("etc/app.conf", "x=1\n"), file("etc/same", "same bytes\n"), file("etc/modeme", "m\n"), file("etc/ownme", "o\n"),
			symlink("usr/lib/libapp.so", "libapp.so.1"),
			dir("var/cache"), file("var/cache/old", "stale"),
		),
		upgrade: tarLayer(t,
			file("var/lib/dpkg/status", dpkgStatus(append(slicesClone(debUpgradedPkgs), dpkgPkg{"libapp1", "1.0-1", "", ""})...)),
			whiteout("usr/bin/tool"),
			opaque("opt/cache"), file("opt/cache/new", "new"),
		),
		appV2: tarLayer(t,
			dir("app"), exe("app/server", "#!/bin/sh\necho v2\n"), hardlink("app/hard", "app/server"),
			dir("app/static"), file("app/static/index.html", "<html>v1</html>"), file("app/static/app.js", "let x = 2"),
			file("etc/app.conf", "x=2\n"), file("etc/same", "same bytes\n"),
			entry{name: "etc/modeme", body: "m\n", mode: 0o600}, entry{name: "etc/ownme", body: "o\n", mode: 0o644, uid: 1000, gid: 1000},
			symlink("usr/lib/libapp.so", "libapp.so.2"),
		),
		x: tarLayer(t, file("etc/app.conf", "from x\n"), dir("app"), file("app/tmp", "x's scratch")),
		y: tarLayer(t, file("etc/app.conf", "from y\n"), dir("app"), file("app/tmp", "y's scratch")),
		z: tarLayer(t, dir("app"), exe("app/only-b", "b")),
		s: tarLayer(t, file("etc/app.conf", "from s\n"), dir("app"), whiteout("app/tmp"), file("app/s", "s")),
		other: tarLayer(t,
			dir("etc"), file("etc/os-release", "ID=debian\nVERSION_ID=13\n"), file("etc/config", "debug=false\n"),
			dir("var"), dir("var/lib"), dir("var/lib/dpkg"), file("var/lib/dpkg/status", dpkgStatus(debUpgradedPkgs...)),
		),
	}
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

// TestContents runs the engine with the content reader over realistic
// images pushed to the in-process registry: the exact report, and which
// layers were fetched.
func TestContents(t *testing.T) {
	t.Parallel()
	reg := newCountingRegistry(t)
	d := newDebianLayers(t)
	cfg := v1.Config{Entrypoint: []string{"/app/server"}}
	push := func(tag string, layers ...v1.Layer) {
		reg.push(t, tag, image(t, cfg, "linux/amd64", nil, layers...))
	}
	push("deb:a", d.lower, d.base, d.aptA, d.appV1)
	push("deb:b", d.lower, d.base, d.upgrade, d.appV2)
	push("deb:a-nostatus", d.lower, d.base, d.appV1)
	push("deb:xs", d.lower, d.base, d.x, d.s)
	push("deb:yzs", d.lower, d.base, d.y, d.z, d.s)
	push("deb:rebased", d.other, d.appV2)
	// The same layer twice in one image, and in the other.
	push("deb:x-dup", d.lower, d.base, d.s, d.x, d.s)
	push("deb:y-dup", d.lower, d.base, d.y, d.s)

	distroBase := tarLayer(t, dir("var"), dir("var/lib"), dir("var/lib/dpkg"), dir("var/lib/dpkg/status.d"),
		file("var/lib/dpkg/status.d/base-files", dpkgStatus(dpkgPkg{"base-files", "12.4+deb12u5", "", ""})),
		file("var/lib/dpkg/status.d/libssl3", dpkgStatus(dpkgPkg{"libssl3", "3.0.11-1~deb12u2", "", "openssl"})),
		file("var/lib/dpkg/status.d/libssl3.md5sums", "0123  usr/lib/libssl.so.3\n"),
		file("var/lib/dpkg/status.d/tzdata", dpkgStatus(dpkgPkg{"tzdata", "2024a-0+deb12u1", "all", ""})),
	)
	distroA := tarLayer(t, dir("app"), exe("app/server", "v1"))
	distroB := tarLayer(t, dir("app"), exe("app/server", "v2"),
		file("var/lib/dpkg/status.d/libssl3", dpkgStatus(dpkgPkg{"libssl3", "3.0.15-1~deb12u1", "", "openssl"})),
		file("var/lib/dpkg/status.d/netbase", dpkgStatus(dpkgPkg{"netbase", "6.4", "all", ""})),
		whiteout("var/lib/dpkg/status.d/tzdata"),
	)
	push("distroless:a", distroBase, distroA)
	push("distroless:b", distroBase, distroB)

	apkBase := tarLayer(t, dir("lib"), dir("lib/apk"), dir("lib/apk/db"),
		file("lib/apk/db/installed", apkInstalled(
			apkPkg{"musl", "1.2.4-r2", "musl"}, apkPkg{"busybox", "1.36.1-r5", "busybox"},
			apkPkg{"libcrypto3", "3.1.4-r1", "openssl"}, apkPkg{"ca-certificates", "20230506-r0", "ca-certificates"})),
		dir("bin"), exe("bin/busybox", "busybox"))
	apkA := tarLayer(t, file("lib/apk/db/installed", apkInstalled(
		apkPkg{"musl", "1.2.4-r2", "musl"}, apkPkg{"busybox", "1.36.1-r5", "busybox"},
		apkPkg{"libcrypto3", "3.1.4-r1", "openssl"}, apkPkg{"ca-certificates", "20230506-r0", "ca-certificates"})))
	apkB := tarLayer(t, file("lib/apk/db/installed", apkInstalled(
		// busybox r5 -> r15: -rN compares as a number.
		apkPkg{"musl", "1.2.4-r3", "musl"}, apkPkg{"busybox", "1.36.1-r15", "busybox"},
		apkPkg{"libcrypto3", "3.1.4-r0", "openssl"}, apkPkg{"curl", "8.5.0-r0", "curl"})),
		exe("bin/busybox", "busybox 2"))
	push("alpine:a", apkBase, apkA)
	push("alpine:b", apkBase, apkB)
	push("alpine:rebased", apkBase, apkB, distroA)
	push("plain:a", d.lower, distroA)
	push("plain:apk", d.lower, apkB)

	tests := []struct {
		name   string
		a, b   string
		level  imagediff.Level
		golden string
		// once are the layers fetched exactly once, never those that
		// must not be fetched.
		once, never []v1.Layer
	}{
		{
			name: "same base, new top layers", a: "deb:a", b: "deb:b", golden: "same-base.json",
			once: []v1.Layer{d.aptA, d.appV1, d.upgrade, d.appV2}, never: []v1.Layer{d.lower, d.base},
		},
		{
			name: "same base, level files", a: "deb:a", b: "deb:b", level: imagediff.LevelFiles, golden: "same-base-files.json",
			once: []v1.Layer{d.aptA, d.appV1, d.upgrade, d.appV2}, never: []v1.Layer{d.lower, d.base},
		},
		{
			name: "only B changes the dpkg status", a: "deb:a-nostatus", b: "deb:b", golden: "only-b-status.json",
			once: []v1.Layer{d.base, d.appV1, d.upgrade, d.appV2}, never: []v1.Layer{d.lower},
		},
		{
			name: "only A changes the dpkg status", a: "deb:b", b: "deb:a-nostatus", golden: "only-a-status.json",
			once: []v1.Layer{d.base, d.appV1, d.upgrade, d.appV2}, never: []v1.Layer{d.lower},
		},
		{
			name: "only B changes the dpkg status, level files", a: "deb:a-nostatus", b: "deb:b", level: imagediff.LevelFiles, golden: "only-b-status-files.json",
			once: []v1.Layer{d.appV1, d.upgrade, d.appV2}, never: []v1.Layer{d.lower, d.base},
		},
		{
			name: "a layer twice in one image and once in the other", a: "deb:x-dup", b: "deb:y-dup", golden: "duplicate-layer.json",
			once: []v1.Layer{d.x, d.y, d.s}, never: []v1.Layer{d.lower, d.base},
		},
		{
			name: "a layer both have above the prefix", a: "deb:xs", b: "deb:yzs", golden: "shared-above-prefix.json",
			once: []v1.Layer{d.x, d.y, d.z, d.s}, never: []v1.Layer{d.lower, d.base},
		},
		{
			name: "base changed", a: "deb:a-nostatus", b: "deb:rebased", golden: "base-changed.json",
			once: []v1.Layer{d.lower, d.base, d.appV1, d.other, d.appV2},
		},
		{
			// No common prefix: the trees are whole, nothing is
			// "base unknown", and a database only one image has is
			// all added or all removed.
			name: "base changed to another distribution", a: "deb:a-nostatus", b: "alpine:rebased", golden: "base-changed-distribution.json",
			once: []v1.Layer{d.lower, d.base, d.appV1, apkBase, apkB, distroA},
		},
		{
			// libssl3's file replaced is an upgrade, tzdata's whited
			// out a removal: the shared layer holding status.d is read.
			name: "distroless status.d", a: "distroless:a", b: "distroless:b", golden: "distroless.json",
			once: []v1.Layer{distroA, distroB, distroBase},
		},
		{
			// The shared layers, all read, have no database: every
			// package is new.
			name: "a database only B's layers write, none below", a: "plain:a", b: "plain:apk", golden: "new-database.json",
			once: []v1.Layer{distroA, apkB, d.lower},
		},
		{
			name: "apk", a: "alpine:a", b: "alpine:b", golden: "apk.json",
			once: []v1.Layer{apkA, apkB}, never: []v1.Layer{apkBase},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the blob counts are the registry's.
			reg.reset()
			r := newResolver(reg.addr())
			defer r.Close()
			tmp := t.TempDir()
			opts := contentOptions(t, imagediff.ContentOptions{TempDir: tmp})
			opts.Level = tc.level
			rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/"+tc.a), source(t, r, reg.addr()+"/"+tc.b), opts)
			if err != nil {
				t.Fatal(err)
			}
			goldenContents(t, tc.golden, rep, reg.addr())
			wantGets(t, reg.gets(), tc.once, tc.never)
			noSpools(t, tmp)
		})
	}
}

// TestContentsIndex compares two multi-platform indexes: every common
// platform, the host's first, or the one asked for; only the layers
// above each platform's common prefix are fetched.
func TestContentsIndex(t *testing.T) {
	t.Parallel()
	reg := newCountingRegistry(t)
	cfg := v1.Config{Entrypoint: []string{"/app"}}
	baseAmd := tarLayer(t, dir("var/lib/dpkg"), file("var/lib/dpkg/status", dpkgStatus(debBasePkgs...)), file("etc/arch", "amd64"))
	baseArm := tarLayer(t, dir("var/lib/dpkg"), file("var/lib/dpkg/status", dpkgStatus(debBasePkgs...)), file("etc/arch", "arm64"))
	topAmd1 := tarLayer(t, exe("app", "amd64 v1"))
	topAmd2 := tarLayer(t, exe("app", "amd64 v2"), file("var/lib/dpkg/status", dpkgStatus(debUpgradedPkgs...)))
	topArm1 := tarLayer(t, exe("app", "arm64 v1"))
	topArm2 := tarLayer(t, exe("app", "arm64 v2"))
	reg.pushIndex(t, "multi:1", map[string]v1.Image{
		"linux/amd64": image(t, cfg, "linux/amd64", nil, baseAmd, topAmd1),
		"linux/arm64": image(t, cfg, "linux/arm64", nil, baseArm, topArm1),
	})
	reg.pushIndex(t, "multi:2", map[string]v1.Image{
		"linux/amd64": image(t, cfg, "linux/amd64", nil, baseAmd, topAmd2),
		"linux/arm64": image(t, cfg, "linux/arm64", nil, baseArm, topArm2),
	})
	tests := []struct {
		name        string
		platform    *imagediff.Platform
		golden      string
		once, never []v1.Layer
	}{
		{
			name: "every common platform, the host's first", golden: "index.json",
			// amd64's B changes the status its base holds: that base
			// layer is read.
			once: []v1.Layer{topAmd1, topAmd2, topArm1, topArm2, baseAmd}, never: []v1.Layer{baseArm},
		},
		{
			name: "one platform", platform: &imagediff.Platform{OS: "linux", Architecture: "arm64"}, golden: "index-arm64.json",
			once: []v1.Layer{topArm1, topArm2}, never: []v1.Layer{baseAmd, baseArm, topAmd1, topAmd2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg.reset()
			r := newResolver(reg.addr())
			defer r.Close()
			opts := contentOptions(t, imagediff.ContentOptions{})
			opts.Host = &imagediff.Platform{OS: "linux", Architecture: "arm64"}
			opts.Platform = tc.platform
			rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/multi:1"), source(t, r, reg.addr()+"/multi:2"), opts)
			if err != nil {
				t.Fatal(err)
			}
			goldenContents(t, tc.golden, rep, reg.addr())
			wantGets(t, reg.gets(), tc.once, tc.never)
		})
	}
}

// rpmPkg is a package rpmbuild makes.
type rpmPkg struct{ name, epoch, version, release string }

// rpmDatabase builds pkgs with rpmbuild, installs them into a fresh
// sqlite database with rpm and returns its bytes; it skips the test when
// rpm is not installed.
func rpmDatabase(t *testing.T, pkgs ...rpmPkg) []byte {
	t.Helper()
	rpm, err1 := exec.LookPath("rpm")
	rpmbuild, err2 := exec.LookPath("rpmbuild")
	if err := errors.Join(err1, err2); err != nil {
		t.Skipf("rpm and rpmbuild are needed (Debian package rpm, make tools installs it): %v", err)
	}
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), name, args...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	for _, p := range pkgs {
		spec := fmt.Sprintf("Name: %s\nVersion: %s\nRelease: %s\n", p.name, p.version, p.release)
		if p.epoch != "" {
			spec += "Epoch: " + p.epoch + "\n"
		}
		spec += "Summary: test\nLicense: MIT\nBuildArch: noarch\n%description\ntest\n%files\n"
		path := filepath.Join(dir, p.name+".spec")
		if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		run(rpmbuild, "--define", "_topdir "+filepath.Join(dir, "build"), "-bb", path)
	}
	rpms, err := filepath.Glob(filepath.Join(dir, "build", "RPMS", "noarch", "*.rpm"))
	if err != nil || len(rpms) != len(pkgs) {
		t.Fatalf("rpmbuild made %v (%v), want %d packages", rpms, err, len(pkgs))
	}
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	run(rpm, append([]string{"--define", "_db_backend sqlite", "--dbpath", db, "-i", "--nodeps", "--justdb"}, rpms...)...)
	b, err := os.ReadFile(filepath.Join(db, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diffImages pushes two single-platform images and diffs them with the
// content reader.
func diffImages(t *testing.T, reg *countingRegistry, layersA, layersB []v1.Layer) *imagediff.Report {
	t.Helper()
	cfg := v1.Config{Entrypoint: []string{"/app"}}
	reg.push(t, "img:a", image(t, cfg, "linux/amd64", nil, layersA...))
	reg.push(t, "img:b", image(t, cfg, "linux/amd64", nil, layersB...))
	r := newResolver(reg.addr())
	defer r.Close()
	rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/img:a"), source(t, r, reg.addr()+"/img:b"), contentOptions(t, imagediff.ContentOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 1 {
		t.Fatalf("report has %d images, want 1", len(rep.Images))
	}
	return rep
}

// TestContentsRPM compares rpm databases: made by rpm at test time, and
// the ones committed with the package readers.
func TestContentsRPM(t *testing.T) {
	t.Parallel()
	base := tarLayer(t, dir("etc"), file("etc/redhat-release", "test 9"))
	t.Run("made by rpm", func(t *testing.T) {
		t.Parallel()
		dbA := rpmDatabase(t, rpmPkg{"alpha", "", "1.0", "1"}, rpmPkg{"beta", "2", "2.3~rc1", "4.el9"}, rpmPkg{"delta", "", "3", "1"})
		dbB := rpmDatabase(t, rpmPkg{"alpha", "", "1.1", "1"}, rpmPkg{"beta", "2", "2.3", "1.el9"}, rpmPkg{"delta", "", "2.9", "1"}, rpmPkg{"gamma", "", "0.1", "1"})
		reg := newCountingRegistry(t)
		rep := diffImages(t, reg,
			[]v1.Layer{base, tarLayer(t, dir("var/lib/rpm"), file("var/lib/rpm/rpmdb.sqlite", string(dbA)))},
			[]v1.Layer{base, tarLayer(t, dir("var/lib/rpm"), file("var/lib/rpm/rpmdb.sqlite", string(dbB)))})
		want := &imagediff.PackagesDiff{Databases: []imagediff.PackageDatabaseDiff{{
			Ecosystem: "rpm", Path: "var/lib/rpm/rpmdb.sqlite",
			Added: []imagediff.Package{{Name: "gamma", Version: "0.1-1", Arch: "noarch"}},
			Upgraded: []imagediff.PackageChange{
				{Name: "alpha", From: "1.0-1", To: "1.1-1", Arch: "noarch"},
				// 2.3~rc1 sorts before 2.3.
				{Name: "beta", From: "2:2.3~rc1-4.el9", To: "2:2.3-1.el9", Arch: "noarch"},
			},
			Downgraded: []imagediff.PackageChange{{Name: "delta", From: "3-1", To: "2.9-1", Arch: "noarch"}},
		}}}
		if diff := cmp.Diff(want, rep.Images[0].Packages); diff != "" {
			t.Errorf("packages (-want +got):\n%s", diff)
		}
		wantGets(t, reg.gets(), nil, []v1.Layer{base})
	})
	t.Run("committed databases", func(t *testing.T) {
		t.Parallel()
		read := func(name string) string {
			b, err := os.ReadFile(filepath.Join("pkgdb", "testdata", "rpm", name))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		reg := newCountingRegistry(t)
		rep := diffImages(t, reg,
			[]v1.Layer{base, tarLayer(t, file("usr/lib/sysimage/rpm/rpmdb.sqlite", read("tiny.sqlite")))},
			[]v1.Layer{base, tarLayer(t, file("usr/lib/sysimage/rpm/rpmdb.sqlite", read("rpmdb.sqlite")))})
		goldenContents(t, "rpm.json", rep, reg.addr())
		wantGets(t, reg.gets(), nil, []v1.Layer{base})
	})
}

// goModule is one version of a library module the test's proxy serves.
type goModule struct{ path, version string }

// goBuilder builds Go programs offline against a file:// module proxy
// written by the test.
type goBuilder struct {
	goBin, proxy, modcache string
}

func newGoBuilder(t *testing.T, mods ...goModule) *goBuilder {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("building test executables needs the go command: %v", err)
	}
	b := &goBuilder{goBin: goBin, proxy: t.TempDir(), modcache: t.TempDir()}
	for _, m := range mods {
		name := m.path[strings.LastIndex(m.path, "/")+1:]
		var zb bytes.Buffer
		zw := zip.NewWriter(&zb)
		for fname, body := range map[string]string{
			"go.mod":     "module " + m.path + "\n\ngo 1.21\n",
			name + ".go": "package " + name + "\n\nconst V = \"" + m.path + "@" + m.version + "\"\n",
		} {
			w, err := zw.Create(m.path + "@" + m.version + "/" + fname)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w, body); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		vdir := filepath.Join(b.proxy, filepath.FromSlash(m.path), "@v")
		writeTestFile(t, filepath.Join(vdir, m.version+".info"), `{"Version":"`+m.version+`","Time":"2026-01-01T00:00:00Z"}`)
		writeTestFile(t, filepath.Join(vdir, m.version+".mod"), "module "+m.path+"\n\ngo 1.21\n")
		writeTestFile(t, filepath.Join(vdir, m.version+".zip"), zb.String())
		old, _ := os.ReadFile(filepath.Join(vdir, "list"))
		writeTestFile(t, filepath.Join(vdir, "list"), string(old)+m.version+"\n")
	}
	return b
}

func writeTestFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// build builds main module path requiring mods, with -trimpath, and
// returns the executable's bytes.
func (b *goBuilder) build(t *testing.T, path string, mods ...goModule) []byte {
	t.Helper()
	src := t.TempDir()
	var gomod, imports, uses strings.Builder
	gomod.WriteString("module " + path + "\n\ngo 1.21\n\n")
	for _, m := range mods {
		name := m.path[strings.LastIndex(m.path, "/")+1:]
		gomod.WriteString("require " + m.path + " " + m.version + "\n")
		imports.WriteString("\t" + name + " \"" + m.path + "\"\n")
		uses.WriteString("\tprintln(" + name + ".V)\n")
	}
	writeTestFile(t, filepath.Join(src, "go.mod"), gomod.String())
	writeTestFile(t, filepath.Join(src, "main.go"), "package main\n\nimport (\n"+imports.String()+")\n\nfunc main() {\n"+uses.String()+"}\n")
	out := filepath.Join(t.TempDir(), "app")
	cmd := exec.CommandContext(t.Context(), b.goBin, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOPROXY=file://"+filepath.ToSlash(b.proxy), "GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=",
		"GOMODCACHE="+b.modcache, "GOFLAGS=-mod=mod -modcacherw", "GOTOOLCHAIN=local", "GOWORK=off", "GO111MODULE=on",
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", path, err, o)
	}
	exe, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestContentsGoBinaries compares Go executables built in the test with
// other module versions: the module changes of each, binaries added and
// removed, and a non-Go executable left alone.
func TestContentsGoBinaries(t *testing.T) {
	t.Parallel()
	libV1, libV2 := goModule{"example.com/lib", "v1.0.0"}, goModule{"example.com/lib", "v1.1.0"}
	dep := goModule{"example.com/dep", "v0.3.0"}
	newDep := goModule{"example.com/newdep", "v0.1.0-pre"}
	b := newGoBuilder(t, libV1, libV2, dep, newDep)
	appA := b.build(t, "example.com/app", libV1, dep)
	appB := b.build(t, "example.com/app", libV2, newDep)
	tool := b.build(t, "example.com/tool", libV1)

	base := tarLayer(t, dir("usr"), dir("usr/local"), dir("usr/local/bin"), exe("usr/local/bin/script", "#!/bin/sh\n"))
	topA := tarLayer(t, exe("usr/local/bin/app", string(appA)), exe("usr/local/bin/old", string(tool)), file("usr/local/bin/notexec", string(tool)))
	topB := tarLayer(t, exe("usr/local/bin/app", string(appB)), whiteout("usr/local/bin/old"), exe("usr/local/bin/tool", string(tool)),
		exe("usr/local/bin/script", "#!/bin/sh\necho 2\n"))
	reg := newCountingRegistry(t)
	rep := diffImages(t, reg, []v1.Layer{base, topA}, []v1.Layer{base, topB})
	want := &imagediff.GoBinariesDiff{Binaries: []imagediff.GoBinaryChange{
		{Path: "usr/local/bin/app", Change: imagediff.Changed, Main: "example.com/app", Modules: []imagediff.ModuleChange{
			{Path: "example.com/dep", Change: "removed", From: "v0.3.0"},
			{Path: "example.com/lib", Change: "upgraded", From: "v1.0.0", To: "v1.1.0"},
			{Path: "example.com/newdep", Change: "added", To: "v0.1.0-pre"},
		}},
		{Path: "usr/local/bin/old", Change: imagediff.Removed, Main: "example.com/tool"},
		{Path: "usr/local/bin/tool", Change: imagediff.Added, Main: "example.com/tool", BaseUnknown: true},
	}}
	if diff := cmp.Diff(want, rep.Images[0].GoBinaries); diff != "" {
		t.Errorf("Go binaries (-want +got):\n%s", diff)
	}
	wantGets(t, reg.gets(), []v1.Layer{topA, topB}, []v1.Layer{base})
}

// brokenGoExecutable is an ELF file holding a Go build info header
// whose module information does not parse.
func brokenGoExecutable() string {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	b = append(b, "\xff Go buildinf:"...)
	b = append(b, 8, 0x2)
	b = append(b, make([]byte, 16)...)
	inline := func(s string) []byte { return append(binary.AppendUvarint(nil, uint64(len(s))), s...) }
	b = append(b, inline("go1.26.8")...)
	sentinel := strings.Repeat("\x00", 16)
	b = append(b, inline(sentinel+"path\texample.com/evil\ndep\tone-column-too-few\n"+sentinel)...)
	return string(append(b, make([]byte, 64)...))
}

// TestContentsHostile runs hostile layers through the whole engine: each
// gives a clear error or a note, never a panic or a file outside the
// temporary directory.
func TestContentsHostile(t *testing.T) {
	t.Parallel()
	base := tarLayer(t, dir("etc"), file("etc/os-release", "ID=test\n"))
	plain := tarLayer(t, file("app", "v1"))
	bombTar := tarBytes(t, file("zeros", strings.Repeat("\x00", 8<<20)))
	validGzip := gzipBytes(t, tarBytes(t, file("app", "v2"), file("more", strings.Repeat("more bytes ", 4096))))
	tests := []struct {
		name   string
		layers []v1.Layer // B's, above base; A is base, plain
		limits layerfs.Limits
		// wantErr, when set, is what the error must wrap; check
		// checks a report.
		wantErr error
		errText string
		check   func(t *testing.T, rep *imagediff.Report)
	}{
		{
			name: "path traversal, absolute paths, links out, a hard-link loop, a non-UTF-8 name",
			layers: []v1.Layer{tarLayer(t,
				file("../../../../tmp/escaped", "x"), file("/abs/file", "abs"), file("app/../../up", "up"),
				symlink("app/out", "../../../../etc/shadow"), hardlink("app/hard-out", "../../etc/shadow"),
				hardlink("loop/a", "loop/b"), hardlink("loop/b", "loop/a"),
				file("bad-\xff\xfe-name", "latin1"), file("app", "v2"))},
			check: func(t *testing.T, rep *imagediff.Report) {
				var paths []string
				for _, g := range rep.Images[0].Files.Groups {
					for _, c := range g.Changes {
						paths = append(paths, c.Path)
						if strings.HasPrefix(c.Path, "/") || strings.HasPrefix(c.Path, "..") || strings.Contains(c.Path, "/../") {
							t.Errorf("path %q escapes the image root", c.Path)
						}
					}
				}
				if !slicesContains(paths, "app") {
					t.Errorf("paths %v: want app changed", paths)
				}
				if !hasNote(rep, "layer entries skipped") {
					t.Errorf("notes %q: want the skipped entries counted", rep.Notes)
				}
				if _, err := os.Stat(filepath.Join(os.TempDir(), "escaped")); err == nil {
					t.Errorf("%s written", filepath.Join(os.TempDir(), "escaped"))
				}
			},
		},
		{
			name:    "decompression bomb past the layer limit",
			layers:  []v1.Layer{rawLayer(gzipBytes(t, bombTar))},
			limits:  layerfs.Limits{MaxLayerBytes: 1 << 20},
			wantErr: layerfs.ErrLimit,
		},
		{
			name:    "truncated gzip",
			layers:  []v1.Layer{rawLayer(validGzip[:len(validGzip)/2])},
			errText: "reading layer sha256:",
		},
		{
			name:    "not a tar at all",
			layers:  []v1.Layer{rawLayer(gzipBytes(t, []byte(strings.Repeat("not a tar header ", 100))))},
			errText: "reading layer sha256:",
		},
		{
			name: "corrupt dpkg status",
			layers: []v1.Layer{tarLayer(t, file("var/lib/dpkg/status", "Package: ok\nVersion: 1\nStatus: install ok installed\n\n\x00\x01garbage without a colon\n"+
				"Package: \nVersion: broken version with spaces\n"))},
			check: func(t *testing.T, rep *imagediff.Report) {
				for _, db := range rep.Images[0].Packages.Databases {
					if db.Path == "var/lib/dpkg/status" && db.Unsupported != "" {
						return
					}
				}
				t.Errorf("packages %+v: want the status file reported as not read", rep.Images[0].Packages)
			},
		},
		{
			name:   "an ELF file with a broken Go build info header",
			layers: []v1.Layer{tarLayer(t, exe("usr/bin/evil", brokenGoExecutable()))},
			check: func(t *testing.T, rep *imagediff.Report) {
				bins := rep.Images[0].GoBinaries.Binaries
				if len(bins) != 1 || bins[0].Path != "usr/bin/evil" || !strings.Contains(bins[0].Note, "build info not read") {
					t.Errorf("Go binaries %+v: want usr/bin/evil with a note saying its build info was not read", bins)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := newCountingRegistry(t)
			cfg := v1.Config{}
			reg.push(t, "img:a", image(t, cfg, "linux/amd64", nil, base, plain))
			reg.push(t, "img:b", image(t, cfg, "linux/amd64", nil, append([]v1.Layer{base}, tc.layers...)...))
			r := newResolver(reg.addr())
			defer r.Close()
			tmp := t.TempDir()
			rep, err := imagediff.Diff(t.Context(), source(t, r, reg.addr()+"/img:a"), source(t, r, reg.addr()+"/img:b"),
				contentOptions(t, imagediff.ContentOptions{TempDir: tmp, Limits: tc.limits}))
			switch {
			case tc.wantErr != nil || tc.errText != "":
				if err == nil {
					t.Fatalf("Diff succeeded, want an error")
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("Diff = %v, want it to wrap %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errText) || !strings.Contains(err.Error(), "img:b") {
					t.Errorf("Diff = %v, want it to name the layer and the image", err)
				}
				// The layer is named by digest; layerfs's count of the
				// layers applied to one tree would only confuse.
				if strings.Contains(err.Error(), "reading layer 0") {
					t.Errorf("Diff = %v, want no layer position counted by layerfs", err)
				}
			case err != nil:
				t.Fatalf("Diff: %v", err)
			default:
				tc.check(t, rep)
			}
			noSpools(t, tmp)
		})
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func hasNote(rep *imagediff.Report, substr string) bool {
	for _, n := range rep.Notes {
		if strings.Contains(n, substr) {
			return true
		}
	}
	return false
}

// TestContentsDistribution runs the engine through a real resolver
// against the Distribution server (behind a proxy that counts blob
// GETs): the report is the one the in-process registry gives.
func TestContentsDistribution(t *testing.T) {
	t.Parallel()
	dist := registrytest.StartDistribution(t, registrytest.DistributionOptions{})
	var mu sync.Mutex
	gets := map[string]int{}
	target, err := url.Parse("http://" + dist.Addr())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, d, ok := strings.Cut(r.URL.Path, "/blobs/"); ok && r.Method == http.MethodGet {
			mu.Lock()
			gets[d]++
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	addr := strings.TrimPrefix(proxy.URL, "http://")

	d := newDebianLayers(t)
	cfg := v1.Config{Entrypoint: []string{"/app/server"}}
	for tag, layers := range map[string][]v1.Layer{"deb:a": {d.lower, d.base, d.aptA, d.appV1}, "deb:b": {d.lower, d.base, d.upgrade, d.appV2}} {
		ref, err := name.ParseReference(dist.Ref(tag), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, image(t, cfg, "linux/amd64", nil, layers...), remote.WithContext(t.Context())); err != nil {
			t.Fatalf("pushing %s: %v", tag, err)
		}
	}
	r := newResolver(addr)
	defer r.Close()
	rep, err := imagediff.Diff(t.Context(), source(t, r, addr+"/deb:a"), source(t, r, addr+"/deb:b"), contentOptions(t, imagediff.ContentOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	goldenContents(t, "same-base.json", rep, addr)
	mu.Lock()
	defer mu.Unlock()
	wantGets(t, gets, []v1.Layer{d.aptA, d.appV1, d.upgrade, d.appV2}, []v1.Layer{d.lower, d.base})
}

// TestContentsMachineDpkgStatus uses this machine's own dpkg status file
// as the shared base's database: B's layers remove one package, upgrade
// another and add one; the report lists exactly those.
func TestContentsMachineDpkgStatus(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Skipf("this machine has no dpkg status file: %v", err)
	}
	type stanza struct{ text, name, version, arch string }
	var stanzas []stanza
	for _, s := range strings.Split(strings.TrimSpace(string(raw)), "\n\n") {
		st := stanza{text: s}
		installed := false
		for _, line := range strings.Split(s, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "Package":
				st.name = v
			case "Version":
				st.version = v
			case "Architecture":
				st.arch = v
			case "Status":
				installed = v == "install ok installed"
			}
		}
		if installed && st.name != "" && st.version != "" {
			stanzas = append(stanzas, st)
		}
		if len(stanzas) == 60 {
			break
		}
	}
	if len(stanzas) < 3 {
		t.Skipf("this machine's dpkg status has %d installed packages, want 3", len(stanzas))
	}
	join := func(ss []stanza) string {
		var b strings.Builder
		for _, s := range ss {
			b.WriteString(s.text + "\n\n")
		}
		return b.String()
	}
	removed, upgraded := stanzas[0], stanzas[1]
	newer := upgraded
	newer.text = strings.Replace(upgraded.text, "\nVersion: "+upgraded.version+"\n", "\nVersion: "+upgraded.version+"+tagpin1\n", 1)
	added := stanza{text: dpkgStatus(dpkgPkg{"tagpin-test", "1.0-1", "all", ""}), name: "tagpin-test", version: "1.0-1", arch: "all"}
	after := append([]stanza{newer}, stanzas[2:]...)

	base := tarLayer(t, file("var/lib/dpkg/status", join(stanzas)))
	reg := newCountingRegistry(t)
	topA := tarLayer(t, file("app", "1"))
	topB := tarLayer(t, file("app", "2"), file("var/lib/dpkg/status", join(after)+strings.TrimSpace(added.text)+"\n"))
	rep := diffImages(t, reg, []v1.Layer{base, topA}, []v1.Layer{base, topB})
	want := &imagediff.PackagesDiff{Databases: []imagediff.PackageDatabaseDiff{{
		Ecosystem: "dpkg", Path: "var/lib/dpkg/status",
		Added:    []imagediff.Package{{Name: added.name, Version: added.version, Arch: added.arch}},
		Removed:  []imagediff.Package{{Name: removed.name, Version: removed.version, Arch: removed.arch}},
		Upgraded: []imagediff.PackageChange{{Name: upgraded.name, From: upgraded.version, To: upgraded.version + "+tagpin1", Arch: upgraded.arch}},
	}}}
	if diff := cmp.Diff(want, rep.Images[0].Packages); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	// B alone changed the status: the shared layer holding it is read.
	wantGets(t, reg.gets(), []v1.Layer{base, topA, topB}, nil)
}
