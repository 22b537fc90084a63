package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"

	bolt "go.etcd.io/bbolt"
)

// holdTurn makes s's committer busy until the returned function is
// called, as if a commit were on its way to disk.
func holdTurn(s *Store) (release func()) {
	s.writes.turn <- struct{}{}
	return func() { <-s.writes.turn }
}

// waitQueued waits, in a synctest bubble, until every other goroutine of
// the bubble is blocked, and checks that n changes are then queued.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	synctest.Wait()
	s.writes.mu.Lock()
	q := len(s.writes.queue)
	s.writes.mu.Unlock()
	if q != n {
		t.Fatalf("%d changes queued, want %d", q, n)
	}
}

func TestQueuedChangesShareACommit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testQueuedChangesShareACommit)
}

func testQueuedChangesShareACommit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tagpin.db"))
	defer s.Close()
	const writers = 20
	release := holdTurn(s)
	var (
		mu  sync.Mutex
		txs = map[*bolt.Tx]int{}
		wg  sync.WaitGroup
	)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = s.writes.do(t.Context(), func(tx *bolt.Tx) error {
				mu.Lock()
				txs[tx]++
				mu.Unlock()
				if i == 3 {
					return errors.New("refused")
				}
				return tx.Bucket(bucketMeta).Put(fmt.Append(nil, "k", i), []byte("v"))
			})
		})
	}
	waitQueued(t, s, writers)
	release()
	wg.Wait()
	if len(txs) != 1 {
		t.Errorf("%d changes queued behind a commit went in %d transactions, want 1", writers, len(txs))
	}
	for i, err := range errs {
		if (i == 3) != (err != nil) {
			t.Errorf("change %d: err = %v", i, err)
		}
	}
	// The refused change did not spoil the others.
	err := s.db.View(func(tx *bolt.Tx) error {
		for i := range writers {
			if got := tx.Bucket(bucketMeta).Get(fmt.Append(nil, "k", i)); (got == nil) != (i == 3) {
				t.Errorf("key %d: value %q", i, got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCanceledWhileQueued(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testCanceledWhileQueued)
}

func testCanceledWhileQueued(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "tagpin.db"))
	defer s.Close()
	release := holdTurn(s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		done <- s.writes.do(ctx, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put([]byte("abandoned"), []byte("v"))
		})
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("do, canceled while queued: err = %v, want context.Canceled", err)
	}
	release()
	// The next commit takes the queue, and leaves the abandoned change.
	if err := s.writes.do(t.Context(), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("next"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket(bucketMeta).Get([]byte("abandoned")); got != nil {
			t.Errorf("a change abandoned before its commit was applied")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
