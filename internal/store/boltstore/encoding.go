package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/store"
)

// Records are encoded compactly: a store holds a history for every tag
// it has seen, and most of each move is a digest and two times.
//
// A tag record is
//
//	version byte (1)
//	uvarint number of moves, at least 1
//	each move, newest first:
//	    digest
//	    varint FirstSeen, Unix nanoseconds
//	    varint LastSeen minus FirstSeen, nanoseconds
//	    source
//
// A revision pin is
//
//	version byte (1)
//	string owner name
//	digest
//
// where a digest is a kind byte, 1 followed by the 32 bytes of a sha256
// digest in its canonical form (lower-case hex), or 0 followed by a
// string holding any other digest as written; a source is a code byte,
// 1 to 4 for the sources store defines, or 0 followed by a string; and a
// string is a uvarint length followed by that many bytes.

// recordVersion is the version byte that starts every value.
const recordVersion = 1

// Digest kinds.
const (
	digestString = 0
	digestSHA256 = 1
)

// Source codes; sourceString is followed by the source as a string.
const (
	sourceString       = 0
	sourceAdmission    = 1
	sourceRefresh      = 2
	sourceNotification = 3
	sourceCLI          = 4
)

// sep separates the parts of a key.
const sep = 0

// errNUL is returned for a key with a NUL byte in one of its parts.
var errNUL = errors.New("contains a NUL byte")

// tagKey returns the bucket key of k.
func tagKey(k store.TagKey) ([]byte, error) {
	return joinKey(string(k.Scope), k.Registry, k.Repository, k.Tag)
}

// revisionKey returns the bucket key of k.
func revisionKey(k store.RevisionKey) ([]byte, error) {
	return joinKey(k.Namespace, k.Owner.Kind, k.Owner.UID, k.Owner.Revision, k.Image)
}

func joinKey(parts ...string) ([]byte, error) {
	n := len(parts) - 1
	for _, p := range parts {
		if strings.IndexByte(p, sep) >= 0 {
			return nil, errNUL
		}
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return b, nil
}

// revisionOwnerPrefix returns the part of a revision key that names the
// owner (namespace, kind, UID and revision, each followed by a NUL), the
// prefix shared by the pins of one owner revision.
func revisionOwnerPrefix(key []byte) ([]byte, bool) {
	end := 0
	for range 4 {
		i := bytes.IndexByte(key[end:], sep)
		if i < 0 {
			return nil, false
		}
		end += i + 1
	}
	return key[:end], true
}

// parseRevisionKey splits a revision key into its parts; the owner's
// name is not part of the key.
func parseRevisionKey(key []byte) (store.RevisionKey, error) {
	p := bytes.SplitN(key, []byte{sep}, 5)
	if len(p) != 5 {
		return store.RevisionKey{}, fmt.Errorf("revision key %q: want 5 NUL-separated parts, have %d", key, len(p))
	}
	return store.RevisionKey{
		Namespace: string(p[0]),
		Owner:     store.Owner{Kind: string(p[1]), UID: string(p[2]), Revision: string(p[3])},
		Image:     string(p[4]),
	}, nil
}

// encodeTag returns the value of t, a record store.Record returned.
func encodeTag(t *store.Tag) []byte {
	// Room for sha256 moves with a known source and times within a day.
	b := make([]byte, 0, 2+len(t.History)*(1+32+9+6+1))
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(t.History)))
	for _, m := range t.History {
		b = appendDigest(b, m.Digest)
		first := m.FirstSeen.UnixNano()
		b = binary.AppendVarint(b, first)
		b = binary.AppendVarint(b, m.LastSeen.UnixNano()-first)
		b = appendSource(b, m.Source)
	}
	return b
}

// minMoveSize is the fewest bytes a move takes: a digest kind and an
// empty string, two one-byte times and a source code.
const minMoveSize = 5

