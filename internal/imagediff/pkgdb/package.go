package pkgdb

import (
	"io"
	"path"
	"strings"
)

// Ecosystem is a package manager family.
type Ecosystem string

// The ecosystems this package reads.
const (
	Deb Ecosystem = "deb"
	Apk Ecosystem = "apk"
	RPM Ecosystem = "rpm"
)

// Package is one installed package.
type Package struct {
	Ecosystem Ecosystem `json:"ecosystem"`
	Name      string    `json:"name"`
	// Version is the full version as the package manager prints it:
	// "[epoch:]upstream[-revision]" for dpkg, "1.2.3-r4" for apk,
	// "[epoch:]version-release" for rpm.
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
	// Source is the source package when the database records it (dpkg's
	// Source field or the package name, apk's origin, rpm's SOURCERPM name).
	Source string `json:"source,omitempty"`
}

// Kind is the kind of package database a file holds.
type Kind int

// The package database kinds Detect recognises.
const (
	DpkgStatus    Kind = iota + 1 // var/lib/dpkg/status
	DpkgStatusD                   // one file of var/lib/dpkg/status.d/ (distroless)
	ApkInstalled                  // lib/apk/db/installed
	RPMSQLite                     // rpmdb.sqlite (rpm >= 4.16)
	RPMBerkeleyDB                 // Packages (Berkeley DB hash)
	RPMNDB                        // Packages.db (rpm's native format)
)

func (k Kind) String() string {
	switch k {
	case DpkgStatus:
		return "dpkg status"
	case DpkgStatusD:
		return "dpkg status.d"
	case ApkInstalled:
		return "apk installed"
	case RPMSQLite:
		return "rpm sqlite"
	case RPMBerkeleyDB:
		return "rpm bdb"
	case RPMNDB:
		return "rpm ndb"
	}
	return "unknown"
}

// Ecosystem returns the ecosystem whose database k is.
func (k Kind) Ecosystem() Ecosystem {
	switch k {
	case DpkgStatus, DpkgStatusD:
		return Deb
	case ApkInstalled:
		return Apk
	case RPMSQLite, RPMBerkeleyDB, RPMNDB:
		return RPM
	}
	return ""
}

// Detect reports which package database the file at p holds, p being a path
// of an image tree: slash-separated, without a leading slash.
func Detect(p string) (Kind, bool) {
	p = strings.TrimPrefix(p, "./")
	switch p {
	case "var/lib/dpkg/status":
		return DpkgStatus, true
	case "lib/apk/db/installed", "usr/lib/apk/db/installed":
		return ApkInstalled, true
	}
	dir, file := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "var/lib/dpkg/status.d" {
		if file == "" || strings.HasPrefix(file, ".") || strings.HasSuffix(file, ".md5sums") {
			return 0, false
		}
		return DpkgStatusD, true
	}
	if dir == "var/lib/rpm" || dir == "usr/lib/sysimage/rpm" {
		switch file {
		case "rpmdb.sqlite":
			return RPMSQLite, true
		case "Packages":
			return RPMBerkeleyDB, true
		case "Packages.db":
			return RPMNDB, true
		}
	}
	return 0, false
}

// NeedsRandomAccess reports whether databases of kind k are read with
// ParseRPM from an io.ReaderAt (the caller spools them to disk) rather than
// streamed through ParseDpkg or ParseApk.
func (k Kind) NeedsRandomAccess() bool { return k.Ecosystem() == RPM }

// Parse reads a database of any kind from r (size bytes), calling the
// parser of its kind.
func Parse(kind Kind, r io.ReaderAt, size int64) ([]Package, error) {
	switch kind {
	case DpkgStatus, DpkgStatusD:
		return ParseDpkg(io.NewSectionReader(r, 0, size))
	case ApkInstalled:
		return ParseApk(io.NewSectionReader(r, 0, size))
	}
	return ParseRPM(kind, r, size)
}
