package refresh

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/store"
)

// PinOwner is the owner of a revision pin: the workload revision in
// Namespace.
type PinOwner struct {
	Namespace string
	Owner     store.Owner
}

// Events receives what a Refresher finds, to tell the workloads
// concerned (Kubernetes events, say). Calls are made from the Refresher's
// goroutines, one at a time per registry; they should not block long.
type Events interface {
	// TagMoved reports that image (registry/repository:tag) moved from
	// one digest to another; owners are the owners of the revision pins
	// of image (none when no live workload uses it).
	TagMoved(ctx context.Context, image string, from, to digest.Digest, owners []PinOwner)
	// DigestMissing reports that the registry of image no longer has d,
	// the digest the revision pins of owners hold. It is called once per
	// pin until the digest is back.
	DigestMissing(ctx context.Context, image string, d digest.Digest, owners []PinOwner)
}

type noEvents struct{}

func (noEvents) TagMoved(context.Context, string, digest.Digest, digest.Digest, []PinOwner) {}
func (noEvents) DigestMissing(context.Context, string, digest.Digest, []PinOwner)           {}
