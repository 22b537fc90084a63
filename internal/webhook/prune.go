package webhook

import (
	"context"
	"fmt"
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

var ownerResources = map[string]schema.GroupVersionResource{
	"ReplicaSet":  {Group: "apps", Version: "v1", Resource: "replicasets"},
	"StatefulSet": {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"DaemonSet":   {Group: "apps", Version: "v1", Resource: "daemonsets"},
	"Job":         {Group: "batch", Version: "v1", Resource: "jobs"},
}

// Exists implements Owners.
func (c *ClusterOwners) Exists(ctx context.Context, namespace string, o store.Owner) (bool, error) {
	gvr, ok := ownerResources[o.Kind]
	if !ok {
		return true, fmt.Errorf("owner kind %s: tagpin does not know its resource; keeping its pins", o.Kind)
	}
	m, err := c.Client.Resource(gvr).Namespace(namespace).Get(ctx, o.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return true, fmt.Errorf("looking up %s %s/%s: %w", o.Kind, namespace, o.Name, err)
	}
	return string(m.UID) == o.UID, nil
}

// Prune removes the revision pins whose owner no longer exists and
// returns how many it removed. An owner that cannot be looked up keeps
// its pins.
func (h *Handler) Prune(ctx context.Context, owners Owners) (int, error) {
	if h.store == nil {
		return 0, nil
	}
	var lookupErr error
	n, err := h.store.PruneRevisions(ctx, func(namespace string, o store.Owner) bool {
		ok, err := owners.Exists(ctx, namespace, o)
		if err != nil && lookupErr == nil {
			lookupErr = err
		}
		return ok
	})
	if h.metrics != nil && n > 0 {
		h.metrics.pruned.Add(float64(n))
	}
	if err != nil {
		return n, err
	}
	return n, lookupErr
}

// PruneEvery runs Prune every interval until ctx is done, logging what
// it did.
func (h *Handler) PruneEvery(ctx context.Context, owners Owners, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := h.Prune(ctx, owners)
		if err != nil {
			h.storeError("prune", err)
		}
		if n > 0 {
			h.log.Info("pruned revision pins of deleted owners", "pins", n)
		}
	}
}
