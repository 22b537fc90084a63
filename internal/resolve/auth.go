package resolve

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagpin/tagpin/internal/imageref"
)

// registryHost maps a reference's domain to the host that serves it.
func registryHost(domain string) string {
	if domain == "docker.io" || domain == "registry-1.docker.io" {
		return name.DefaultRegistry // index.docker.io
	}
	return domain
}

// credential is a resolved credential for one registry host.
type credential struct {
	auth    authn.Authenticator
	config  authn.AuthConfig
	id      string // "anonymous" or a hash of the secret material
	fetched time.Time
	call    bool // from a per-call keychain (ResolveWith)
}

func (c *credential) anonymous() bool { return c.id == "anonymous" }

func newCredential(ctx context.Context, auth authn.Authenticator, now time.Time) (*credential, error) {
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return nil, err
	}
	c := &credential{auth: auth, config: *cfg, fetched: now, id: "anonymous"}
	if cfg.Username != "" || cfg.Password != "" || cfg.IdentityToken != "" || cfg.RegistryToken != "" || cfg.Auth != "" {
		h := sha256.Sum256([]byte(strings.Join([]string{cfg.Username, cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken}, "\x00")))
		c.id = hex.EncodeToString(h[:8])
	}
	return c, nil
}

// challenge is what a registry answered in WWW-Authenticate.
type challenge struct {
	scheme string // "bearer" or "basic"
	params map[string]string
}

// parseChallenge parses the first Bearer or Basic challenge of a
// WWW-Authenticate header value.
func parseChallenge(h string) (challenge, bool) {
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	c := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
	if c.scheme != "bearer" && c.scheme != "basic" {
		return challenge{}, false
	}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			val, after = unquote(after[1:])
		} else {
			val, after, _ = strings.Cut(after, ",")
		}
		c.params[strings.ToLower(strings.TrimSpace(key))] = val
		rest = after
	}
	return c, true
}

// unquote reads a quoted-string body up to its closing quote and returns
// it with the text after the quote.
func unquote(s string) (val, rest string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}

// repoAuth holds the Authorization header for one (registry, repository,
// credential). Refreshes are serialized and generation-numbered so that a
// burst of requests failing on one expired token refreshes it once.
type repoAuth struct {
	sem    chan struct{}
	mu     sync.RWMutex
	header string
	gen    uint64
}

func newRepoAuth() *repoAuth { return &repoAuth{sem: make(chan struct{}, 1)} }

func (a *repoAuth) current() (string, uint64) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.header, a.gen
}

// refresh replaces the header obtained at generation seen, unless someone
// else already did.
func (a *repoAuth) refresh(ctx context.Context, seen uint64, fetch func(context.Context) (string, error)) error {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.sem }()
	if _, gen := a.current(); gen != seen {
		return nil
	}
	h, err := fetch(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.header, a.gen = h, a.gen+1
	a.mu.Unlock()
	return nil
}

// host is what the resolver remembers about one registry host.
type host struct {
	name   string // host[:port]
	scheme string // "https" or "http"
	health health

	mu     sync.Mutex
	chal   *challenge
	creds  *credential
	lookup *credLookup          // the keychain lookup under way, if any
	auths  map[string]*repoAuth // repository + "\x00" + credential id
}

func (h *host) challenge() *challenge {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.chal
}

func (h *host) setChallenge(c challenge) {
	h.mu.Lock()
	h.chal = &c
	h.mu.Unlock()
}

func (h *host) repoAuth(repo, credID string) *repoAuth {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := repo + "\x00" + credID
	a, ok := h.auths[k]
	if !ok {
		a = newRepoAuth()
		h.auths[k] = a
	}
	return a
}

// authorize computes the Authorization header for repo under c using
// credential cred: a bearer token from the challenge's realm, or basic
// credentials. It returns "" when the registry asked for nothing.
func (r *Resolver) authorize(ctx context.Context, h *host, c *challenge, repo string, cred *credential) (string, error) {
	if c == nil {
		return "", nil
	}
	switch c.scheme {
	case "basic":
		if cred.anonymous() {
			return "", errNoCredential
		}
		if cred.config.Auth != "" {
			return "Basic " + cred.config.Auth, nil
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred.config.Username+":"+cred.config.Password)), nil
	case "bearer":
		opts := []name.Option{name.StrictValidation}
		if h.scheme == "http" {
			opts = append(opts, name.Insecure)
		}
		reg, err := name.NewRegistry(h.name, opts...)
		if err != nil {
			return "", err
		}
		realm := c.params["realm"]
		if err := validateRealm(realm, h); err != nil {
			return "", err
		}
		u, _ := url.Parse(realm) // validated
		rt := &realmGuard{inner: r.limited, realm: origin(u)}
		pr := &transport.Challenge{Scheme: "bearer", Parameters: c.params, Insecure: h.scheme == "http"}
		scope := "repository:" + repo + ":pull"
		tok, err := transport.Exchange(ctx, reg, cred.auth, rt, []string{scope}, pr)
		if err != nil {
			return "", fmt.Errorf("getting a token from %s: %w", c.params["realm"], err)
		}
		t := tok.Token
		if t == "" {
			t = tok.AccessToken
		}
		return "Bearer " + t, nil
	}
	return "", fmt.Errorf("unsupported authentication scheme %q", c.scheme)
}

