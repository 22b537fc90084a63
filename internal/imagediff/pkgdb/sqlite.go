package pkgdb

import (
	"encoding/binary"
	"io"
	"strings"
)

// A minimal read-only reader of the SQLite 3 file format
// (https://www.sqlite.org/fileformat2.html): the database header, the schema
// table on page 1, table b-trees (interior and leaf pages), records and
// overflow pages. It reads what rpm's Packages table needs and nothing
// more: no indexes, no WAL, no free-list.

const (
	sqliteMagic      = "SQLite format 3\x00"
	sqliteHeaderSize = 100
	// sqliteMaxDepth bounds the b-tree depth; real trees are a few levels.
	sqliteMaxDepth = 64
	// sqliteMaxPayload bounds one record (an rpm header is well under this).
	sqliteMaxPayload = 64 << 20
)

type sqliteDB struct {
	r        io.ReaderAt
	pageSize int
	usable   int   // page size minus reserved bytes
	pages    int64 // number of pages in the file
	// used holds every page read as part of a b-tree or an overflow
	// chain: in a sound file each page has one role, so a page reached
	// twice means a loop or a crafted file, and work stays bounded by the
	// file's size.
	used map[uint32]bool
}

func openSQLite(r io.ReaderAt, size int64) (*sqliteDB, error) {
	var h [sqliteHeaderSize]byte
	if size < sqliteHeaderSize {
		return nil, malformed("sqlite: file of %d bytes is shorter than its header", size)
	}
	if err := readAt(r, h[:], 0, "sqlite: reading header"); err != nil {
		return nil, err
	}
	if string(h[:16]) != sqliteMagic {
		return nil, malformed("sqlite: bad magic")
	}
	ps := int(binary.BigEndian.Uint16(h[16:18]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, malformed("sqlite: page size %d", ps)
	}
	reserved := int(h[20])
	usable := ps - reserved
	if usable < 480 {
		return nil, malformed("sqlite: usable page size %d", usable)
	}
	if enc := binary.BigEndian.Uint32(h[56:60]); enc > 1 {
		return nil, &UnsupportedFormatError{Format: "rpm sqlite with a UTF-16 text encoding"}
	}
	return &sqliteDB{r: r, pageSize: ps, usable: usable, pages: size / int64(ps), used: make(map[uint32]bool)}, nil
}

// page reads page n (1-based) into a fresh slice.
func (db *sqliteDB) page(n uint32) ([]byte, error) {
	if n < 1 || int64(n) > db.pages {
		return nil, malformed("sqlite: page %d out of range (1..%d)", n, db.pages)
	}
	p := make([]byte, db.pageSize)
	if err := readAt(db.r, p, int64(n-1)*int64(db.pageSize), "sqlite: reading page %d", n); err != nil {
		return nil, err
	}
	return p, nil
}

// varint decodes a SQLite varint (big-endian, 1–9 bytes).
func varint(b []byte) (uint64, int, bool) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0, false
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9, true
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

// walkTable calls fn with the payload of every row of the table b-tree
// rooted at page root, in rowid order.
func (db *sqliteDB) walkTable(root uint32, fn func(rowid int64, payload []byte) error) error {
	var walk func(n uint32, depth int) error
	walk = func(n uint32, depth int) error {
		if depth > sqliteMaxDepth {
			return malformed("sqlite: b-tree deeper than %d", sqliteMaxDepth)
		}
		if db.used[n] {
			return malformed("sqlite: page %d reached twice", n)
		}
		db.used[n] = true
		p, err := db.page(n)
		if err != nil {
			return err
		}
		off := 0
		if n == 1 {
			off = sqliteHeaderSize
		}
		if off+8 > len(p) {
			return malformed("sqlite: page %d too short", n)
		}
		typ := p[off]
		ncells := int(binary.BigEndian.Uint16(p[off+3 : off+5]))
		hdr := 8
		if typ == 0x05 {
			hdr = 12
		}
		if off+hdr+2*ncells > len(p) {
			return malformed("sqlite: page %d: %d cells do not fit", n, ncells)
		}
		cellPtrs := p[off+hdr : off+hdr+2*ncells]
		switch typ {
		case 0x05: // interior table page
			for i := range ncells {
				c := int(binary.BigEndian.Uint16(cellPtrs[2*i:]))
				if c+4 > len(p) {
					return malformed("sqlite: page %d: cell %d out of range", n, i)
				}
				if err := walk(binary.BigEndian.Uint32(p[c:]), depth+1); err != nil {
					return err
				}
			}
			return walk(binary.BigEndian.Uint32(p[off+8:]), depth+1)
		case 0x0d: // leaf table page
			for i := range ncells {
				c := int(binary.BigEndian.Uint16(cellPtrs[2*i:]))
				rowid, payload, err := db.leafCell(n, p, c)
				if err != nil {
					return err
				}
				if err := fn(rowid, payload); err != nil {
					return err
				}
			}
			return nil
		}
		return malformed("sqlite: page %d: type %#x is not a table b-tree page", n, typ)
	}
	return walk(root, 0)
}

// leafCell reads the cell at offset c of leaf page p (page number n),
// following overflow pages.
func (db *sqliteDB) leafCell(n uint32, p []byte, c int) (int64, []byte, error) {
	if c >= len(p) {
		return 0, nil, malformed("sqlite: page %d: cell offset %d out of range", n, c)
	}
	size, k, ok := varint(p[c:])
	if !ok {
		return 0, nil, malformed("sqlite: page %d: bad payload size", n)
	}
	c += k
	rowid, k, ok := varint(p[min(c, len(p)):])
	if !ok {
		return 0, nil, malformed("sqlite: page %d: bad rowid", n)
	}
	c += k
	// A record cannot be larger than the file, nor than sqliteMaxPayload.
	if size > sqliteMaxPayload || size > uint64(db.pages)*uint64(db.pageSize) {
		return 0, nil, malformed("sqlite: page %d: record of %d bytes", n, size)
	}
	total := int(size)
	u := db.usable
	x := u - 35
	local := total
	if total > x {
		m := (u-12)*32/255 - 23
		local = m + (total-m)%(u-4)
		if local > x {
			local = m
		}
	}
	if c+local > len(p) {
		return 0, nil, malformed("sqlite: page %d: cell overruns the page", n)
	}
	payload := make([]byte, 0, total)
	payload = append(payload, p[c:c+local]...)
	if local == total {
		return int64(rowid), payload, nil
	}
	if c+local+4 > len(p) {
		return 0, nil, malformed("sqlite: page %d: missing overflow pointer", n)
	}
	next := binary.BigEndian.Uint32(p[c+local:])
	for len(payload) < total {
		if next == 0 || db.used[next] {
			return 0, nil, malformed("sqlite: page %d: broken overflow chain", n)
		}
		db.used[next] = true
		op, err := db.page(next)
		if err != nil {
			return 0, nil, err
		}
		chunk := min(total-len(payload), u-4)
		payload = append(payload, op[4:4+chunk]...)
		next = binary.BigEndian.Uint32(op[:4])
	}
	return int64(rowid), payload, nil
}

// sqliteValue is one column of a record: an integer, or text/blob bytes.
type sqliteValue struct {
	null  bool
	int   int64
	bytes []byte
	isInt bool
}

// record decodes a record's columns.
func record(payload []byte) ([]sqliteValue, error) {
	hsize, k, ok := varint(payload)
	if !ok || hsize > uint64(len(payload)) || hsize < uint64(k) {
		return nil, malformed("sqlite: bad record header")
	}
	hdr := payload[k:hsize]
	body := payload[hsize:]
	var cols []sqliteValue
	for len(hdr) > 0 {
		st, k, ok := varint(hdr)
		if !ok {
			return nil, malformed("sqlite: bad serial type")
		}
		hdr = hdr[k:]
		var n uint64
		switch {
		case st == 0:
			cols = append(cols, sqliteValue{null: true})
			continue
		case st >= 1 && st <= 6:
			n = [...]uint64{0, 1, 2, 3, 4, 6, 8}[st]
		case st == 7:
			n = 8
		case st == 8 || st == 9:
			cols = append(cols, sqliteValue{isInt: true, int: int64(st - 8)})
			continue
		case st >= 12:
			n = (st - 12) / 2
		default:
			return nil, malformed("sqlite: reserved serial type %d", st)
		}
		if n > uint64(len(body)) {
			return nil, malformed("sqlite: record body too short")
		}
		v := body[:n]
		body = body[n:]
		switch {
		case st <= 6:
			var x int64
			for i, c := range v {
				if i == 0 {
					x = int64(int8(c))
				} else {
					x = x<<8 | int64(c)
				}
			}
			cols = append(cols, sqliteValue{isInt: true, int: x})
		case st == 7:
			cols = append(cols, sqliteValue{}) // a float: not needed here
		default:
			cols = append(cols, sqliteValue{bytes: v})
		}
	}
	return cols, nil
}

// tableRoot finds the root page of the table named name in the schema.
func (db *sqliteDB) tableRoot(name string) (uint32, error) {
	var root uint32
	err := db.walkTable(1, func(_ int64, payload []byte) error {
		cols, err := record(payload)
		if err != nil {
			return err
		}
		if len(cols) < 4 || string(cols[0].bytes) != "table" || !strings.EqualFold(string(cols[1].bytes), name) {
			return nil
		}
		if !cols[3].isInt || cols[3].int < 1 || cols[3].int > int64(^uint32(0)) {
			return malformed("sqlite: table %s has root page %d", name, cols[3].int)
		}
		root = uint32(cols[3].int)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if root == 0 {
		return 0, malformed("sqlite: no table %s", name)
	}
	return root, nil
}
