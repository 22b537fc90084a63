package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/storetest"
)

// The damage tests build a store of many pages, overwrite one page of a
// copy of it at a time (with zeros, then with random bytes) and check
// that nothing panics: every method returns a correct answer or an error
// wrapping store.ErrCorrupt, Check reports damage when the page held
// data, and Compact keeps every record outside what it reports lost.
// Calls also run in goroutines: a panic escaping one kills the test
// binary, as it killed the webhook.

// populated is a store file and what it holds.
type populated struct {
	path     string
	pageSize int
	tags     map[store.TagKey]*store.Tag
	pins     map[store.RevisionKey]digest.Digest
	// canary is the tag of the last write: with a meta page damaged,
	// bbolt goes back to the transaction before it.
	canary store.TagKey
	// data marks the pages that hold data (meta, freelist, branch and
	// leaf pages): overwriting one of them is damage.
	data map[int]bool
	// pages is how many pages the file has.
	pages int
}

func damageTagKey(i int) store.TagKey {
	k := store.TagKey{Registry: fmt.Sprintf("registry-%d.example", i%7), Repository: fmt.Sprintf("team-%d/app-%d", i%11, i), Tag: fmt.Sprintf("v%d", i%5)}
	if i%9 == 0 {
		k.Scope = store.Scope(fmt.Sprintf("ns-%d", i%4))
	}
	return k
}

func damagePinKey(i int) store.RevisionKey {
	return store.RevisionKey{
		Namespace: fmt.Sprintf("ns-%d", i%5),
		Owner:     store.Owner{Kind: "ReplicaSet", Name: fmt.Sprintf("web-%d", i/4), UID: fmt.Sprintf("uid-%04d", i/4)},
		Image:     fmt.Sprintf("registry.example/app-%d:v%d", i, i%3),
	}
}

