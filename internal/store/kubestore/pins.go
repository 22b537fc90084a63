package kubestore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/store"
)

// A revision's pins are one RevisionPin named for the revision
// (RevisionObjectName), its images in images. The first writer of each
// image wins: the object is created with the image when absent; an image
// missing from it is added with a merge patch that carries the object's
// resourceVersion, so a concurrent writer's image is never lost (the
// API server refuses the patch with 409 and the writer reads the object
// again). A patch rather than an update: the informer cache keeps of a
// pin no labels and no ownerReferences (cache.go), and an update from it
// would remove them.
//
// Objects of the earlier shape, one per image (Image and Digest set,
// named by LegacyRevisionObjectName), are read as pins of their image
// until Migrate has moved them into their revision's object.

// PinRevision implements store.Store. The image is added to its
// revision's pins if absent; when another writer pinned it first, its
// digest is returned.
func (s *Store) PinRevision(ctx context.Context, key store.RevisionKey, d digest.Digest) (digest.Digest, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("pinning %s: %w", describe(key), err)
	}
	if err := key.Validate(); err != nil {
		return "", err
	}
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("pinning %s to %q: %w", describe(key), d, err)
	}
	fresh, err := newRevisionPin(key.Namespace, key.Owner)
	if err != nil {
		return "", fmt.Errorf("pinning %s: %w", describe(key), err)
	}
	live := false
	// Every conflict means another writer added an image: the images of
	// a pod are pinned at once, so a revision with more images than
	// attempts gets an attempt more per image its object holds.
	for attempt, held := 0, 0; attempt < s.opts.attempts+held; attempt++ {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("pinning %s: %w", describe(key), err)
		}
		cur, pinned, err := s.lookupPin(ctx, key, live)
		if err != nil {
			return "", fmt.Errorf("pinning %s: %w", describe(key), err)
		}
		if cur != nil {
			held = len(cur.Images)
		}
		if pinned != "" {
			if live && cur != nil {
				s.awaitCache(ctx, cur) // what another writer wrote
			}
			return pinned, nil
		}
		img := PinnedImage{Image: key.Image, Digest: string(d)}
		verb := "create"
		var obj *RevisionPin
		if cur == nil {
			obj = fresh.DeepCopy()
			obj.setImages([]PinnedImage{img})
			err = s.client.Create(ctx, obj)
		} else {
			verb = "patch"
			obj = cur.DeepCopy()
			obj.setImages(append(obj.Images, img))
			err = s.patchImages(ctx, obj)
		}
		switch {
		case err == nil:
			s.awaitCache(ctx, obj)
			return d, nil
		case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err),
			verb == "patch" && apierrors.IsNotFound(err):
			live = true // another writer got there first: read what it wrote
		case isNamespaceNotFound(err):
			return "", fmt.Errorf("pinning %s: namespace %s does not exist: %w", describe(key), key.Namespace, err)
		default:
			return "", fmt.Errorf("pinning %s: %w", describe(key), apiError(verb, ResourceRevisionPins, err))
		}
	}
	return "", fmt.Errorf("pinning %s: %d attempts: %w; try again", describe(key), s.opts.attempts, ErrConflict)
}

// Revision implements store.Store. It reads the informer cache only.
func (s *Store) Revision(ctx context.Context, key store.RevisionKey) (digest.Digest, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("reading the revision pin of %s: %w", describe(key), err)
	}
	_, pinned, err := s.lookupPin(ctx, key, false)
	if err != nil {
		return "", fmt.Errorf("reading the revision pin of %s: %w", describe(key), err)
	}
	if pinned == "" {
		return "", fmt.Errorf("revision pin of %s: %w", describe(key), store.ErrNotFound)
	}
	return pinned, nil
}

// lookupPin returns the RevisionPin of key's revision (nil when there is
// none) and the digest key's image is pinned to, in that object or in an
// object of the earlier shape ("" when it is not pinned). It reads the
// cache, or the API server when live is set.
func (s *Store) lookupPin(ctx context.Context, key store.RevisionKey, live bool) (*RevisionPin, digest.Digest, error) {
	cur, err := s.getRevision(ctx, key.Namespace, key.Owner, live)
	if err != nil {
		return nil, "", err
	}
	if cur != nil {
		if img := cur.image(key.Image); img != nil {
			return cur, digest.Digest(img.Digest), nil
		}
	}
	old, err := s.getLegacyPin(ctx, key, live)
	if err != nil || old == nil {
		return cur, "", err
	}
	return cur, digest.Digest(old.Digest), nil
}

