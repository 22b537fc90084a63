package boltstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// committer applies the changes of concurrent callers in shared
// transactions (group commit): each commit costs an fsync, so while one
// commit is on its way to disk the changes that arrive queue up, and the
// next commit takes all of them. Unlike bolt.DB.Batch, it never waits
// for company: a lone caller commits at once.
type committer struct {
	// update runs a write transaction.
	update func(func(*bolt.Tx) error) error
	// turn is held (a value sent) by the goroutine committing.
	turn chan struct{}

	mu    sync.Mutex
	queue []*change
}

// A change is one caller's part of a transaction. apply must leave the
// transaction untouched when it returns an error (all of ours fail, if
// they do, before their one Put), so that the other changes can still
// be committed.
type change struct {
	apply func(*bolt.Tx) error
	state atomic.Int32
	err   error
	done  chan struct{}
}

// States of a change.
const (
	queued    int32 = iota
	taken           // a commit applies it
	abandoned       // its caller gave up waiting; no commit applies it
)

// errCommitPanicked is the error of the changes of a commit that
// panicked.
var errCommitPanicked = errors.New("a store commit panicked")

func newCommitter(update func(func(*bolt.Tx) error) error) *committer {
	return &committer{update: update, turn: make(chan struct{}, 1)}
}

// do applies apply in a transaction, shared with other callers', and
// returns apply's error or the commit's. When ctx ends before a commit
// takes the change, do returns ctx.Err() and the change is never
// applied; once taken, the change is waited for.
func (c *committer) do(ctx context.Context, apply func(*bolt.Tx) error) error {
	ch := &change{apply: apply, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, ch)
	c.mu.Unlock()

	select {
	case <-ch.done:
		return ch.err
	case <-ctx.Done():
		if ch.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		<-ch.done
		return ch.err
	case c.turn <- struct{}{}:
	}
	defer func() { <-c.turn }()
	// Whoever held the turn before may have committed ch already; if not,
	// it is in the queue.
	c.mu.Lock()
	batch := c.queue
	c.queue = nil
	c.mu.Unlock()
	c.commit(batch)
	<-ch.done
	return ch.err
}

// commit applies the changes of batch that are still wanted in one
// transaction.
func (c *committer) commit(batch []*change) {
	live := batch[:0]
	for _, ch := range batch {
		if ch.state.CompareAndSwap(queued, taken) {
			live = append(live, ch)
		}
	}
	if len(live) == 0 {
		return
	}
	err := errCommitPanicked
	defer func() {
		for _, ch := range live {
			if err != nil {
				ch.err = err
			}
			close(ch.done)
		}
	}()
	err = c.update(func(tx *bolt.Tx) error {
		for _, ch := range live {
			ch.err = ch.apply(tx)
		}
		return nil
	})
}
