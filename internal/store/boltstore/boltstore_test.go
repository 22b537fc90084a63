package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, maxMoves int) store.Store {
		return open(t, filepath.Join(t.TempDir(), "tagpin.db"), WithMaxMoves(maxMoves))
	})
}

// open opens the store at path and fails the test when it cannot.
func open(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// writes is a mix of observations and pins that exercises every part of
// a record: scopes, a non-sha256 digest, every source and a custom one,
// moves back and extended moves, and times in another zone.
type writes struct {
	observe []observation
	pins    []pin
}

type observation struct {
	key store.TagKey
	d   digest.Digest
	at  time.Time
	src store.Source
}

type pin struct {
	key store.RevisionKey
	d   digest.Digest
}

func sampleWrites() writes {
	pub := storetest.Key("team/app", "latest")
	ns := pub
	ns.Scope = "team-a"
	other := store.TagKey{Registry: "docker.io", Repository: "library/nginx", Tag: "1.27"}
	odd := digest.Digest("sha256:ABCDEF") // not canonical, kept as written
	east := time.FixedZone("east", 5*3600)
	var w writes
	w.observe = []observation{
		{pub, storetest.Digest("a"), t0, store.SourceCLI},
		{pub, storetest.Digest("a"), t0.Add(time.Hour), store.SourceAdmission},
		{pub, sha512Digest, t0.Add(2 * time.Hour).In(east), store.SourceRefresh},
		{pub, storetest.Digest("a"), t0.Add(3 * time.Hour), store.SourceNotification},
		{ns, odd, t0, "webhook-replay"},
		{ns, storetest.Digest("n"), t0.Add(time.Nanosecond), ""},
		{other, storetest.Digest("o"), time.Unix(0, -1), store.SourceCLI},
	}
	owner := store.Owner{Kind: "ReplicaSet", Name: "web-5d8f", UID: "uid-1"}
	sts := store.Owner{Kind: "StatefulSet", Name: "db", UID: "uid-2", Revision: "7f9c"}
	w.pins = []pin{
		{store.RevisionKey{Namespace: "ns", Owner: owner, Image: "app:latest"}, storetest.Digest("a")},
		{store.RevisionKey{Namespace: "ns", Owner: owner, Image: "sidecar"}, sha512Digest},
		{store.RevisionKey{Namespace: "ns", Owner: sts, Image: "db:16"}, odd},
		{store.RevisionKey{Namespace: "ns", Owner: owner, Image: "app:latest"}, storetest.Digest("late")},
	}
	return w
}

func (w writes) apply(t *testing.T, s store.Store) {
	t.Helper()
	for _, o := range w.observe {
		if _, err := s.Observe(t.Context(), o.key, o.d, o.at, o.src); err != nil {
			t.Fatalf("Observe(%s, %s): %v", o.key, o.d, err)
		}
	}
	for _, p := range w.pins {
		if _, err := s.PinRevision(t.Context(), p.key, p.d); err != nil {
			t.Fatalf("PinRevision(%s): %v", p.key.Image, err)
		}
	}
}

// contents reads back every key w wrote.
func (w writes) contents(t *testing.T, s store.Store) (map[store.TagKey]*store.Tag, map[store.RevisionKey]digest.Digest) {
	t.Helper()
	tags := map[store.TagKey]*store.Tag{}
	for _, o := range w.observe {
		tag, err := s.Tag(t.Context(), o.key)
		if err != nil {
			t.Fatalf("Tag(%s): %v", o.key, err)
		}
		tags[o.key] = tag
	}
	pins := map[store.RevisionKey]digest.Digest{}
	for _, p := range w.pins {
		d, err := s.Revision(t.Context(), p.key)
		if err != nil {
			t.Fatalf("Revision(%s): %v", p.key.Image, err)
		}
		pins[p.key] = d
	}
	return tags, pins
}

func TestReopen(t *testing.T) {
	t.Parallel()
	w := sampleWrites()
	mem := store.NewMemory(0)
	w.apply(t, mem)
	wantTags, wantPins := w.contents(t, mem)

	path := filepath.Join(t.TempDir(), "tagpin.db")
	s := open(t, path)
	w.apply(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, path)
	defer s.Close()
	gotTags, gotPins := w.contents(t, s)
	if diff := cmp.Diff(wantTags, gotTags); diff != "" {
		t.Errorf("tags after reopening, compared with a Memory store (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantPins, gotPins); diff != "" {
		t.Errorf("pins after reopening, compared with a Memory store (-want +got):\n%s", diff)
	}
	// The owner's name survives too: pruning is asked about it.
	var asked []store.Owner
	if _, err := s.PruneRevisions(t.Context(), func(_ string, o store.Owner) bool {
		asked = append(asked, o)
		return true
	}); err != nil {
		t.Fatalf("PruneRevisions: %v", err)
	}
	want := []store.Owner{w.pins[0].key.Owner, w.pins[2].key.Owner}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("owners PruneRevisions asked about (-want +got):\n%s", diff)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cache", "tagpin")
	path := filepath.Join(dir, "store.db")
	open(t, path).Close()
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may only take permissions away.
		if got := fi.Mode(); got&^c.want != 0 || got.IsDir() != c.want.IsDir() {
			t.Errorf("%s: mode %s, want at most %s", c.path, got, c.want)
		}
	}
}

func TestLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tagpin.db")
	first := open(t, path)
	_, err := Open(path, WithLockTimeout(time.Millisecond))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	for _, want := range []string{path, "another tagpin", "--store"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open: error %q does not mention %q", err, want)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, path, WithLockTimeout(time.Millisecond)).Close()
}

// writeBolt creates a bolt file at path with the buckets and keys of
// content (bucket -> key -> value).
func writeBolt(t *testing.T, path string, content map[string]map[string]string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for name, kv := range content {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for k, v := range kv {
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSchemaMismatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content map[string]map[string]string
		want    []string
	}{
		{
			name:    "newer version",
			content: map[string]map[string]string{"meta": {"schema": "99"}, "tags": {}, "revisions": {}},
			want:    []string{"version 99", "version 1", "upgrade tagpin", "move the file away"},
		},
		{
			name:    "garbage version",
			content: map[string]map[string]string{"meta": {"schema": "\x01"}},
			want:    []string{`version "\x01"`, "version 1"},
		},
		{
			name:    "no version",
			content: map[string]map[string]string{"meta": {}},
			want:    []string{"no schema version", "move the file away"},
		},
		{
			name:    "another program's database",
			content: map[string]map[string]string{"widgets": {"a": "b"}},
			want:    []string{"not a tagpin store", `"widgets"`, "move it away"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tagpin.db")
			writeBolt(t, path, tt.content)
			s, err := Open(path)
			if !errors.Is(err, ErrSchema) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("Open: err = %v, want ErrSchema", err)
			}
			for _, want := range append(tt.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open: error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestNotADatabase(t *testing.T) {
	t.Parallel()
	tests := map[string][]byte{
		"short text": []byte("registry.example/app:latest sha256:abc\n"),
		// Long enough for bbolt to read whole pages of it.
		"long text": bytes.Repeat([]byte("not a database\n"), 3000),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tagpin.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open of a text file: no error")
			}
			if errors.Is(err, ErrSchema) || errors.Is(err, ErrLocked) {
				t.Errorf("Open of a text file: err = %v, want neither ErrSchema nor ErrLocked", err)
			}
			for _, want := range []string{path, "not a tagpin store"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open: error %q does not mention %q", err, want)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Errorf("Open changed the text file: %d bytes, was %d", len(got), len(content))
			}
		})
	}
}

func TestRefusedWrites(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "tagpin.db"))
	defer s.Close()
	nul := storetest.Key("app\x00x", "latest")
	if _, err := s.Observe(t.Context(), nul, storetest.Digest("a"), t0, store.SourceCLI); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("Observe with a NUL byte in the key: err = %v, want one about the NUL byte", err)
	}
	if _, err := s.Tag(t.Context(), nul); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tag with a NUL byte in the key: err = %v, want ErrNotFound", err)
	}
	rk := store.RevisionKey{Namespace: "ns", Owner: store.Owner{Kind: "Job", Name: "j", UID: "u"}, Image: "app\x00"}
	if _, err := s.PinRevision(t.Context(), rk, storetest.Digest("a")); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("PinRevision with a NUL byte in the key: err = %v, want one about the NUL byte", err)
	}
	key := storetest.Key("app", "latest")
	for _, at := range []time.Time{{}, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if _, err := s.Observe(t.Context(), key, storetest.Digest("a"), at, store.SourceCLI); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("Observe at %s: err = %v, want out of range", at, err)
		}
	}
	if _, err := s.Tag(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tag after refused writes: err = %v, want ErrNotFound", err)
	}
}

