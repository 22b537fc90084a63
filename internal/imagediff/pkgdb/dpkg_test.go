package pkgdb

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDpkg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string // under testdata, or "" to use text
		text string
		want []Package
	}{
		{
			name: "status file",
			file: "dpkg/status",
			want: []Package{
				{Deb, "apt-transport-https", "2.6.1", "all", "apt"},
				{Deb, "at-spi2-common", "2.46.0-5", "all", "at-spi2-core"},
				{Deb, "base-files", "12.4+deb12u11", "amd64", "base-files"},
				{Deb, "bash", "5.2.15-2+b8", "amd64", "bash"},
				{Deb, "ca-certificates", "20230311+deb12u1", "all", "ca-certificates"},
				{Deb, "coreutils", "9.1-1", "amd64", "coreutils"},
				{Deb, "libc6", "2.36-9+deb12u14", "amd64", "glibc"},
				{Deb, "perl-base", "5.36.0-7+deb12u2", "amd64", "perl"},
				{Deb, "tzdata", "2025b-0+deb12u2", "all", "tzdata"},
				{Deb, "zlib1g", "1:1.2.13.dfsg-1", "amd64", "zlib"},
				{Deb, "heldpkg", "1:2.0~rc1-3", "amd64", "heldpkg"},
			},
		},
		{
			name: "distroless status.d file",
			file: "dpkg/status.d/libssl3",
			want: []Package{{Deb, "libssl3", "3.0.15-1~deb12u1", "amd64", "openssl"}},
		},
		{
			name: "CRLF, no final newline, stanza without version",
			text: "Package: a\r\nVersion: 1\r\nArchitecture: amd64\r\n\r\nPackage: nover\r\n\r\nPackage: b\r\nVersion: 2",
			want: []Package{{Deb, "a", "1", "amd64", "a"}, {Deb, "b", "2", "", "b"}},
		},
		{
			name: "several blank lines and field names in any case",
			text: "\n\n\npackage: a\nSTATUS: install ok installed\nversion: 1\n\n\n\n",
			want: []Package{{Deb, "a", "1", "", "a"}},
		},
		{name: "empty", text: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := strings.NewReader(tt.text)
			if tt.file != "" {
				f, err := os.Open("testdata/" + tt.file)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				got, err := ParseDpkg(f)
				if err != nil {
					t.Fatalf("ParseDpkg(%s): %v", tt.file, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ParseDpkg(%s) (-want +got):\n%s", tt.file, diff)
				}
				return
			}
			got, err := ParseDpkg(r)
			if err != nil {
				t.Fatalf("ParseDpkg: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDpkg (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDpkgMalformed(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"line without a colon": "Package: a\nVersion 1\n",
		"line too long":        "Package: a\nDescription: " + strings.Repeat("x", maxLine+1) + "\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseDpkg(strings.NewReader(text))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseDpkg: got %v, want an error wrapping ErrMalformed", err)
			}
		})
	}
}

// TestParseDpkgLive reads the machine's own dpkg database when there is one.
func TestParseDpkgLive(t *testing.T) {
	t.Parallel()
	f, err := os.Open("/var/lib/dpkg/status")
	if err != nil {
		t.Skipf("no dpkg database on this machine: %v", err)
	}
	defer f.Close()
	got, err := ParseDpkg(f)
	if err != nil {
		t.Fatalf("ParseDpkg(/var/lib/dpkg/status): %v", err)
	}
	if len(got) == 0 {
		t.Fatal("ParseDpkg(/var/lib/dpkg/status) found no installed package")
	}
	for _, p := range got {
		if p.Name == "" || p.Version == "" || p.Ecosystem != Deb || p.Source == "" {
			t.Errorf("incomplete package %+v", p)
		}
		if p.Name == "dpkg" {
			return
		}
	}
	t.Error("ParseDpkg(/var/lib/dpkg/status) did not list dpkg itself")
}

func FuzzParseDpkg(f *testing.F) {
	for _, name := range []string{"testdata/dpkg/status", "testdata/dpkg/status.d/libssl3"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Package: a\nVersion: 1\n Status: x\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := ParseDpkg(strings.NewReader(string(b)))
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unclassified error %v", err)
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", p)
			}
		}
	})
}
