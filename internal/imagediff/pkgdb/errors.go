package pkgdb

import (
	"errors"
	"fmt"
	"io"
)

var (
	// ErrMalformed classifies a database that cannot be read: truncated,
	// corrupt, or not the format it claims to be.
	ErrMalformed = errors.New("malformed package database")
	// ErrUnsupportedFormat classifies a database in a format this package
	// does not read; the error is an *UnsupportedFormatError naming it.
	ErrUnsupportedFormat = errors.New("unsupported package database format")
)

// UnsupportedFormatError names a package database format that is
// recognised but not read.
type UnsupportedFormatError struct {
	Format string // e.g. "rpm Berkeley DB btree"
}

func (e *UnsupportedFormatError) Error() string {
	return fmt.Sprintf("unsupported package database format: %s", e.Format)
}

// Is reports whether target is ErrUnsupportedFormat.
func (e *UnsupportedFormatError) Is(target error) bool { return target == ErrUnsupportedFormat }

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// readAt fills p from r at off. Reading past the end means the file is
// truncated or an offset in it is wrong (ErrMalformed); other errors are
// the reader's own and are wrapped as they are.
func readAt(r io.ReaderAt, p []byte, off int64, format string, args ...any) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed("%s: %d bytes at offset %d beyond the end of the file", fmt.Sprintf(format, args...), len(p), off)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}
