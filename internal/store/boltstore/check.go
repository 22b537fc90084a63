package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tagpin/tagpin/internal/store"
)

// Report is what Check found in a store file.
type Report struct {
	// Path is the store file.
	Path string `json:"path"`
	// Tags, Moves and Pins count the records that can be read: tags, the
	// moves of their histories, and revision pins.
	Tags  int `json:"tags"`
	Moves int `json:"moves"`
	Pins  int `json:"revisionPins"`
	// Problems lists the damage found, in file order.
	Problems []Problem `json:"problems"`
	// Unreadable is true when nothing can be read from the file (no valid
	// meta page or no root page): Compact cannot repair it.
	Unreadable bool `json:"unreadable"`
}

// Damaged reports whether Check found anything wrong.
func (r *Report) Damaged() bool { return len(r.Problems) > 0 }

// Lost reports whether records are lost: a damaged page or record that
// held data, rather than a damaged copy of something (a meta page, the
// free page list) that Compact rebuilds.
func (r *Report) Lost() bool {
	for _, p := range r.Problems {
		if p.Lost {
			return true
		}
	}
	return false
}

// Problem is one thing wrong in a store file.
type Problem struct {
	// Page is the damaged page, when the problem is one page.
	Page *uint64 `json:"page,omitempty"`
	// Bucket is what the damaged data held: "tags", "revisions", or
	// empty for the file's own structure.
	Bucket string `json:"bucket,omitempty"`
	// Record is the damaged record's key, when one record is damaged.
	Record string `json:"record,omitempty"`
	// From and To bound the keys of the records lost with a damaged page
	// (From included, To excluded; empty for no bound).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Lost is true when records are lost.
	Lost bool `json:"lost"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// Check reads the store file at path page by page, without trusting any
// of it, and decodes every record: it reports damaged pages (with the
// range of keys they held), records that do not decode and damage to the
// file's structure. When the pages are sound it also runs bbolt's own
// consistency check. It fails with ErrLocked when another process has the
// store open, and returns an error (not a report) when the file cannot be
// read at all.
func Check(ctx context.Context, path string, opts ...Option) (*Report, error) {
	r, _, unlock, err := inspect(ctx, path, opts, false)
	if err != nil {
		return nil, err
	}
	unlock()
	return r, nil
}

// CompactReport is what Compact did.
type CompactReport struct {
	// Report is what was found in the source file; its counts are what
	// was copied.
	Report
	// Output is the new store file.
	Output string `json:"output"`
	// Backup is where the original file was kept when it was replaced.
	Backup string `json:"backup,omitempty"`
}

// Compact copies every readable record of the store file at path into a
// fresh file: at output when output is not empty (an existing file is
// not overwritten), otherwise in place of path, keeping the original as
// path.bak (or path.bak.1, path.bak.2, … when that exists). Records on
// damaged pages and records that do not decode are left behind; the
// report says which. It fails with ErrLocked when another process has the
// store open, and with a *CorruptError when nothing can be read.
func Compact(ctx context.Context, path, output string, opts ...Option) (*CompactReport, error) {
	r, records, unlock, err := inspect(ctx, path, opts, true)
	if err != nil {
		return nil, err
	}
	// Hold the lock until the new file is in place.
	defer unlock()
	if r.Unreadable {
		return &CompactReport{Report: *r}, &CorruptError{Path: path, Err: errors.New("no tagpin data can be read from it")}
	}
	out := &CompactReport{Report: *r, Output: output}
	dst := output
	if dst == "" {
		out.Output = path
		dst = path + ".compact"
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("compacting %s: removing a leftover %s: %w", path, dst, err)
		}
	} else if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("compacting %s into %s: %w", path, dst, fs.ErrExist)
	}
	if err := writeRecords(dst, records); err != nil {
		_ = os.Remove(dst)
		return nil, fmt.Errorf("compacting %s into %s: %w", path, dst, err)
	}
	if output != "" {
		return out, nil
	}
	backup, err := keepBackup(path, records.original)
	if err != nil {
		_ = os.Remove(dst)
		return nil, fmt.Errorf("compacting %s: %w", path, err)
	}
	out.Backup = backup
	if err := os.Rename(dst, path); err != nil {
		return nil, fmt.Errorf("compacting %s: replacing it (the original is kept in %s): %w", path, backup, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("compacting %s: %w", path, err)
	}
	return out, nil
}

// salvage is what inspect read: the records that decode, by bucket,
// and the file's original bytes.
type salvage struct {
	tags, revisions [][2][]byte
	original        []byte
}

// inspect checks the file at path and returns the readable records when
// keep is set. It takes the file's lock (shared: bbolt's writers stay
// out) and returns a function that releases it.
func inspect(ctx context.Context, path string, opts []Option, keep bool) (_ *Report, _ *salvage, unlock func(), err error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, nil, fmt.Errorf("checking store %s: %w", path, err)
	}
	db, _, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: o.lockTimeout})
	unlock = func() {}
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, nil, nil, fmt.Errorf("checking store %s: %w", path, ErrLocked)
	case err == nil:
		unlock = func() { _ = db.Close() }
		defer func() {
			if err != nil {
				unlock()
			}
		}()
	}
	// Otherwise bbolt cannot read the file (so no one writes to it) and
	// the walk below says why.
	w := &walker{report: &Report{Path: path, Problems: []Problem{}}, keep: keep, seen: map[uint64]bool{}, free: map[uint64]bool{}, buckets: map[string]bool{}}
	err = readFile(path, func(f *file) {
		w.f = f
		w.walk(ctx)
		w.salvage.original = f.b
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("checking store %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	if w.schemaErr != nil {
		return nil, nil, nil, fmt.Errorf("checking store %s: %w", path, w.schemaErr)
	}
	if db != nil && !w.report.Damaged() {
		// The pages are sound, so bbolt's check (which walks them in a
		// goroutine of its own, where a panic could not be recovered)
		// can run.
		err := runTx(db, path, &damage{}, false, func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				w.problem(Problem{Message: "bbolt: " + err.Error()})
			}
			return nil
		})
		if err != nil {
			w.problem(Problem{Lost: true, Message: err.Error()})
		}
	}
	return w.report, &w.salvage, unlock, nil
}

// walker walks the pages of a file.
type walker struct {
	f         *file
	hwm       uint64
	report    *Report
	keep      bool
	salvage   salvage
	seen      map[uint64]bool
	free      map[uint64]bool
	buckets   map[string]bool
	schemaErr error
}

func (w *walker) problem(p Problem) { w.report.Problems = append(w.report.Problems, p) }

func pageRef(id uint64) *uint64 { return &id }

func (w *walker) walk(ctx context.Context) {
	m0, err0 := w.f.metaAt(0)
	m1, err1 := w.f.metaAt(1)
	m := m0
	switch {
	case err0 != nil && err1 != nil:
		w.report.Unreadable = true
		w.problem(Problem{Page: pageRef(0), Lost: true, Message: err0.Error()})
		w.problem(Problem{Page: pageRef(1), Lost: true, Message: err1.Error() + "; with no valid meta page nothing can be read"})
		return
	case err0 != nil:
		m = m1
		w.problem(Problem{Page: pageRef(0), Message: err0.Error() + "; bbolt uses the other copy, which may miss the last write"})
	case err1 != nil:
		w.problem(Problem{Page: pageRef(1), Message: err1.Error() + "; bbolt uses the other copy, which may miss the last write"})
	case m1.txid > m0.txid:
		m = m1
	}
	w.seen[0], w.seen[1] = true, true
	w.hwm = m.hwm
	if w.hwm > w.f.pages() {
		w.problem(Problem{Lost: true, Message: fmt.Sprintf("the file has %d pages, its meta page says %d: it was truncated", w.f.pages(), w.hwm)})
	}
	if m.freelist != noFreelist {
		w.freelist(m.freelist)
	}
	w.bucket(ctx, "", m.root, nil)
	if !w.buckets[string(bucketTags)] && !w.buckets[string(bucketRevisions)] {
		// The root page is gone: nothing can be found.
		w.report.Unreadable = true
	}
	var unreachable int
	for id := uint64(2); id < min(w.hwm, w.f.pages()); id++ {
		if !w.seen[id] && !w.free[id] {
			unreachable++
		}
	}
	if unreachable > 0 && !w.report.Lost() {
		w.problem(Problem{Message: fmt.Sprintf("%d pages are neither in use nor free (space that compacting reclaims)", unreachable)})
	}
}

func (w *walker) freelist(id uint64) {
	p, err := w.f.page(id)
	var ids []uint64
	if err == nil {
		ids, err = p.freelist()
	}
	if err != nil {
		w.problem(Problem{Page: pageRef(id), Message: "the list of free pages is damaged (bbolt cannot open the file; compacting rebuilds it): " + err.Error()})
		return
	}
	for i := range 1 + uint64(p.overflow) {
		w.seen[id+i] = true
	}
	for _, f := range ids {
		if w.free[f] {
			w.problem(Problem{Page: pageRef(id), Message: fmt.Sprintf("the list of free pages lists page %d twice", f)})
		}
		w.free[f] = true
	}
}

// bucket walks the bucket called name (empty for the root) whose root is
// page root, or inline when root is 0.
func (w *walker) bucket(ctx context.Context, name string, root uint64, inline []byte) {
	if root != 0 {
		w.tree(ctx, name, root, nil, nil)
		return
	}
	if len(inline) < pageHeaderSize {
		w.problem(Problem{Bucket: name, Lost: true, Message: fmt.Sprintf("bucket %q: the inline page is truncated", name)})
		return
	}
	p := parsePage(inline)
	p.b = inline
	if p.flags != flagLeaf {
		w.problem(Problem{Bucket: name, Lost: true, Message: fmt.Sprintf("bucket %q: the inline page is not a leaf page (flags %#x)", name, p.flags)})
		return
	}
	w.leaf(ctx, name, p, nil, nil)
}

// tree walks the page id of bucket name and its children; lo and hi
// bound its keys (nil for none).
func (w *walker) tree(ctx context.Context, name string, id uint64, lo, hi []byte) {
	if ctx.Err() != nil {
		return
	}
	lost := func(msg string) {
		w.problem(Problem{Page: pageRef(id), Bucket: name, From: w.readable(name, lo), To: w.readable(name, hi), Lost: true, Message: msg})
	}
	if w.seen[id] {
		lost(fmt.Sprintf("page %d is referenced twice (a damaged parent page?)", id))
		return
	}
	p, err := w.f.page(id)
	if err == nil && id+uint64(p.overflow) >= w.hwm {
		err = fmt.Errorf("page %d is beyond the pages in use (%d)", id, w.hwm)
	}
	if err != nil {
		lost(err.Error())
		return
	}
	for i := range 1 + uint64(p.overflow) {
		w.seen[id+i] = true
		if w.free[id+i] {
			w.problem(Problem{Page: pageRef(id + i), Bucket: name, Message: fmt.Sprintf("page %d is both in use and listed as free", id+i)})
		}
	}
	switch p.flags {
	case flagBranch:
		els, err := p.elements()
		if err != nil {
			lost(err.Error())
			return
		}
		if !ordered(els, lo, hi) {
			lost(fmt.Sprintf("page %d: keys out of order", id))
			return
		}
		for i, e := range els {
			next := hi
			if i+1 < len(els) {
				next = els[i+1].key
			}
			w.tree(ctx, name, e.child, e.key, next)
		}
	case flagLeaf:
		w.leaf(ctx, name, p, lo, hi)
	default:
		lost(fmt.Sprintf("page %d: flags %#x: not a branch or leaf page", id, p.flags))
	}
}

// ordered reports whether the keys of els increase within [lo, hi).
func ordered(els []element, lo, hi []byte) bool {
	prev := lo
	for i, e := range els {
		if (prev != nil && bytes.Compare(e.key, prev) < 0) || (i > 0 && bytes.Equal(e.key, prev)) || (hi != nil && bytes.Compare(e.key, hi) >= 0) {
			return false
		}
		prev = e.key
	}
	return true
}

// leaf reads the records of leaf page p of bucket name.
func (w *walker) leaf(ctx context.Context, name string, p page, lo, hi []byte) {
	els, err := p.elements()
	if err == nil && !ordered(els, lo, hi) {
		err = fmt.Errorf("page %d: keys out of order", p.id)
	}
	if err != nil {
		w.problem(Problem{Page: pageRef(p.id), Bucket: name, From: w.readable(name, lo), To: w.readable(name, hi), Lost: true, Message: err.Error()})
		return
	}
	for _, e := range els {
		switch {
		case name == "" && e.bucket:
			if len(e.value) < bucketHeaderLen {
				w.problem(Problem{Bucket: string(e.key), Lost: true, Message: fmt.Sprintf("bucket %q: its header is truncated", e.key)})
				continue
			}
			w.buckets[string(e.key)] = true
			w.bucket(ctx, string(e.key), order.Uint64(e.value), e.value[bucketHeaderLen:])
		case e.bucket || name == "":
			w.problem(Problem{Page: pageRef(p.id), Bucket: name, Message: fmt.Sprintf("unexpected entry %q", e.key)})
		default:
			w.record(name, e.key, e.value)
		}
	}
}

// record decodes one record and keeps it when it decodes.
func (w *walker) record(name string, k, v []byte) {
	var err error
	switch name {
	case string(bucketTags):
		var key store.TagKey
		if key, err = parseTagKey(k); err == nil {
			var t *store.Tag
			if t, err = decodeTag(key, v); err == nil {
				w.report.Tags++
				w.report.Moves += len(t.History)
				if w.keep {
					w.salvage.tags = append(w.salvage.tags, [2][]byte{k, v})
				}
			}
		}
	case string(bucketRevisions):
		var key store.RevisionKey
		if key, err = parseRevisionKey(k); err == nil {
			if _, _, err = decodeRevision(describeRevision(key), v); err == nil {
				w.report.Pins++
				if w.keep {
					w.salvage.revisions = append(w.salvage.revisions, [2][]byte{k, v})
				}
			}
		}
	case string(bucketMeta):
		if bytes.Equal(k, keySchema) && string(v) != strconv.Itoa(schemaVersion) {
			w.schemaErr = fmt.Errorf("%w: the file has schema version %q, this tagpin reads version %d", ErrSchema, v, schemaVersion)
		}
		return
	default:
		err = errors.New("a record in a bucket tagpin does not write")
	}
	if err != nil {
		w.problem(Problem{Bucket: name, Record: w.readable(name, k), Lost: true, Message: err.Error()})
	}
}

// readable renders a key of bucket name for people.
func (w *walker) readable(name string, k []byte) string {
	if k == nil {
		return ""
	}
	switch name {
	case string(bucketTags):
		if key, err := parseTagKey(k); err == nil {
			return key.String()
		}
	case string(bucketRevisions):
		if key, err := parseRevisionKey(k); err == nil {
			return describeRevision(key)
		}
	}
	return strconv.Quote(string(k))
}

// parseTagKey splits a tag key into its parts.
func parseTagKey(k []byte) (store.TagKey, error) {
	p := bytes.SplitN(k, []byte{sep}, 4)
	if len(p) != 4 {
		return store.TagKey{}, fmt.Errorf("tag key %q: want 4 NUL-separated parts, have %d", k, len(p))
	}
	key := store.TagKey{Scope: store.Scope(p[0]), Registry: string(p[1]), Repository: string(p[2]), Tag: string(p[3])}
	if err := key.Validate(); err != nil {
		return store.TagKey{}, err
	}
	return key, nil
}

// writeRecords writes records into a new store at path.
func writeRecords(path string, records *salvage) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	err = s.update(func(tx *bolt.Tx) error {
		for _, b := range []struct {
			name    []byte
			records [][2][]byte
		}{{bucketTags, records.tags}, {bucketRevisions, records.revisions}} {
			bucket := tx.Bucket(b.name)
			for _, kv := range b.records {
				if err := bucket.Put(kv[0], kv[1]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// keepBackup writes original into the first free one of path.bak,
// path.bak.1, … and returns its name.
func keepBackup(path string, original []byte) (string, error) {
	for i := 0; ; i++ {
		name := path + ".bak"
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("keeping a backup: %w", err)
		}
		_, err = f.Write(original)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(name)
			return "", fmt.Errorf("keeping a backup in %s: %w", name, err)
		}
		return name, nil
	}
}

// syncDir flushes a directory, so that a rename in it is on disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
