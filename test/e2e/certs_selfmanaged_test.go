package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/servingcert"
)

// TestSelfManagedCertificates: two replicas with --cert-secret and
// --leader-elect behind one URL. The leader creates the Secret and
// injects its CA into the webhook configuration, so pods get pinned with
// a certificate nobody provided; a renewal is served without a failed
// admission; when the leader is killed the other replica takes over the
// background work (re-injecting a reset caBundle).
func TestSelfManagedCertificates(t *testing.T) {
	needCluster(t)
	s := &suite{reg: registrytest.StartDistribution(t, registrytest.DistributionOptions{})}
	s.proxy = startFaultProxy(t, s.reg.Addr())
	ns := shared.namespace(t, "tagpin")
	const secret, config = "tagpin-tls", "tagpin-e2e"
	s.args = []string{
		"--kubeconfig", shared.kubeconfig,
		"--store", "kubernetes",
		"--namespace", ns,
		"--allow-registry", s.proxy.addr(), "--insecure-registry", s.proxy.addr(),
		"--cert-secret", secret, "--service", "tagpin", "--webhook-config", config,
		// Registered by URL on loopback: the certificate must name it.
		"--tls-san", "127.0.0.1",
		"--leader-elect",
		"--leader-election-lease-duration", "3s", "--leader-election-renew-deadline", "2s", "--leader-election-retry-period", "200ms",
	}
	// Each replica its own empty --cert-dir, as an emptyDir per pod;
	// startWebhook returns once a replica serves TLS, that is once the
	// leader created the certificate and the replica wrote it.
	var addrs []string
	for range 2 {
		w := startWebhook(t, filepath.Join(t.TempDir(), "certs"), s.args...)
		s.webhooks = append(s.webhooks, w)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", w.port))
	}
	registerWebhook(t, "https://"+startBalancer(t, addrs...).addr()+"/mutate", nil) // no caBundle: the leader injects it
	s.waitActive(t)

	secrets := shared.client.CoreV1().Secrets(ns)
	sec, err := secrets.Get(t.Context(), secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bundle := sec.Data[servingcert.CABundleKey]
	if got := webhookBundle(t, config); !bytes.Equal(got, bundle) {
		t.Fatalf("caBundle of the webhook is not the Secret's ca.crt:\n%s\nwant\n%s", got, bundle)
	}
	for _, a := range addrs {
		if err := handshake(a, bundle); err != nil {
			t.Errorf("replica %s: %v", a, err)
		}
	}
	d := s.push(t, "app:1")
	if p := mustCreatePod(t, s.probeNS, s.ref("app:1")); p.Spec.Containers[0].Image != s.ref("app:1@"+d.String()) {
		t.Errorf("pod image %s, want it pinned to %s", p.Spec.Containers[0].Image, d)
	}

	t.Run("renewal without a failed admission", func(t *testing.T) {
		// Replace the certificate by one of the same CA that is due in
		// a few seconds: the replicas load it, then the leader renews it.
		load := startLoad(t, s, s.ref("app:1"), s.ref("app:1@"+d.String()))
		renewed := forceRenewal(t, secrets, sec, servingcert.ServiceHosts("tagpin", ns, "127.0.0.1"))
		for _, a := range addrs {
			waitFor(t, a+" to serve the renewed certificate", func() (bool, error) {
				leaf, err := servedLeaf(a, bundle)
				return err == nil && bytes.Equal(leaf, pemDER(t, renewed)), err
			})
		}
		total, failed := load.stop()
		if total < 10 || len(failed) > 0 {
			t.Errorf("%d admissions during the renewal, %d not pinned: %v", total, len(failed), failed)
		}
		if got := webhookBundle(t, config); !bytes.Equal(got, bundle) {
			t.Error("renewing the serving certificate changed the caBundle")
		}
	})

	t.Run("leader killed, the other takes over", func(t *testing.T) {
		lead, other := s.webhooks[0], s.webhooks[1]
		if !strings.Contains(lead.log.String(), `"msg":"leading"`) {
			lead, other = other, lead
		}
		if !strings.Contains(lead.log.String(), `"msg":"leading"`) {
			t.Fatal("no replica logged that it leads")
		}
		lead.stop() // SIGKILL: the Lease is not released, it expires
		waitFor(t, "the other replica to lead", func() (bool, error) {
			return strings.Contains(other.log.String(), `"msg":"leading"`), nil
		})
		// The new leader does the background work: it re-injects a
		// caBundle that someone reset.
		setWebhookBundle(t, config, nil)
		waitFor(t, "the new leader to re-inject the caBundle", func() (bool, error) {
			return bytes.Equal(webhookBundle(t, config), bundle), nil
		})
		lead.start() // back as a follower, with the certificate from the Secret
		if strings.Count(lead.log.String(), `"msg":"leading"`) > 1 {
			t.Error("the restarted replica leads although the other holds the Lease")
		}
		s.waitPinned(t, s.ref("app:1"), d, nil)
	})
}

// TestGracefulShutdown: on SIGTERM /readyz fails at once, no new
// connection is accepted, the admission in flight finishes, and the
// process exits 0.
func TestGracefulShutdown(t *testing.T) {
	needCluster(t)
	reg := registrytest.New(t)
	certDir := filepath.Join(t.TempDir(), "certs")
	ca := certtest.Write(t, certDir)
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w := startWebhook(t, certDir,
		"--store", "bolt:"+filepath.Join(t.TempDir(), "store.db"),
		"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(),
		"--resolve-timeout", "60s", "--shutdown-grace-period", "60s",
		"--health-probe-bind-address", health)
	addr := fmt.Sprintf("127.0.0.1:%d", w.port)
	waitFor(t, "/readyz to pass", func() (bool, error) { code, err := get(t, health); return code == http.StatusOK, err })

	reg.Hold()
	type result struct {
		resp *admissionv1.AdmissionResponse
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := review(context.WithoutCancel(t.Context()), addr, ca, reg.Ref("app:1"))
		answered <- result{resp, err}
	}()
	reg.WaitHeld(t, 1)
	w.mu.Lock()
	proc := w.cmd.Process
	w.mu.Unlock()
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz to fail", func() (bool, error) {
		code, err := get(t, health)
		return code == http.StatusServiceUnavailable, err
	})
	waitFor(t, "new connections to be refused", func() (bool, error) {
		return handshake(addr, ca) != nil, nil
	})
	select {
	case r := <-answered:
		t.Fatalf("the admission in flight was answered before the registry was released: %+v, %v", r.resp, r.err)
	case <-w.done:
		t.Fatal("the webhook exited with an admission in flight")
	default:
	}
	reg.Release()
	select {
	case r := <-answered:
		if r.err != nil || r.resp == nil || !r.resp.Allowed {
			t.Errorf("the admission in flight: %+v, %v; want it answered and allowed", r.resp, r.err)
		}
	case <-time.After(deadline):
		t.Fatal("the admission in flight was not answered")
	}
	select {
	case <-w.done:
	case <-time.After(deadline):
		t.Fatal("the webhook did not exit after the admission in flight finished")
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0\n%s", code, w.log.String())
	}
}

