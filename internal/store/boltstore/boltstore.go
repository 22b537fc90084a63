package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tagpin/tagpin/internal/store"
)

// ErrLocked is returned (wrapped) by Open when another process has the
// store open.
var ErrLocked = errors.New("locked by another process (another tagpin running?)")

// Bucket names.
var (
	bucketMeta      = []byte("meta")
	bucketTags      = []byte("tags")
	bucketRevisions = []byte("revisions")
)

// Store is a store.Store in a bbolt file. It is safe for concurrent use.
type Store struct {
	db *bolt.DB
	// file is the file bbolt opened, closed directly when bbolt is stuck.
	file     *os.File
	path     string
	maxMoves int
	writes   *committer
	damage   damage
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.RevisionPruner = (*Store)(nil)
)

// Open opens the store in the file at path, creating the file (and its
// directory) when it does not exist. Only one process may have a store
// open: Open fails with ErrLocked when another does not close it within
// the lock timeout (see WithLockTimeout). It fails with ErrSchema when
// the file holds another schema version, with a *CorruptError when the
// file is damaged, and with another error naming the file when the file
// is not a bolt database.
func Open(path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	db, f, err := openBolt(path, &bolt.Options{Timeout: o.lockTimeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("opening store %s: %w; stop it or use another --store path", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("opening store %s: not a tagpin store, or a damaged one (bbolt: %w); move it away or use another --store path", path, err)
	case errors.Is(err, store.ErrCorrupt):
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	s := &Store{db: db, file: f, path: path, maxMoves: o.maxMoves}
	s.writes = newCommitter(s.update)
	if err := s.checkSchema(); err != nil {
		_ = closeBolt(db, f, &s.damage)
		return nil, err
	}
	return s, nil
}

// Observe implements store.Store.
func (s *Store) Observe(ctx context.Context, key store.TagKey, d digest.Digest, at time.Time, src store.Source) (store.Observation, error) {
	if err := ctx.Err(); err != nil {
		return store.Observation{}, err
	}
	if err := key.Validate(); err != nil {
		return store.Observation{}, err
	}
	k, err := tagKey(key)
	if err != nil {
		return store.Observation{}, fmt.Errorf("tag key %q: %w", key, err)
	}
	// The file holds Unix nanoseconds, which reach from 1678 to 2262.
	if !time.Unix(0, at.UnixNano()).Equal(at) {
		return store.Observation{}, fmt.Errorf("recording %s: time %s is out of range", key, at)
	}
	var obs store.Observation
	err = s.writes.do(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTags)
		var cur *store.Tag
		if v := b.Get(k); v != nil {
			var err error
			if cur, err = decodeTag(key, v); err != nil {
				return s.corrupt(err)
			}
		}
		t, o, changed := store.Record(cur, key, d, at, src, s.maxMoves)
		if changed {
			if err := b.Put(k, encodeTag(t)); err != nil {
				return err
			}
		}
		obs = o
		return nil
	})
	if err != nil {
		return store.Observation{}, fmt.Errorf("recording %s in %s: %w", key, s.path, err)
	}
	return obs, nil
}

// Tag implements store.Store.
func (s *Store) Tag(ctx context.Context, key store.TagKey) (*store.Tag, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := tagKey(key)
	if err != nil {
		// No key with a NUL byte was ever stored.
		return nil, fmt.Errorf("tag %s: %w", key, store.ErrNotFound)
	}
	var t *store.Tag
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTags).Get(k)
		if v == nil {
			return fmt.Errorf("tag %s: %w", key, store.ErrNotFound)
		}
		var err error
		if t, err = decodeTag(key, v); err != nil {
			return s.corrupt(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// PinRevision implements store.Store.
func (s *Store) PinRevision(ctx context.Context, key store.RevisionKey, d digest.Digest) (digest.Digest, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := key.Validate(); err != nil {
		return "", err
	}
	k, err := revisionKey(key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", describeRevision(key), err)
	}
	var pinned digest.Digest
	err = s.writes.do(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRevisions)
		if v := b.Get(k); v != nil {
			_, got, err := decodeRevision(describeRevision(key), v)
			if err != nil {
				return s.corrupt(err)
			}
			pinned = got
			return nil
		}
		if err := b.Put(k, encodeRevision(key.Owner.Name, d)); err != nil {
			return err
		}
		pinned = d
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("pinning the %s in %s: %w", describeRevision(key), s.path, err)
	}
	return pinned, nil
}

// Revision implements store.Store.
func (s *Store) Revision(ctx context.Context, key store.RevisionKey) (digest.Digest, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	k, err := revisionKey(key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", describeRevision(key), store.ErrNotFound)
	}
	var pinned digest.Digest
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRevisions).Get(k)
		if v == nil {
			return fmt.Errorf("%s: %w", describeRevision(key), store.ErrNotFound)
		}
		var err error
		if _, pinned, err = decodeRevision(describeRevision(key), v); err != nil {
			return s.corrupt(err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return pinned, nil
}

// describeRevision names the pin of key in errors.
func describeRevision(k store.RevisionKey) string {
	s := fmt.Sprintf("revision pin %s/%s %s", k.Namespace, k.Owner.Kind, k.Owner.Name)
	if k.Owner.Revision != "" {
		s += " revision " + k.Owner.Revision
	}
	return s + " for " + k.Image
}

// pinOwner is an owner revision that has pins, with the key prefix they
// share.
type pinOwner struct {
	prefix    []byte
	namespace string
	owner     store.Owner
}

// PruneRevisions implements store.RevisionPruner. It asks exists about each owner
// revision once, with no transaction open, and then deletes the pins of
// those that are gone (including any pinned meanwhile).
func (s *Store) PruneRevisions(ctx context.Context, exists func(namespace string, o store.Owner) bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	owners, err := s.pinOwners()
	if err != nil {
		return 0, fmt.Errorf("pruning revision pins in %s: %w", s.path, err)
	}
	var gone [][]byte
	for _, o := range owners {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if !exists(o.namespace, o.owner) {
			gone = append(gone, o.prefix)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	n := 0
	err = s.update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketRevisions)
		var keys [][]byte
		for _, prefix := range gone {
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pruning revision pins in %s: %w", s.path, err)
	}
	return n, nil
}

// pinOwners returns the owner revisions that have pins.
func (s *Store) pinOwners() ([]pinOwner, error) {
	var owners []pinOwner
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRevisions).Cursor()
		for k, v := c.First(); k != nil; {
			prefix, ok := revisionOwnerPrefix(k)
			if !ok {
				return s.corrupt(fmt.Errorf("revision key %q: want 5 NUL-separated parts", k))
			}
			key, err := parseRevisionKey(k)
			if err != nil {
				return s.corrupt(err)
			}
			if key.Owner.Name, _, err = decodeRevision(describeRevision(key), v); err != nil {
				return s.corrupt(err)
			}
			owners = append(owners, pinOwner{prefix: bytes.Clone(prefix), namespace: key.Namespace, owner: key.Owner})
			// Skip the owner's other pins.
			k, v = c.Next()
			for k != nil && bytes.HasPrefix(k, prefix) {
				k, v = c.Next()
			}
		}
		return nil
	})
	return owners, err
}

// view runs fn in a read transaction; see runTx.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return runTx(s.db, s.path, &s.damage, false, fn)
}

// update runs fn in a write transaction; see runTx.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	return runTx(s.db, s.path, &s.damage, true, fn)
}

// corrupt classifies err, a record that does not decode. The damage is
// confined to the record, so the store goes on serving the others.
func (s *Store) corrupt(err error) error {
	return &CorruptError{Path: s.path, Err: err}
}

// Close implements store.Store. It releases the file for other
// processes.
func (s *Store) Close() error {
	if err := closeBolt(s.db, s.file, &s.damage); err != nil {
		return fmt.Errorf("closing store %s: %w", s.path, err)
	}
	return nil
}