// decodeTag decodes the record of key, rejecting a value that is
// truncated, has bytes left over or is otherwise not one encodeTag
// wrote.
func decodeTag(key store.TagKey, v []byte) (*store.Tag, error) {
	d := decoder{b: v}
	if ver := d.byte(); d.err == nil && ver != recordVersion {
		return nil, fmt.Errorf("decoding the record of %s: format version %d, want %d (written by a newer tagpin?)", key, ver, recordVersion)
	}
	n := d.uvarint()
	switch {
	case d.err != nil:
	case n == 0:
		d.err = errors.New("no moves")
	case n > uint64(len(d.b)/minMoveSize):
		d.err = fmt.Errorf("%d moves in %d bytes", n, len(d.b))
	}
	var h []store.Move
	if d.err == nil {
		h = make([]store.Move, n)
	}
	for i := range h {
		m := &h[i]
		m.Digest = d.digest()
		first := d.varint()
		last := first + d.varint()
		m.FirstSeen, m.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		m.Source = d.source()
		if d.err != nil {
			d.err = fmt.Errorf("move %d: %w", i, d.err)
			break
		}
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("decoding the record of %s: %w", key, err)
	}
	return &store.Tag{Key: key, History: h}, nil
}

// encodeRevision returns the value of a pin to d by the owner called
// name.
func encodeRevision(name string, d digest.Digest) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(name)+1+32)
	b = append(b, recordVersion)
	b = appendString(b, name)
	return appendDigest(b, d)
}

// decodeRevision decodes the pin of key (for errors, a description of
// the key) and returns the owner's name and the digest.
func decodeRevision(key string, v []byte) (name string, pinned digest.Digest, err error) {
	d := decoder{b: v}
	if ver := d.byte(); d.err == nil && ver != recordVersion {
		return "", "", fmt.Errorf("decoding the %s: format version %d, want %d (written by a newer tagpin?)", key, ver, recordVersion)
	}
	name = d.string()
	pinned = d.digest()
	if err := d.finish(); err != nil {
		return "", "", fmt.Errorf("decoding the %s: %w", key, err)
	}
	return name, pinned, nil
}

// sha256Prefix starts a sha256 digest, and sha256Hex is the length of
// the hex that follows.
const (
	sha256Prefix = string(digest.SHA256) + ":"
	sha256Hex    = 2 * 32
)

func appendDigest(b []byte, d digest.Digest) []byte {
	s := string(d)
	if hexPart, ok := strings.CutPrefix(s, sha256Prefix); ok && len(hexPart) == sha256Hex && isLowerHex(hexPart) {
		b = append(b, digestSHA256)
		b, _ = hex.AppendDecode(b, []byte(hexPart)) // isLowerHex checked it
		return b
	}
	b = append(b, digestString)
	return appendString(b, s)
}

// isLowerHex reports whether s is hex with lower-case letters, the form
// a decoded sha256 digest is written in again.
func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func appendSource(b []byte, s store.Source) []byte {
	switch s {
	case store.SourceAdmission:
		return append(b, sourceAdmission)
	case store.SourceRefresh:
		return append(b, sourceRefresh)
	case store.SourceNotification:
		return append(b, sourceNotification)
	case store.SourceCLI:
		return append(b, sourceCLI)
	}
	b = append(b, sourceString)
	return appendString(b, string(s))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads a value; after the first error every read returns a
// zero value and the error stays.
type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errTruncated
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.err = errTruncated
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadVarint(n)
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadVarint(n)
		return 0
	}
	d.b = d.b[n:]
	return x
}

func errBadVarint(n int) error {
	if n == 0 {
		return errTruncated
	}
	return errors.New("varint overflows 64 bits")
}

func (d *decoder) string() string {
	return string(d.bytes(d.uvarint()))
}

func (d *decoder) digest() digest.Digest {
	switch kind := d.byte(); {
	case d.err != nil:
		return ""
	case kind == digestSHA256:
		raw := d.bytes(32)
		if d.err != nil {
			return ""
		}
		var s [len(sha256Prefix) + sha256Hex]byte
		copy(s[:], sha256Prefix)
		hex.Encode(s[len(sha256Prefix):], raw)
		return digest.Digest(s[:])
	case kind == digestString:
		return digest.Digest(d.string())
	default:
		d.err = fmt.Errorf("unknown digest kind %d", kind)
		return ""
	}
}

func (d *decoder) source() store.Source {
	switch code := d.byte(); {
	case d.err != nil:
		return ""
	case code == sourceAdmission:
		return store.SourceAdmission
	case code == sourceRefresh:
		return store.SourceRefresh
	case code == sourceNotification:
		return store.SourceNotification
	case code == sourceCLI:
		return store.SourceCLI
	case code == sourceString:
		return store.Source(d.string())
	default:
		d.err = fmt.Errorf("unknown source code %d", code)
		return ""
	}
}

// finish returns the first error, or an error when bytes are left over.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	return d.err
}
