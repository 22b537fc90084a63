package gobin

import (
	"errors"
	"fmt"
)

// ErrOldFormat means the executable was linked by Go 1.17 or earlier, whose
// build information a stream cannot reach. [ReadAt] reads it from a file
// that allows random access.
var ErrOldFormat = errors.New("go build info in the pre-1.18 pointer format")

// FormatError means the executable carries a Go build information marker
// whose contents cannot be decoded.
type FormatError struct {
	// Offset is the byte offset of the marker in the stream.
	Offset int64
	// Reason says what is wrong with it.
	Reason string
	// Err is the underlying parse error, if any.
	Err error
}

func (e *FormatError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("malformed go build info at offset %d: %s: %v", e.Offset, e.Reason, e.Err)
	}
	return fmt.Sprintf("malformed go build info at offset %d: %s", e.Offset, e.Reason)
}

func (e *FormatError) Unwrap() error { return e.Err }
