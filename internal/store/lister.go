package store

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Pin is one revision pin as a Lister returns it.
type Pin struct {
	Key    RevisionKey
	Digest digest.Digest
	// MissingSince is when Digest was first found missing from its
	// registry (see MissingMarker); zero when it was not, or when the
	// store does not keep it.
	MissingSince time.Time
}

// Lister is implemented by stores that can enumerate their records, for
// background work that visits every tag and pin (the refresher). Both
// methods call yield once per record, in no particular order, until
// yield returns false; they return an error when the records could not
// be read (records that do not decode are left out and reported, wrapped
// in ErrCorrupt, once the others were yielded). A caller may do I/O in
// yield: no lock or transaction is held while it runs.
type Lister interface {
	// Tags yields every tag record, of every scope.
	Tags(ctx context.Context, yield func(*Tag) bool) error
	// Revisions yields every revision pin.
	Revisions(ctx context.Context, yield func(Pin) bool) error
}

// MissingMarker is implemented by stores that keep, with a revision pin,
// whether its digest was found missing from its registry, so that every
// reader (and a new leader) knows it.
type MissingMarker interface {
	// MarkMissing records that the digest key is pinned to has been
	// missing from its registry since since; a zero since records that
	// it exists again. A pin already marked keeps its first time. A pin
	// that does not exist is not an error (its owner is gone).
	MarkMissing(ctx context.Context, key RevisionKey, since time.Time) error
}
