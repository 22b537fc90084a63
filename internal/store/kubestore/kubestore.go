package kubestore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/tagpin/tagpin/internal/store"
)

// Store is a store.Store kept in custom resources. Reads are served by
// an informer cache; writes go to the API server. It is safe for
// concurrent use; several Stores (webhook replicas) may share a cluster.
type Store struct {
	opts    options
	client  client.Client // live: writes, and reads after a conflict
	cache   cache.Cache
	changes changes

	stop      context.CancelFunc
	done      chan struct{} // closed when the cache has stopped
	closeOnce sync.Once
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.RevisionPruner = (*Store)(nil)
)

// New connects to the API server of cfg, starts an informer cache of
// ClusterImageTags, ImageTags and RevisionPins in every namespace and
// returns once it has synced, or fails when ctx ends first. The CRDs
// (CRDs, config/crd) must be installed, and the identity of cfg needs
// get, list, watch and create on all three resources, update on
// clusterimagetags and imagetags, and patch and delete on revisionpins. Close
// stops the cache.
func New(ctx context.Context, cfg *rest.Config, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "tagpin (kubestore)"
	}
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
	}
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient, Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
	}
	// One live list of each resource first: a missing CRD, missing RBAC
	// or an unreachable API server fails here with a clear error, where
	// the informers would retry until ctx ends.
	for _, l := range []struct {
		list     client.ObjectList
		resource string
	}{
		{&ClusterImageTagList{}, ResourceClusterImageTags},
		{&ImageTagList{}, ResourceImageTags},
		{&RevisionPinList{}, ResourceRevisionPins},
	} {
		if err := c.List(ctx, l.list, client.Limit(1)); err != nil {
			return nil, fmt.Errorf("opening the Kubernetes store: %w", apiError("list", l.resource, err))
		}
	}

	ca, err := cache.New(cfg, cache.Options{
		HTTPClient: httpClient, Scheme: scheme, Mapper: mapper,
		// Only what the store reads (cache.go).
		DefaultTransform: newSlimmer().transform,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
	}
	// Pins of the earlier shape are indexed, so that Migrate copies them
	// and not every pin.
	if err := ca.IndexField(ctx, &RevisionPin{}, indexShape, pinShape); err != nil {
		return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
	}
	s := &Store{opts: o, client: c, cache: ca, done: make(chan struct{})}
	s.changes.init()
	notify := func(any) { s.changes.notify() }
	for _, obj := range []client.Object{&ClusterImageTag{}, &ImageTag{}, &RevisionPin{}} {
		inf, err := ca.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    notify,
			UpdateFunc: func(_, obj any) { notify(obj) },
			DeleteFunc: notify,
		}); err != nil {
			return nil, fmt.Errorf("opening the Kubernetes store: %w", err)
		}
	}
	// The cache outlives New's ctx: Close stops it.
	cacheCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go func() {
		defer close(s.done)
		_ = ca.Start(cacheCtx) // returns when stopped; a failure shows as no sync below
	}()
	if !ca.WaitForCacheSync(ctx) {
		_ = s.Close()
		err := ctx.Err()
		if err == nil {
			err = errors.New("the informers stopped")
		}
		return nil, fmt.Errorf("opening the Kubernetes store: waiting for the cache of %s resources to sync "+
			"(tagpin needs list and watch on %s, %s and %s): %w",
			Group, ResourceClusterImageTags, ResourceImageTags, ResourceRevisionPins, err)
	}
	return s, nil
}

// Close stops the informer cache. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
	})
	return nil
}

