package registrytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const (
	distributionBinary = "docker-registry"
	// readyTimeout bounds the wait for a started server to answer /v2/.
	readyTimeout = 10 * time.Second
	// readyInterval is the pause between two readiness probes.
	readyInterval = 20 * time.Millisecond
	// bindAttempts is how many times a start is retried when the port
	// turns out to be taken.
	bindAttempts = 5
)

// errAddrInUse reports that the server exited because its port was taken.
var errAddrInUse = errors.New("address already in use")

// DistributionOptions configures a Distribution server.
type DistributionOptions struct {
	// Users are the htpasswd users, name to password. Empty means no
	// authentication.
	Users map[string]string
	// Notifications are endpoints the server sends its events to (pushes,
	// pulls, deletes), as configured under notifications.endpoints.
	Notifications []NotificationEndpoint
}

// NotificationEndpoint is an endpoint of the server's notifications.
type NotificationEndpoint struct {
	URL string
	// Headers are sent with every request (e.g. Authorization).
	Headers map[string]string
}

// Distribution is the real CNCF Distribution server (Debian's
// docker-registry) running as a child process on loopback, with its
// configuration and filesystem storage in the test's temporary directory.
type Distribution struct {
	t      testing.TB
	bin    string
	dir    string
	addr   string
	secret string
	users  bool
	notify []NotificationEndpoint
	log    *lockedBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartDistribution starts a Distribution server on a free loopback port
// and waits until it answers. It stops when the test ends; its log is
// printed only if the test failed. Under go test -short it skips the
// test; otherwise a missing docker-registry binary fails it.
func StartDistribution(t testing.TB, opts DistributionOptions) *Distribution {
	t.Helper()
	if testing.Short() {
		t.Skipf("registrytest: skipped under -short: needs the Distribution server (%s): run make test, or install Debian's docker-registry and run go test without -short", distributionBinary)
	}
	bin, err := exec.LookPath(distributionBinary)
	if err != nil {
		t.Fatalf("registrytest: the Distribution server (%s) is not installed: run make test (it installs it), or apt-get install -y docker-registry; go test -short skips the tests that need it", distributionBinary)
	}
	d := &Distribution{
		t:      t,
		bin:    bin,
		dir:    t.TempDir(),
		secret: randomHex(t),
		users:  len(opts.Users) > 0,
		notify: opts.Notifications,
		log:    &lockedBuffer{},
	}
	if d.users {
		writeHtpasswd(t, filepath.Join(d.dir, "htpasswd"), opts.Users)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("registrytest: docker-registry log:\n%s", d.log.String())
		}
	})

	for attempt := 1; ; attempt++ {
		d.addr = freeAddr(t)
		err := d.launch()
		if err == nil {
			return d
		}
		if !errors.Is(err, errAddrInUse) || attempt == bindAttempts {
			t.Fatalf("registrytest: starting docker-registry: %v", err)
		}
	}
}

// Addr is the server's "127.0.0.1:port".
func (d *Distribution) Addr() string { return d.addr }

// Ref returns Addr()+"/"+repoTag.
func (d *Distribution) Ref(repoTag string) string { return d.addr + "/" + repoTag }

// Stop kills the server and waits for it to exit: the address refuses
// connections until Start. Stopping a stopped server does nothing.
func (d *Distribution) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill() // fails only when it has already exited
	<-d.done
	d.cmd, d.done = nil, nil
}

// Start starts a stopped server again on the same address with the same
// storage and users, and waits until it answers. Like Stop, call it from
// the test's goroutine: it fails the test when the server does not come
// back.
func (d *Distribution) Start() {
	d.t.Helper()
	var err error
	for attempt := 1; attempt <= bindAttempts; attempt++ {
		if err = d.launch(); !errors.Is(err, errAddrInUse) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		d.t.Fatalf("registrytest: restarting docker-registry on %s (the same address, tried %d times): %v", d.addr, bindAttempts, err)
	}
}

