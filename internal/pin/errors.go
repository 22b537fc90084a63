package pin

import (
	"errors"
	"fmt"
)

// Errors a file can fail with as a whole. They are wrapped with the file
// name and what to do; Item.Problem carries their class.
var (
	// ErrReadOnly: the file's mode grants nobody write permission, so
	// replacing it would override that decision.
	ErrReadOnly = errors.New("read-only")
	// ErrHardLinked: the file has more than one hard link, and replacing
	// it would leave the other links with the old content.
	ErrHardLinked = errors.New("hard-linked")
	// ErrOwner: the replacement cannot be given the owner and group of
	// the file.
	ErrOwner = errors.New("owner cannot be kept")
	// ErrChanged: another program changed the file while it was being
	// pinned.
	ErrChanged = errors.New("changed while being pinned")
	// ErrInternal: a bug in this package.
	ErrInternal = errors.New("internal error")
)

// problemOf returns the Item.Problem of a file that failed with err.
func problemOf(err error) string {
	for _, p := range []struct {
		err     error
		problem string
	}{
		{ErrReadOnly, ProblemReadOnly},
		{ErrHardLinked, ProblemHardLinked},
		{ErrOwner, ProblemOwner},
		{ErrChanged, ProblemChanged},
		{ErrInternal, ProblemInternal},
	} {
		if errors.Is(err, p.err) {
			return p.problem
		}
	}
	return ""
}

// internalError turns a recovered panic while handling file into an
// error: the file is reported and left alone, and the run goes on.
func internalError(file string, recovered any) error {
	return fmt.Errorf("%w while pinning %s: %v; the file was left unchanged, please report this bug", ErrInternal, file, recovered)
}
