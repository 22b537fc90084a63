// Package storetest is the conformance suite every store.Store backend
// passes: history order, late writers, first-writer-wins under
// concurrency, scope isolation, retention, not-found errors and context
// cancellation.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/store"
)

// Factory returns a new, empty store keeping at most maxMoves moves per
// tag. The suite closes it.
type Factory func(t *testing.T, maxMoves int) store.Store

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"history is newest first", testHistory},
		{"same digest extends the current move", testSameDigest},
		{"a late writer changes nothing", testLateWriter},
		{"a tag may move back", testMoveBack},
		{"retention caps history", testRetention},
		{"scopes are isolated", testScopes},
		{"not found", testNotFound},
		{"invalid keys are refused", testInvalidKeys},
		{"first revision writer wins", testFirstWriterWins},
		{"concurrent revision writers agree", testConcurrentPins},
		{"concurrent observers keep every move", testConcurrentObserve},
		{"prune removes pins of deleted owners", testPrune},
		{"lists every tag and pin", testList},
		{"marks missing digests", testMarkMissing},
		{"canceled context", testCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore)
		})
	}
}

// Digest returns a digest made from s, for tests.
func Digest(s string) digest.Digest { return digest.FromString(s) }

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// Key returns a public tag key for repository:tag on registry.example.
func Key(repository, tag string) store.TagKey {
	return store.TagKey{Registry: "registry.example", Repository: repository, Tag: tag}
}

