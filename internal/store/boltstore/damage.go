package boltstore

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tagpin/tagpin/internal/store"
)

// CorruptError is returned (wrapped) when the store file is damaged: a
// record that does not decode, or a page that is not what bbolt wrote
// (bbolt then panics or faults on its memory map; the store recovers and
// returns this instead). It wraps store.ErrCorrupt.
type CorruptError struct {
	// Path is the store file.
	Path string
	// Err says what was found (and names the record when the damage is
	// in one record).
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the store file %s is damaged: %v (tagpin store check shows the damage; tagpin store compact copies every readable record into a fresh file)", e.Path, e.Err)
}

// Unwrap returns store.ErrCorrupt and the cause.
func (e *CorruptError) Unwrap() []error { return []error{store.ErrCorrupt, e.Err} }

// panicError is a panic recovered from bbolt (or from reading its memory
// map), as an error.
type panicError struct{ value any }

func (e *panicError) Error() string {
	if err, ok := e.value.(error); ok {
		return "bbolt panicked: " + err.Error()
	}
	return fmt.Sprint("bbolt panicked: ", e.value)
}

// damage records that the file was found damaged: once bbolt has
// panicked, its in-memory state (free page list, locks) cannot be
// trusted, so every later call fails at once with the first error, and
// nothing is written to the file again.
type damage struct {
	err atomic.Pointer[CorruptError]
	// wedged is set when a transaction could not be rolled back after a
	// panic: bbolt may still hold its locks, so Close must not wait for
	// them.
	wedged atomic.Bool
}

// found returns the recorded damage, or nil.
func (d *damage) found() error {
	if e := d.err.Load(); e != nil {
		return e
	}
	return nil
}

// record keeps the first damage found and returns it.
func (d *damage) record(e *CorruptError) error {
	d.err.CompareAndSwap(nil, e)
	return d.err.Load()
}

// runTx runs fn in a transaction of db, committing it when writable and
// fn succeeds. A panic (a bbolt assertion on a damaged page, or a fault
// reading the memory-mapped file) becomes a *CorruptError for path,
// recorded in d. The transaction is rolled back so that bbolt releases
// its locks; when even that panics, d is marked wedged.
func runTx(db *bolt.DB, path string, d *damage, writable bool, fn func(*bolt.Tx) error) (err error) {
	if err := d.found(); err != nil {
		return err
	}
	// A damaged page can send bbolt outside its memory map: make that a
	// panic (recovered below) instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var tx *bolt.Tx
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if tx == nil || !rollback(tx) {
			d.wedged.Store(true)
		}
		err = d.record(&CorruptError{Path: path, Err: &panicError{r}})
	}()
	tx, err = db.Begin(writable)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if writable {
		return tx.Commit()
	}
	return tx.Rollback()
}

// rollback rolls tx back after a panic and reports whether it could.
func rollback(tx *bolt.Tx) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	err := tx.Rollback()
	return err == nil || errors.Is(err, berrors.ErrTxClosed)
}

// openBolt opens the bbolt file at path and returns it with the file
// bbolt opened. bbolt panics opening some damaged files (a damaged free
// page list); then the file, which bbolt has opened and locked, is closed
// here so that the lock goes with it, and the error is a *CorruptError.
// (The memory map bbolt made stays until the process exits: bbolt gives
// no way to reach it.)
func openBolt(path string, o *bolt.Options) (db *bolt.DB, f *os.File, err error) {
	opts := *o
	opts.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		var err error
		f, err = os.OpenFile(name, flag, perm)
		return f, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if f != nil {
				_ = f.Close()
			}
			db, f, err = nil, nil, &CorruptError{Path: path, Err: &panicError{r}}
		}
	}()
	db, err = bolt.Open(path, 0o600, &opts)
	return db, f, err
}

// closeBolt closes db, unless an earlier panic left bbolt's locks held
// (Close would wait for them forever): then it closes only f, the file
// bbolt opened, which releases the lock on it for other processes.
func closeBolt(db *bolt.DB, f *os.File, d *damage) (err error) {
	if d.wedged.Load() {
		return f.Close()
	}
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{r}
		}
	}()
	return db.Close()
}
