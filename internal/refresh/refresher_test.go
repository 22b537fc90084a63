package refresh_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/refresh"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/boltstore"
)

// events records what a Refresher reports.
type events struct {
	mu      sync.Mutex
	moved   []event
	missing []event
}

type event struct {
	Image    string
	From, To digest.Digest
	Owners   []refresh.PinOwner
}

func (e *events) TagMoved(_ context.Context, image string, from, to digest.Digest, owners []refresh.PinOwner) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.moved = append(e.moved, event{Image: image, From: from, To: to, Owners: owners})
}

func (e *events) DigestMissing(_ context.Context, image string, d digest.Digest, owners []refresh.PinOwner) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.missing = append(e.missing, event{Image: image, To: d, Owners: owners})
}

func (e *events) take() (moved, missing []event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	moved, missing = e.moved, e.missing
	e.moved, e.missing = nil, nil
	return moved, missing
}

func resolvers(t *testing.T, regs ...*registrytest.Registry) (r, verifier *resolve.Resolver) {
	t.Helper()
	var opts []resolve.Option
	for _, reg := range regs {
		opts = append(opts, resolve.WithAllowRegistry(reg.Addr()), resolve.WithInsecureRegistry(reg.Addr()))
	}
	r = resolve.New(opts...)
	verifier = resolve.New(append(opts, resolve.WithVerify(true))...)
	t.Cleanup(r.Close)
	t.Cleanup(verifier.Close)
	return r, verifier
}

func owner(ns, name string) store.RevisionKey {
	return store.RevisionKey{Namespace: ns, Owner: store.Owner{Kind: "ReplicaSet", Name: name, UID: "uid-" + name}}
}

func pin(t *testing.T, st store.Store, k store.RevisionKey, image string, d digest.Digest) store.RevisionKey {
	t.Helper()
	k.Image = image
	if _, err := st.PinRevision(t.Context(), k, d); err != nil {
		t.Fatal(err)
	}
	return k
}

func key(t *testing.T, image string, scope store.Scope) store.TagKey {
	t.Helper()
	ref, err := imageref.Parse(image)
	if err != nil {
		t.Fatal(err)
	}
	return store.TagKey{Registry: ref.Domain, Repository: ref.Path, Tag: ref.Tag, Scope: scope}
}