// Observe implements store.Store. It reads the record from the cache,
// applies store.Record and writes the result with the record's
// resourceVersion; when another writer got there first it reads the
// record from the API server and tries again.
func (s *Store) Observe(ctx context.Context, key store.TagKey, d digest.Digest, at time.Time, src store.Source) (store.Observation, error) {
	if err := ctx.Err(); err != nil {
		return store.Observation{}, fmt.Errorf("recording %s: %w", key, err)
	}
	if err := key.Validate(); err != nil {
		return store.Observation{}, err
	}
	if err := d.Validate(); err != nil {
		return store.Observation{}, fmt.Errorf("recording %s at %q: %w", key, d, err)
	}
	if at.IsZero() {
		return store.Observation{}, fmt.Errorf("recording %s at %s: the observation has no time", key, d)
	}
	// The resources keep microseconds: decide on what will be stored.
	at = at.UTC().Truncate(time.Microsecond)
	live := false
	for range s.opts.attempts {
		if err := ctx.Err(); err != nil {
			return store.Observation{}, fmt.Errorf("recording %s: %w", key, err)
		}
		cur, err := s.getTag(ctx, key, live)
		if err != nil {
			return store.Observation{}, fmt.Errorf("recording %s: %w", key, err)
		}
		var prev *store.Tag
		if cur != nil {
			if prev, err = storeTag(key, cur); err != nil {
				return store.Observation{}, fmt.Errorf("recording %s: %w", key, err)
			}
		}
		t, obs, changed := store.Record(prev, key, d, at, src, s.opts.maxMoves)
		if !changed {
			if live && cur != nil {
				s.awaitCache(ctx, cur) // what another writer wrote
			}
			return obs, nil
		}
		var obj tagObject
		verb := "update"
		if cur == nil {
			verb = "create"
			obj = newTagObject(key)
			obj.SetLabels(map[string]string{LabelManagedBy: managedBy})
			setRecord(obj.record(), t)
			err = s.client.Create(ctx, obj)
		} else {
			obj = cur.DeepCopyObject().(tagObject)
			setRecord(obj.record(), t)
			err = s.client.Update(ctx, obj)
		}
		switch {
		case err == nil:
			s.awaitCache(ctx, obj)
			return obs, nil
		case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err),
			verb == "update" && apierrors.IsNotFound(err):
			live = true // another writer got there first: read what it wrote
		case isNamespaceNotFound(err):
			return store.Observation{}, fmt.Errorf("recording %s: namespace %s does not exist: %w", key, key.Scope, err)
		default:
			return store.Observation{}, fmt.Errorf("recording %s: %w", key, apiError(verb, tagResource(key), err))
		}
	}
	return store.Observation{}, fmt.Errorf("recording %s: %d attempts: %w; try again", key, s.opts.attempts, ErrConflict)
}

// Tag implements store.Store. It reads the informer cache only: a tag
// the cache does not hold is not found, at no API call.
func (s *Store) Tag(ctx context.Context, key store.TagKey) (*store.Tag, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reading tag %s: %w", key, err)
	}
	cur, err := s.getTag(ctx, key, false)
	if err != nil {
		return nil, fmt.Errorf("reading tag %s: %w", key, err)
	}
	if cur == nil {
		return nil, fmt.Errorf("tag %s: %w", key, store.ErrNotFound)
	}
	t, err := storeTag(key, cur)
	if err != nil {
		return nil, fmt.Errorf("reading tag %s: %w", key, err)
	}
	return t, nil
}

// tagObject is a ClusterImageTag or an ImageTag.
type tagObject interface {
	client.Object
	record() *TagRecord
}

func (t *ClusterImageTag) record() *TagRecord { return &t.TagRecord }
func (t *ImageTag) record() *TagRecord        { return &t.TagRecord }

// newTagObject returns an empty object named for key: a ClusterImageTag
// for the public scope, else an ImageTag in the scope's namespace.
func newTagObject(key store.TagKey) tagObject {
	meta := metav1.ObjectMeta{Name: TagObjectName(key)}
	if key.Scope == store.Public {
		return &ClusterImageTag{ObjectMeta: meta}
	}
	meta.Namespace = string(key.Scope)
	return &ImageTag{ObjectMeta: meta}
}

func tagResource(key store.TagKey) string {
	if key.Scope == store.Public {
		return ResourceClusterImageTags
	}
	return ResourceImageTags
}

// getTag reads key's record from the cache, or from the API server when
// live is set; it returns nil when there is none.
func (s *Store) getTag(ctx context.Context, key store.TagKey, live bool) (tagObject, error) {
	obj := newTagObject(key)
	if err := s.reader(live).Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, apiError("get", tagResource(key), err)
	}
	return obj, nil
}