func TestPruneAsksOncePerOwnerRevision(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "tagpin.db"))
	defer s.Close()
	rs := store.Owner{Kind: "ReplicaSet", Name: "web-1", UID: "u1"}
	sts1 := store.Owner{Kind: "StatefulSet", Name: "db", UID: "u2", Revision: "r1"}
	sts2 := sts1
	sts2.Revision = "r2"
	for _, o := range []store.Owner{rs, sts1, sts2} {
		for i := range 3 {
			k := store.RevisionKey{Namespace: "ns", Owner: o, Image: fmt.Sprint("image-", i)}
			if _, err := s.PinRevision(t.Context(), k, storetest.Digest(k.Image)); err != nil {
				t.Fatal(err)
			}
		}
	}
	asked := map[store.Owner]int{}
	n, err := s.PruneRevisions(t.Context(), func(ns string, o store.Owner) bool {
		asked[o]++
		return o != sts1
	})
	if err != nil || n != 3 {
		t.Errorf("PruneRevisions = %d, %v; want 3, nil", n, err)
	}
	if diff := cmp.Diff(map[store.Owner]int{rs: 1, sts1: 1, sts2: 1}, asked); diff != "" {
		t.Errorf("calls of exists per owner (-want +got):\n%s", diff)
	}
	for i := range 3 {
		k := store.RevisionKey{Namespace: "ns", Owner: sts2, Image: fmt.Sprint("image-", i)}
		if _, err := s.Revision(t.Context(), k); err != nil {
			t.Errorf("Revision of another revision of a pruned owner: %v", err)
		}
	}
}

func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "tagpin.db"))
	defer s.Close()
	key := storetest.Key("app", "latest")
	if _, err := s.Observe(t.Context(), key, storetest.Digest("a"), t0, store.SourceCLI); err != nil {
		t.Fatal(err)
	}
	k, _ := tagKey(key)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTags).Put(k, []byte{recordVersion, 1, digestSHA256, 1, 2})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tag(t.Context(), key); err == nil || !strings.Contains(err.Error(), key.String()) {
		t.Errorf("Tag of a truncated record: err = %v, want an error naming %s", err, key)
	}
	if _, err := s.Observe(t.Context(), key, storetest.Digest("b"), t0.Add(time.Minute), store.SourceCLI); err == nil || !strings.Contains(err.Error(), key.String()) {
		t.Errorf("Observe over a truncated record: err = %v, want an error naming %s", err, key)
	}
	// A damaged record spoils only its own tag.
	other := storetest.Key("app", "other")
	if _, err := s.Observe(t.Context(), other, storetest.Digest("b"), t0, store.SourceCLI); err != nil {
		t.Errorf("Observe of another tag: %v", err)
	}
}
