package pkgdb

import (
	"errors"
	"fmt"
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
