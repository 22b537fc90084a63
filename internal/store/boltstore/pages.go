package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
)

// This file reads a bbolt file the way bbolt lays it out (bbolt's
// internal/common: page.go, meta.go, bucket.go), without bbolt and
// without trusting a byte of it: every offset, length and page number is
// checked before use. Check and Compact walk a damaged file with it,
// where bbolt itself would panic (or fault on its memory map).
//
// A page starts with a 16-byte header: id (uint64), flags (uint16),
// count (uint16), overflow (uint32, how many pages follow it as one).
// A meta page (pages 0 and 1) holds after the header: magic (uint32),
// version (uint32), page size (uint32), flags (uint32), the root bucket
// (root page uint64, sequence uint64), the freelist page (uint64), the
// high-water mark (uint64, pages in use), the transaction id (uint64)
// and an FNV-1a 64 checksum of the bytes before it. A branch page holds
// count elements of 16 bytes: key position (uint32, from the element),
// key size (uint32), child page (uint64). A leaf page holds count
// elements of 16 bytes: flags (uint32, 1 for a nested bucket), key
// position (uint32, from the element), key size (uint32), value size
// (uint32), the value following the key. A nested bucket's value is its
// root page (uint64) and sequence (uint64), followed, when the root page
// is 0, by the bucket's one leaf page inline. A freelist page holds count
// page numbers (uint64), or, when count is 0xFFFF, the real count
// followed by the page numbers. Integers are in the machine's byte order.

// Page flags.
const (
	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
)

const (
	pageHeaderSize  = 16
	elementSize     = 16
	bucketHeaderLen = 16
	leafFlagBucket  = 0x01
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	// metaChecksumAt is where the checksum sits in a meta page, after
	// the header.
	metaChecksumAt = 56
	noFreelist     = ^uint64(0)
)

var order = binary.NativeEndian

// file is a bbolt file read into memory.
type file struct {
	b        []byte
	pageSize int
}

// readFile reads the file at path and calls fn with it, its page size
// taken from the first valid meta page (4096 when there is none).
func readFile(path string, fn func(*file)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f := &file{b: b, pageSize: 4096}
	if m, err := f.metaAt(0); err == nil {
		f.pageSize = int(m.pageSize)
	} else {
		// The second meta page is at the page size, which only the first
		// one says: try the sizes bbolt does.
		for size := 1024; size <= 1<<24 && size+pageHeaderSize+metaChecksumAt+8 <= len(b); size *= 2 {
			f.pageSize = size
			if m, err := f.metaAt(1); err == nil && int(m.pageSize) == size {
				break
			}
			f.pageSize = 4096
		}
	}
	fn(f)
	return nil
}

// pages is how many whole pages the file holds.
func (f *file) pages() uint64 { return uint64(len(f.b) / f.pageSize) }

// page is one page (with its overflow pages) of the file.
type page struct {
	id       uint64
	flags    uint16
	count    int
	overflow uint32
	// b is the whole page, header included.
	b []byte
}

func parsePage(b []byte) page {
	return page{
		id:       order.Uint64(b[0:]),
		flags:    order.Uint16(b[8:]),
		count:    int(order.Uint16(b[10:])),
		overflow: order.Uint32(b[12:]),
		b:        b,
	}
}

// page returns page id, checking that it is in the file, says it is page
// id and that its overflow pages are in the file too.
func (f *file) page(id uint64) (page, error) {
	if f.pageSize < pageHeaderSize+elementSize || id >= f.pages() {
		return page{}, fmt.Errorf("page %d is beyond the end of the file (%d pages)", id, f.pages())
	}
	off := id * uint64(f.pageSize)
	p := parsePage(f.b[off : off+uint64(f.pageSize)])
	if p.id != id {
		return page{}, fmt.Errorf("page %d says it is page %d", id, p.id)
	}
	if end := id + 1 + uint64(p.overflow); end > f.pages() || end < id {
		return page{}, fmt.Errorf("page %d with %d overflow pages runs past the end of the file", id, p.overflow)
	}
	p.b = f.b[off : off+uint64(f.pageSize)*(1+uint64(p.overflow))]
	return p, nil
}