// getRevision reads the RevisionPin of the revision o in namespace from
// the cache, or from the API server when live is set; it returns nil
// when there is none.
func (s *Store) getRevision(ctx context.Context, namespace string, o store.Owner, live bool) (*RevisionPin, error) {
	obj := &RevisionPin{}
	name := types.NamespacedName{Namespace: namespace, Name: RevisionObjectName(o)}
	if err := s.reader(live).Get(ctx, name, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, apiError("get", ResourceRevisionPins, err)
	}
	if p := obj.Owner; p.Kind != o.Kind || p.UID != o.UID || p.Revision != o.Revision || obj.Image != "" {
		return nil, fmt.Errorf("RevisionPin %s/%s holds the pins of %s %s (revision %q), not those of %s %s (revision %q): "+
			"delete it to let tagpin recreate it", obj.Namespace, obj.Name, p.Kind, p.UID, p.Revision, o.Kind, o.UID, o.Revision)
	}
	return obj, nil
}

// getLegacyPin reads key's pin in the earlier shape, or nil.
func (s *Store) getLegacyPin(ctx context.Context, key store.RevisionKey, live bool) (*RevisionPin, error) {
	obj := &RevisionPin{}
	name := types.NamespacedName{Namespace: key.Namespace, Name: LegacyRevisionObjectName(key)}
	if err := s.reader(live).Get(ctx, name, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, apiError("get", ResourceRevisionPins, err)
	}
	o := obj.Owner
	if obj.Image != key.Image || o.Kind != key.Owner.Kind || o.UID != key.Owner.UID || o.Revision != key.Owner.Revision {
		return nil, fmt.Errorf("RevisionPin %s/%s holds the pin of %s %s (revision %q) image %q, not this one: "+
			"delete it to let tagpin recreate it", obj.Namespace, obj.Name, o.Kind, o.UID, o.Revision, obj.Image)
	}
	return obj, nil
}

// patchImages writes obj's images with a merge patch that carries its
// UID and resourceVersion: the API server refuses it (409) when the
// object changed since it was read. On success obj holds what the API
// server returned.
func (s *Store) patchImages(ctx context.Context, obj *RevisionPin) error {
	patch, err := json.Marshal(map[string]any{
		"metadata":   map[string]any{"uid": obj.UID, "resourceVersion": obj.ResourceVersion},
		"imageCount": obj.ImageCount,
		"images":     obj.Images,
	})
	if err != nil {
		return err
	}
	return s.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
}

// image returns p's entry for image, or nil.
func (p *RevisionPin) image(image string) *PinnedImage {
	for i := range p.Images {
		if p.Images[i].Image == image {
			return &p.Images[i]
		}
	}
	return nil
}

// setImages sets p's images and their count.
func (p *RevisionPin) setImages(images []PinnedImage) {
	p.Images = images
	p.ImageCount = int32(len(images))
}

// MarkMissing implements store.MissingMarker: it sets or removes the
// image's missingSince in its revision's RevisionPin with a merge patch
// (the identity needs patch on revisionpins). A pin still in the earlier
// shape carries it as the annotation AnnotationDigestMissingSince, which
// Migrate moves into missingSince.
func (s *Store) MarkMissing(ctx context.Context, key store.RevisionKey, since time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("marking the digest of %s: %w", describe(key), err)
	}
	live := false
	for range s.opts.attempts {
		cur, err := s.getRevision(ctx, key.Namespace, key.Owner, live)
		if err != nil {
			return fmt.Errorf("marking the digest of %s: %w", describe(key), err)
		}
		var img *PinnedImage
		if cur != nil {
			img = cur.image(key.Image)
		}
		if img == nil {
			return s.markLegacyMissing(ctx, key, since)
		}
		if (img.MissingSince != nil) == !since.IsZero() {
			return nil
		}
		obj := cur.DeepCopy()
		img = obj.image(key.Image)
		img.MissingSince = nil
		if !since.IsZero() {
			img.MissingSince = ptr.To(metav1.NewTime(since.UTC().Truncate(time.Second)))
		}
		switch err := s.patchImages(ctx, obj); {
		case err == nil:
			s.awaitCache(ctx, obj)
			return nil
		case apierrors.IsNotFound(err):
			return nil // deleted with its owner
		case apierrors.IsConflict(err):
			live = true
		default:
			return fmt.Errorf("marking the digest of %s: %w", describe(key), apiError("patch", ResourceRevisionPins, err))
		}
	}
	return fmt.Errorf("marking the digest of %s: %d attempts: %w; try again", describe(key), s.opts.attempts, ErrConflict)
}

