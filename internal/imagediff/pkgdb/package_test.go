package pkgdb

import (
	"bytes"
	"os"
	"testing"
)

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want Kind
		ok   bool
	}{
		{"var/lib/dpkg/status", DpkgStatus, true},
		{"./var/lib/dpkg/status", DpkgStatus, true},
		{"var/lib/dpkg/status-old", 0, false},
		{"var/lib/dpkg/status.d/libssl3", DpkgStatusD, true},
		{"var/lib/dpkg/status.d/libssl3.md5sums", 0, false},
		{"var/lib/dpkg/status.d/.wh.libssl3", 0, false},
		{"var/lib/dpkg/status.d/", 0, false},
		{"var/lib/dpkg/status.d/sub/x", 0, false},
		{"lib/apk/db/installed", ApkInstalled, true},
		{"usr/lib/apk/db/installed", ApkInstalled, true},
		{"lib/apk/db/installed.new", 0, false},
		{"var/lib/rpm/rpmdb.sqlite", RPMSQLite, true},
		{"usr/lib/sysimage/rpm/rpmdb.sqlite", RPMSQLite, true},
		{"var/lib/rpm/rpmdb.sqlite-wal", 0, false},
		{"var/lib/rpm/Packages", RPMBerkeleyDB, true},
		{"usr/lib/sysimage/rpm/Packages", RPMBerkeleyDB, true},
		{"var/lib/rpm/Packages.db", RPMNDB, true},
		{"usr/lib/sysimage/rpm/Packages.db", RPMNDB, true},
		{"var/lib/rpm/Name", 0, false},
		{"/var/lib/dpkg/status", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			got, ok := Detect(tt.path)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Detect(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
			if ok && got.Ecosystem() == "" {
				t.Errorf("%v has no ecosystem", got)
			}
		})
	}
}

func TestParseAnyKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind  Kind
		file  string
		first string
	}{
		{DpkgStatus, "testdata/dpkg/status", "apt-transport-https"},
		{DpkgStatusD, "testdata/dpkg/status.d/libssl3", "libssl3"},
		{ApkInstalled, "testdata/apk/installed", "musl"},
		{RPMSQLite, "testdata/rpm/tiny.sqlite", "tiny"},
		{RPMBerkeleyDB, "testdata/rpm/Packages", "libuuid"},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(tt.kind, bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatalf("Parse(%v, %s): %v", tt.kind, tt.file, err)
			}
			if len(got) == 0 || got[0].Name != tt.first || got[0].Ecosystem != tt.kind.Ecosystem() {
				t.Errorf("Parse(%v, %s) = %+v, want %s first", tt.kind, tt.file, got, tt.first)
			}
			if tt.kind.NeedsRandomAccess() != (tt.kind.Ecosystem() == RPM) {
				t.Errorf("%v.NeedsRandomAccess() = %v", tt.kind, tt.kind.NeedsRandomAccess())
			}
		})
	}
}
