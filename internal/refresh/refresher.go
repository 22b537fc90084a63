package refresh

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
)

// ErrNotLister is returned by New for a store that cannot enumerate its
// records.
var ErrNotLister = errors.New("the store cannot list its records")

// Refresher re-resolves the tags in use and checks pinned digests.
type Refresher struct {
	opts     options
	lister   store.Lister
	marker   store.MissingMarker // nil when the store keeps no marks
	tracker  *track.Tracker
	verifier *resolve.Resolver
	limits   *limiters

	mu sync.Mutex
	// reported holds the pins reported missing, for stores that keep no
	// marks (and until the store's mark is seen).
	reported map[pinDigest]bool
}

type pinDigest struct {
	key store.RevisionKey
	d   digest.Digest
}

// New returns a Refresher of st, which must implement store.Lister. Tags
// are re-resolved through r (HEAD by tag) and recorded with source
// refresh; digests are checked through verifier, a resolver that
// verifies references carrying a digest (resolve.WithVerify), or not at
// all when verifier is nil. Both should share the limits, mirrors and
// credentials of the resolver admissions use.
func New(r *resolve.Resolver, verifier *resolve.Resolver, st store.Store, opts ...Option) (*Refresher, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	o.finish()
	l, ok := st.(store.Lister)
	if !ok {
		return nil, fmt.Errorf("refreshing %T: %w", st, ErrNotLister)
	}
	m, _ := st.(store.MissingMarker)
	return &Refresher{
		opts:     o,
		lister:   l,
		marker:   m,
		tracker:  track.New(r, st, store.SourceRefresh, track.WithoutFallback(), track.WithClock(o.clock.Now)),
		verifier: verifier,
		limits:   &limiters{clock: o.clock, rate: o.rate},
		reported: map[pinDigest]bool{},
	}, nil
}

// Run refreshes and checks on schedule until ctx is done: both at once
// when it starts (a new leader catches up), then every interval and
// check interval, each varied by ±10%.
func (r *Refresher) Run(ctx context.Context) {
	refresh, check := r.opts.interval > 0, r.opts.checkInterval > 0 && r.verifier != nil
	if !refresh && !check {
		return
	}
	// A replica that stops leading stops reporting: the next leader's
	// figures are the ones alerts read.
	defer r.opts.metrics.stale.Set(0)
	defer r.opts.metrics.missing.Set(0)
	var nextRefresh, nextCheck time.Time // zero: due now
	for {
		now := r.opts.clock.Now()
		if refresh && !now.Before(nextRefresh) {
			rep, err := r.Refresh(ctx)
			r.logRefresh(rep, err)
			nextRefresh = r.opts.clock.Now().Add(jittered(r.opts.interval))
		}
		if check && !now.Before(nextCheck) {
			rep, err := r.Check(ctx)
			r.logCheck(rep, err)
			nextCheck = r.opts.clock.Now().Add(jittered(r.opts.checkInterval))
		}
		if ctx.Err() != nil {
			return
		}
		next := nextRefresh
		if !refresh || check && nextCheck.Before(next) {
			next = nextCheck
		}
		select {
		case <-r.opts.clock.After(next.Sub(r.opts.clock.Now())):
		case <-ctx.Done():
			return
		}
	}
}

func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 + jitter*(2*rand.Float64()-1)))
}

func (r *Refresher) logRefresh(rep Report, err error) {
	log := r.opts.log.With("tags", rep.Tags, "refreshed", rep.Refreshed, "moved", rep.Moved, "failed", rep.Failed,
		"skipped", rep.Skipped, "stale", rep.Stale)
	switch {
	case err != nil:
		log.Error("refreshing the tags in use", "error", err)
	case rep.Failed > 0:
		log.Warn("refreshed the tags in use; some could not be resolved", "firstError", rep.FirstError)
	default:
		log.Debug("refreshed the tags in use")
	}
}