// populate writes a store of several hundred tags and pins, enough for
// branch pages in both buckets, through the store's own methods.
func populate(t *testing.T) populated {
	t.Helper()
	p := populated{path: filepath.Join(t.TempDir(), "tagpin.db"), canary: storetest.Key("canary", "last")}
	s := open(t, p.path)
	const nTags, nPins = 600, 400
	var wg sync.WaitGroup
	errs := make(chan error, nTags+nPins)
	// Concurrent writers share commits, which keeps this quick, and
	// leave free pages behind.
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < nTags; i += 8 {
				for m := range 1 + i%6 {
					if _, err := s.Observe(t.Context(), damageTagKey(i), storetest.Digest(fmt.Sprint(i, "-", m)), t0.Add(time.Duration(m)*time.Hour), store.SourceAdmission); err != nil {
						errs <- err
						return
					}
				}
			}
			for i := w; i < nPins; i += 8 {
				if _, err := s.PinRevision(t.Context(), damagePinKey(i), storetest.Digest(fmt.Sprint("pin-", i))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := s.Observe(t.Context(), p.canary, storetest.Digest("canary"), t0, store.SourceCLI); err != nil {
		t.Fatal(err)
	}
	p.tags = map[store.TagKey]*store.Tag{}
	for i := range nTags {
		tag, err := s.Tag(t.Context(), damageTagKey(i))
		if err != nil {
			t.Fatal(err)
		}
		p.tags[tag.Key] = tag
	}
	p.pins = map[store.RevisionKey]digest.Digest{}
	for i := range nPins {
		d, err := s.Revision(t.Context(), damagePinKey(i))
		if err != nil {
			t.Fatal(err)
		}
		p.pins[damagePinKey(i)] = d
	}
	p.data = map[int]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		p.pageSize = s.db.Info().PageSize
		p.pages = int(tx.Size()) / p.pageSize
		for id := 0; id < p.pages; {
			info, err := tx.Page(id)
			if err != nil {
				return fmt.Errorf("page %d: %w", id, err)
			}
			if info == nil {
				return fmt.Errorf("page %d: no such page", id)
			}
			if info.Type == "free" {
				id++
				continue
			}
			for i := range 1 + info.OverflowCount {
				p.data[id+i] = true
			}
			id += 1 + info.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var branches int
	if err := readFile(p.path, func(f *file) {
		for id := range p.pages {
			if pg, err := f.page(uint64(id)); err == nil && pg.flags == flagBranch {
				branches++
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if branches < 2 || len(p.data) < 20 {
		t.Fatalf("the populated store has %d pages with data, %d branch pages: too small to test damage", len(p.data), branches)
	}
	return p
}

// damaged copies p's file with page id overwritten by fill, into dir.
func (p populated) damaged(t *testing.T, dir string, id int, fill func([]byte)) string {
	t.Helper()
	b, err := os.ReadFile(p.path)
	if err != nil {
		t.Fatal(err)
	}
	fill(b[id*p.pageSize : (id+1)*p.pageSize])
	path := filepath.Join(dir, "tagpin.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var fills = []struct {
	name string
	fill func(id int) func([]byte)
}{
	{"zeros", func(int) func([]byte) { return func(b []byte) { clear(b) } }},
	{"garbage", func(id int) func([]byte) {
		return func(b []byte) {
			r := rand.New(rand.NewPCG(uint64(id), 42))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
		}
	}},
}

// wantCorrupt fails the test unless err wraps store.ErrCorrupt and names
// the file.
func wantCorrupt(t *testing.T, what string, err error, path string) {
	t.Helper()
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("%s: err = %v, want one wrapping store.ErrCorrupt and naming %s", what, err, path)
	}
}

func TestDamagedPages(t *testing.T) {
	t.Parallel()
	p := populate(t)
	for _, fl := range fills {
		t.Run(fl.name, func(t *testing.T) {
			t.Parallel()
			for id := range p.pages {
				t.Run(fmt.Sprint("page ", id), func(t *testing.T) {
					dir := t.TempDir()
					path := p.damaged(t, dir, id, fl.fill(id))
					p.check(t, path, id)
					p.exercise(t, path)
				})
			}
		})
	}
}

// exercise opens the damaged file at path and calls every method, from
// several goroutines at once.
func (p populated) exercise(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		wantCorrupt(t, "Open", err, path)
		return
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var wg sync.WaitGroup
	// Reads: the right answer or ErrCorrupt.
	for key, want := range p.tags {
		wg.Go(func() {
			got, err := s.Tag(t.Context(), key)
			if err != nil {
				wantCorrupt(t, "Tag("+key.String()+")", err, path)
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Tag(%s) (-want +got):\n%s", key, diff)
			}
		})
	}
	for key, want := range p.pins {
		wg.Go(func() {
			got, err := s.Revision(t.Context(), key)
			if err != nil {
				wantCorrupt(t, "Revision("+key.Image+")", err, path)
				return
			}
			if got != want {
				t.Errorf("Revision(%s) = %s, want %s", key.Image, got, want)
			}
		})
	}
	wg.Go(func() {
		if _, err := s.Tag(t.Context(), p.canary); err != nil && !errors.Is(err, store.ErrNotFound) {
			wantCorrupt(t, "Tag(canary)", err, path)
		}
	})
	wg.Wait()
	// Writes: done or ErrCorrupt.
	written := map[store.TagKey]bool{}
	for i := range 40 {
		key := damageTagKey(i * 13)
		if i%2 == 0 {
			key = storetest.Key("new", fmt.Sprint(i))
		}
		wg.Go(func() {
			if _, err := s.Observe(t.Context(), key, storetest.Digest("new"), t0.Add(100*time.Hour), store.SourceRefresh); err != nil {
				wantCorrupt(t, "Observe("+key.String()+")", err, path)
			}
		})
		written[key] = true
	}
	for i := range 20 {
		key := damagePinKey(i * 7)
		if i%2 == 0 {
			key.Owner.UID = fmt.Sprint("new-", i)
		}
		wg.Go(func() {
			if _, err := s.PinRevision(t.Context(), key, storetest.Digest("new")); err != nil {
				wantCorrupt(t, "PinRevision("+key.Image+")", err, path)
			}
		})
	}
	wg.Go(func() {
		if _, err := s.PruneRevisions(t.Context(), func(ns string, o store.Owner) bool { return o.UID != "uid-0003" }); err != nil {
			wantCorrupt(t, "PruneRevisions", err, path)
		}
	})
	wg.Wait()
	// Reads again: what was not written is still right.
	for key, want := range p.tags {
		if written[key] {
			continue
		}
		got, err := s.Tag(t.Context(), key)
		if err != nil {
			wantCorrupt(t, "Tag("+key.String()+") after writes", err, path)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Tag(%s) after writes (-want +got):\n%s", key, diff)
		}
	}
}

// check runs Check and Compact on the damaged file at path (page id
// overwritten).
func (p populated) check(t *testing.T, path string, id int) {
	t.Helper()
	r, err := Check(t.Context(), path)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if r.Damaged() != p.data[id] {
		t.Errorf("Check: damaged = %t, want %t (page %d holds data: %t); problems: %+v", r.Damaged(), p.data[id], id, p.data[id], r.Problems)
	}
	out := filepath.Join(filepath.Dir(path), "compacted.db")
	c, err := Compact(t.Context(), path, out)
	if r.Unreadable {
		wantCorrupt(t, "Compact of an unreadable file", err, path)
		return
	}
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if c.Tags != r.Tags || c.Pins != r.Pins {
		t.Errorf("Compact copied %d tags and %d pins, Check counted %d and %d", c.Tags, c.Pins, r.Tags, r.Pins)
	}
	if rc, err := Check(t.Context(), out); err != nil || rc.Damaged() {
		t.Errorf("Check of the compacted file: %v, %+v", err, rc)
	}
	s := open(t, out)
	defer s.Close()
	var tags, pins int
	for key, want := range p.tags {
		got, err := s.Tag(t.Context(), key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		tags++
		if err != nil {
			t.Errorf("Tag(%s) in the compacted file: %v", key, err)
		} else if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Tag(%s) in the compacted file (-want +got):\n%s", key, diff)
		}
	}
	if _, err := s.Tag(t.Context(), p.canary); err == nil {
		tags++
	}
	for key, want := range p.pins {
		got, err := s.Revision(t.Context(), key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		pins++
		if err != nil || got != want {
			t.Errorf("Revision(%s) in the compacted file = %s, %v; want %s", key.Image, got, err, want)
		}
	}
	if tags != r.Tags || pins != r.Pins {
		t.Errorf("the compacted file holds %d tags and %d pins, the report says %d and %d", tags, pins, r.Tags, r.Pins)
	}
	if lost := tags < len(p.tags) || pins < len(p.pins); lost && !r.Lost() {
		t.Errorf("%d of %d tags and %d of %d pins were copied, but the report says nothing is lost: %+v", tags, len(p.tags)+1, pins, len(p.pins), r.Problems)
	}
}

// A damaged page found by one call fails every later call at once, in
// every goroutine, and Close still releases the file.
func TestDamageStopsTheStore(t *testing.T) {
	t.Parallel()
	p := populate(t)
	// The leaf page holding the first tag.
	var leaf int
	if err := readFile(p.path, func(f *file) {
		m, _ := f.metaAt(0)
		if m1, err := f.metaAt(1); err == nil && m1.txid > m.txid {
			m = m1
		}
		for id := 2; id < p.pages; id++ {
			pg, err := f.page(uint64(id))
			if err != nil || pg.flags != flagLeaf || !p.data[id] || id == int(m.root) {
				continue
			}
			els, err := pg.elements()
			if err == nil && len(els) > 0 && bytes.Count(els[0].key, []byte{0}) == 3 {
				leaf = id
				return
			}
		}
	}); err != nil || leaf == 0 {
		t.Fatalf("no leaf page of tags found: %v", err)
	}
	path := p.damaged(t, t.TempDir(), leaf, func(b []byte) { clear(b) })
	s := open(t, path)
	var first error
	for key := range p.tags {
		if _, err := s.Tag(t.Context(), key); err != nil {
			first = err
			break
		}
	}
	wantCorrupt(t, "Tag on the damaged page", first, path)
	var wg sync.WaitGroup
	for key := range p.tags {
		wg.Go(func() {
			if _, err := s.Tag(t.Context(), key); !errors.Is(err, first) {
				t.Errorf("Tag(%s) after the damage was found: err = %v, want the first error", key, err)
			}
		})
		wg.Go(func() {
			if _, err := s.Observe(t.Context(), key, storetest.Digest("x"), t0.Add(time.Hour*1000), store.SourceCLI); !errors.Is(err, first) {
				t.Errorf("Observe(%s) after the damage was found: err = %v, want the first error", key, err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// The file is released and unchanged.
	r, err := Check(t.Context(), path)
	if err != nil || !r.Lost() {
		t.Errorf("Check after Close: %v, %+v; want lost records", err, r)
	}
}

// Compacting in place replaces the file and keeps the original.
func TestCompactInPlace(t *testing.T) {
	t.Parallel()
	p := populate(t)
	original, err := os.ReadFile(p.path)
	if err != nil {
		t.Fatal(err)
	}
	for round, wantBackup := range []string{p.path + ".bak", p.path + ".bak.1"} {
		c, err := Compact(t.Context(), p.path, "")
		if err != nil {
			t.Fatal(err)
		}
		if c.Output != p.path || c.Backup != wantBackup || c.Damaged() {
			t.Errorf("round %d: Compact = output %s, backup %s, problems %+v; want %s, %s, none", round, c.Output, c.Backup, c.Problems, p.path, wantBackup)
		}
		if c.Tags != len(p.tags)+1 || c.Pins != len(p.pins) {
			t.Errorf("round %d: copied %d tags, %d pins; want %d, %d", round, c.Tags, c.Pins, len(p.tags)+1, len(p.pins))
		}
	}
	if b, err := os.ReadFile(p.path + ".bak"); err != nil || !bytes.Equal(b, original) {
		t.Errorf("the backup is not the original file (%v)", err)
	}
	s := open(t, p.path)
	defer s.Close()
	for key, want := range p.tags {
		got, err := s.Tag(t.Context(), key)
		if err != nil {
			t.Fatalf("Tag(%s) after compacting: %v", key, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Tag(%s) after compacting (-want +got):\n%s", key, diff)
		}
	}
	if _, err := Compact(t.Context(), p.path, ""); !errors.Is(err, ErrLocked) {
		t.Errorf("Compact of an open store: err = %v, want ErrLocked", err)
	}
	if _, err := Check(t.Context(), p.path); !errors.Is(err, ErrLocked) {
		t.Errorf("Check of an open store: err = %v, want ErrLocked", err)
	}
}