// load creates dry-run pods over and over and records those the webhook
// did not pin.
type load struct {
	total  atomic.Int64
	mu     sync.Mutex
	failed []string
	cancel context.CancelFunc
	done   chan struct{}
}

func startLoad(t *testing.T, s *suite, image, want string) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l := &load{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "load-", Namespace: s.probeNS},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
			}
			got, err := shared.client.CoreV1().Pods(s.probeNS).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if ctx.Err() != nil {
				return
			}
			l.total.Add(1)
			if err != nil || got.Spec.Containers[0].Image != want {
				l.mu.Lock()
				l.failed = append(l.failed, fmt.Sprintf("%v %v", err, got.Spec.Containers))
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) stop() (int64, []string) {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total.Load(), l.failed
}

// certificateDueSoon returns data with a serving certificate of the same
// CA that is valid for 30 s (due for renewal after about 20).
// forceRenewal writes into the certificate Secret sec a certificate of
// its CA for hosts that is due soon, waits until the leader renewed it,
// and returns the renewed certificate.
func forceRenewal(t *testing.T, secrets typedcorev1.SecretInterface, sec *corev1.Secret, hosts servingcert.Hosts) []byte {
	t.Helper()
	short := certificateDueSoon(t, sec.Data, hosts)
	updated := sec.DeepCopy()
	updated.Data = short
	if _, err := secrets.Update(t.Context(), updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var renewed []byte
	waitFor(t, "the leader to renew the certificate due soon", func() (bool, error) {
		cur, err := secrets.Get(t.Context(), sec.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		renewed = cur.Data[servingcert.CertKey]
		return !bytes.Equal(renewed, short[servingcert.CertKey]) && !bytes.Equal(renewed, sec.Data[servingcert.CertKey]), nil
	})
	return renewed
}

func certificateDueSoon(t *testing.T, data map[string][]byte, hosts servingcert.Hosts) map[string][]byte {
	t.Helper()
	in := map[string][]byte{servingcert.CABundleKey: data[servingcert.CABundleKey], servingcert.CAKeyKey: data[servingcert.CAKeyKey]}
	r, err := servingcert.Renew(in, hosts, time.Now(), servingcert.Lifetimes{CA: servingcert.DefaultCALifetime, Cert: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Reason != servingcert.ReasonCert {
		t.Fatalf("issuing a short certificate: %q, want only a new certificate", r.Reason)
	}
	return r.Data
}

func webhookBundle(t *testing.T, name string) []byte {
	t.Helper()
	cfg, err := shared.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Webhooks[0].ClientConfig.CABundle
}

func setWebhookBundle(t *testing.T, name string, bundle []byte) {
	t.Helper()
	api := shared.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	waitFor(t, "resetting the caBundle", func() (bool, error) {
		cfg, err := api.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cfg.Webhooks[0].ClientConfig.CABundle = bundle
		_, err = api.Update(t.Context(), cfg, metav1.UpdateOptions{})
		return err == nil, err
	})
}

func tlsConfig(ca []byte) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
}

// handshake dials addr over TLS, trusting ca only.
func handshake(addr string, ca []byte) error {
	_, err := servedLeaf(addr, ca)
	return err
}

// servedLeaf returns the DER of the certificate addr serves.
func servedLeaf(addr string, ca []byte) ([]byte, error) {
	conn, err := tls.Dial("tcp", addr, tlsConfig(ca))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw, nil
}

func pemDER(t *testing.T, b []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	return block.Bytes
}

// get returns the status code of GET http://addr/readyz.
func get(t *testing.T, addr string) (int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// review sends one AdmissionReview for a pod running image to the
// webhook at addr.
func review(ctx context.Context, addr string, ca []byte, image string) (*admissionv1.AdmissionResponse, error) {
	pod, err := json.Marshal(&corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
	})
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("held-1"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "default", Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: pod},
		},
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+"/mutate", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(ca)}, Timeout: 2 * deadline}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("status %s: %w", resp.Status, err)
	}
	return out.Response, nil
}
