package blobcache

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrUnsupportedAlgorithm means the digest's algorithm is neither sha256
	// nor sha512.
	ErrUnsupportedAlgorithm = errors.New("unsupported digest algorithm")
	// ErrInvalidDigest means the text is not a digest (algorithm:hex, with
	// the algorithm's length of lower-case hex).
	ErrInvalidDigest = errors.New("invalid digest")
)

// DigestError means the bytes of a blob do not match its descriptor. Nothing
// of it is kept; a corrupted cached copy is deleted.
type DigestError struct {
	// Digest and Size are what the blob should be.
	Digest digest.Digest
	Size   int64
	// Got is the digest of the bytes read (empty when reading stopped
	// because there were more bytes than Size); GotSize is how many bytes
	// were read, or at least how many when there were too many.
	Got     digest.Digest
	GotSize int64
	// Cached: the corrupted bytes came from the cache, not from fetch.
	Cached bool
}

func (e *DigestError) Error() string {
	from := "fetched"
	if e.Cached {
		from = "cached"
	}
	switch {
	case e.GotSize > e.Size:
		return fmt.Sprintf("%s blob %s is larger than its %d bytes", from, e.Digest, e.Size)
	case e.GotSize != e.Size:
		return fmt.Sprintf("%s blob %s has %d bytes, want %d", from, e.Digest, e.GotSize, e.Size)
	}
	return fmt.Sprintf("%s blob %s has digest %s", from, e.Digest, e.Got)
}
