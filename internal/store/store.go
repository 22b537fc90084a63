package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound is returned (wrapped) when a store has no record for a key.
var ErrNotFound = errors.New("not found")

// ErrCorrupt is returned (wrapped) when a store's data is damaged: a
// record it cannot decode, or a file whose structure is not what the
// backend wrote (a damaged disk page, say). The error names what is
// damaged; callers must not fall back on what the store would have said.
var ErrCorrupt = errors.New("store damaged")

// DefaultMaxMoves is how many moves a tag's history keeps unless a
// backend is configured otherwise; older moves are dropped first.
const DefaultMaxMoves = 100

// Scope says who may read a tag record. Public (the zero value) holds
// digests resolved anonymously, which anyone may be served. Any other
// value is a Kubernetes namespace: digests learned with that namespace's
// pull secrets, never served to another scope. (A namespace may be called
// "public", so the public scope is the empty string, not a name.)
type Scope string

// Public is the scope of digests resolved without credentials.
const Public Scope = ""

// String returns the namespace, or "public".
func (s Scope) String() string {
	if s == Public {
		return "public"
	}
	return string(s)
}

// Source says how a digest was learned.
type Source string

// Sources of observations.
const (
	SourceAdmission    Source = "admission"    // the webhook resolved it for a pod
	SourceRefresh      Source = "refresh"      // a background re-check
	SourceNotification Source = "notification" // a registry push notification
	SourceCLI          Source = "cli"          // tagpin resolve or tagpin pin
)

// TagKey identifies a tag record.
type TagKey struct {
	// Registry is the registry host as it is canonically named
	// (docker.io, not index.docker.io or a mirror).
	Registry string
	// Repository is the repository path within it (library/nginx).
	Repository string
	// Tag is the tag (latest when none was written).
	Tag   string
	Scope Scope
}

// String returns registry/repository:tag, with the scope when it is not
// public.
func (k TagKey) String() string {
	s := k.Registry + "/" + k.Repository + ":" + k.Tag
	if k.Scope != Public {
		s += " (namespace " + string(k.Scope) + ")"
	}
	return s
}

// Validate reports a key with a missing part.
func (k TagKey) Validate() error {
	if k.Registry == "" || k.Repository == "" || k.Tag == "" {
		return fmt.Errorf("tag key %q: registry, repository and tag are all required", k.String())
	}
	return nil
}

// Move is one period during which a tag pointed at one digest.
type Move struct {
	Digest digest.Digest
	// FirstSeen is when the tag was first seen at Digest (in this period).
	FirstSeen time.Time
	// LastSeen is when it was last seen there.
	LastSeen time.Time
	// Source is how the move was first learned.
	Source Source
}

// Tag is what a store knows about a tag.
type Tag struct {
	Key TagKey
	// History holds the moves, newest first; History[0] is the current
	// digest. It is never empty in a record a store returns.
	History []Move
}

// Current returns the digest the tag points at, as last observed.
func (t *Tag) Current() digest.Digest { return t.History[0].Digest }

// Verified returns when the current digest was last confirmed.
func (t *Tag) Verified() time.Time { return t.History[0].LastSeen }

// Observation is the outcome of recording a digest for a tag.
type Observation struct {
	// Moved is true when the tag had a record and now points elsewhere.
	Moved bool
	// Previous is the digest the tag pointed at before, if any.
	Previous digest.Digest
	// Stale is true when the observation was older than what the store
	// already knew for another digest and so changed nothing.
	Stale bool
}

// RevisionKey identifies the pin of one image of one workload revision.
// Its identity is (Namespace, Owner.Kind, Owner.UID, Owner.Revision,
// Image); Owner.Name is informative.
type RevisionKey struct {
	Namespace string
	Owner     Owner
	// Image is the container's image reference exactly as written.
	Image string
}

// Owner is the workload revision pods belong to: a ReplicaSet or a Job,
// or one revision of a StatefulSet or DaemonSet.
type Owner struct {
	// Kind is the owner's kind (ReplicaSet, Job, StatefulSet, DaemonSet).
	Kind string
	// Name is the owner's name, kept for people reading the store.
	Name string
	// UID is the owner's UID: revision pins are keyed by it, so a new
	// object with the same name starts afresh, and they can be deleted
	// with the owner.
	UID string
	// Revision tells revisions of one owner apart: the pods'
	// controller-revision-hash label for a StatefulSet or DaemonSet,
	// empty for a ReplicaSet or Job (each is one revision).
	Revision string
}

// Validate reports a key with a missing part.
func (k RevisionKey) Validate() error {
	if k.Namespace == "" || k.Owner.Kind == "" || k.Owner.UID == "" || k.Image == "" {
		return fmt.Errorf("revision key %s/%s %s image %q: namespace, owner kind, owner UID and image are all required",
			k.Namespace, k.Owner.Kind, k.Owner.UID, k.Image)
	}
	return nil
}

// Store keeps tag records and revision pins. Implementations are safe
// for concurrent use, honour context cancellation, and wrap ErrNotFound
// when a record does not exist.
type Store interface {
	// Observe records that key pointed at d at time at, learned from
	// src. The same digest as the current one extends the current move;
	// another digest starts a new move, unless at is before the current
	// move was last seen (a late writer), which changes nothing.
	Observe(ctx context.Context, key TagKey, d digest.Digest, at time.Time, src Source) (Observation, error)
	// Tag returns the record of key. It never returns another scope's
	// record.
	Tag(ctx context.Context, key TagKey) (*Tag, error)
	// PinRevision pins key to d unless it is already pinned, and returns
	// the digest the key is pinned to: the first writer wins, every
	// concurrent writer gets the same answer.
	PinRevision(ctx context.Context, key RevisionKey, d digest.Digest) (digest.Digest, error)
	// Revision returns the digest key is pinned to.
	Revision(ctx context.Context, key RevisionKey) (digest.Digest, error)
	// Close releases the store's resources.
	Close() error
}

// RevisionPruner is implemented by stores that must be told when the
// owner of revision pins is gone. The kubernetes store does not need
// it: its pins carry owner references, and the cluster's garbage
// collector deletes them with their owner.
type RevisionPruner interface {
	// PruneRevisions removes the pins of every owner in namespace for
	// which exists returns false (the owner was deleted) and returns how
	// many pins it removed.
	PruneRevisions(ctx context.Context, exists func(namespace string, o Owner) bool) (int, error)
}
