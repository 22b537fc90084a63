package pkgdb

import (
	"encoding/binary"
	"io"
	"strconv"
)

// rpm's native "ndb" format (Packages.db, rpm >= 4.16), all little-endian:
// a header in the first slot page, then slot pages of 16-byte slots
// (magic "Slot", package index, block offset, block count) pointing at
// blobs in 16-byte blocks: a blob head (magic "BlbS", package index,
// generation, length), the header blob, and a blob tail.
const (
	ndbMagic      = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic  = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic  = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbHeaderSize = 32
	ndbSlotSize   = 16
	ndbBlockSize  = 16
	ndbPageSize   = 4096
	ndbBlobHead   = 16
	// ndbMaxSlotPages bounds the slot area (rpm grows it one page at a
	// time; 4096 pages hold a million packages).
	ndbMaxSlotPages = 4096
)

func walkNDB(r io.ReaderAt, size int64, fn func([]byte) error) error {
	var h [ndbHeaderSize]byte
	if size < ndbHeaderSize {
		return malformed("ndb: file of %d bytes", size)
	}
	if err := readAt(r, h[:], 0, "ndb: reading header"); err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(h[0:]) != ndbMagic {
		return malformed("ndb: bad magic")
	}
	if v := binary.LittleEndian.Uint32(h[4:]); v != 0 {
		return &UnsupportedFormatError{Format: "rpm ndb version " + strconv.FormatUint(uint64(v), 10)}
	}
	slotPages := binary.LittleEndian.Uint32(h[12:])
	if slotPages == 0 || slotPages > ndbMaxSlotPages || int64(slotPages)*ndbPageSize > size {
		return malformed("ndb: %d slot pages in a file of %d bytes", slotPages, size)
	}
	slots := make([]byte, int64(slotPages)*ndbPageSize)
	if err := readAt(r, slots, 0, "ndb: reading slots"); err != nil {
		return err
	}
	for off := ndbHeaderSize; off+ndbSlotSize <= len(slots); off += ndbSlotSize {
		s := slots[off : off+ndbSlotSize]
		if binary.LittleEndian.Uint32(s[0:]) != ndbSlotMagic {
			return malformed("ndb: bad slot magic at %d", off)
		}
		pkgIdx := binary.LittleEndian.Uint32(s[4:])
		if pkgIdx == 0 {
			continue // free slot
		}
		blkOff := int64(binary.LittleEndian.Uint32(s[8:])) * ndbBlockSize
		blkLen := int64(binary.LittleEndian.Uint32(s[12:])) * ndbBlockSize
		if blkLen < ndbBlobHead || blkOff+blkLen > size || blkLen > sqliteMaxPayload {
			return malformed("ndb: package %d: blob of %d bytes at %d beyond the file", pkgIdx, blkLen, blkOff)
		}
		var bh [ndbBlobHead]byte
		if err := readAt(r, bh[:], blkOff, "ndb: package %d", pkgIdx); err != nil {
			return err
		}
		if binary.LittleEndian.Uint32(bh[0:]) != ndbBlobMagic || binary.LittleEndian.Uint32(bh[4:]) != pkgIdx {
			return malformed("ndb: package %d: bad blob head", pkgIdx)
		}
		n := int64(binary.LittleEndian.Uint32(bh[12:]))
		if ndbBlobHead+n > blkLen {
			return malformed("ndb: package %d: blob of %d bytes overruns its %d blocks", pkgIdx, n, blkLen/ndbBlockSize)
		}
		blob := make([]byte, n)
		if err := readAt(r, blob, blkOff+ndbBlobHead, "ndb: package %d", pkgIdx); err != nil {
			return err
		}
		if err := fn(blob); err != nil {
			return err
		}
	}
	return nil
}
