package kubestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/store"
)

// AnnotationDigestMissingSince is set on a RevisionPin whose digest its
// registry no longer has (a HEAD by digest answered 404), to when that
// was first found (RFC 3339); it is removed when the digest is back.
// tagpin audit lists the pins that carry it.
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

// Revisions implements store.Lister. It reads the informer cache only.
func (s *Store) Revisions(ctx context.Context, yield func(store.Pin) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("listing revision pins: %w", err)
	}
	var pins RevisionPinList
	if err := s.cache.List(ctx, &pins); err != nil {
		return fmt.Errorf("listing revision pins: %w", apiError("list", ResourceRevisionPins, err))
	}
	var bad []error
	for i := range pins.Items {
		p := &pins.Items[i]
		o := p.Owner
		key := store.RevisionKey{Namespace: p.Namespace, Image: p.Image,
			Owner: store.Owner{Kind: o.Kind, Name: o.Name, UID: o.UID, Revision: o.Revision}}
		d, err := digest.Parse(p.Digest)
		if err != nil {
			bad = append(bad, fmt.Errorf("RevisionPin %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		if name := RevisionObjectName(key); name != p.Name {
			bad = append(bad, fmt.Errorf("RevisionPin %s/%s holds the pin of %s, which belongs in an object named %s",
				p.Namespace, p.Name, describe(key), name))
			continue
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
		if !yield(pin) {
			break
		}
	}
	return damaged("revision pin", bad)
}

// MarkMissing implements store.MissingMarker: it sets or removes the
// annotation AnnotationDigestMissingSince on key's RevisionPin with a
// merge patch (the identity needs patch on revisionpins).
func (s *Store) MarkMissing(ctx context.Context, key store.RevisionKey, since time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("marking the digest of %s: %w", describe(key), err)
	}
	cur, err := s.getPin(ctx, key, false)
	if err != nil {
		return fmt.Errorf("marking the digest of %s: %w", describe(key), err)
	}
	if cur == nil {
		return nil
	}
	if _, marked := cur.Annotations[AnnotationDigestMissingSince]; marked == !since.IsZero() {
		return nil
	}
	var value any // null removes the annotation
	if !since.IsZero() {
		value = since.UTC().Format(time.RFC3339)
	}
	// The UID makes the API server refuse the patch (409) for a pin
	// recreated meanwhile under the same name.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":         cur.UID,
		"annotations": map[string]any{AnnotationDigestMissingSince: value},
	}})
	if err != nil {
		return fmt.Errorf("marking the digest of %s: %w", describe(key), err)
	}
	obj := &RevisionPin{}
	obj.Namespace, obj.Name = key.Namespace, RevisionObjectName(key)
	switch err := s.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); {
	case err == nil:
		s.awaitCache(ctx, obj)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil // deleted with its owner, or replaced
	default:
		return fmt.Errorf("marking the digest of %s: %w", describe(key), apiError("patch", ResourceRevisionPins, err))
	}
}

// damaged reports the objects that could not be read, or nil.
func damaged(what string, bad []error) error {
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%d %s objects were left out: %w: %w", len(bad), what, store.ErrCorrupt, errors.Join(bad...))
}
