package kubestore

import (
	"time"

	"github.com/tagpin/tagpin/internal/store"
)

// Defaults.
const (
	// DefaultAttempts is how many times a write is tried when other
	// writers changed the record in between.
	DefaultAttempts = 8
	// DefaultCacheWait bounds how long a write waits for the informer
	// cache to show it before returning.
	DefaultCacheWait = 5 * time.Second
)

// Option configures New.
type Option func(*options)

type options struct {
	maxMoves  int
	attempts  int
	cacheWait time.Duration
}

func defaultOptions() options {
	return options{maxMoves: store.DefaultMaxMoves, attempts: DefaultAttempts, cacheWait: DefaultCacheWait}
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
