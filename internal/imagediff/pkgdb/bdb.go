package pkgdb

import (
	"encoding/binary"
	"io"
)

// The Berkeley DB hash format of rpm's Packages file (rpm < 4.16): a
// metadata page (page 0), then hash pages whose items come in key/value
// pairs. rpm's values, the header blobs, are usually stored off-page in a
// chain of overflow pages; small ones are inline. Pages are in the byte
// order of the machine that wrote them, told by the metadata's magic.
const (
	bdbHashMagic      = 0x00061561
	bdbPageHeaderSize = 26
	bdbPageHashOld    = 2 // unsorted hash page (rpm before 4.6)
	bdbPageOverflow   = 7
	bdbPageHashMeta   = 8
	bdbPageHash       = 13
	bdbItemKeyData    = 1
	bdbItemOffPage    = 3
	bdbOffPageSize    = 12
)

func walkBDB(r io.ReaderAt, size int64, fn func([]byte) error) error {
	var meta [96]byte
	if size < int64(len(meta)) {
		return malformed("bdb: file of %d bytes", size)
	}
	if err := readAt(r, meta[:], 0, "bdb: reading metadata"); err != nil {
		return err
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(meta[12:]) == bdbHashMagic:
	case binary.BigEndian.Uint32(meta[12:]) == bdbHashMagic:
		order = binary.BigEndian
	default:
		if m := binary.LittleEndian.Uint32(meta[12:]); m == 0x00053162 || m == 0x62310500 {
			return &UnsupportedFormatError{Format: "rpm Berkeley DB btree"}
		}
		return malformed("bdb: not a Berkeley DB hash file")
	}
	pageSize := int64(order.Uint32(meta[20:]))
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return malformed("bdb: page size %d", pageSize)
	}
	if meta[24] != 0 {
		return &UnsupportedFormatError{Format: "encrypted rpm Berkeley DB"}
	}
	if meta[25] != bdbPageHashMeta {
		return malformed("bdb: page 0 has type %d, not hash metadata", meta[25])
	}
	pages := size / pageSize
	if last := int64(order.Uint32(meta[32:])); last+1 < pages {
		pages = last + 1
	}
	db := &bdbFile{r: r, order: order, pageSize: pageSize, pages: pages, used: make(map[uint32]bool)}
	page := make([]byte, pageSize)
	for n := int64(1); n < pages; n++ {
		if err := readAt(r, page, n*pageSize, "bdb: reading page %d", n); err != nil {
			return err
		}
		if t := page[25]; t != bdbPageHash && t != bdbPageHashOld {
			continue
		}
		if err := db.hashPage(uint32(n), page, fn); err != nil {
			return err
		}
	}
	return nil
}

type bdbFile struct {
	r        io.ReaderAt
	order    binary.ByteOrder
	pageSize int64
	pages    int64
	used     map[uint32]bool // overflow pages already read: each belongs to one value
}

// hashPage calls fn with every value of hash page n.
func (db *bdbFile) hashPage(n uint32, page []byte, fn func([]byte) error) error {
	entries := int(db.order.Uint16(page[20:]))
	if entries%2 != 0 || bdbPageHeaderSize+2*entries > len(page) {
		return malformed("bdb: page %d: %d items", n, entries)
	}
	offset := func(i int) int { return int(db.order.Uint16(page[bdbPageHeaderSize+2*i:])) }
	for i := 1; i < entries; i += 2 { // keys at even indexes, values at odd
		off := offset(i)
		if off < bdbPageHeaderSize+2*entries || off >= len(page) {
			return malformed("bdb: page %d: item %d at offset %d", n, i, off)
		}
		switch page[off] {
		case bdbItemOffPage:
			if off+bdbOffPageSize > len(page) {
				return malformed("bdb: page %d: item %d overruns the page", n, i)
			}
			v, err := db.overflow(db.order.Uint32(page[off+4:]), int64(db.order.Uint32(page[off+8:])))
			if err != nil {
				return err
			}
			if err := fn(v); err != nil {
				return err
			}
		case bdbItemKeyData:
			// Items are packed from the end of the page: an item ends
			// where the previous one starts.
			end := len(page)
			if i > 0 {
				end = offset(i - 1)
			}
			if end <= off || end > len(page) {
				continue // not a layout this reader can trust
			}
			if v := page[off+1 : end]; len(v) > 8 { // record 0 is rpm's 4-byte counter
				if err := fn(v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// overflow reads a value of length total from the overflow chain that
// starts at page pgno.
func (db *bdbFile) overflow(pgno uint32, total int64) ([]byte, error) {
	if total > sqliteMaxPayload || total > db.pages*db.pageSize {
		return nil, malformed("bdb: value of %d bytes", total)
	}
	v := make([]byte, 0, total)
	page := make([]byte, db.pageSize)
	for pgno != 0 && int64(len(v)) < total {
		if int64(pgno) >= db.pages || db.used[pgno] {
			return nil, malformed("bdb: broken overflow chain at page %d", pgno)
		}
		db.used[pgno] = true
		if err := readAt(db.r, page, int64(pgno)*db.pageSize, "bdb: reading page %d", pgno); err != nil {
			return nil, err
		}
		if page[25] != bdbPageOverflow {
			return nil, malformed("bdb: page %d has type %d, not overflow", pgno, page[25])
		}
		// hf_offset holds the bytes used on an overflow page.
		used := int64(db.order.Uint16(page[22:]))
		if used > db.pageSize-bdbPageHeaderSize {
			return nil, malformed("bdb: page %d: %d bytes used", pgno, used)
		}
		used = min(used, total-int64(len(v)))
		v = append(v, page[bdbPageHeaderSize:bdbPageHeaderSize+used]...)
		pgno = db.order.Uint32(page[16:])
	}
	if int64(len(v)) != total {
		return nil, malformed("bdb: overflow chain holds %d of %d bytes", len(v), total)
	}
	return v, nil
}
