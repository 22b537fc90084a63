package resolve

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Option configures a Resolver.
type Option func(*options)

type options struct {
	keychain  authn.Keychain
	proxy     ProxyFunc
	auths     map[string]authn.Authenticator // registry host → explicit credential
	allowed   []string
	insecure  map[string]bool
	mirrors   map[string][]string // registry domain → mirror hosts, in order
	platform  *Platform
	verify    bool
	timeout   time.Duration
	userAgent string
	credTTL   time.Duration
	rootCAs   *x509.CertPool
	// perRegistry bounds the requests under way to one host; 0 means
	// no bound.
	perRegistry int
	// probeInterval is the least time between two probes of a registry
	// that is down.
	probeInterval time.Duration
	attempts      int
}

func defaultOptions() options {
	return options{
		keychain:      authn.DefaultKeychain,
		auths:         map[string]authn.Authenticator{},
		insecure:      map[string]bool{},
		mirrors:       map[string][]string{},
		timeout:       10 * time.Second,
		userAgent:     "tagpin",
		credTTL:       5 * time.Minute,
		probeInterval: 100 * time.Millisecond,
		attempts:      4,
		perRegistry:   16,
	}
}

// WithProxy sends requests through the HTTP proxy proxy returns for
// their URL (nil: directly). The address rules still apply to the
// registries behind it, as far as this host can resolve their names.
func WithProxy(proxy ProxyFunc) Option {
	return func(o *options) { o.proxy = proxy }
}

// WithKeychain sets where credentials come from (default: the docker
// config file and its credential helpers, as found through DOCKER_CONFIG).
// Use authn.NewMultiKeychain to combine several.
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) { o.keychain = kc }
}

// WithAuth uses auth for registry host (for example "ghcr.io" or
// "127.0.0.1:5000") instead of the keychain. The credential is only ever
// sent to that registry and its token service.
func WithAuth(host string, auth authn.Authenticator) Option {
	return func(o *options) { o.auths[registryHost(host)] = auth }
}

// WithAllowRegistry allows dialing registries (host or host:port) whose
// addresses are loopback, link-local, private or unspecified.
func WithAllowRegistry(hosts ...string) Option {
	return func(o *options) { o.allowed = append(o.allowed, hosts...) }
}

// WithInsecureRegistry talks plain HTTP to the given registries
// (host:port as written in references).
func WithInsecureRegistry(hosts ...string) Option {
	return func(o *options) {
		for _, h := range hosts {
			o.insecure[h] = true
		}
	}
}

// WithMirror resolves references of registry (as normalized, for example
// "docker.io") through mirror first, for pull-through caches. When every
// mirror fails the registry itself is asked. Results still name the
// original reference; Result.Registry says which host answered.
func WithMirror(registry, mirror string) Option {
	return func(o *options) { o.mirrors[registry] = append(o.mirrors[registry], mirror) }
}

// WithPlatform resolves multi-platform tags to the manifest of platform p
// instead of the index.
func WithPlatform(p Platform) Option {
	return func(o *options) { o.platform = &p }
}

// WithProbeInterval sets the least time between two requests checking
// whether a registry that is down is back (default 100ms); requests in
// between fail at once as unavailable.
func WithProbeInterval(d time.Duration) Option {
	return func(o *options) { o.probeInterval = d }
}

// WithVerify checks that references that already carry a digest exist in
// the registry instead of returning them unchecked.
func WithVerify(verify bool) Option {
	return func(o *options) { o.verify = verify }
}

// WithTimeout bounds every Resolve call (default 10s); a shorter context
// deadline wins.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithCredentialTTL sets how long the keychain's answer for a registry
// is reused (default 5m), so that a credential helper runs at most once
// per registry in that time; 0 asks the keychain every time.
func WithCredentialTTL(d time.Duration) Option {
	return func(o *options) { o.credTTL = d }
}

// WithRegistryConcurrency bounds the requests under way to one registry
// host (and to any host it redirects to or names as its token service)
// to n (default 16); further requests wait for a slot within their
// deadline. n <= 0 means no bound.
func WithRegistryConcurrency(n int) Option {
	return func(o *options) { o.perRegistry = max(n, 0) }
}

// WithRootCAs sets the certificate authorities registries' TLS
// certificates are checked against (default: the system's).
func WithRootCAs(pool *x509.CertPool) Option {
	return func(o *options) { o.rootCAs = pool }
}

// WithUserAgent sets the User-Agent header sent to registries.
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// ParseMirror parses "registry=mirror" as given to --mirror.
func ParseMirror(s string) (registry, mirror string, err error) {
	registry, mirror, ok := strings.Cut(s, "=")
	if !ok || registry == "" || mirror == "" {
		return "", "", fmt.Errorf("invalid mirror %q: want REGISTRY=MIRROR, for example docker.io=registry.internal:5000", s)
	}
	return registry, mirror, nil
}