func open(t *testing.T, f Factory, maxMoves int) store.Store {
	t.Helper()
	s := f(t, maxMoves)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func observe(t *testing.T, s store.Store, key store.TagKey, d digest.Digest, when time.Time, src store.Source) store.Observation {
	t.Helper()
	obs, err := s.Observe(t.Context(), key, d, when, src)
	if err != nil {
		t.Fatalf("Observe(%s, %s): %v", key, d, err)
	}
	return obs
}

func get(t *testing.T, s store.Store, key store.TagKey) *store.Tag {
	t.Helper()
	tag, err := s.Tag(t.Context(), key)
	if err != nil {
		t.Fatalf("Tag(%s): %v", key, err)
	}
	return tag
}

func testHistory(t *testing.T, f Factory) {
	s := open(t, f, 0)
	key := Key("app", "latest")
	a, b, c := Digest("a"), Digest("b"), Digest("c")
	if obs := observe(t, s, key, a, at(0), store.SourceCLI); obs != (store.Observation{}) {
		t.Errorf("first observation: got %+v, want the zero Observation", obs)
	}
	if obs := observe(t, s, key, b, at(10), store.SourceAdmission); obs != (store.Observation{Moved: true, Previous: a}) {
		t.Errorf("second digest: got %+v, want Moved from %s", obs, a)
	}
	observe(t, s, key, c, at(20), store.SourceRefresh)
	got := get(t, s, key)
	want := &store.Tag{Key: key, History: []store.Move{
		{Digest: c, FirstSeen: at(20), LastSeen: at(20), Source: store.SourceRefresh},
		{Digest: b, FirstSeen: at(10), LastSeen: at(10), Source: store.SourceAdmission},
		{Digest: a, FirstSeen: at(0), LastSeen: at(0), Source: store.SourceCLI},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tag (-want +got):\n%s", diff)
	}
	if got.Current() != c || !got.Verified().Equal(at(20)) {
		t.Errorf("Current, Verified = %s, %s; want %s, %s", got.Current(), got.Verified(), c, at(20))
	}
}

func testSameDigest(t *testing.T, f Factory) {
	s := open(t, f, 0)
	key := Key("app", "1.0")
	a := Digest("a")
	observe(t, s, key, a, at(0), store.SourceCLI)
	if obs := observe(t, s, key, a, at(5), store.SourceAdmission); obs != (store.Observation{Previous: a}) {
		t.Errorf("same digest: got %+v, want only Previous set", obs)
	}
	// An older sighting of the same digest does not move LastSeen back.
	observe(t, s, key, a, at(3), store.SourceAdmission)
	want := []store.Move{{Digest: a, FirstSeen: at(0), LastSeen: at(5), Source: store.SourceCLI}}
	if diff := cmp.Diff(want, get(t, s, key).History); diff != "" {
		t.Errorf("History (-want +got):\n%s", diff)
	}
}

func testLateWriter(t *testing.T, f Factory) {
	s := open(t, f, 0)
	key := Key("app", "latest")
	a, b := Digest("a"), Digest("b")
	observe(t, s, key, b, at(10), store.SourceAdmission)
	// Resolved at minute 5, written after someone saw b at minute 10.
	if obs := observe(t, s, key, a, at(5), store.SourceAdmission); !obs.Stale || obs.Moved {
		t.Errorf("late writer: got %+v, want Stale and not Moved", obs)
	}
	if got := get(t, s, key); got.Current() != b || len(got.History) != 1 {
		t.Errorf("after a late writer: current %s with %d moves, want %s with 1", got.Current(), len(got.History), b)
	}
}

func testMoveBack(t *testing.T, f Factory) {
	s := open(t, f, 0)
	key := Key("app", "latest")
	a, b := Digest("a"), Digest("b")
	observe(t, s, key, a, at(0), store.SourceCLI)
	observe(t, s, key, b, at(1), store.SourceCLI)
	if obs := observe(t, s, key, a, at(2), store.SourceCLI); !obs.Moved || obs.Previous != b {
		t.Errorf("moving back: got %+v, want Moved from %s", obs, b)
	}
	var got []digest.Digest
	for _, m := range get(t, s, key).History {
		got = append(got, m.Digest)
	}
	if diff := cmp.Diff([]digest.Digest{a, b, a}, got); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
}

func testRetention(t *testing.T, f Factory) {
	s := open(t, f, 3)
	key := Key("app", "latest")
	for i := range 5 {
		observe(t, s, key, Digest(fmt.Sprint(i)), at(i), store.SourceCLI)
	}
	var got []digest.Digest
	for _, m := range get(t, s, key).History {
		got = append(got, m.Digest)
	}
	want := []digest.Digest{Digest("4"), Digest("3"), Digest("2")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("with at most 3 moves (-want +got):\n%s", diff)
	}
}

func testScopes(t *testing.T, f Factory) {
	s := open(t, f, 0)
	public := Key("app", "latest")
	teamA, teamB := public, public
	teamA.Scope, teamB.Scope = "team-a", "team-b"
	// A namespace may be called "public"; it is still not the public scope.
	named := public
	named.Scope = "public"

	observe(t, s, teamA, Digest("a"), at(0), store.SourceAdmission)
	for _, key := range []store.TagKey{public, teamB, named} {
		if _, err := s.Tag(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Tag(%s) after recording only in team-a: err = %v, want ErrNotFound", key, err)
		}
	}
	observe(t, s, public, Digest("p"), at(1), store.SourceCLI)
	observe(t, s, named, Digest("n"), at(1), store.SourceAdmission)
	for key, want := range map[store.TagKey]digest.Digest{teamA: Digest("a"), public: Digest("p"), named: Digest("n")} {
		got := get(t, s, key)
		if got.Current() != want || got.Key != key {
			t.Errorf("Tag(%s) = %s with key %+v, want %s", key, got.Current(), got.Key, want)
		}
	}
	// Other parts of the key are isolated too.
	for _, key := range []store.TagKey{
		{Registry: "other.example", Repository: "app", Tag: "latest"},
		{Registry: "registry.example", Repository: "app2", Tag: "latest"},
		{Registry: "registry.example", Repository: "app", Tag: "latest2"},
	} {
		if _, err := s.Tag(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Tag(%s): err = %v, want ErrNotFound", key, err)
		}
	}
}

func testNotFound(t *testing.T, f Factory) {
	s := open(t, f, 0)
	key := Key("nope", "1")
	_, err := s.Tag(t.Context(), key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tag: err = %v, want ErrNotFound", err)
	} else if !strings.Contains(err.Error(), "registry.example/nope:1") {
		t.Errorf("Tag: error %q does not name the tag", err)
	}
	rk := revKey("ns", "uid-1", "app:1")
	if _, err := s.Revision(t.Context(), rk); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Revision: err = %v, want ErrNotFound", err)
	}
}

func testInvalidKeys(t *testing.T, f Factory) {
	s := open(t, f, 0)
	if _, err := s.Observe(t.Context(), store.TagKey{Registry: "r", Tag: "t"}, Digest("a"), at(0), store.SourceCLI); err == nil {
		t.Error("Observe with no repository: no error")
	}
	if _, err := s.PinRevision(t.Context(), store.RevisionKey{Namespace: "ns", Image: "app"}, Digest("a")); err == nil {
		t.Error("PinRevision with no owner: no error")
	}
}

func revKey(ns, uid, image string) store.RevisionKey {
	return store.RevisionKey{Namespace: ns, Owner: store.Owner{Kind: "ReplicaSet", Name: "web-" + uid, UID: uid}, Image: image}
}

func testFirstWriterWins(t *testing.T, f Factory) {
	s := open(t, f, 0)
	k := revKey("ns", "uid-1", "app:latest")
	got, err := s.PinRevision(t.Context(), k, Digest("first"))
	if err != nil || got != Digest("first") {
		t.Fatalf("first PinRevision = %s, %v; want %s", got, err, Digest("first"))
	}
	if got, err = s.PinRevision(t.Context(), k, Digest("second")); err != nil || got != Digest("first") {
		t.Errorf("second PinRevision = %s, %v; want the first writer's %s", got, err, Digest("first"))
	}
	if got, err = s.Revision(t.Context(), k); err != nil || got != Digest("first") {
		t.Errorf("Revision = %s, %v; want %s", got, err, Digest("first"))
	}
	// Each part of the key separates pins.
	others := []store.RevisionKey{
		revKey("other-ns", "uid-1", "app:latest"),
		revKey("ns", "uid-2", "app:latest"),
		revKey("ns", "uid-1", "app:1.0"),
		{Namespace: "ns", Owner: store.Owner{Kind: "Job", Name: "web-uid-1", UID: "uid-1"}, Image: "app:latest"},
		{Namespace: "ns", Owner: store.Owner{Kind: "ReplicaSet", Name: "web-uid-1", UID: "uid-1", Revision: "5d8f7c9b6"}, Image: "app:latest"},
	}
	for _, o := range others {
		if _, err := s.Revision(t.Context(), o); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Revision(%+v): err = %v, want ErrNotFound", o, err)
		}
	}
}