// launch writes the configuration for d.addr, starts the server and waits
// until it answers /v2/.
func (d *Distribution) launch() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return fmt.Errorf("already running on %s", d.addr)
	}
	config := filepath.Join(d.dir, "config.yml")
	if err := os.WriteFile(config, d.config(), 0o600); err != nil {
		return fmt.Errorf("writing its configuration: %w", err)
	}
	logStart := d.log.Len()
	fmt.Fprintf(d.log, "--- registrytest: docker-registry serve on %s\n", d.addr)
	// The test's context ends just before its cleanups run, which stop the
	// server anyway.
	cmd := exec.CommandContext(d.t.Context(), d.bin, "serve", config)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = d.log, d.log
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", d.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status is in the log
		close(done)
	}()
	if err := d.waitReady(done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		if strings.Contains(d.log.String()[logStart:], "address already in use") {
			return errAddrInUse
		}
		return fmt.Errorf("%w (its log follows)", err)
	}
	d.cmd, d.done = cmd, done
	return nil
}

// waitReady polls GET /v2/ until it answers 200 or 401, the process exits
// or readyTimeout passes.
func (d *Distribution) waitReady(exited <-chan struct{}) error {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	// A probe that an impostor holding the port never answers must not
	// outlive the child.
	ctx, cancel := context.WithCancel(d.t.Context())
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	url := "http://" + d.addr + "/v2/"
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("docker-registry exited before it answered")
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		if err != nil {
			return fmt.Errorf("probing %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-exited:
			return errors.New("docker-registry exited before it answered")
		case <-time.After(readyInterval):
		}
	}
	return fmt.Errorf("docker-registry did not answer on %s within %s (last: %w)", d.addr, readyTimeout, last)
}

// config is the server's configuration for the current address.
func (d *Distribution) config() []byte {
	q := strconv.Quote
	var b bytes.Buffer
	fmt.Fprintf(&b, `version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
health:
  storagedriver:
    enabled: false
`, q(filepath.Join(d.dir, "storage")), q(d.addr), q(d.secret))
	if d.users {
		fmt.Fprintf(&b, `auth:
  htpasswd:
    realm: %s
    path: %s
`, q("registrytest"), q(filepath.Join(d.dir, "htpasswd")))
	}
	if len(d.notify) > 0 {
		// Delivered one event at a time, retried quickly: tests wait for
		// them with a deadline.
		b.WriteString("notifications:\n  endpoints:\n")
		for i, e := range d.notify {
			fmt.Fprintf(&b, "    - name: %s\n      url: %s\n      timeout: 2s\n      threshold: 1\n      backoff: 100ms\n", q(fmt.Sprintf("endpoint-%d", i)), q(e.URL))
			if len(e.Headers) > 0 {
				b.WriteString("      headers:\n")
				for _, k := range slices.Sorted(maps.Keys(e.Headers)) {
					fmt.Fprintf(&b, "        %s: [%s]\n", q(k), q(e.Headers[k]))
				}
			}
		}
	}
	return b.Bytes()
}

// writeHtpasswd writes users with bcrypt hashes, the only kind
// Distribution accepts. The minimum cost keeps each authenticated request
// fast: the server checks the password on every one.
func writeHtpasswd(t testing.TB, path string, users map[string]string) {
	t.Helper()
	var b bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(users)) {
		hash, err := bcrypt.GenerateFromPassword([]byte(users[name]), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("registrytest: hashing the password of %s: %v", name, err)
		}
		fmt.Fprintf(&b, "%s:%s\n", name, hash)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatalf("registrytest: writing htpasswd: %v", err)
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("registrytest: finding a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("registrytest: finding a free port: %v", err)
	}
	return addr
}

// childEnv is the test's environment without REGISTRY_* variables, which
// would override the generated configuration.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "REGISTRY_")
	})
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return hex.EncodeToString(b)
}

// lockedBuffer collects the child's output, written from exec's copying
// goroutines and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
