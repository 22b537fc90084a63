package kubestore

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/store"
)

// ReadTag reads key's record straight from the API server, with no
// informers: for one-off readers such as tagpin history. It wraps
// store.ErrNotFound when the cluster has no record.
func ReadTag(ctx context.Context, cfg *rest.Config, key store.TagKey) (*store.Tag, error) {
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster at %s: %w", cfg.Host, err)
	}
	obj := newTagObject(key)
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) && !isResourceMissing(err) {
			return nil, fmt.Errorf("tag %s: %w", key, store.ErrNotFound)
		}
		return nil, apiError("get", tagResource(key), err)
	}
	return storeTag(key, obj)
}

// isResourceMissing reports a NotFound about the resource type itself
// (the CRD is not installed) rather than about one object.
func isResourceMissing(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d == nil || d.Name == ""
}