func testConcurrentPins(t *testing.T, f Factory) {
	s := open(t, f, 0)
	const writers = 16
	k := revKey("ns", "uid-c", "app:latest")
	results := make([]digest.Digest, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.PinRevision(t.Context(), k, Digest(fmt.Sprint("writer", i)))
		})
	}
	close(start)
	wg.Wait()
	for i := range writers {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Errorf("writer %d got %s, writer 0 got %s: writers disagree", i, results[i], results[0])
		}
	}
	if got, err := s.Revision(t.Context(), k); err != nil || got != results[0] {
		t.Errorf("Revision = %s, %v; want %s", got, err, results[0])
	}
}

func testConcurrentObserve(t *testing.T, f Factory) {
	s := open(t, f, 0)
	const tags, rounds = 8, 5
	var wg sync.WaitGroup
	for i := range tags {
		wg.Go(func() {
			key := Key("app", fmt.Sprint("t", i))
			for r := range rounds {
				if _, err := s.Observe(t.Context(), key, Digest(fmt.Sprint(i, r)), at(r), store.SourceAdmission); err != nil {
					t.Errorf("Observe(%s): %v", key, err)
				}
			}
		})
	}
	wg.Wait()
	for i := range tags {
		key := Key("app", fmt.Sprint("t", i))
		if got := get(t, s, key); len(got.History) != rounds || got.Current() != Digest(fmt.Sprint(i, rounds-1)) {
			t.Errorf("Tag(%s): %d moves, current %s; want %d moves, current %s", key, len(got.History), got.Current(), rounds, Digest(fmt.Sprint(i, rounds-1)))
		}
	}
}