var errNoCredential = errors.New("the registry requires credentials and none were found")

// credential returns the credential for host h, asking the keychain at
// most once per credTTL. The keychain may run a credential helper that
// takes no context: it runs on its own, one lookup per host at a time,
// and callers wait for it no longer than their deadline. A lookup that
// outlives its callers still fills the cache when it ends.
func (r *Resolver) credential(ctx context.Context, h *host) (*credential, error) {
	if auth, ok := r.opts.auths[h.name]; ok {
		c, err := newCredential(ctx, auth, time.Now())
		if err != nil {
			return nil, &credentialError{registry: h.name, err: err}
		}
		return c, nil
	}
	h.mu.Lock()
	if c := h.creds; c != nil && time.Since(c.fetched) < r.opts.credTTL {
		h.mu.Unlock()
		return c, nil
	}
	l := h.lookup
	if l == nil {
		l = &credLookup{done: make(chan struct{})}
		h.lookup = l
		// The lookup is shared: it must not end with this caller's
		// cancellation, only with a deadline of its own.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.timeout)
		go func() {
			defer cancel()
			r.lookup(lctx, h, l)
		}()
	}
	h.mu.Unlock()
	select {
	case <-l.done:
		return l.cred, l.err
	case <-ctx.Done():
		return nil, &credentialError{registry: h.name, err: ctx.Err()}
	}
}

// credLookup is a keychain lookup under way for one host.
type credLookup struct {
	done chan struct{} // closed when cred or err is set
	cred *credential
	err  error
}

func (r *Resolver) lookup(ctx context.Context, h *host, l *credLookup) {
	defer close(l.done)
	l.cred, l.err = r.keychainCredential(ctx, h, "", r.opts.keychain)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lookup = nil
	if l.err == nil {
		h.creds = l.cred
	}
}

// keychainCredential asks kc for h's credential: for the repository
// path of h when path is set (pull secrets may be keyed by
// registry/path, as the kubelet matches them), else for the registry.
func (r *Resolver) keychainCredential(ctx context.Context, h *host, path string, kc authn.Keychain) (*credential, error) {
	var res authn.Resource
	var err error
	if path != "" {
		res, err = name.NewRepository(h.name+"/"+path, name.WeakValidation)
	} else {
		res, err = name.NewRegistry(h.name, name.WeakValidation)
	}
	if err != nil {
		return nil, err
	}
	auth, err := authn.Resolve(ctx, kc, res)
	if err != nil {
		return nil, &credentialError{registry: h.name, err: err}
	}
	c, err := newCredential(ctx, auth, time.Now())
	if err != nil {
		return nil, &credentialError{registry: h.name, err: err}
	}
	return c, nil
}

// callCredential returns the credential kc has for repository path on
// host h, or nil when kc is nil or has none. Like the resolver's own
// keychain, kc is waited for no longer than ctx allows.
func (r *Resolver) callCredential(ctx context.Context, h *host, path string, kc authn.Keychain) (*credential, error) {
	if kc == nil {
		return nil, nil
	}
	type answer struct {
		c   *credential
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		c, err := r.keychainCredential(ctx, h, path, kc)
		ch <- answer{c, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		return nil, &credentialError{registry: h.name, call: true, err: ctx.Err()}
	}
	var ce *credentialError
	if errors.As(a.err, &ce) {
		ce.call = true
	}
	if a.err != nil {
		return nil, a.err
	}
	if a.c.anonymous() {
		return nil, nil
	}
	a.c.call = true
	return a.c, nil
}

// HasCredential reports whether kc has a credential for a registry ref
// may be resolved through (its own or a mirror).
func (r *Resolver) HasCredential(ctx context.Context, ref imageref.Reference, kc authn.Keychain) (bool, error) {
	for _, name := range append(append([]string(nil), r.opts.mirrors[ref.Domain]...), registryHost(ref.Domain)) {
		c, err := r.callCredential(ctx, r.host(name), ref.Path, kc)
		if err != nil {
			return false, err
		}
		if c != nil {
			return true, nil
		}
	}
	return false, nil
}

// setAuthorization sets hdr on req when it is not empty.
func setAuthorization(req *http.Request, hdr string) {
	if hdr != "" {
		req.Header.Set("Authorization", hdr)
	}
}
