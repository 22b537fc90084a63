package pkgdb

import "io"

func walkBDB(r io.ReaderAt, size int64, fn func([]byte) error) error {
	return &UnsupportedFormatError{Format: "rpm Berkeley DB"}
}
