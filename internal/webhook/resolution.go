package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
)

// podReview is the context one pod's images are resolved in.
type podReview struct {
	namespace string
	pod       *corev1.Pod
	dryRun    bool
	// owner is the pod's workload revision, when its pins are used.
	owner    store.Owner
	hasOwner bool
	// writePins is true when new revision pins are written (not on dry
	// run, not in audit mode).
	writePins bool
	// keychain holds the pod's pull secrets, read once misses are known.
	keychain authn.Keychain
}

func (a *podReview) revisionKey(o *outcome) store.RevisionKey {
	return store.RevisionKey{Namespace: a.namespace, Owner: a.owner, Image: o.image.Ref}
}

// resolveAll resolves the images, revision pins first, the rest
// concurrently (at most cfg.Concurrency at a time) within the resolve
// timeout.
func (h *Handler) resolveAll(ctx context.Context, namespace string, pod *corev1.Pod, todo []outcome, dryRun bool) []outcome {
	a := &podReview{namespace: namespace, pod: pod, dryRun: dryRun}
	a.owner, a.hasOwner = RevisionOwner(pod)
	a.hasOwner = a.hasOwner && h.cfg.PinScope == PinRevision && h.store != nil
	a.writePins = a.hasOwner && !dryRun && h.cfg.Mode != ModeAudit

	misses := h.revisionHits(ctx, a, todo)
	if len(misses) == 0 {
		return todo
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ResolveTimeout)
	defer cancel()
	a.keychain = h.keychain(ctx, a)
	var g errgroup.Group
	g.SetLimit(h.cfg.Concurrency)
	for _, i := range misses {
		g.Go(func() error {
			if a.writePins {
				h.flights.resolve(ctx, h, a, &todo[i])
			} else {
				h.resolveOne(ctx, a, &todo[i])
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report into todo, not through errors
	return todo
}

// revisionHits fills in the images whose revision pin exists and
// returns the indexes of the others. A hit needs no registry, no
// credentials and no goroutine: the store reads from memory, a cache or
// a file.
func (h *Handler) revisionHits(ctx context.Context, a *podReview, todo []outcome) []int {
	misses := make([]int, 0, len(todo))
	for i := range todo {
		o := &todo[i]
		if a.hasOwner && h.revisionHit(ctx, a.revisionKey(o), o) {
			continue
		}
		misses = append(misses, i)
	}
	return misses
}

// revisionHit sets o from key's pin and reports whether there was one.
func (h *Handler) revisionHit(ctx context.Context, key store.RevisionKey, o *outcome) bool {
	d, err := h.store.Revision(ctx, key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.storeError("revision", err)
		}
		return false
	}
	o.digest, o.source, o.at = d, sourceRevision, time.Now()
	h.count(string(sourceRevision))
	return true
}

// keychain returns the pod's pull secrets, or nil (anonymous and the
// webhook's own credentials) when there are none or they cannot be read.
func (h *Handler) keychain(ctx context.Context, a *podReview) authn.Keychain {
	if h.secrets == nil {
		return nil
	}
	kc, err := h.secrets.Keychain(ctx, a.namespace, a.pod)
	if err != nil {
		h.log.Warn("reading pull secrets", "namespace", a.namespace, "error", err)
	}
	return kc
}

// revisionFlights coalesces the first pods of a new revision: they
// arrive together, and one resolution and one pin write serve them all.
type revisionFlights struct {
	group singleflight.Group
}

// resolve sets o to the pin of its revision: the one in the store, or
// the one this flight resolves and writes.
func (f *revisionFlights) resolve(ctx context.Context, h *Handler, a *podReview, o *outcome) {
	key := a.revisionKey(o)
	flightKey := strings.Join([]string{key.Namespace, key.Owner.Kind, key.Owner.UID, key.Owner.Revision, key.Image}, "\x00")
	ran := false
	v, _, _ := f.group.Do(flightKey, func() (any, error) {
		ran = true
		first := *o
		h.pinRevision(ctx, a, key, &first)
		return first, nil
	})
	got := v.(outcome)
	got.image, got.ref = o.image, o.ref
	if !ran && got.err == nil {
		// Another pod's resolution: this pod reports the pin.
		got.source, got.warning, got.moved = sourceRevision, "", nil
	}
	*o = got
}

// pinRevision resolves o and pins key to the result, unless a flight
// that just ended wrote the pin after this pod looked.
func (h *Handler) pinRevision(ctx context.Context, a *podReview, key store.RevisionKey, o *outcome) {
	if h.revisionHit(ctx, key, o) {
		return
	}
	h.resolveOne(ctx, a, o)
	if o.err != nil {
		return
	}
	d, err := h.store.PinRevision(ctx, key, o.digest)
	if err != nil {
		h.storeError("pin-revision", err)
		return
	}
	if d != o.digest {
		// Another replica of the webhook was first.
		o.digest, o.source = d, sourceRevision
	}
}

// resolveOne resolves o through the tracker: from the registry, or from
// the last-known digest when the registry is unavailable.
func (h *Handler) resolveOne(ctx context.Context, a *podReview, o *outcome) {
	start := time.Now()
	res, err := h.tracker.Resolve(ctx, track.Query{
		Ref: o.ref, Namespace: a.namespace, PullSecrets: a.keychain,
		DryRun: a.dryRun || h.cfg.Mode == ModeAudit,
	})
	if h.metrics != nil {
		h.metrics.duration.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		o.err = err
		h.count(resolutionFailed)
		if se := (*track.StoreError)(nil); errors.As(err, &se) {
			h.storeError(se.Op, se.Err)
		}
		return
	}
	o.digest, o.at = res.Digest, res.Verified
	if res.RecordErr != nil {
		h.storeError("observe", res.RecordErr)
	}
	if res.From == track.FromFallback {
		o.source = sourceFallback
		o.warning = fmt.Sprintf("%s: %s, using digest %s last verified %s ago",
			o.image.Ref, unavailableReason(res.Unavailable), res.Digest, duration.HumanDuration(time.Since(res.Verified)))
		h.count(string(sourceFallback))
		if h.metrics != nil {
			h.metrics.fallbacks.Inc()
		}
		return
	}
	o.source = sourceRegistry
	h.count(string(sourceRegistry))
	if res.Observation.Moved {
		obs := res.Observation
		o.moved = &obs
		if h.metrics != nil {
			h.metrics.moves.Inc()
		}
	}
}
