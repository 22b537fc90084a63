package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"

	"github.com/tagpin/tagpin/internal/store"
)

// Owners says whether the owner of revision pins still exists.
type Owners interface {
	Exists(ctx context.Context, namespace string, o store.Owner) (bool, error)
}

// ClusterOwners looks owners up through the API server's metadata
// endpoint: an owner exists when an object of its kind, namespace and
// name with its UID does.
type ClusterOwners struct {
	Client metadata.Interface
}

// Exists implements Owners.
func (c *ClusterOwners) Exists(ctx context.Context, namespace string, o store.Owner) (bool, error) {
	kind, ok := store.LookupOwnerKind(o.Kind)
	if !ok {
		return true, fmt.Errorf("owner kind %s: tagpin does not know its resource; keeping its pins", o.Kind)
	}
	gvr := schema.GroupVersionResource{Group: kind.Group, Version: kind.Version, Resource: kind.Resource}
	m, err := c.Client.Resource(gvr).Namespace(namespace).Get(ctx, o.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return true, fmt.Errorf("looking up %s %s/%s: %w", o.Kind, namespace, o.Name, err)
	}
	return string(m.UID) == o.UID, nil
}

// Pruner removes the revision pins of deleted owners from a store that
// needs to be told (see store.RevisionPruner).
type Pruner struct {
	store   store.RevisionPruner
	owners  Owners
	metrics *Metrics
	log     *slog.Logger
}

// NewPruner returns a pruner of st's revision pins that asks owners
// whether their owners exist. metrics may be nil.
func NewPruner(st store.RevisionPruner, owners Owners, metrics *Metrics, log *slog.Logger) *Pruner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pruner{store: st, owners: owners, metrics: metrics, log: log}
}

// Prune removes the revision pins whose owner no longer exists and
// returns how many it removed. An owner that cannot be looked up keeps
// its pins.
func (p *Pruner) Prune(ctx context.Context) (int, error) {
	var lookupErr error
	n, err := p.store.PruneRevisions(ctx, func(namespace string, o store.Owner) bool {
		ok, err := p.owners.Exists(ctx, namespace, o)
		if err != nil && lookupErr == nil {
			lookupErr = err
		}
		return ok
	})
	if p.metrics != nil && n > 0 {
		p.metrics.pruned.Add(float64(n))
	}
	if err != nil {
		return n, err
	}
	return n, lookupErr
}

// Run prunes every interval until ctx is done, logging what it did.
func (p *Pruner) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := p.Prune(ctx)
		if err != nil {
			p.log.Error("pruning revision pins", "error", err)
			if p.metrics != nil {
				p.metrics.storeErrors.WithLabelValues("prune").Inc()
			}
		}
		if n > 0 {
			p.log.Info("pruned revision pins of deleted owners", "pins", n)
		}
	}
}