// meta is the part of a meta page that matters here.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64
	txid     uint64
}

var errMetaInvalid = errors.New("not a bbolt meta page")

// metaAt returns meta page id (0 or 1).
func (f *file) metaAt(id uint64) (meta, error) {
	off := id * uint64(f.pageSize)
	if off+pageHeaderSize+metaChecksumAt+8 > uint64(len(f.b)) {
		return meta{}, fmt.Errorf("meta page %d: %w (the file is too short)", id, errMetaInvalid)
	}
	b := f.b[off:]
	if p := parsePage(b[:pageHeaderSize]); p.flags != flagMeta {
		return meta{}, fmt.Errorf("meta page %d: %w (flags %#x)", id, errMetaInvalid, p.flags)
	}
	m := b[pageHeaderSize:]
	if order.Uint32(m[0:]) != boltMagic {
		return meta{}, fmt.Errorf("meta page %d: %w (no magic number)", id, errMetaInvalid)
	}
	if v := order.Uint32(m[4:]); v != boltVersion {
		return meta{}, fmt.Errorf("meta page %d: bbolt format version %d, want %d", id, v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumAt])
	if h.Sum64() != order.Uint64(m[metaChecksumAt:]) {
		return meta{}, fmt.Errorf("meta page %d: checksum mismatch", id)
	}
	return meta{
		pageSize: order.Uint32(m[8:]),
		root:     order.Uint64(m[16:]),
		freelist: order.Uint64(m[32:]),
		hwm:      order.Uint64(m[40:]),
		txid:     order.Uint64(m[48:]),
	}, nil
}

// element is one element of a branch or leaf page.
type element struct {
	key   []byte
	value []byte // leaf pages only
	child uint64 // branch pages only
	// bucket is true for a leaf element holding a nested bucket.
	bucket bool
}

// elements returns the elements of p, a branch or leaf page, checking
// that each lies within the page.
func (p page) elements() ([]element, error) {
	if p.count*elementSize > len(p.b)-pageHeaderSize {
		return nil, fmt.Errorf("page %d: %d elements do not fit in it", p.id, p.count)
	}
	out := make([]element, p.count)
	for i := range out {
		at := pageHeaderSize + i*elementSize
		e := p.b[at : at+elementSize]
		var pos, ksize, vsize uint64
		switch p.flags {
		case flagBranch:
			pos, ksize = uint64(order.Uint32(e[0:])), uint64(order.Uint32(e[4:]))
			out[i].child = order.Uint64(e[8:])
		case flagLeaf:
			out[i].bucket = order.Uint32(e[0:])&leafFlagBucket != 0
			pos, ksize, vsize = uint64(order.Uint32(e[4:])), uint64(order.Uint32(e[8:])), uint64(order.Uint32(e[12:]))
		default:
			return nil, fmt.Errorf("page %d: flags %#x: not a branch or leaf page", p.id, p.flags)
		}
		start := uint64(at) + pos
		if end := start + ksize + vsize; end > uint64(len(p.b)) {
			return nil, fmt.Errorf("page %d: element %d runs past the end of the page", p.id, i)
		}
		out[i].key = p.b[start : start+ksize]
		if p.flags == flagLeaf {
			out[i].value = p.b[start+ksize : start+ksize+vsize]
		}
	}
	return out, nil
}

// freelist returns the page numbers the freelist page p lists.
func (p page) freelist() ([]uint64, error) {
	if p.flags != flagFreelist {
		return nil, fmt.Errorf("page %d: flags %#x: not a freelist page", p.id, p.flags)
	}
	start, n := pageHeaderSize, uint64(p.count)
	if p.count == 0xFFFF {
		if len(p.b) < pageHeaderSize+8 {
			return nil, fmt.Errorf("page %d: freelist count does not fit", p.id)
		}
		n = order.Uint64(p.b[pageHeaderSize:])
		start += 8
	}
	if n > uint64(len(p.b)-start)/8 {
		return nil, fmt.Errorf("page %d: %d free pages do not fit in the freelist", p.id, n)
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = order.Uint64(p.b[start+8*i:])
	}
	return ids, nil
}
