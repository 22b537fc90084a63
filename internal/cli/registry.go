package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/pflag"
	"golang.org/x/net/http/httpproxy"

	"github.com/tagpin/tagpin/internal/resolve"
)

// registryFlags are the flags every command that talks to registries has.
type registryFlags struct {
	platform      string
	timeout       time.Duration
	allow         []string
	insecure      []string
	mirrors       []string
	username      string
	passwordStdin bool
	authRegistry  string
	concurrency   int
}

func (f *registryFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.platform, "platform", "", "resolve multi-platform tags to this platform's manifest (os/arch[/variant]) instead of the index")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "time limit for resolving one reference, retries included")
	f.registerServer(fs)
	f.registerCredentials(fs)
}

// registerCredentials registers the flags that give one registry's
// credential on the command line.
func (f *registryFlags) registerCredentials(fs *pflag.FlagSet) {
	fs.StringVarP(&f.username, "username", "u", "", "username for --auth-registry (with --password-stdin)")
	fs.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password or token for --auth-registry from stdin")
	fs.StringVar(&f.authRegistry, "auth-registry", "", "registry host[:port] that --username and --password-stdin are for")
}

// registerServer registers the flags a long-running server takes: no
// per-run credentials or platform.
func (f *registryFlags) registerServer(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.allow, "allow-registry", nil, "registry host[:port] that may be on a loopback, private or link-local address (repeatable)")
	fs.StringSliceVar(&f.insecure, "insecure-registry", nil, "registry host[:port] to reach over plain HTTP (repeatable)")
	fs.IntVar(&f.concurrency, "registry-concurrency", 16, "requests under way at once to one registry host at most; more wait for a slot within their time limit (0: no limit)")
	fs.StringArrayVar(&f.mirrors, "mirror", nil, "resolve a registry's references through a mirror, REGISTRY=MIRROR, e.g. docker.io=registry.internal:5000 (repeatable)")
}

// resolver builds a resolver from the flags. stdin is read for
// --password-stdin.
func (f *registryFlags) resolver(stdin io.Reader, extra ...resolve.Option) (*resolve.Resolver, error) {
	if f.concurrency < 0 {
		return nil, fmt.Errorf("--registry-concurrency %d: want 0 (no limit) or more", f.concurrency)
	}
	opts := []resolve.Option{
		resolve.WithTimeout(f.timeout),
		resolve.WithAllowRegistry(f.allow...),
		resolve.WithInsecureRegistry(f.insecure...),
		resolve.WithUserAgent("tagpin/" + version()),
		resolve.WithRegistryConcurrency(f.concurrency),
	}
	// HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as Go programs read them
	// (loopback addresses are never proxied).
	if env := httpproxy.FromEnvironment(); env.HTTPSProxy != "" || env.HTTPProxy != "" {
		opts = append(opts, resolve.WithProxy(env.ProxyFunc()))
	}
	if f.platform != "" {
		p, err := resolve.ParsePlatform(f.platform)
		if err != nil {
			return nil, err
		}
		opts = append(opts, resolve.WithPlatform(p))
	}
	for _, m := range f.mirrors {
		reg, mirror, err := resolve.ParseMirror(m)
		if err != nil {
			return nil, err
		}
		opts = append(opts, resolve.WithMirror(reg, mirror))
	}
	if f.username != "" || f.passwordStdin {
		if f.username == "" || !f.passwordStdin {
			return nil, fmt.Errorf("--username and --password-stdin go together")
		}
		if f.authRegistry == "" {
			return nil, fmt.Errorf("--username needs --auth-registry to say which registry the credential is for (for example --auth-registry ghcr.io)")
		}
		password, err := readPassword(stdin)
		if err != nil {
			return nil, err
		}
		opts = append(opts, resolve.WithAuth(f.authRegistry, &authn.Basic{Username: f.username, Password: password}))
	}
	return resolve.New(append(opts, extra...)...), nil
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", fmt.Errorf("--password-stdin: stdin is empty; pipe the password in, e.g. echo \"$TOKEN\" | tagpin … --password-stdin")
	}
	return password, nil
}
