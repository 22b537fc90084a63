package pkgdb

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseApk(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/apk/installed")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name string
		r    func() *strings.Reader
		want []Package
	}{
		{
			name: "CRLF and no final newline",
			r:    func() *strings.Reader { return strings.NewReader("P:a\r\nV:1.0-r0\r\nA:aarch64\r\n\r\nP:b\nV:2\no:c") },
			want: []Package{{Apk, "a", "1.0-r0", "aarch64", ""}, {Apk, "b", "2", "", "c"}},
		},
		{
			name: "block without a version",
			r:    func() *strings.Reader { return strings.NewReader("P:a\nA:x86_64\n\nP:b\nV:1\n") },
			want: []Package{{Apk, "b", "1", "", ""}},
		},
	}
	t.Run("installed database", func(t *testing.T) {
		got, err := ParseApk(f)
		if err != nil {
			t.Fatalf("ParseApk: %v", err)
		}
		want := []Package{
			{Apk, "musl", "1.2.5-r0", "x86_64", "musl"},
			{Apk, "busybox", "1.36.1-r29", "x86_64", "busybox"},
			{Apk, "ssl_client", "1.36.1-r29", "x86_64", "busybox"},
			{Apk, "libcrypto3", "3.3.2_p1-r0", "x86_64", "openssl"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseApk (-want +got):\n%s", diff)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseApk(tt.r())
			if err != nil {
				t.Fatalf("ParseApk: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseApk (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseApkMalformed(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"not a field line": "P:a\nhello\n",
		"line too long":    "P:a\nT:" + strings.Repeat("x", maxLine+1) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseApk(strings.NewReader(text)); !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseApk: got %v, want an error wrapping ErrMalformed", err)
			}
		})
	}
}

func FuzzParseApk(f *testing.F) {
	b, err := os.ReadFile("testdata/apk/installed")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("P:x\nV:1\n\n\nP:\nV:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := ParseApk(strings.NewReader(string(b)))
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unclassified error %v", err)
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Ecosystem != Apk {
				t.Fatalf("incomplete package %+v", p)
			}
		}
	})
}
