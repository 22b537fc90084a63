package boltstore

import (
	"time"

	"github.com/tagpin/tagpin/internal/store"
)

// DefaultLockTimeout is how long Open waits, unless told otherwise, for
// another process to release the store file.
const DefaultLockTimeout = 100 * time.Millisecond

// Option configures Open.
type Option func(*options)

type options struct {
	maxMoves    int
	lockTimeout time.Duration
}

func defaultOptions() options {
	return options{maxMoves: store.DefaultMaxMoves, lockTimeout: DefaultLockTimeout}
}

// WithMaxMoves keeps at most n moves per tag, dropping the oldest first
// (store.DefaultMaxMoves when n is zero or less).
func WithMaxMoves(n int) Option {
	return func(o *options) {
		if n <= 0 {
			n = store.DefaultMaxMoves
		}
		o.maxMoves = n
	}
}

// WithLockTimeout sets how long Open waits for another process to
// release the store file before it fails with ErrLocked (default
// DefaultLockTimeout). Zero waits as long as it takes; a negative d
// tries once.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}