func (r *Refresher) logCheck(rep CheckReport, err error) {
	log := r.opts.log.With("digests", rep.Digests, "missing", rep.Missing, "newlyMissing", rep.NewlyMissing, "failed", rep.Failed)
	switch {
	case err != nil:
		log.Error("checking the pinned digests", "error", err)
	case rep.NewlyMissing > 0:
		log.Warn("pinned digests are missing from their registries")
	case rep.Failed > 0:
		log.Warn("checked the pinned digests; some could not be checked", "firstError", rep.FirstError)
	default:
		log.Debug("checked the pinned digests")
	}
}

// Report says what one refresh round did.
type Report struct {
	// Tags is how many tags were in use, Refreshed how many were
	// re-resolved, Moved how many of those had moved, Failed how many
	// could not be resolved, Skipped how many were left alone (learned
	// with a namespace's pull secrets), Stale how many had not been
	// verified for three intervals.
	Tags, Refreshed, Moved, Failed, Skipped, Stale int
	// FirstError is the first resolution that failed.
	FirstError error
}

// tagID is a tag whatever its scope.
type tagID struct{ registry, repository, tag string }

func (id tagID) String() string { return id.registry + "/" + id.repository + ":" + id.tag }

// candidate is a tag in use to re-resolve.
type candidate struct {
	id       tagID
	ref      imageref.Reference
	key      store.TagKey
	verified time.Time // zero when the store has no record
	owners   []PinOwner
}

// Refresh re-resolves the tags in use once: those of revision pins and
// those last seen within the window, public ones only (a digest learned
// with a namespace's pull secrets is refreshed by the next admission).
// Each registry gets at most the rate's requests a second.
func (r *Refresher) Refresh(ctx context.Context) (Report, error) {
	var rep Report
	start := r.opts.clock.Now()
	pins, err := r.pins(ctx)
	if err != nil {
		return rep, err
	}
	users := map[tagID][]store.Pin{}
	refs := map[tagID]imageref.Reference{}
	for _, p := range pins {
		ref, err := imageref.Parse(p.Key.Image)
		if err != nil || !ref.HasTag() || ref.Pinned() {
			continue
		}
		id := tagID{ref.Domain, ref.Path, ref.Tag}
		users[id] = append(users[id], p)
		if _, ok := refs[id]; !ok {
			refs[id] = ref
		}
	}
	known := map[store.TagKey]*store.Tag{}
	if err := r.lister.Tags(ctx, func(t *store.Tag) bool { known[t.Key] = t; return true }); err != nil && !errors.Is(err, store.ErrCorrupt) {
		return rep, fmt.Errorf("listing the tags in use: %w", err)
	}

	var cands []*candidate
	public := map[tagID]bool{}
	for key, t := range known {
		id := tagID{key.Registry, key.Repository, key.Tag}
		pinned := slices.ContainsFunc(users[id], func(p store.Pin) bool { return key.Scope == store.Public || p.Key.Namespace == string(key.Scope) })
		if !pinned && start.Sub(t.Verified()) > r.opts.window {
			continue
		}
		rep.Tags++
		if key.Scope != store.Public {
			rep.Skipped++
			continue
		}
		public[id] = true
		ref, ok := refs[id]
		if !ok {
			if ref, err = imageref.Parse(id.String()); err != nil {
				continue // a record no reference names
			}
		}
		cands = append(cands, &candidate{id: id, ref: ref, key: key, verified: t.Verified(), owners: owners(users[id])})
	}
	for id, ps := range users {
		if public[id] {
			continue
		}
		if slices.ContainsFunc(ps, func(p store.Pin) bool {
			_, ok := known[store.TagKey{Registry: id.registry, Repository: id.repository, Tag: id.tag, Scope: store.Scope(p.Key.Namespace)}]
			return ok
		}) {
			continue // counted with its namespace's record
		}
		rep.Tags++
		ref := refs[id]
		cands = append(cands, &candidate{id: id, ref: ref, key: track.Key(ref, store.Public), owners: owners(ps)})
	}
	r.opts.metrics.rounds.WithLabelValues(kindRefresh).Inc()
	r.opts.metrics.skipped.WithLabelValues(ReasonNamespaceScope).Add(float64(rep.Skipped))

	var mu sync.Mutex // guards rep
	perRegistry(ctx, r, cands, func(c *candidate) string { return c.ref.Domain }, func(ctx context.Context, c *candidate) {
		res, err := r.tracker.Resolve(ctx, track.Query{Ref: c.ref})
		why := ""
		switch {
		case err != nil:
			why = reason(err)
		case res.RecordErr != nil:
			err, why = res.RecordErr, ReasonStore
		}
		if err != nil {
			r.opts.metrics.failures.WithLabelValues(why).Inc()
			mu.Lock()
			defer mu.Unlock()
			rep.Failed++
			if rep.FirstError == nil {
				rep.FirstError = err
			}
			return
		}
		r.opts.metrics.refreshes.Inc()
		c.verified = res.Verified
		if res.Observation.Moved {
			r.opts.metrics.moves.Inc()
			r.opts.events.TagMoved(ctx, c.id.String(), res.Observation.Previous, res.Digest, c.owners)
		}
		mu.Lock()
		defer mu.Unlock()
		rep.Refreshed++
		if res.Observation.Moved {
			rep.Moved++
		}
	})
	if err := ctx.Err(); err != nil {
		return rep, err
	}

	now := r.opts.clock.Now()
	for _, c := range cands {
		if c.verified.IsZero() {
			continue
		}
		age := now.Sub(c.verified)
		r.opts.metrics.age.Observe(age.Seconds())
		if r.opts.interval > 0 && age > staleAfter*r.opts.interval {
			rep.Stale++
		}
	}
	r.opts.metrics.stale.Set(float64(rep.Stale))
	return rep, nil
}

