package track

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"

	"github.com/tagpin/tagpin/internal/imageref"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
)

// From says where a Result's digest came from.
type From string

// Where digests come from.
const (
	FromRegistry  From = "registry"  // the registry answered now
	FromReference From = "reference" // the reference already carried it
	FromFallback  From = "fallback"  // the registry was unavailable; the store's last-known digest
)

// fallbackBudget bounds the store lookup made after the caller's context
// ran out while waiting for the registry.
const fallbackBudget = time.Second

// Query is one resolution.
type Query struct {
	Ref imageref.Reference
	// Namespace and PullSecrets are the namespace a pod is in and its
	// pull secrets. When PullSecrets holds a credential for the
	// reference's registry, the digest is learned with it and belongs to
	// the namespace's scope: recorded there, and a fallback only comes
	// from there (or from the public scope). Otherwise the scope is
	// public.
	Namespace   string
	PullSecrets authn.Keychain
	// DryRun resolves and falls back as usual but records nothing.
	DryRun bool
}

// Result is a tracked resolution.
type Result struct {
	Ref    imageref.Reference
	Digest digest.Digest
	From   From
	// Scope is the scope the digest belongs to.
	Scope store.Scope
	// Resolved is the resolver's answer (nil for a fallback).
	Resolved *resolve.Result
	// Verified is when the digest was last confirmed by the registry: now,
	// or for a fallback when the store last saw it.
	Verified time.Time
	// Unavailable is the resolver's error that caused a fallback.
	Unavailable error
	// Observation is what recording the digest found: whether the tag
	// moved, and from where.
	Observation store.Observation
	// RecordErr is set when recording failed; the digest is still good.
	RecordErr error
}

// Pinned returns the reference as written with the digest.
func (r *Result) Pinned() string { return r.Ref.WithDigest(r.Digest) }

// Tracker resolves through a Resolver and keeps a Store up to date.
type Tracker struct {
	resolver  *resolve.Resolver
	store     store.Store
	source    store.Source
	now       func() time.Time
	fallbacks bool
}

// Option configures a Tracker.
type Option func(*Tracker)

// WithClock sets the clock recorded observations are stamped with
// (time.Now by default).
func WithClock(now func() time.Time) Option { return func(t *Tracker) { t.now = now } }

// WithoutFallback makes an unavailable registry an error even when the
// store knows the tag: for the CLI, where a pin must be what the registry
// says now.
func WithoutFallback() Option { return func(t *Tracker) { t.fallbacks = false } }

// New returns a Tracker that records into st (nil: record nothing, never
// fall back) as src.
func New(r *resolve.Resolver, st store.Store, src store.Source, opts ...Option) *Tracker {
	t := &Tracker{resolver: r, store: st, source: src, now: time.Now, fallbacks: true}
	for _, opt := range opts {
		opt(t)
	}
	return t
}

// Key returns the store key of ref's tag in scope.
func Key(ref imageref.Reference, scope store.Scope) store.TagKey {
	return store.TagKey{Registry: ref.Domain, Repository: ref.Path, Tag: ref.Tag, Scope: scope}
}

// Resolve resolves q.Ref. On success the digest is recorded in its scope
// (unless q.DryRun, or the result is for one platform, whose digest is
// not the tag's). When the registry is unavailable and the store knows
// the tag in the query's scope, the result is that digest, From
// FromFallback. Any other
// error is returned as the resolver's *resolve.Error: not found and
// unauthorized never fall back.
func (t *Tracker) Resolve(ctx context.Context, q Query) (*Result, error) {
	res, err := t.resolver.ResolveWith(ctx, q.Ref, q.PullSecrets)
	if err != nil {
		return t.fallback(ctx, q, err)
	}
	out := &Result{Ref: q.Ref, Digest: res.Digest, From: FromRegistry, Resolved: res, Verified: t.now()}
	if res.Credentialed {
		out.Scope = store.Scope(q.Namespace)
	}
	if res.Registry == resolve.FromReference {
		out.From = FromReference
		return out, nil
	}
	if t.store == nil || q.DryRun || res.Platform != "" || !q.Ref.HasTag() {
		return out, nil
	}
	out.Observation, out.RecordErr = t.store.Observe(ctx, Key(q.Ref, out.Scope), res.Digest, out.Verified, t.source)
	if out.RecordErr != nil {
		out.RecordErr = fmt.Errorf("recording %s: %w", q.Ref, out.RecordErr)
	}
	return out, nil
}

// Known returns what the store knows of ref's tag in scope: its
// history, newest first. It returns nil and no error when there is no
// store or the store does not know the tag.
func (t *Tracker) Known(ctx context.Context, ref imageref.Reference, scope store.Scope) (*store.Tag, error) {
	if t.store == nil || !ref.HasTag() {
		return nil, nil
	}
	tag, err := t.store.Tag(ctx, Key(ref, scope))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return tag, err
}

// StoreError is a store failure met while resolving: the resolution
// went on without the store (no fallback), and the error wraps it.
type StoreError struct {
	// Op is what was asked of the store: "fallback" (reading the
	// last-known digest).
	Op  string
	Err error
}

func (e *StoreError) Error() string { return e.Err.Error() }

func (e *StoreError) Unwrap() error { return e.Err }

func (t *Tracker) fallback(ctx context.Context, q Query, resolveErr error) (*Result, error) {
	if t.store == nil || !t.fallbacks || !errors.Is(resolveErr, resolve.ErrUnavailable) || !q.Ref.HasTag() {
		return nil, resolveErr
	}
	if ctx.Err() != nil {
		// The registry used up the caller's time; the store gets a
		// little of its own.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), fallbackBudget)
		defer cancel()
	}
	// The scope the registry would have answered in: the namespace's
	// when its pull secrets hold a credential for the registry. Public
	// records were learned without credentials; anyone may have them.
	scopes := []store.Scope{store.Public}
	if q.PullSecrets != nil && q.Namespace != "" {
		has, err := t.resolver.HasCredential(ctx, q.Ref, q.PullSecrets)
		if err != nil {
			return nil, fmt.Errorf("%w (and the pull secrets could not be read: %w)", resolveErr, err)
		}
		if has {
			scopes = []store.Scope{store.Scope(q.Namespace), store.Public}
		}
	}
	for _, scope := range scopes {
		tag, err := t.store.Tag(ctx, Key(q.Ref, scope))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w (and the last-known digest could not be read: %w)", resolveErr, &StoreError{Op: "fallback", Err: err})
		}
		return &Result{
			Ref:         q.Ref,
			Digest:      tag.Current(),
			From:        FromFallback,
			Scope:       scope,
			Verified:    tag.Verified(),
			Unavailable: resolveErr,
		}, nil
	}
	return nil, fmt.Errorf("%w (and no last-known digest for it)", resolveErr)
}
