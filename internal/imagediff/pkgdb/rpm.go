package pkgdb

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseRPM reads an rpm database of the given kind from r (size bytes):
// RPMSQLite (rpmdb.sqlite), RPMNDB (Packages.db) or RPMBerkeleyDB
// (Packages, hash format). Public-key pseudo-packages (gpg-pubkey) are
// left out.
func ParseRPM(kind Kind, r io.ReaderAt, size int64) ([]Package, error) {
	var blobs func(func([]byte) error) error
	switch kind {
	case RPMSQLite:
		db, err := openSQLite(r, size)
		if err != nil {
			return nil, err
		}
		blobs = func(fn func([]byte) error) error {
			root, err := db.tableRoot("Packages")
			if err != nil {
				return err
			}
			return db.walkTable(root, func(_ int64, payload []byte) error {
				cols, err := record(payload)
				if err != nil {
					return err
				}
				if len(cols) < 2 || cols[1].bytes == nil {
					return malformed("rpm sqlite: Packages row without a blob")
				}
				return fn(cols[1].bytes)
			})
		}
	case RPMNDB:
		blobs = func(fn func([]byte) error) error { return walkNDB(r, size, fn) }
	case RPMBerkeleyDB:
		blobs = func(fn func([]byte) error) error { return walkBDB(r, size, fn) }
	default:
		return nil, fmt.Errorf("reading rpm database: %w", &UnsupportedFormatError{Format: kind.String()})
	}
	var pkgs []Package
	err := blobs(func(blob []byte) error {
		p, err := parseRPMHeader(blob)
		if err != nil {
			return err
		}
		if p.Name != "gpg-pubkey" {
			pkgs = append(pkgs, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s database: %w", kind, err)
	}
	return pkgs, nil
}

// rpm header tags and types read here.
const (
	rpmTagName      = 1000
	rpmTagVersion   = 1001
	rpmTagRelease   = 1002
	rpmTagEpoch     = 1003
	rpmTagArch      = 1022
	rpmTagSourceRPM = 1044

	rpmTypeInt32       = 4
	rpmTypeString      = 6
	rpmTypeStringArray = 8
	rpmTypeI18NString  = 9

	// Limits rpm itself applies to headers (hdrchkTags, hdrchkData).
	rpmMaxTags = 0x0000ffff
	rpmMaxData = 0x0fffffff
)

// parseRPMHeader reads the tags of interest from an rpm header blob as
// stored in the database: entry count, data length, 16-byte index entries
// (tag, type, offset, count; big-endian) and the data store. A leading
// header magic, as in package files, is accepted.
func parseRPMHeader(b []byte) (Package, error) {
	if len(b) >= 8 && b[0] == 0x8e && b[1] == 0xad && b[2] == 0xe8 && b[3] == 0x01 {
		b = b[8:]
	}
	if len(b) < 8 {
		return Package{}, malformed("rpm header: %d bytes", len(b))
	}
	il := binary.BigEndian.Uint32(b[0:4])
	dl := binary.BigEndian.Uint32(b[4:8])
	if il == 0 || il > rpmMaxTags || dl > rpmMaxData {
		return Package{}, malformed("rpm header: %d entries, %d data bytes", il, dl)
	}
	dataStart := 8 + 16*uint64(il)
	if dataStart+uint64(dl) > uint64(len(b)) {
		return Package{}, malformed("rpm header: %d entries and %d data bytes do not fit in %d bytes", il, dl, len(b))
	}
	data := b[dataStart : dataStart+uint64(dl)]
	p := Package{Ecosystem: RPM}
	var version, release, epoch, sourceRPM string
	for i := range uint64(il) {
		e := b[8+16*i : 8+16*i+16]
		tag := binary.BigEndian.Uint32(e[0:4])
		typ := binary.BigEndian.Uint32(e[4:8])
		off := binary.BigEndian.Uint32(e[8:12])
		count := binary.BigEndian.Uint32(e[12:16])
		var dst *string
		switch tag {
		case rpmTagName:
			dst = &p.Name
		case rpmTagVersion:
			dst = &version
		case rpmTagRelease:
			dst = &release
		case rpmTagArch:
			dst = &p.Arch
		case rpmTagSourceRPM:
			dst = &sourceRPM
		case rpmTagEpoch:
			if typ != rpmTypeInt32 || count < 1 || uint64(off)+4 > uint64(len(data)) {
				return Package{}, malformed("rpm header: bad EPOCH entry")
			}
			epoch = strconv.FormatUint(uint64(binary.BigEndian.Uint32(data[off:])), 10)
			continue
		default:
			continue
		}
		if typ != rpmTypeString && typ != rpmTypeI18NString && typ != rpmTypeStringArray {
			return Package{}, malformed("rpm header: tag %d has type %d, not a string", tag, typ)
		}
		if uint64(off) >= uint64(len(data)) {
			return Package{}, malformed("rpm header: tag %d at offset %d beyond %d data bytes", tag, off, len(data))
		}
		s := data[off:]
		end := strings.IndexByte(string(s), 0)
		if end < 0 {
			return Package{}, malformed("rpm header: tag %d: unterminated string", tag)
		}
		*dst = string(s[:end])
	}
	if p.Name == "" || version == "" {
		return Package{}, malformed("rpm header: no NAME or VERSION")
	}
	p.Version = version
	if release != "" {
		p.Version += "-" + release
	}
	if epoch != "" {
		p.Version = epoch + ":" + p.Version
	}
	p.Source = sourceName(sourceRPM)
	return p, nil
}

// sourceName returns the package name of a source rpm file name
// ("bash-5.1.8-6.el9.src.rpm" → "bash").
func sourceName(srpm string) string {
	s := strings.TrimSuffix(strings.TrimSuffix(srpm, ".src.rpm"), ".nosrc.rpm")
	if s == srpm {
		return ""
	}
	for range 2 { // drop "-release", then "-version"
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return ""
		}
		s = s[:i]
	}
	return s
}
