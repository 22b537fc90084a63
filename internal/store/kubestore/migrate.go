package kubestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/store"
)

// The cache's index of RevisionPins by shape: only those of the earlier
// shape are in it.
const (
	indexShape  = "tagpin.shape"
	shapeLegacy = "per-image"
)

// pinShape is the index function of indexShape.
func pinShape(obj client.Object) []string {
	if p, ok := obj.(*RevisionPin); ok && p.Image != "" {
		return []string{shapeLegacy}
	}
	return nil
}

// Migrate moves the pins of the earlier shape (one RevisionPin per image
// of a revision) into the RevisionPin of their revision and deletes them,
// and returns how many it moved. An image the revision's object already
// holds keeps its digest there. Reads serve the earlier shape until it is
// moved, so pods are admitted on their pins throughout; Migrate is safe
// to run on several replicas at once (every write is conditional), though
// one (the leader) is enough. Objects that cannot be read (a damaged
// digest, a name that does not match) are left as they are; Revisions
// reports them.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("migrating revision pins: %w", err)
	}
	var pins RevisionPinList
	if err := s.cache.List(ctx, &pins, client.MatchingFields{indexShape: shapeLegacy}); err != nil {
		return 0, fmt.Errorf("migrating revision pins: %w", apiError("list", ResourceRevisionPins, err))
	}
	type revision struct {
		namespace string
		owner     store.Owner
	}
	var order []revision
	legacy := map[revision][]*RevisionPin{}
	for i := range pins.Items {
		p := &pins.Items[i]
		if p.Image == "" {
			continue
		}
		key := store.RevisionKey{Namespace: p.Namespace, Owner: p.storeOwner(), Image: p.Image}
		if LegacyRevisionObjectName(key) != p.Name || digest.Digest(p.Digest).Validate() != nil {
			continue
		}
		r := revision{p.Namespace, key.Owner}
		if legacy[r] == nil {
			order = append(order, r)
		}
		legacy[r] = append(legacy[r], p)
	}
	n := 0
	var errs []error
	for _, r := range order {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("migrating revision pins: %w", err)
		}
		moved, err := s.migrateRevision(ctx, r.namespace, r.owner, legacy[r])
		n += moved
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("migrating revision pins: %w", err)
	}
	return n, nil
}

// migrateRevision merges old, the pins of the earlier shape of the
// revision o, into its RevisionPin, then deletes them.
func (s *Store) migrateRevision(ctx context.Context, namespace string, o store.Owner, old []*RevisionPin) (int, error) {
	what := fmt.Sprintf("the pins of %s %s/%s", o.Kind, namespace, o.Name)
	fresh, err := newRevisionPin(namespace, o)
	if err != nil {
		return 0, fmt.Errorf("moving %s: %w", what, err)
	}
	merged := false
	live := false
	for range s.opts.attempts {
		cur, err := s.getRevision(ctx, namespace, o, live)
		if err != nil {
			return 0, fmt.Errorf("moving %s: %w", what, err)
		}
		obj, verb := cur.DeepCopy(), "patch"
		if cur == nil {
			obj, verb = fresh.DeepCopy(), "create"
		}
		images := obj.Images
		for _, p := range old {
			if obj.image(p.Image) == nil {
				images = append(images, legacyImage(p))
			}
		}
		if len(images) == len(obj.Images) {
			merged = true // every image is there already
			break
		}
		obj.setImages(images)
		if verb == "create" {
			err = s.client.Create(ctx, obj)
		} else {
			err = s.patchImages(ctx, obj)
		}
		switch {
		case err == nil:
			s.awaitCache(ctx, obj)
			merged = true
		case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err),
			verb == "patch" && apierrors.IsNotFound(err):
			live = true // another writer got there first
			continue
		default:
			return 0, fmt.Errorf("moving %s: %w", what, apiError(verb, ResourceRevisionPins, err))
		}
		break
	}
	if !merged {
		return 0, fmt.Errorf("moving %s: %d attempts: %w", what, s.opts.attempts, ErrConflict)
	}
	n := 0
	for _, p := range old {
		err := s.client.Delete(ctx, p, client.Preconditions{UID: &p.UID})
		switch {
		case err == nil:
			n++
			s.awaitGone(ctx, p)
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Deleted meanwhile (garbage collection, another replica).
		default:
			return n, fmt.Errorf("moving %s: deleting %s/%s: %w", what, p.Namespace, p.Name, apiError("delete", ResourceRevisionPins, err))
		}
	}
	return n, nil
}

// legacyImage is the entry of p, a pin of the earlier shape, in its
// revision's images.
func legacyImage(p *RevisionPin) PinnedImage {
	img := PinnedImage{Image: p.Image, Digest: p.Digest}
	if v, ok := p.Annotations[AnnotationDigestMissingSince]; ok {
		since := p.CreationTimestamp.UTC() // damaged: missing, since when is unknown
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			since = t.UTC()
		}
		img.MissingSince = ptr.To(metav1.NewTime(since))
	}
	return img
}
