package gobin

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	libV120   = testModule{"example.com/lib", "v1.2.0"}
	libV130   = testModule{"example.com/lib", "v1.3.0"}
	oldV010   = testModule{"example.com/old", "v0.1.0"}
	newPseudo = testModule{"example.com/fresh", "v0.0.0-20260101000000-abcdefabcdef"}
	pinV100   = testModule{"example.com/pinned", "v1.0.0"}
	downV150  = testModule{"example.com/down", "v1.5.0"}
	downV140  = testModule{"example.com/down", "v1.4.0"}

	programA = testProgram{requires: []testModule{libV120, oldV010, pinV100, downV150}}
	programB = testProgram{
		requires: []testModule{libV130, newPseudo, pinV100, downV140},
		replaces: map[string]string{"example.com/pinned": "pinned"},
	}
)

// buildVariants builds programA natively, stripped and cross-compiled
// (other architectures and, without -short, other executable formats).
func buildVariants(t *testing.T) map[string]string {
	t.Helper()
	goToolchain(t)
	proxy, modcache := t.TempDir(), t.TempDir()
	writeProxy(t, proxy, programA.requires)
	variants := map[string]string{
		"native":   buildProgram(t, proxy, modcache, programA, nil),
		"stripped": buildProgram(t, proxy, modcache, programA, nil, "-ldflags=-s -w"),
	}
	if runtime.GOARCH != "arm64" || runtime.GOOS != "linux" {
		variants["linux/arm64"] = buildProgram(t, proxy, modcache, programA, []string{"GOOS=linux", "GOARCH=arm64"})
	}
	if !testing.Short() {
		// Other executable formats: PE and Mach-O.
		variants["windows/amd64"] = buildProgram(t, proxy, modcache, programA, []string{"GOOS=windows", "GOARCH=amd64"})
		variants["darwin/arm64"] = buildProgram(t, proxy, modcache, programA, []string{"GOOS=darwin", "GOARCH=arm64"})
	}
	return variants
}

// toolchainExecutables are the go command and the linker: large real
// executables whose read-only data also holds the build info magic (as a
// string constant of the code that reads or writes build info), before
// their own build info.
func toolchainExecutables(t *testing.T) map[string]string {
	t.Helper()
	goBin := goToolchain(t)
	out, err := exec.CommandContext(t.Context(), goBin, "env", "GOROOT", "GOTOOLDIR").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	dirs := strings.Fields(string(out))
	if len(dirs) != 2 {
		t.Fatalf("go env GOROOT GOTOOLDIR printed %q", out)
	}
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	return map[string]string{
		"go command": filepath.Join(dirs[0], "bin", "go"+exe),
		"linker":     filepath.Join(dirs[1], "link"+exe),
	}
}

// TestReadGoExecutables reads executables built here with the stream
// reader, the Scanner fed in odd-sized pieces and ReadAt, and checks all
// agree with debug/buildinfo.
func TestReadGoExecutables(t *testing.T) {
	t.Parallel()
	variants := buildVariants(t)
	executables := toolchainExecutables(t)
	maps.Copy(executables, variants)
	for name, path := range executables {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bi, err := buildinfo.ReadFile(path)
			if err != nil {
				t.Fatalf("debug/buildinfo: %v", err)
			}
			want := fromBuildInfo(bi)
			if got := moduleVersions(want); variants[name] != "" && !cmp.Equal(got, map[string]string{
				"example.com/lib": "v1.2.0", "example.com/old": "v0.1.0", "example.com/pinned": "v1.0.0", "example.com/down": "v1.5.0",
			}) {
				t.Fatalf("the test built the wrong executable: modules %v", got)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			got, err := Read(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Read differs from debug/buildinfo (-want +got):\n%s", diff)
			}

			var s Scanner
			for rest := data; len(rest) > 0 && !s.Done(); {
				n := min(len(rest), 4093)
				if w, err := s.Write(rest[:n]); w != n || err != nil {
					t.Fatalf("Scanner.Write = %d, %v; want %d, nil", w, err, n)
				}
				rest = rest[n:]
			}
			if !s.Done() {
				t.Errorf("Scanner not done after the whole executable")
			}
			got, err = s.Info()
			if err != nil {
				t.Fatalf("Scanner.Info: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Scanner differs from debug/buildinfo (-want +got):\n%s", diff)
			}

			got, err = ReadAt(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatalf("ReadAt: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ReadAt differs from debug/buildinfo (-want +got):\n%s", diff)
			}
		})
	}
}

func moduleVersions(info *Info) map[string]string {
	m := map[string]string{}
	for _, d := range info.Deps {
		m[d.Path] = d.Version
	}
	return m
}