func (s *Store) reader(live bool) client.Reader {
	if live {
		return s.client
	}
	return s.cache
}

// storeTag converts the record of obj, which must be key's.
func storeTag(key store.TagKey, obj tagObject) (*store.Tag, error) {
	r := obj.record()
	if r.Registry != key.Registry || r.Repository != key.Repository || r.Tag != key.Tag || len(r.History) == 0 {
		return nil, fmt.Errorf("%s %s holds the record of %s/%s:%s with %d moves, not this one: "+
			"delete it to let tagpin recreate it", obj.GetObjectKind().GroupVersionKind().Kind,
			client.ObjectKeyFromObject(obj), r.Registry, r.Repository, r.Tag, len(r.History))
	}
	t := &store.Tag{Key: key, History: make([]store.Move, len(r.History))}
	for i, m := range r.History {
		t.History[i] = store.Move{
			Digest:    digest.Digest(m.Digest),
			FirstSeen: m.FirstSeen.UTC(),
			LastSeen:  m.LastSeen.UTC(),
			Source:    store.Source(m.Source),
		}
	}
	return t, nil
}

// setRecord sets r's fields from t.
func setRecord(r *TagRecord, t *store.Tag) {
	k := t.Key
	r.Image = k.Registry + "/" + k.Repository + ":" + k.Tag
	r.Registry, r.Repository, r.Tag = k.Registry, k.Repository, k.Tag
	r.Digest = string(t.Current())
	r.LastVerified = metav1.NewTime(t.Verified())
	r.Moves = int32(len(t.History))
	r.History = make([]TagMove, len(t.History))
	for i, m := range t.History {
		r.History[i] = TagMove{
			Digest:    string(m.Digest),
			FirstSeen: metav1.NewMicroTime(m.FirstSeen),
			LastSeen:  metav1.NewMicroTime(m.LastSeen),
			Source:    string(m.Source),
		}
	}
}

// awaitCache waits until the cache holds written at its resourceVersion
// or a newer one, so that a read after a write sees it; at most
// opts.cacheWait, and not past ctx. A write that the cache has not shown
// by then has still happened: the caller does not fail.
func (s *Store) awaitCache(ctx context.Context, written client.Object) {
	want := written.GetResourceVersion()
	s.await(ctx, written, func(cached client.Object, err error) bool {
		return err == nil && newerOrSame(cached.GetResourceVersion(), want)
	})
}

// awaitGone waits, like awaitCache, until the cache no longer holds
// deleted.
func (s *Store) awaitGone(ctx context.Context, deleted client.Object) {
	uid := deleted.GetUID()
	s.await(ctx, deleted, func(cached client.Object, err error) bool {
		return apierrors.IsNotFound(err) || err == nil && cached.GetUID() != uid
	})
}

func (s *Store) await(ctx context.Context, obj client.Object, done func(cached client.Object, err error) bool) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.cacheWait)
	defer cancel()
	key := client.ObjectKeyFromObject(obj)
	probe := obj.DeepCopyObject().(client.Object)
	for {
		changed := s.changes.wait() // before the check, so no change is missed
		if done(probe, s.cache.Get(ctx, key, probe)) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// newerOrSame reports whether resource version have is want or a later
// one. Resource versions are compared as numbers, which they are on
// every API server backed by etcd; others are only compared for
// equality.
func newerOrSame(have, want string) bool {
	h, err1 := strconv.ParseUint(have, 10, 64)
	w, err2 := strconv.ParseUint(want, 10, 64)
	if err1 != nil || err2 != nil {
		return have == want
	}
	return h >= w
}

// changes lets writers wait for the next event of the informers.
type changes struct {
	mu sync.Mutex
	ch chan struct{} // closed at the next event
}

func (c *changes) init() { c.ch = make(chan struct{}) }

// wait returns a channel closed at the next event.
func (c *changes) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

func (c *changes) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.ch)
	c.ch = make(chan struct{})
}
