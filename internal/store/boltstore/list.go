package boltstore

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tagpin/tagpin/internal/store"
)

var _ store.Lister = (*Store)(nil)

// Tags implements store.Lister. It reads every record in one read
// transaction, then yields them with the transaction closed.
func (s *Store) Tags(ctx context.Context, yield func(*store.Tag) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var tags []*store.Tag
	var bad []error
	err := s.view(func(tx *bolt.Tx) error {
		tags, bad = tags[:0], bad[:0]
		return tx.Bucket(bucketTags).ForEach(func(k, v []byte) error {
			key, err := parseTagKey(k)
			if err == nil {
				var t *store.Tag
				if t, err = decodeTag(key, v); err == nil {
					tags = append(tags, t)
					return nil
				}
			}
			bad = append(bad, err)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("listing the tags in %s: %w", s.path, err)
	}
	for _, t := range tags {
		if !yield(t) {
			break
		}
	}
	return s.damaged("tag", bad)
}

// Revisions implements store.Lister, like Tags.
func (s *Store) Revisions(ctx context.Context, yield func(store.Pin) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var pins []store.Pin
	var bad []error
	err := s.view(func(tx *bolt.Tx) error {
		pins, bad = pins[:0], bad[:0]
		return tx.Bucket(bucketRevisions).ForEach(func(k, v []byte) error {
			key, err := parseRevisionKey(k)
			if err == nil {
				p := store.Pin{Key: key}
				if p.Key.Owner.Name, p.Digest, err = decodeRevision(describeRevision(key), v); err == nil {
					pins = append(pins, p)
					return nil
				}
			}
			bad = append(bad, err)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("listing the revision pins in %s: %w", s.path, err)
	}
	for _, p := range pins {
		if !yield(p) {
			break
		}
	}
	return s.damaged("revision pin", bad)
}

// damaged reports the records that did not decode, or nil.
func (s *Store) damaged(what string, bad []error) error {
	if len(bad) == 0 {
		return nil
	}
	return s.corrupt(fmt.Errorf("%d %s records do not decode and were left out: %w", len(bad), what, errors.Join(bad...)))
}