// markLegacyMissing sets or removes the annotation
// AnnotationDigestMissingSince on key's pin of the earlier shape, if
// there is one.
func (s *Store) markLegacyMissing(ctx context.Context, key store.RevisionKey, since time.Time) error {
	cur, err := s.getLegacyPin(ctx, key, false)
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
	obj.Namespace, obj.Name = cur.Namespace, cur.Name
	switch err := s.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); {
	case err == nil:
		s.awaitCache(ctx, obj)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil // deleted with its owner or migrated, or replaced
	default:
		return fmt.Errorf("marking the digest of %s: %w", describe(key), apiError("patch", ResourceRevisionPins, err))
	}
}

// PruneRevisions implements store.RevisionPruner. It lists the pins from the
// cache, asks exists once per namespace and owner, and deletes the pins
// of owners that are gone; it returns how many images' pins it deleted.
// (Kubernetes garbage collection deletes them too, through their
// ownerReferences; this catches owners deleted with orphaning, and
// clusters where garbage collection lags.)
func (s *Store) PruneRevisions(ctx context.Context, exists func(namespace string, o store.Owner) bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("pruning revision pins: %w", err)
	}
	var pins RevisionPinList
	if err := s.cache.List(ctx, &pins); err != nil {
		return 0, fmt.Errorf("pruning revision pins: %w", apiError("list", ResourceRevisionPins, err))
	}
	type owner struct {
		namespace string
		owner     store.Owner
	}
	alive := map[owner]bool{}
	var gone []*RevisionPin
	for i := range pins.Items {
		p := &pins.Items[i]
		o := owner{p.Namespace, p.storeOwner()}
		ok, asked := alive[o]
		if !asked {
			ok = exists(o.namespace, o.owner)
			alive[o] = ok
		}
		if !ok {
			gone = append(gone, p)
		}
	}
	n := 0
	var deleted []*RevisionPin
	for _, p := range gone {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("pruning revision pins: %w", err)
		}
		err := s.client.Delete(ctx, p, client.Preconditions{UID: &p.UID})
		switch {
		case err == nil:
			n += max(len(p.Images), 1) // an object of the earlier shape holds one
			deleted = append(deleted, p)
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Deleted by someone else (or by garbage collection), or
			// replaced by a new pin.
		default:
			return n, fmt.Errorf("pruning revision pins: deleting %s/%s: %w", p.Namespace, p.Name, apiError("delete", ResourceRevisionPins, err))
		}
	}
	for _, p := range deleted {
		s.awaitGone(ctx, p)
	}
	return n, nil
}

func (p *RevisionPin) storeOwner() store.Owner {
	return store.Owner{Kind: p.Owner.Kind, Name: p.Owner.Name, UID: p.Owner.UID, Revision: p.Owner.Revision}
}

// newRevisionPin returns the empty RevisionPin of the revision o in
// namespace, owned by o.
func newRevisionPin(namespace string, o store.Owner) (*RevisionPin, error) {
	kind, ok := store.LookupOwnerKind(o.Kind)
	if !ok {
		return nil, fmt.Errorf("owner kind %q is not one tagpin pins revisions of "+
			"(ReplicaSet, Job, StatefulSet, DaemonSet)", o.Kind)
	}
	if o.Name == "" {
		return nil, fmt.Errorf("the owner %s %s has no name: the pin's ownerReference needs it", o.Kind, o.UID)
	}
	labels := map[string]string{LabelManagedBy: managedBy, LabelOwnerKind: o.Kind}
	if len(validation.IsValidLabelValue(o.UID)) == 0 {
		labels[LabelOwnerUID] = o.UID
	}
	return &RevisionPin{
		ObjectMeta: metav1.ObjectMeta{
			Name:      RevisionObjectName(o),
			Namespace: namespace,
			Labels:    labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         kind.APIVersion(),
				Kind:               o.Kind,
				Name:               o.Name,
				UID:                types.UID(o.UID),
				Controller:         ptr.To(false),
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Owner: PinOwner{Kind: o.Kind, Name: o.Name, UID: o.UID, Revision: o.Revision},
	}, nil
}

// describe names a revision pin for errors.
func describe(key store.RevisionKey) string {
	s := fmt.Sprintf("image %q of %s %s/%s", key.Image, key.Owner.Kind, key.Namespace, key.Owner.Name)
	if key.Owner.Revision != "" {
		s += " revision " + key.Owner.Revision
	}
	return s
}
