package kubestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/store"
)

// AnnotationDigestMissingSince is set on a RevisionPin of the earlier
// shape (one object per image) whose digest its registry no longer has
// (a HEAD by digest answered 404), to when that was first found (RFC
// 3339); it is removed when the digest is back. Migrate moves it into
// the image's missingSince, where RevisionPins of the current shape
// keep it.
const AnnotationDigestMissingSince = Group + "/digest-missing-since"

var (
	_ store.Lister        = (*Store)(nil)
	_ store.MissingMarker = (*Store)(nil)
)

// Tags implements store.Lister. It reads the informer cache only: no
// API call.
func (s *Store) Tags(ctx context.Context, yield func(*store.Tag) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("listing tags: %w", err)
	}
	var public ClusterImageTagList
	if err := s.cache.List(ctx, &public); err != nil {
		return fmt.Errorf("listing tags: %w", apiError("list", ResourceClusterImageTags, err))
	}
	var scoped ImageTagList
	if err := s.cache.List(ctx, &scoped); err != nil {
		return fmt.Errorf("listing tags: %w", apiError("list", ResourceImageTags, err))
	}
	objs := make([]tagObject, 0, len(public.Items)+len(scoped.Items))
	for i := range public.Items {
		objs = append(objs, &public.Items[i])
	}
	for i := range scoped.Items {
		objs = append(objs, &scoped.Items[i])
	}
	var bad []error
	for _, obj := range objs {
		r := obj.record()
		key := store.TagKey{Registry: r.Registry, Repository: r.Repository, Tag: r.Tag, Scope: store.Scope(obj.GetNamespace())}
		if err := key.Validate(); err != nil {
			bad = append(bad, fmt.Errorf("%s: %w", client.ObjectKeyFromObject(obj), err))
			continue
		}
		if name := TagObjectName(key); name != obj.GetName() {
			bad = append(bad, fmt.Errorf("%s holds the record of %s, which belongs in an object named %s",
				client.ObjectKeyFromObject(obj), key, name))
			continue
		}
		t, err := storeTag(key, obj)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if !yield(t) {
			break
		}
	}
	return damaged("tag", bad)
}

// Revisions implements store.Lister: one store.Pin per image of every
// revision. It reads the informer cache only. Pins still in the earlier
// shape (one object per image) are listed too, unless their revision's
// object holds the image.
func (s *Store) Revisions(ctx context.Context, yield func(store.Pin) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("listing revision pins: %w", err)
	}
	var pins RevisionPinList
	if err := s.cache.List(ctx, &pins); err != nil {
		return fmt.Errorf("listing revision pins: %w", apiError("list", ResourceRevisionPins, err))
	}
	// The images the objects of the current shape hold, when there are
	// pins of the earlier shape to compare with.
	type pinned struct{ namespace, name, image string }
	var held map[pinned]bool
	for i := range pins.Items {
		if pins.Items[i].Image != "" {
			held = map[pinned]bool{}
			break
		}
	}
	for i := 0; held != nil && i < len(pins.Items); i++ {
		p := &pins.Items[i]
		for _, img := range p.Images {
			held[pinned{p.Namespace, p.Name, img.Image}] = true
		}
	}
	var bad []error
	for i := range pins.Items {
		p := &pins.Items[i]
		owner := p.storeOwner()
		if p.Image != "" { // the earlier shape
			key := store.RevisionKey{Namespace: p.Namespace, Owner: owner, Image: p.Image}
			if held[pinned{p.Namespace, RevisionObjectName(owner), p.Image}] {
				continue
			}
			if name := LegacyRevisionObjectName(key); name != p.Name {
				bad = append(bad, fmt.Errorf("RevisionPin %s/%s holds the pin of %s, which belongs in an object named %s",
					p.Namespace, p.Name, describe(key), name))
				continue
			}
			pin, err := legacyPin(p, key)
			if err != nil {
				bad = append(bad, err)
				continue
			}
			if !yield(pin) {
				break
			}
			continue
		}
		if name := RevisionObjectName(owner); name != p.Name {
			bad = append(bad, fmt.Errorf("RevisionPin %s/%s holds the pins of %s %s/%s, which belong in an object named %s",
				p.Namespace, p.Name, owner.Kind, p.Namespace, owner.Name, name))
			continue
		}
		for _, img := range p.Images {
			key := store.RevisionKey{Namespace: p.Namespace, Owner: owner, Image: img.Image}
			d, err := digest.Parse(img.Digest)
			if err != nil {
				bad = append(bad, fmt.Errorf("RevisionPin %s/%s image %q: %w", p.Namespace, p.Name, img.Image, err))
				continue
			}
			pin := store.Pin{Key: key, Digest: d}
			if img.MissingSince != nil {
				pin.MissingSince = img.MissingSince.UTC()
			}
			if !yield(pin) {
				return damaged("revision pin", bad)
			}
		}
	}
	return damaged("revision pin", bad)
}

// legacyPin converts p, a pin of the earlier shape holding key.
func legacyPin(p *RevisionPin, key store.RevisionKey) (store.Pin, error) {
	d, err := digest.Parse(p.Digest)
	if err != nil {
		return store.Pin{}, fmt.Errorf("RevisionPin %s/%s: %w", p.Namespace, p.Name, err)
	}
	pin := store.Pin{Key: key, Digest: d}
	if v, ok := p.Annotations[AnnotationDigestMissingSince]; ok {
		// An annotation someone damaged still says the digest is
		// missing; when is unknown.
		pin.MissingSince = p.CreationTimestamp.UTC()
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			pin.MissingSince = t.UTC()
		}
	}
	return pin, nil
}

// damaged reports the objects that could not be read, or nil.
func damaged(what string, bad []error) error {
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%d %s objects were left out: %w: %w", len(bad), what, store.ErrCorrupt, errors.Join(bad...))
}