func testPrune(t *testing.T, f Factory) {
	s := open(t, f, 0)
	pruner, ok := s.(store.RevisionPruner)
	if !ok {
		t.Skipf("%T does not implement store.RevisionPruner", s)
	}
	keep := revKey("ns", "alive", "app:1")
	gone := []store.RevisionKey{revKey("ns", "dead", "app:1"), revKey("ns", "dead", "sidecar:2")}
	// Revisions of one owner are pins of the same owner.
	deadRev := revKey("ns", "dead", "app:1")
	deadRev.Owner.Revision = "7f9c"
	gone = append(gone, deadRev)
	for _, k := range append([]store.RevisionKey{keep}, gone...) {
		if _, err := s.PinRevision(t.Context(), k, Digest(k.Image)); err != nil {
			t.Fatal(err)
		}
	}
	var asked []string
	n, err := pruner.PruneRevisions(t.Context(), func(ns string, o store.Owner) bool {
		asked = append(asked, ns+"/"+o.Kind+"/"+o.Name+"/"+o.UID)
		return o.UID == "alive"
	})
	if err != nil || n != len(gone) {
		t.Errorf("PruneRevisions = %d, %v; want %d, nil", n, err, len(gone))
	}
	for _, a := range asked {
		if a != "ns/ReplicaSet/web-alive/alive" && a != "ns/ReplicaSet/web-dead/dead" {
			t.Errorf("exists was asked about %q, not an owner that was stored", a)
		}
	}
	if _, err := s.Revision(t.Context(), keep); err != nil {
		t.Errorf("Revision of a live owner after pruning: %v", err)
	}
	for _, k := range gone {
		if _, err := s.Revision(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Revision(%s) of a deleted owner: err = %v, want ErrNotFound", k.Image, err)
		}
	}
}