// TestReadSystemExecutables reads the machine's own executables that Go
// did not build: (nil, nil), as debug/buildinfo finds no build info.
func TestReadSystemExecutables(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/bin/sh", "/bin/ls", "/usr/bin/env"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil || !isExecutable(append(data, make([]byte, identSize)...)[:identSize]) {
				t.Skipf("%s is not an executable here (%v)", path, err)
			}
			if bi, err := buildinfo.Read(bytes.NewReader(data)); err == nil {
				t.Skipf("%s is a Go executable (%s)", path, bi.GoVersion)
			}
			if got, err := Read(bytes.NewReader(data)); got != nil || err != nil {
				t.Errorf("Read = %+v, %v; want nil, nil", got, err)
			}
		})
	}
}

// TestReadStopsAtBuildInfo checks that Read reads no further than the
// build information: a reader that fails after it is never reached.
func TestReadStopsAtBuildInfo(t *testing.T) {
	t.Parallel()
	blob := syntheticBlob("go1.26.8", modinfo("path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"))
	data := append(elfPrefix(4096), blob...)
	r := io.MultiReader(bytes.NewReader(data), failingReader{})
	got, err := Read(r)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := &Info{GoVersion: "go1.26.8", Path: "example.com/app", Main: Module{Path: "example.com/app", Version: "(devel)"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
}

type failingReader struct{}

var errRead = errors.New("read past the end of what was needed")

func (failingReader) Read([]byte) (int, error) { return 0, errRead }

// TestReadNotGo covers streams that are not Go executables: they read as
// (nil, nil), and those that are no executable at all are rejected from
// their first bytes.
func TestReadNotGo(t *testing.T) {
	t.Parallel()
	text := bytes.Repeat([]byte("#!/bin/sh\necho hello\n"), 4096)
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"empty", bytes.NewReader(nil)},
		{"shorter than an identification", bytes.NewReader([]byte("\x7fELF"))},
		// The failing reader after the text proves Read stopped at the
		// first chunk.
		{"script", io.MultiReader(bytes.NewReader(text), failingReader{})},
		{"gzip", io.MultiReader(bytes.NewReader([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-after-header")), failingReader{})},
		{"elf without build info", bytes.NewReader(elfPrefix(1 << 20))},
		{"magic without a header", bytes.NewReader(append(elfPrefix(64), buildInfoMagic...))},
		{"misaligned blob", bytes.NewReader(append(elfPrefix(65), syntheticBlob("go1.26.8", "")...))},
		{"truncated blob", bytes.NewReader(append(elfPrefix(64), syntheticBlob("go1.26.8", modinfo("path\tx\n"))[:40]...))},
		{"empty version", bytes.NewReader(append(elfPrefix(64), syntheticBlob("", modinfo("path\tx\n"))...))},
		{"version longer than the limit", bytes.NewReader(append(elfPrefix(64), syntheticBlob(string(bytes.Repeat([]byte("g"), maxVersionLength+1)), "")...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Read(tt.r)
			if got != nil || err != nil {
				t.Errorf("Read = %+v, %v; want nil, nil", got, err)
			}
		})
	}
}

// TestReadSynthetic covers blobs written by hand: decoys before the real
// blob, the pre-1.18 format, malformed module information.
func TestReadSynthetic(t *testing.T) {
	t.Parallel()
	mi := modinfo("path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\texample.com/lib\tv1.2.0\th1:abc=\nbuild\tGOARCH=amd64\n")
	want := &Info{
		GoVersion: "go1.26.8",
		Path:      "example.com/app",
		Main:      Module{Path: "example.com/app", Version: "(devel)"},
		Deps:      []Module{{Path: "example.com/lib", Version: "v1.2.0", Sum: "h1:abc="}},
		Settings:  []Setting{{Key: "GOARCH", Value: "amd64"}},
	}
	// A decoy: the magic as a string constant of a program that reads
	// build info (debug/buildinfo's own), followed by unrelated data.
	decoy := append([]byte(buildInfoMagic), "\x08\x02not a header, other strings follow"...)
	oldHeader := append([]byte(buildInfoMagic), 8, 0)
	oldHeader = append(oldHeader, bytes.Repeat([]byte{0x10}, 16)...)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		data    []byte
		want    *Info
		wantErr error
		format  bool // want a *FormatError
	}{
		{name: "blob after data", data: cat(elfPrefix(4096), syntheticBlob("go1.26.8", mi)), want: want},
		{name: "blob after a decoy", data: cat(elfPrefix(4096), pad(decoy), syntheticBlob("go1.26.8", mi)), want: want},
		{name: "blob after a misaligned magic", data: cat(elfPrefix(4097), decoy[:20], pad16(4097+20), syntheticBlob("go1.26.8", mi)), want: want},
		{name: "big-endian pointer size 4", data: cat(elfPrefix(64), syntheticHeader(4, 3), inline("go1.26.8"), inline(mi)), want: want},
		{name: "no module information", data: cat(elfPrefix(64), syntheticBlob("go1.26.8", "")), want: &Info{GoVersion: "go1.26.8"}},
		{name: "pre-1.18 pointer format", data: cat(elfPrefix(64), oldHeader, elfPrefix(4096)), want: &Info{}, wantErr: ErrOldFormat},
		{name: "pre-1.18 decoy then inline blob", data: cat(elfPrefix(64), oldHeader, syntheticBlob("go1.26.8", mi)), want: want},
		{name: "malformed module information", data: cat(elfPrefix(64), syntheticBlob("go1.26.8", modinfo("dep\tonly-a-path\n"))), format: true},
		{name: "mach-o", data: cat([]byte("\xcf\xfa\xed\xfe"), elfPrefix(4096)[4:], syntheticBlob("go1.26.8", mi)), want: want},
		{name: "pe", data: cat([]byte("MZ"), elfPrefix(4096)[2:], syntheticBlob("go1.26.8", mi)), want: want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range []int{1, 7, 1 << 20} {
				var s Scanner
				for rest := tt.data; len(rest) > 0 && !s.Done(); {
					n := min(chunk, len(rest))
					_, _ = s.Write(rest[:n])
					rest = rest[n:]
				}
				got, err := s.Info()
				if tt.format {
					if fe := (*FormatError)(nil); !errors.As(err, &fe) {
						t.Errorf("chunk %d: Info() error = %v, want a *FormatError", chunk, err)
					}
					continue
				}
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Errorf("chunk %d: Info() error = %v, want %v", chunk, err, tt.wantErr)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("chunk %d: Info() (-want +got):\n%s", chunk, diff)
				}
			}
		})
	}
}

// TestReadAtOldFormat: ReadAt hands the pre-1.18 format to debug/buildinfo,
// which fails on a header whose pointers lead nowhere: a *FormatError.
func TestReadAtOldFormat(t *testing.T) {
	t.Parallel()
	data := append(elfPrefix(64), buildInfoMagic...)
	data = append(data, 8, 0)
	data = append(data, make([]byte, 16)...)
	_, err := ReadAt(bytes.NewReader(data), int64(len(data)))
	if fe := (*FormatError)(nil); !errors.As(err, &fe) {
		t.Errorf("ReadAt error = %v, want a *FormatError", err)
	}
}

// TestScannerMemoryBounded writes a large executable without build info
// and checks the scanner keeps no more than one write's worth.
func TestScannerMemoryBounded(t *testing.T) {
	t.Parallel()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	var s Scanner
	_, _ = s.Write(elfPrefix(64))
	for range 64 {
		_, _ = s.Write(chunk)
		if c := cap(s.buf); c > 2*len(chunk) {
			t.Fatalf("scanner buffer grew to %d bytes", c)
		}
	}
	if got, err := s.Info(); got != nil || err != nil {
		t.Errorf("Info() = %v, %v; want nil, nil", got, err)
	}
}

// elfPrefix is n bytes starting like an ELF file, the rest zero.
func elfPrefix(n int) []byte {
	b := make([]byte, n)
	copy(b, "\x7fELF\x02\x01\x01")
	return b
}

// pad pads b with zeros to a multiple of 16 bytes.
func pad(b []byte) []byte {
	return append(b, make([]byte, (16-len(b)%16)%16)...)
}

// pad16 is the zeros that bring offset n to a multiple of 16.
func pad16(n int) []byte { return make([]byte, (16-n%16)%16) }

func syntheticHeader(ptrSize, flags byte) []byte {
	h := make([]byte, buildInfoHeaderSize)
	copy(h, buildInfoMagic)
	h[ptrSizeOffset], h[flagsOffset] = ptrSize, flags
	return h
}

func inline(s string) []byte {
	return append(binaryUvarint(uint64(len(s))), s...)
}

func binaryUvarint(n uint64) []byte {
	var b []byte
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// syntheticBlob is the blob the Go 1.18+ linker writes for a little-endian
// 64-bit target.
func syntheticBlob(vers, mod string) []byte {
	b := append(syntheticHeader(8, flagsVersionInl), inline(vers)...)
	b = append(b, inline(mod)...)
	return pad(b)
}

// modinfo frames module information text with the go command's sentinels.
func modinfo(text string) string {
	return "0w\xaf\f\x92t\b\x02A\xe1\xc1\a\xe6\xd6\x18\xe6" + text + "\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
}

// BenchmarkRead reads a 64 MiB executable whose build info comes last.
func BenchmarkRead(b *testing.B) {
	data := elfPrefix(64 << 20)
	for i := 64; i < len(data); i++ {
		data[i] = byte(i * 31)
	}
	data = append(data, syntheticBlob("go1.26.8", modinfo("path\tx\n"))...)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if info, err := Read(bytes.NewReader(data)); err != nil || info == nil {
			b.Fatalf("Read = %v, %v", info, err)
		}
	}
}
