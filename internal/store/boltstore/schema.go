package boltstore

import (
	"errors"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// ErrSchema is returned (wrapped) by Open when the file holds a schema
// version this tagpin does not read.
var ErrSchema = errors.New("unsupported store schema")

// schemaVersion is the version of the layout described in doc.go. A
// change that an older tagpin would misread needs a new version.
const schemaVersion = 1

// keySchema is the key of the schema version in the meta bucket.
var keySchema = []byte("schema")

// checkSchema checks that db holds the current schema, and writes it
// into a new file.
func (s *Store) checkSchema() error {
	path := s.path
	fresh := false
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if k, _ := tx.Cursor().First(); k != nil {
				return fmt.Errorf("opening store %s: %w: a bolt database with no tagpin schema version (bucket %q but no %q), not a tagpin store; move it away or use another --store path",
					path, ErrSchema, k, bucketMeta)
			}
			fresh = true
			return nil
		}
		v := meta.Get(keySchema)
		if v == nil {
			return fmt.Errorf("opening store %s: %w: the file has no schema version, this tagpin reads version %d; move the file away to start a new store",
				path, ErrSchema, schemaVersion)
		}
		if found := string(v); found != strconv.Itoa(schemaVersion) {
			if _, err := strconv.Atoi(found); err != nil {
				found = strconv.Quote(found)
			}
			return fmt.Errorf("opening store %s: %w: the file has schema version %s, this tagpin reads version %d; upgrade tagpin, or move the file away to start a new store",
				path, ErrSchema, found, schemaVersion)
		}
		for _, name := range [][]byte{bucketTags, bucketRevisions} {
			if tx.Bucket(name) == nil {
				return &CorruptError{Path: path, Err: fmt.Errorf("schema version %d but no bucket %q", schemaVersion, name)}
			}
		}
		return nil
	})
	if err != nil || !fresh {
		return err
	}
	err = s.update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(schemaVersion))); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketTags, bucketRevisions} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("opening store %s: writing the schema: %w", path, err)
	}
	return nil
}
