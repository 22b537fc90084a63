package servingcert

import (
	"context"
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// kicker is a wake-up call that coalesces: one pending kick at most.
type kicker chan struct{}

func newKicker() kicker { return make(kicker, 1) }

func (k kicker) kick() {
	select {
	case k <- struct{}{}:
	default:
	}
}

func (k kicker) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { k.kick() },
		UpdateFunc: func(any, any) { k.kick() },
		DeleteFunc: func(any) { k.kick() },
	}
}

// byName returns an informer factory for the one object called name (in
// namespace, "" for cluster-scoped objects): a field selector keeps the
// watch, and what RBAC must allow, to that object.
func byName(client kubernetes.Interface, namespace, name string) informers.SharedInformerFactory {
	opts := []informers.SharedInformerOption{informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
	})}
	if namespace != "" {
		opts = append(opts, informers.WithNamespace(namespace))
	}
	return informers.NewSharedInformerFactoryWithOptions(client, 0, opts...)
}

// startAndSync starts the factories' informers and waits until they have
// synced or ctx is done.
func startAndSync(ctx context.Context, factories ...informers.SharedInformerFactory) error {
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	for _, f := range factories {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errors.New("watching " + typ.String() + ": the cache did not sync")
			}
		}
	}
	return nil
}

// loop calls step whenever k is kicked, when the time step returned
// comes, and again after an error (backing off from o.retry to
// o.maxRetry), until ctx is done. Errors go to onError.
func loop(ctx context.Context, k kicker, o options, step func(context.Context) (time.Time, error), onError func(error)) {
	backoff := o.retry
	for {
		next, err := step(ctx)
		wait := time.Hour // recheck now and then, whatever the clock does
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			onError(err)
			wait = backoff
			backoff = min(2*backoff, o.maxRetry)
		} else {
			backoff = o.retry
			if !next.IsZero() {
				wait = min(wait, max(0, next.Sub(o.now())))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-k:
		case <-t.C:
		}
		t.Stop()
	}
}
