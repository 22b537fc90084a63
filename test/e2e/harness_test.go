package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/tagpin/tagpin/internal/controlplanetest"
)

// deadline bounds every wait for the control plane; waits poll, they do
// not sleep a fixed time.
const deadline = 90 * time.Second

// controlPlane is the control plane the tests share: etcd,
// kube-apiserver and kube-controller-manager. TestMain starts it.
var controlPlane controlplanetest.Shared

// cluster is what the tests share: the control plane and the built
// tagpin binary.
type cluster struct {
	cfg        *rest.Config // the admin's (system:masters)
	client     *kubernetes.Clientset
	kubeconfig string // the admin's kubeconfig file, for processes
	bin        string // the built tagpin binary
}

// shared is set once TestMain started the control plane; tests call
// needCluster before using it.
var shared *cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tagpin-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	cmLog, err := os.Create(filepath.Join(dir, "kube-controller-manager.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer cmLog.Close()
	return controlPlane.Run(context.Background(), m, func(cp *controlplanetest.ControlPlane) error {
		c, err := newCluster(cp, dir)
		shared = c
		return err
	},
		// No feature gates: image volumes (spec.volumes[].image) are on by
		// default from Kubernetes 1.35 (beta) and GA, locked on, from 1.36.

		// Deployments → ReplicaSets → Pods, Jobs, StatefulSets, garbage
		// collection and default service accounts. No kubelet: pods stay
		// Pending, which is all admission needs.
		controlplanetest.WithControllerManager(cmLog,
			"deployment", "replicaset", "job", "statefulset", "daemonset", "garbagecollector", "serviceaccount"),
	)
}

// newCluster builds tagpin into dir.
func newCluster(cp *controlplanetest.ControlPlane, dir string) (*cluster, error) {
	bin := filepath.Join(dir, "tagpin")
	build := exec.Command("go", "build", "-o", bin, "github.com/tagpin/tagpin/cmd/tagpin")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building tagpin: %w\n%s", err, out)
	}
	client, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return nil, err
	}
	return &cluster{cfg: cp.Config, client: client, kubeconfig: cp.Kubeconfig, bin: bin}, nil
}

// needCluster skips t when there is no control plane (go test -short,
// or its binaries are not built; the message says how to build them).
func needCluster(t *testing.T) {
	t.Helper()
	controlPlane.Get(t)
}

// namespace creates a namespace for one test and waits for its default
// service account (pods need it).
func (c *cluster) namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := c.client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the default service account in "+ns.Name, func() (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts(ns.Name).Get(t.Context(), "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	return ns.Name
}

// waitFor polls cond until it is true, failing the test after deadline.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	end := time.Now().Add(deadline)
	var lastErr error
	for time.Now().Before(end) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("waiting for %s: gave up after %s (last error: %v)", what, deadline, lastErr)
}

// push pushes a random image as repoTag to the registry at addr.
func push(t *testing.T, addr, repoTag string, auth authn.Authenticator) digest.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(addr+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if auth == nil {
		auth = authn.Anonymous
	}
	if err := remote.Write(ref, img, remote.WithAuth(auth), remote.WithContext(t.Context())); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(h.String())
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// webhookProc is one tagpin webhook process.
type webhookProc struct {
	t    *testing.T
	base []string // port, certificates, probes
	args []string // the rest
	port int
	log  *lockedBuffer
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startWebhook starts tagpin webhook with args (plus port and certs)
// and waits until it serves TLS.
func startWebhook(t *testing.T, certDir string, args ...string) *webhookProc {
	t.Helper()
	w := &webhookProc{t: t, port: freePort(t), log: &lockedBuffer{}}
	w.base = []string{"webhook",
		"--port", fmt.Sprint(w.port), "--bind-address", "127.0.0.1", "--cert-dir", certDir,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
	}
	w.args = args
	t.Cleanup(func() {
		w.stop()
		if t.Failed() {
			t.Logf("tagpin webhook log (port %d):\n%s", w.port, w.log.String())
		}
	})
	w.start()
	return w
}

func (w *webhookProc) start() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	cmd := exec.Command(shared.bin, append(append([]string(nil), w.base...), w.args...)...)
	cmd.Stdout, cmd.Stderr = w.log, w.log
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+w.t.TempDir())
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("starting tagpin webhook: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	w.cmd, w.done = cmd, done
	addr := fmt.Sprintf("127.0.0.1:%d", w.port)
	end := time.Now().Add(deadline)
	for {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only probing that TLS is served
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-done:
			w.t.Fatalf("tagpin webhook exited:\n%s", w.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(end) {
			w.t.Fatalf("tagpin webhook does not serve on %s: %v\n%s", addr, err, w.log.String())
		}
	}
}

// stop kills the process (as a crash or a node loss would) and waits.
func (w *webhookProc) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Kill()
	<-w.done
	w.cmd = nil
}

func (w *webhookProc) restart() {
	w.stop()
	w.start()
}

// balancer spreads TCP connections over backends round robin: two
// webhook replicas behind one URL.
type balancer struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
}

func startBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, backends: backends}
	t.Cleanup(func() { ln.Close() })
	go b.serve()
	return b
}

func (b *balancer) addr() string { return b.ln.Addr().String() }

func (b *balancer) serve() {
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		target := b.backends[b.next.Add(1)%uint64(len(b.backends))]
		go func() {
			defer in.Close()
			out, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer out.Close()
			go func() { _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }() //nolint:errcheck // best effort half-close
			_, _ = io.Copy(in, out)
		}()
	}
}

// faultProxy forwards TCP to a registry, or hangs: connections are
// accepted and never answered. Switching to hang closes the forwarded
// connections, so kept-alive clients must reconnect (and hang).
type faultProxy struct {
	ln     net.Listener
	target string
	hang   atomic.Bool
	mu     sync.Mutex
	held   []net.Conn
	active map[net.Conn]bool
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, active: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.release()
	})
	go p.serve()
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) setHang(h bool) {
	p.hang.Store(h)
	if !h {
		p.release()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.active {
		c.Close()
	}
}

func (p *faultProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.held {
		c.Close()
	}
	p.held = nil
}

func (p *faultProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.hang.Load() {
			p.mu.Lock()
			p.held = append(p.held, in)
			p.mu.Unlock()
			continue
		}
		p.mu.Lock()
		p.active[in] = true
		p.mu.Unlock()
		go func() {
			defer func() {
				p.mu.Lock()
				delete(p.active, in)
				p.mu.Unlock()
				in.Close()
			}()
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer out.Close()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			_, _ = io.Copy(in, out)
		}()
	}
}

// registerWebhook points a MutatingWebhookConfiguration for Pods at url.
func registerWebhook(t *testing.T, url string, caBundle []byte) {
	t.Helper()
	name := "tagpin-e2e"
	fail := admissionregistrationv1.Ignore
	side := admissionregistrationv1.SideEffectClassNoneOnDryRun
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.tagpin.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url), CABundle: caBundle},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &side,
			FailurePolicy:           &fail,
			ReinvocationPolicy:      &reinvoke,
			TimeoutSeconds:          ptr.To[int32](15),
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system"},
			}}},
			Rules: []admissionregistrationv1.RuleWithOperations{
				{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				}},
				{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/ephemeralcontainers"},
				}},
			},
		}},
	}
	api := shared.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	_ = api.Delete(context.WithoutCancel(t.Context()), name, metav1.DeleteOptions{})
	if _, err := api.Create(t.Context(), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
