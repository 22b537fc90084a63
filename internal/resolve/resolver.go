package resolve

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/tagpin/tagpin/internal/imageref"
)

// Result is a resolved reference.
type Result struct {
	// Reference is the reference that was resolved, as parsed.
	Reference imageref.Reference
	// Digest is the manifest (or index) digest the tag points at.
	Digest digest.Digest
	// MediaType is the media type of that manifest, when known.
	MediaType string
	// Platform is the platform asked for, if any.
	Platform string
	// Registry is the host that answered (a mirror or the reference's
	// own registry), or FromReference when the digest was taken from
	// the reference itself without asking.
	Registry string
	// Credentialed is true when a credential from the keychain passed to
	// ResolveWith (a pod's pull secrets) was used.
	Credentialed bool
}

// FromReference is Result.Registry when the digest came from the
// reference itself and no registry was asked.
const FromReference = "reference"

// Pinned returns the reference as written with the resolved digest.
func (r *Result) Pinned() string { return r.Reference.WithDigest(r.Digest) }

// Resolver resolves tags to digests. It is safe for concurrent use and
// meant to be long-lived: it keeps connections, registry challenges and
// tokens between calls.
type Resolver struct {
	opts      options
	transport *http.Transport
	// limited is transport with at most opts.perRegistry requests
	// under way per host.
	limited http.RoundTripper
	client  *http.Client
	flights singleflight.Group

	mu    sync.Mutex
	hosts map[string]*host
}

// New returns a Resolver configured by opts.
func New(opts ...Option) *Resolver {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	dialer := newGuardedDialer(o.allowed)
	t := &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if o.proxy != nil {
		t.Proxy = newGuardedProxy(o.proxy, dialer).Proxy
	}
	if o.rootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: o.rootCAs, MinVersion: tls.VersionTLS12}
	}
	limited := newHostLimiter(t, o.perRegistry)
	return &Resolver{
		opts:      o,
		transport: t,
		limited:   limited,
		client:    &http.Client{Transport: limited, CheckRedirect: redirectPolicy(o.insecure)},
		hosts:     map[string]*host{},
	}
}

// Close releases idle connections.
func (r *Resolver) Close() { r.transport.CloseIdleConnections() }

// Resolve returns the digest ref's tag points at. A reference that
// already carries a digest is returned as is, or checked to exist when
// the Resolver verifies. Errors are *Error values wrapping one of the
// Err* classes.
func (r *Resolver) Resolve(ctx context.Context, ref imageref.Reference) (*Result, error) {
	return r.ResolveWith(ctx, ref, nil)
}

// ResolveWith resolves like Resolve, but first looks for a credential in
// kc (for example a pod's pull secrets). When kc has one for the
// registry, it is used instead of the Resolver's own and the Result is
// Credentialed; when it has none, the Resolver's own credentials are
// used. The credential is only sent to the registry kc gave it for.
func (r *Resolver) ResolveWith(ctx context.Context, ref imageref.Reference, kc authn.Keychain) (*Result, error) {
	if ref.Pinned() && !r.opts.verify {
		return &Result{Reference: ref, Digest: ref.Digest, Registry: FromReference}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout)
	defer cancel()

	hosts := append(append([]string(nil), r.opts.mirrors[ref.Domain]...), registryHost(ref.Domain))
	var err error
	for _, name := range hosts {
		var res *Result
		if res, err = r.resolveAt(ctx, r.host(name), ref, kc); err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func (r *Resolver) host(name string) *host {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.hosts[name]
	if !ok {
		scheme := "https"
		if r.opts.insecure[name] {
			scheme = "http"
		}
		h = &host{name: name, scheme: scheme, auths: map[string]*repoAuth{}, health: health{interval: r.opts.probeInterval}}
		r.hosts[name] = h
	}
	return h
}

// resolveAt resolves ref against one host, sharing the upstream request
// with concurrent callers for the same reference and credential.
func (r *Resolver) resolveAt(ctx context.Context, h *host, ref imageref.Reference, kc authn.Keychain) (res *Result, err error) {
	probe, ok := h.health.admit()
	if !ok {
		return nil, r.classify(ref, h, nil, errHostDown)
	}
	attempts := r.opts.attempts
	if probe {
		attempts = 1 // a probe of a failing registry answers fast
	}
	defer func() { h.health.settle(probe, errors.Is(ctx.Err(), context.Canceled), err) }()
	cred, err := r.callCredential(ctx, h, ref.Path, kc)
	if err == nil && cred == nil {
		cred, err = r.credential(ctx, h)
	}
	if err != nil {
		return nil, r.classify(ref, h, cred, err)
	}
	key := h.name + "/" + ref.Path + ":" + ref.Tag + "@" + ref.Digest.String() + "|" + cred.id
	if r.opts.platform != nil {
		key += "|" + r.opts.platform.String()
	}
	for {
		ch := r.flights.DoChan(key, func() (any, error) {
			// The shared request must not die with the first caller's
			// cancellation, only with its deadline.
			fctx := context.WithoutCancel(ctx)
			if d, ok := ctx.Deadline(); ok {
				var cancel context.CancelFunc
				fctx, cancel = context.WithDeadline(fctx, d)
				defer cancel()
			}
			return r.fetch(fctx, h, ref, cred, attempts)
		})
		select {
		case res := <-ch:
			if res.Err != nil {
				// Another caller's shorter deadline ended the shared
				// request; ours is still running, so ask again.
				if errors.Is(res.Err, context.DeadlineExceeded) && ctx.Err() == nil {
					continue
				}
				return nil, r.classify(ref, h, cred, res.Err)
			}
			m := res.Val.(manifest)
			out := &Result{Reference: ref, Digest: m.digest, MediaType: m.mediaType, Registry: h.name, Credentialed: cred.call}
			if r.opts.platform != nil {
				out.Platform = r.opts.platform.String()
			}
			return out, nil
		case <-ctx.Done():
			return nil, r.classify(ref, h, cred, ctx.Err())
		}
	}
}
