// Package pkgdb reads the OS package databases found in container image
// trees and compares package versions and package lists.
//
// It understands dpkg (var/lib/dpkg/status and the one-file-per-package
// status.d directory of distroless images), apk (lib/apk/db/installed) and
// rpm (the SQLite rpmdb.sqlite of rpm 4.16 and later, the NDB Packages.db,
// and the Berkeley DB hash Packages file of older releases). Detect says
// which database a path of an image tree holds; ParseDpkg and ParseApk read
// their text formats from a stream; ParseRPM reads the page formats, which
// need random access, from an io.ReaderAt.
//
// CompareVersions orders versions by each ecosystem's own rules (dpkg
// epochs, tildes and revisions; apk-tools suffixes and -rN; rpm EVR with
// tilde and caret), and Diff lists the packages added, removed, upgraded,
// downgraded or otherwise changed between two lists.
//
// SQLite databases are read from the main file only: rpm checkpoints its
// write-ahead log when it exits, and pages still in an rpmdb.sqlite-wal
// file are not seen.
//
// Everything is pure Go and reads hostile input: every offset is bounds
// checked, loops are bounded, and malformed data yields an error wrapping
// ErrMalformed, never a panic. The package imports nothing from Kubernetes
// and does no I/O beyond the readers it is given.
package pkgdb