// TestRefresh: one round re-resolves the tags of live revision pins and
// the tags seen within the window, records moves with source refresh
// (no admission involved), reports them on the owners of the pins, and
// leaves alone tags seen long ago and tags learned with a namespace's
// pull secrets.
func TestRefresh(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	r, verifier := resolvers(t, reg)
	st := store.NewMemory(0)
	clk := newFakeClock(true)
	ev := &events{}
	promReg := prometheus.NewRegistry()
	ref, err := refresh.New(r, verifier, st, refresh.WithClock(clk), refresh.WithEvents(ev),
		refresh.WithMetrics(refresh.NewMetrics(promReg)), refresh.WithWindow(24*time.Hour), refresh.WithInterval(time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	pinned, recent, old, private := reg.Ref("pinned:1"), reg.Ref("recent:1"), reg.Ref("old:1"), reg.Ref("private:1")
	d1 := map[string]digest.Digest{}
	for _, img := range []string{pinned, recent, old, private} {
		d1[img] = reg.PushImage(t, img[len(reg.Addr())+1:])
	}
	// What admissions learned: the pinned tag a week ago (its pods keep
	// it in use), the recent one an hour ago, the old one two days ago,
	// the private one with a namespace's pull secrets.
	observe := func(k store.TagKey, d digest.Digest, at time.Time) {
		t.Helper()
		if _, err := st.Observe(t.Context(), k, d, at, store.SourceAdmission); err != nil {
			t.Fatal(err)
		}
	}
	observe(key(t, pinned, store.Public), d1[pinned], epoch.Add(-7*24*time.Hour))
	observe(key(t, recent, store.Public), d1[recent], epoch.Add(-time.Hour))
	observe(key(t, old, store.Public), d1[old], epoch.Add(-48*time.Hour))
	observe(key(t, private, "team-a"), d1[private], epoch.Add(-time.Minute))
	web := pin(t, st, owner("team-a", "web-1"), pinned, d1[pinned])
	other := pin(t, st, owner("team-b", "api-7"), pinned, d1[pinned])
	pin(t, st, owner("team-a", "web-1"), private, d1[private])

	// Every tag moves.
	d2 := map[string]digest.Digest{}
	for _, img := range []string{pinned, recent, old, private} {
		d2[img] = reg.PushImage(t, img[len(reg.Addr())+1:])
	}
	reg.ResetCounts()

	rep, err := ref.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(refresh.Report{Tags: 3, Refreshed: 2, Moved: 2, Skipped: 1}, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if got := reg.Counts(); got != (registrytest.Counts{Head: 2}) {
		t.Errorf("registry requests = %+v, want 2 HEADs (the pinned and the recent tag)", got)
	}
	// The refresher's requests are spaced by its rate limit: a refresh
	// happened at some time in the round.
	end := clk.Now()
	inRound := cmp.Comparer(func(a, b time.Time) bool {
		if a.Equal(b) {
			return true
		}
		return a.IsZero() && !b.Before(epoch) && !b.After(end) || b.IsZero() && !a.Before(epoch) && !a.After(end)
	})
	for _, tc := range []struct {
		image string
		scope store.Scope
		want  []store.Move
	}{
		// A zero time is any time in the round.
		{pinned, store.Public, []store.Move{
			{Digest: d2[pinned], Source: store.SourceRefresh},
			{Digest: d1[pinned], FirstSeen: epoch.Add(-7 * 24 * time.Hour), LastSeen: epoch.Add(-7 * 24 * time.Hour), Source: store.SourceAdmission},
		}},
		{recent, store.Public, []store.Move{
			{Digest: d2[recent], Source: store.SourceRefresh},
			{Digest: d1[recent], FirstSeen: epoch.Add(-time.Hour), LastSeen: epoch.Add(-time.Hour), Source: store.SourceAdmission},
		}},
		{old, store.Public, []store.Move{
			{Digest: d1[old], FirstSeen: epoch.Add(-48 * time.Hour), LastSeen: epoch.Add(-48 * time.Hour), Source: store.SourceAdmission},
		}},
		{private, "team-a", []store.Move{
			{Digest: d1[private], FirstSeen: epoch.Add(-time.Minute), LastSeen: epoch.Add(-time.Minute), Source: store.SourceAdmission},
		}},
	} {
		got, err := st.Tag(t.Context(), key(t, tc.image, tc.scope))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got.History, inRound); diff != "" {
			t.Errorf("history of %s (-want +got):\n%s", tc.image, diff)
		}
	}
	moved, missing := ev.take()
	slices.SortFunc(moved, func(a, b event) int { return len(b.Owners) - len(a.Owners) })
	want := []event{
		{Image: pinned, From: d1[pinned], To: d2[pinned], Owners: []refresh.PinOwner{
			{Namespace: web.Namespace, Owner: web.Owner}, {Namespace: other.Namespace, Owner: other.Owner},
		}},
		{Image: recent, From: d1[recent], To: d2[recent], Owners: []refresh.PinOwner{}},
	}
	sortOwners := cmp.Transformer("sortOwners", func(o []refresh.PinOwner) []refresh.PinOwner {
		o = slices.Clone(o)
		slices.SortFunc(o, func(a, b refresh.PinOwner) int { return strings.Compare(a.Namespace, b.Namespace) })
		return o
	})
	if diff := cmp.Diff(want, moved, sortOwners); diff != "" {
		t.Errorf("TagMoved events (-want +got):\n%s", diff)
	}
	if len(missing) > 0 {
		t.Errorf("DigestMissing events from a refresh: %+v", missing)
	}
	for name, want := range map[string]float64{
		"tagpin_refreshes_total":       2,
		"tagpin_refresh_moves_total":   2,
		"tagpin_stale_tags":            0,
		"tagpin_refresh_skipped_total": 1,
	} {
		if got := gather(t, promReg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	// The registry goes down: nothing is verified for three intervals,
	// and the tags in use become stale.
	reg.SetFault(registrytest.Unavailable)
	clk.Advance(4 * time.Minute)
	if rep, err = ref.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 2 || rep.Stale != 2 || !errors.Is(rep.FirstError, resolve.ErrUnavailable) {
		t.Errorf("with the registry down: report %+v, want 2 failed (unavailable) and 2 stale", rep)
	}
	if got := gather(t, promReg, "tagpin_stale_tags"); got != 2 {
		t.Errorf("tagpin_stale_tags = %v, want 2", got)
	}
}

// gather returns the value of the metric called name (the sum over its
// labels).
func gather(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return sum
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestCheck: a digest deleted from the registry (while its tag still
// answers, as from a pull-through cache that lost it) is reported once
// per pin until it is back, marked in stores that keep marks, and
// counted; one HEAD by digest per distinct digest.
func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		open  func(t *testing.T) store.Store
		marks bool
	}{
		{"memory (keeps marks)", func(*testing.T) store.Store { return store.NewMemory(0) }, true},
		{"bolt (keeps no marks)", func(t *testing.T) store.Store {
			s, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			r, verifier := resolvers(t, reg)
			st := tc.open(t)
			ev := &events{}
			promReg := prometheus.NewRegistry()
			ref, err := refresh.New(r, verifier, st, refresh.WithClock(newFakeClock(true)), refresh.WithEvents(ev),
				refresh.WithMetrics(refresh.NewMetrics(promReg)))
			if err != nil {
				t.Fatal(err)
			}
			app, lib := reg.Ref("app:1"), reg.Ref("lib:2")
			gone := reg.PushImage(t, "app:1")
			kept := reg.PushImage(t, "lib:2")
			web := pin(t, st, owner("team-a", "web-1"), app, gone)
			api := pin(t, st, owner("team-b", "api-7"), app, gone)
			pin(t, st, owner("team-a", "web-1"), lib, kept)

			check := func(step string, want refresh.CheckReport, wantEvents []event, missing float64) {
				t.Helper()
				reg.ResetCounts()
				rep, err := ref.Check(t.Context())
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if diff := cmp.Diff(want, rep); diff != "" {
					t.Errorf("%s: report (-want +got):\n%s", step, diff)
				}
				if got := reg.Counts(); got != (registrytest.Counts{Head: 2}) {
					t.Errorf("%s: registry requests = %+v, want 2 HEADs (one per digest)", step, got)
				}
				_, got := ev.take()
				for i := range got {
					slices.SortFunc(got[i].Owners, func(a, b refresh.PinOwner) int { return strings.Compare(a.Namespace, b.Namespace) })
				}
				if diff := cmp.Diff(wantEvents, got); diff != "" {
					t.Errorf("%s: DigestMissing events (-want +got):\n%s", step, diff)
				}
				if got := gather(t, promReg, "tagpin_pinned_digests_missing"); got != missing {
					t.Errorf("%s: tagpin_pinned_digests_missing = %v, want %v", step, got, missing)
				}
			}
			owners := []refresh.PinOwner{{Namespace: web.Namespace, Owner: web.Owner}, {Namespace: api.Namespace, Owner: api.Owner}}
			check("all there", refresh.CheckReport{Digests: 2}, nil, 0)

			reg.DeleteManifest(t, "app", gone)
			check("deleted", refresh.CheckReport{Digests: 2, Missing: 2, NewlyMissing: 2},
				[]event{{Image: app, To: gone, Owners: owners}}, 2)
			if tc.marks {
				got := missingSince(t, st)
				if len(got) != 2 || got["uid-web-1/"+app].IsZero() || got["uid-api-7/"+app].IsZero() {
					t.Errorf("marks after the deletion = %v, want both pins of %s marked", got, app)
				}
			}
			check("still deleted", refresh.CheckReport{Digests: 2, Missing: 2}, nil, 2)

			reg.Tag(t, "app:1", "1") // the digest is back
			check("back", refresh.CheckReport{Digests: 2}, nil, 0)
			if got := missingSince(t, st); len(got) != 0 {
				t.Errorf("marks once the digest is back = %v, want none", got)
			}

			reg.DeleteManifest(t, "app", gone)
			check("deleted again", refresh.CheckReport{Digests: 2, Missing: 2, NewlyMissing: 2},
				[]event{{Image: app, To: gone, Owners: owners}}, 2)
		})
	}
}

// missingSince returns the pins marked missing, by owner UID and image.
func missingSince(t *testing.T, st store.Store) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	if err := st.(store.Lister).Revisions(t.Context(), func(p store.Pin) bool {
		if !p.MissingSince.IsZero() {
			out[p.Key.Owner.UID+"/"+p.Key.Image] = p.MissingSince
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRateLimit: each registry gets at most the rate's requests a
// second, counted on the registry; registries do not wait for each
// other.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		rate       float64
		tags       []int // tags per registry
		wantTime   time.Duration
		registries int
	}{
		{"5/s, one registry", 5, []int{11}, 2 * time.Second, 1},
		{"2/s, one registry", 2, []int{5}, 2 * time.Second, 1},
		// Worked one after the other, the second registry's first
		// request does not wait for the first registry's limit.
		{"1/s, two registries", 1, []int{3, 3}, 4 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var regs []*registrytest.Registry
			for range tc.tags {
				regs = append(regs, registrytest.New(t))
			}
			r, verifier := resolvers(t, regs...)
			st := store.NewMemory(0)
			clk := newFakeClock(true)
			total := func() int {
				n := 0
				for _, reg := range regs {
					n += reg.Counts().Head
				}
				return n
			}
			type sample struct {
				at    time.Duration
				heads []int
			}
			var samples []sample
			clk.onWait = func(now time.Time) {
				s := sample{at: now.Sub(epoch)}
				for _, reg := range regs {
					s.heads = append(s.heads, reg.Counts().Head)
				}
				samples = append(samples, s)
			}
			ref, err := refresh.New(r, verifier, st, refresh.WithClock(clk), refresh.WithRate(tc.rate), refresh.WithRegistries(tc.registries))
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for i, reg := range regs {
				for n := range tc.tags[i] {
					tag := "app:" + string(rune('a'+n))
					d := reg.PushImage(t, tag)
					if _, err := st.Observe(t.Context(), key(t, reg.Ref(tag), store.Public), d, epoch, store.SourceAdmission); err != nil {
						t.Fatal(err)
					}
					want++
				}
			}
			rep, err := ref.Refresh(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Refreshed != want || total() != want {
				t.Fatalf("refreshed %d tags with %d requests, want %d and %d", rep.Refreshed, total(), want, want)
			}
			if got := clk.Now().Sub(epoch); got != tc.wantTime {
				t.Errorf("the round took %s, want %s", got, tc.wantTime)
			}
			// Before each wait, no registry has had more requests than
			// the rate allows since the round started (one at once).
			for _, s := range samples {
				for i, n := range s.heads {
					if allowed := 1 + int(s.at.Seconds()*tc.rate); n > allowed {
						t.Errorf("registry %d had %d requests %s into the round, more than the %d allowed", i, n, s.at, allowed)
					}
				}
			}
			if len(samples) == 0 {
				t.Error("the refresher never waited for the rate limit")
			}
		})
	}
}

// TestRun: the loop refreshes when it starts and again within one
// interval (±10%), so a moved tag is recorded without any admission;
// it checks pinned digests on its own schedule; it stops with its
// context, and does nothing when both intervals are 0.
func TestRun(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	r, verifier := resolvers(t, reg)
	img := reg.Ref("app:1")
	d1 := reg.PushImage(t, "app:1")

	for _, tc := range []struct {
		name              string
		interval, checkIv time.Duration
		// after the first round, what moves or vanishes
		change func(*testing.T) digest.Digest
		// what the second round must have found
		verify func(t *testing.T, st store.Store, ev *events, d digest.Digest)
	}{
		{"refresh", time.Minute, 0,
			func(t *testing.T) digest.Digest { return reg.PushImage(t, "app:1") },
			func(t *testing.T, st store.Store, ev *events, d2 digest.Digest) {
				tag, err := st.Tag(t.Context(), key(t, img, store.Public))
				if err != nil {
					t.Fatal(err)
				}
				if cur := tag.History[0]; cur.Digest != d2 || cur.Source != store.SourceRefresh {
					t.Errorf("current move = %+v, want %s from refresh", cur, d2)
				}
				if moved, _ := ev.take(); len(moved) != 1 || moved[0].To != d2 {
					t.Errorf("TagMoved events = %+v, want one to %s", moved, d2)
				}
			}},
		{"check", 0, time.Hour,
			func(t *testing.T) digest.Digest { reg.DeleteManifest(t, "app", d1); return d1 },
			func(t *testing.T, _ store.Store, ev *events, d digest.Digest) {
				if _, missing := ev.take(); len(missing) != 1 || missing[0].To != d {
					t.Errorf("DigestMissing events = %+v, want one for %s", missing, d)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the cases share the registry.
			st := store.NewMemory(0)
			if _, err := st.Observe(t.Context(), key(t, img, store.Public), d1, epoch.Add(-time.Hour), store.SourceAdmission); err != nil {
				t.Fatal(err)
			}
			pin(t, st, owner("team-a", "web-1"), img, d1)
			clk := newFakeClock(false)
			ev := &events{}
			ref, err := refresh.New(r, verifier, st, refresh.WithClock(clk), refresh.WithEvents(ev),
				refresh.WithInterval(tc.interval), refresh.WithCheckInterval(tc.checkIv))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); ref.Run(ctx) }()

			clk.awaitWait(t) // the first round is done
			ev.take()
			d := tc.change(t)
			clk.Advance(max(tc.interval, tc.checkIv) * 11 / 10)
			clk.awaitWait(t) // the second round is done
			tc.verify(t, st, ev, d)
			cancel()
			<-done
		})
	}

	t.Run("disabled", func(t *testing.T) {
		ref, err := refresh.New(r, verifier, store.NewMemory(0), refresh.WithClock(newFakeClock(false)),
			refresh.WithInterval(0), refresh.WithCheckInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		ref.Run(t.Context()) // returns at once
	})
}

// TestNewNeedsLister: a store that cannot list its records is refused.
func TestNewNeedsLister(t *testing.T) {
	t.Parallel()
	r, verifier := resolvers(t)
	if _, err := refresh.New(r, verifier, notLister{store.NewMemory(0)}); !errors.Is(err, refresh.ErrNotLister) {
		t.Errorf("New with a store that cannot list: err = %v, want ErrNotLister", err)
	}
}

type notLister struct{ store.Store }