// CheckReport says what one check of the pinned digests found.
type CheckReport struct {
	// Digests is how many distinct digests (per repository) the pins
	// hold, Missing how many pins hold a digest found missing,
	// NewlyMissing how many of those were reported this time, Failed how
	// many digests could not be checked.
	Digests, Missing, NewlyMissing, Failed int
	// FirstError is the first check that failed.
	FirstError error
}

// pinnedDigest is a digest of one repository and the pins that hold it.
type pinnedDigest struct {
	ref  imageref.Reference // repository@digest
	pins []store.Pin
}

// Check asks the registries, with a HEAD by digest, whether the digests
// of the revision pins still exist. A digest that is gone is reported
// (Events.DigestMissing) and marked in the store once per pin until it
// is back.
func (r *Refresher) Check(ctx context.Context) (CheckReport, error) {
	var rep CheckReport
	if r.verifier == nil {
		return rep, nil
	}
	pins, err := r.pins(ctx)
	if err != nil {
		return rep, err
	}
	byDigest := map[string]*pinnedDigest{}
	var all []*pinnedDigest
	for _, p := range pins {
		ref, err := imageref.Parse(p.Key.Image)
		if err != nil {
			continue
		}
		name := ref.Repository() + "@" + p.Digest.String()
		pd, ok := byDigest[name]
		if !ok {
			if ref, err = imageref.Parse(name); err != nil {
				continue
			}
			pd = &pinnedDigest{ref: ref}
			byDigest[name] = pd
			all = append(all, pd)
		}
		pd.pins = append(pd.pins, p)
	}
	rep.Digests = len(all)
	r.opts.metrics.rounds.WithLabelValues(kindCheck).Inc()

	reported := map[pinDigest]bool{}
	var mu sync.Mutex // guards rep and reported
	perRegistry(ctx, r, all, func(pd *pinnedDigest) string { return pd.ref.Domain }, func(ctx context.Context, pd *pinnedDigest) {
		_, err := r.verifier.Resolve(ctx, pd.ref)
		r.opts.metrics.checks.Inc()
		missing := errors.Is(err, resolve.ErrNotFound)
		if err != nil && !missing {
			mu.Lock()
			defer mu.Unlock()
			rep.Failed++
			if rep.FirstError == nil {
				rep.FirstError = err
			}
			r.opts.metrics.checkErrs.WithLabelValues(reason(err)).Inc()
			// Not known either way: what was found before stands.
			for _, p := range pd.pins {
				if r.wasReported(p) {
					reported[pinDigest{p.Key, p.Digest}] = true
					rep.Missing++
				}
			}
			return
		}
		var fresh []store.Pin
		for _, p := range pd.pins {
			was := r.wasReported(p)
			switch {
			case missing && !was:
				fresh = append(fresh, p)
			case !missing && was:
				r.mark(ctx, p.Key, time.Time{})
			}
		}
		if len(fresh) > 0 {
			r.opts.events.DigestMissing(ctx, fresh[0].Key.Image, pd.ref.Digest, owners(fresh))
			now := r.opts.clock.Now()
			for _, p := range fresh {
				r.mark(ctx, p.Key, now)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if missing {
			rep.Missing += len(pd.pins)
			rep.NewlyMissing += len(fresh)
			for _, p := range pd.pins {
				reported[pinDigest{p.Key, p.Digest}] = true
			}
		}
	})
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	r.mu.Lock()
	r.reported = reported // pins gone since are forgotten
	r.mu.Unlock()
	r.opts.metrics.missing.Set(float64(rep.Missing))
	return rep, nil
}

// wasReported reports whether p's digest was found missing before.
func (r *Refresher) wasReported(p store.Pin) bool {
	if !p.MissingSince.IsZero() {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reported[pinDigest{p.Key, p.Digest}]
}

// mark records in the store, when it keeps marks, that key's digest is
// missing since since (zero: back). A failure is left for the next
// check: the refresher remembers what it reported.
func (r *Refresher) mark(ctx context.Context, key store.RevisionKey, since time.Time) {
	if r.marker == nil {
		return
	}
	if err := r.marker.MarkMissing(ctx, key, since); err != nil {
		r.opts.metrics.checkErrs.WithLabelValues(ReasonStore).Inc()
		r.opts.log.Error("recording a missing pinned digest", "image", key.Image, "namespace", key.Namespace,
			"owner", key.Owner.Kind+"/"+key.Owner.Name, "error", err)
	}
}

// pins lists the revision pins. Records that do not decode are left out.
func (r *Refresher) pins(ctx context.Context) ([]store.Pin, error) {
	var pins []store.Pin
	err := r.lister.Revisions(ctx, func(p store.Pin) bool { pins = append(pins, p); return true })
	if err != nil && !errors.Is(err, store.ErrCorrupt) {
		return nil, fmt.Errorf("listing the revision pins: %w", err)
	}
	return pins, nil
}

// perRegistry calls do for every item, one item at a time per registry
// (as named by registry), at most the rate's calls a second per
// registry, on up to r's registries at once. It returns when all are
// done or ctx is.
// perRegistryWorkers is how many requests the refresher has under way
// at once to one registry, within its rate.
const perRegistryWorkers = 4

func perRegistry[T any](ctx context.Context, r *Refresher, items []T, registry func(T) string, do func(context.Context, T)) {
	groups := map[string][]T{}
	var names []string
	for _, it := range items {
		name := registry(it)
		if _, ok := groups[name]; !ok {
			names = append(names, name)
		}
		groups[name] = append(groups[name], it)
	}
	slots := make(chan struct{}, r.opts.registries)
	var wg sync.WaitGroup
	for _, name := range names {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		lim := r.limits.get(name)
		wg.Go(func() {
			defer func() { <-slots }()
			// A few requests under way at once, so that the rate, not
			// the round trip and the store write of one tag after
			// another, is what bounds a registry.
			work := make(chan T)
			var workers sync.WaitGroup
			for range perRegistryWorkers {
				workers.Go(func() {
					for it := range work {
						do(ctx, it)
					}
				})
			}
			defer workers.Wait()
			defer close(work)
			for _, it := range groups[name] {
				if lim.wait(ctx) != nil {
					return
				}
				select {
				case work <- it:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
}

func owners(pins []store.Pin) []PinOwner {
	out := make([]PinOwner, 0, len(pins))
	for _, p := range pins {
		o := PinOwner{Namespace: p.Key.Namespace, Owner: p.Key.Owner}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// reason classifies a resolution error for the metrics.
func reason(err error) string {
	switch {
	case errors.Is(err, resolve.ErrUnavailable):
		return ReasonUnavailable
	case errors.Is(err, resolve.ErrNotFound):
		return ReasonNotFound
	case errors.Is(err, resolve.ErrUnauthorized):
		return ReasonUnauthorized
	}
	return ReasonOther
}