func testCanceled(t *testing.T, f Factory) {
	s := open(t, f, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	key := Key("app", "latest")
	rk := revKey("ns", "uid", "app")
	checks := map[string]error{}
	_, checks["Observe"] = s.Observe(ctx, key, Digest("a"), at(0), store.SourceCLI)
	_, checks["Tag"] = s.Tag(ctx, key)
	_, checks["PinRevision"] = s.PinRevision(ctx, rk, Digest("a"))
	_, checks["Revision"] = s.Revision(ctx, rk)
	if p, ok := s.(store.RevisionPruner); ok {
		_, checks["PruneRevisions"] = p.PruneRevisions(ctx, func(string, store.Owner) bool { return false })
	}
	if l, ok := s.(store.Lister); ok {
		checks["Tags"] = l.Tags(ctx, func(*store.Tag) bool { return true })
		checks["Revisions"] = l.Revisions(ctx, func(store.Pin) bool { return true })
	}
	if m, ok := s.(store.MissingMarker); ok {
		checks["MarkMissing"] = m.MarkMissing(ctx, rk, at(0))
	}
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: err = %v, want context.Canceled", name, err)
		}
	}
	// Nothing was written.
	if _, err := s.Tag(t.Context(), key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Tag after a canceled Observe: err = %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, f Factory) {
	s := open(t, f, 0)
	l, ok := s.(store.Lister)
	if !ok {
		t.Skipf("%T does not implement store.Lister", s)
	}
	public, scoped, other := Key("app", "1.0"), Key("app", "1.0"), Key("lib/base", "latest")
	scoped.Scope = "team-a"
	observe(t, s, public, Digest("a"), at(0), store.SourceAdmission)
	observe(t, s, public, Digest("b"), at(5), store.SourceRefresh)
	observe(t, s, scoped, Digest("private"), at(1), store.SourceAdmission)
	observe(t, s, other, Digest("c"), at(2), store.SourceCLI)
	pins := []store.Pin{
		{Key: revKey("ns", "uid-1", "app:1.0"), Digest: Digest("a")},
		{Key: revKey("ns", "uid-1", "registry.example/lib/base"), Digest: Digest("c")},
		{Key: store.RevisionKey{Namespace: "team-a", Owner: store.Owner{Kind: "StatefulSet", Name: "db", UID: "uid-2", Revision: "7f9c"}, Image: "app:1.0"}, Digest: Digest("private")},
	}
	for _, p := range pins {
		if _, err := s.PinRevision(t.Context(), p.Key, p.Digest); err != nil {
			t.Fatal(err)
		}
	}

	var tags []*store.Tag
	if err := l.Tags(t.Context(), func(tag *store.Tag) bool { tags = append(tags, tag); return true }); err != nil {
		t.Fatalf("Tags: %v", err)
	}
	slices.SortFunc(tags, func(a, b *store.Tag) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	wantTags := []*store.Tag{get(t, s, public), get(t, s, scoped), get(t, s, other)}
	slices.SortFunc(wantTags, func(a, b *store.Tag) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}

	var got []store.Pin
	if err := l.Revisions(t.Context(), func(p store.Pin) bool { got = append(got, p); return true }); err != nil {
		t.Fatalf("Revisions: %v", err)
	}
	byImage := func(a, b store.Pin) int {
		return strings.Compare(a.Key.Namespace+a.Key.Owner.UID+a.Key.Image, b.Key.Namespace+b.Key.Owner.UID+b.Key.Image)
	}
	slices.SortFunc(got, byImage)
	slices.SortFunc(pins, byImage)
	if diff := cmp.Diff(pins, got); diff != "" {
		t.Errorf("Revisions (-want +got):\n%s", diff)
	}

	// yield returning false stops the listing.
	n := 0
	if err := l.Tags(t.Context(), func(*store.Tag) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("Tags stopped by yield: %d calls, err %v; want 1 call, nil", n, err)
	}
	n = 0
	if err := l.Revisions(t.Context(), func(store.Pin) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("Revisions stopped by yield: %d calls, err %v; want 1 call, nil", n, err)
	}
}

func testMarkMissing(t *testing.T, f Factory) {
	s := open(t, f, 0)
	m, ok := s.(store.MissingMarker)
	l, lists := s.(store.Lister)
	if !ok || !lists {
		t.Skipf("%T does not implement store.MissingMarker and store.Lister", s)
	}
	k, other := revKey("ns", "uid-1", "app:1.0"), revKey("ns", "uid-2", "app:1.0")
	for _, key := range []store.RevisionKey{k, other} {
		if _, err := s.PinRevision(t.Context(), key, Digest("a")); err != nil {
			t.Fatal(err)
		}
	}
	missing := func() map[string]time.Time {
		t.Helper()
		out := map[string]time.Time{}
		if err := l.Revisions(t.Context(), func(p store.Pin) bool {
			out[p.Key.Owner.UID] = p.MissingSince
			return true
		}); err != nil {
			t.Fatalf("Revisions: %v", err)
		}
		return out
	}
	steps := []struct {
		name  string
		since time.Time
		want  map[string]time.Time
	}{
		{"marked", at(5), map[string]time.Time{"uid-1": at(5), "uid-2": {}}},
		{"marked again keeps the first time", at(9), map[string]time.Time{"uid-1": at(5), "uid-2": {}}},
		{"back", time.Time{}, map[string]time.Time{"uid-1": {}, "uid-2": {}}},
	}
	for _, step := range steps {
		if err := m.MarkMissing(t.Context(), k, step.since); err != nil {
			t.Fatalf("%s: MarkMissing: %v", step.name, err)
		}
		if diff := cmp.Diff(step.want, missing()); diff != "" {
			t.Errorf("%s: MissingSince by owner (-want +got):\n%s", step.name, diff)
		}
	}
	if got, err := s.Revision(t.Context(), k); err != nil || got != Digest("a") {
		t.Errorf("Revision after marking = %s, %v; want %s", got, err, Digest("a"))
	}
	if err := m.MarkMissing(t.Context(), revKey("ns", "gone", "app:1.0"), at(1)); err != nil {
		t.Errorf("MarkMissing of a pin that does not exist: %v, want nil", err)
	}
	if _, err := s.Revision(t.Context(), revKey("ns", "gone", "app:1.0")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkMissing created a pin: Revision err = %v, want ErrNotFound", err)
	}
}
