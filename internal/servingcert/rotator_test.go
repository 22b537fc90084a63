package servingcert_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/tagpin/tagpin/internal/servingcert"
)

// deadline bounds every wait on the API server.
const deadline = 30 * time.Second

// env is one test's namespace and webhook configuration.
type env struct {
	client    kubernetes.Interface
	namespace string
	config    string // MutatingWebhookConfiguration
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cp := controlPlane.Get(t)
	client, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "certs-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	none := admissionregistrationv1.SideEffectClassNone
	hook := func(name string) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{
			Name:                    name,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/mutate")},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			// Matches nothing: the test only looks at caBundle.
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tagpin.dev/never": "true"}},
		}
	}
	cfg, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(t.Context(), &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "certs-"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{hook("pods.tagpin.dev"), hook("other.tagpin.dev")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, cfg.Name, metav1.DeleteOptions{})
		_ = client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	})
	return &env{client: client, namespace: ns.Name, config: cfg.Name}
}

func (e *env) rotator(now func() time.Time, opts ...servingcert.Option) *servingcert.Rotator {
	opts = append([]servingcert.Option{servingcert.WithWebhookConfiguration(e.config), servingcert.WithClock(now)}, opts...)
	return servingcert.NewRotator(e.client, e.namespace, "tagpin-tls", hosts, opts...)
}

func (e *env) secret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := e.client.CoreV1().Secrets(e.namespace).Get(t.Context(), "tagpin-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bundles returns the caBundle of every webhook of the configuration.
func (e *env) bundles(t *testing.T) [][]byte {
	t.Helper()
	cfg, err := e.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(t.Context(), e.config, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, w := range cfg.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func (e *env) wantInjected(t *testing.T, bundle []byte) {
	t.Helper()
	if diff := cmp.Diff([][]byte{bundle, bundle}, e.bundles(t)); diff != "" {
		t.Errorf("caBundle of the webhooks (-want +got):\n%s", diff)
	}
}

func reconcile(t *testing.T, r *servingcert.Rotator) {
	t.Helper()
	if _, err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing t after deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("waiting for %s: gave up after %s", what, deadline)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestRotatorCreatesKeepsAndRenews: the rotator creates the Secret and
// injects the CA bundle; another start keeps both (as after helm
// upgrade); a certificate close to expiry is renewed under the same CA;
// a CA close to expiry is renewed with the old one kept in the bundle.
func TestRotatorCreatesKeepsAndRenews(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now()
	reconcile(t, e.rotator(func() time.Time { return now }))
	created := e.secret(t)
	if created.Type != corev1.SecretTypeTLS {
		t.Errorf("secret type %s, want %s", created.Type, corev1.SecretTypeTLS)
	}
	keys := []string{}
	for k := range created.Data {
		keys = append(keys, k)
	}
	if diff := cmp.Diff([]string{"ca.crt", "ca.key", "tls.crt", "tls.key"}, keys, sortStrings); diff != "" {
		t.Errorf("secret keys (-want +got):\n%s", diff)
	}
	bundle := created.Data[servingcert.CABundleKey]
	e.wantInjected(t, bundle)

	// A second start, a day later: nothing is written.
	reconcile(t, e.rotator(func() time.Time { return now.Add(24 * time.Hour) }))
	if got := e.secret(t); got.ResourceVersion != created.ResourceVersion {
		t.Errorf("a valid secret was rewritten: resourceVersion %s, was %s", got.ResourceVersion, created.ResourceVersion)
	}

	// Nine months later the serving certificate is due; the CA is not.
	reconcile(t, e.rotator(func() time.Time { return now.Add(270 * 24 * time.Hour) }))
	renewed := e.secret(t)
	if bytes.Equal(renewed.Data[servingcert.CertKey], created.Data[servingcert.CertKey]) {
		t.Error("the certificate close to expiry was not renewed")
	}
	if !bytes.Equal(renewed.Data[servingcert.CABundleKey], bundle) {
		t.Error("renewing the serving certificate changed the CA bundle")
	}
	e.wantInjected(t, bundle)

	// Four years later the CA is due: a new one signs, the old one stays
	// trusted.
	later := now.Add(4 * 365 * 24 * time.Hour)
	reconcile(t, e.rotator(func() time.Time { return later }))
	rotated := e.secret(t)
	newBundle := rotated.Data[servingcert.CABundleKey]
	if n := len(certs(t, newBundle)); n != 2 {
		t.Fatalf("bundle of %d CAs after the CA renewal, want 2", n)
	}
	if err := verify(t, renewed.Data[servingcert.CertKey], newBundle, now.Add(270*24*time.Hour)); err != nil {
		t.Errorf("the previous serving certificate is not trusted by the new bundle: %v", err)
	}
	if err := verify(t, rotated.Data[servingcert.CertKey], newBundle, later); err != nil {
		t.Errorf("the new serving certificate is not trusted by the new bundle: %v", err)
	}
	e.wantInjected(t, newBundle)
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

// TestRotatorRun: running, the rotator re-injects a caBundle that someone
// else reset, and renews a short-lived certificate when it falls due;
// a DirSync (another replica) writes each new certificate, which
// controller-runtime's certificate watcher then serves.
func TestRotatorRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A certificate for 4 s is due after about 3 s.
	r := e.rotator(time.Now, servingcert.WithLifetimes(servingcert.Lifetimes{CA: time.Hour, Cert: 4 * time.Second}))
	dir := filepath.Join(t.TempDir(), "certs")
	ds := servingcert.NewDirSync(e.client, e.namespace, "tagpin-tls", dir)
	errs := make(chan error, 2)
	go func() { errs <- r.Run(ctx) }()
	go func() { errs <- ds.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})

	select {
	case <-ds.Written():
	case <-time.After(deadline):
		t.Fatal("the certificate files were not written")
	}
	first := e.secret(t)
	bundle := first.Data[servingcert.CABundleKey]
	waitFor(t, "the CA bundle to be injected", func() bool {
		b := e.bundles(t)
		return bytes.Equal(b[0], bundle) && bytes.Equal(b[1], bundle)
	})
	if got := readFile(t, filepath.Join(dir, "tls.crt")); !bytes.Equal(got, first.Data[servingcert.CertKey]) {
		t.Error("tls.crt is not the secret's certificate")
	}
	cw, err := certwatcher.New(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cw.Start(ctx) }()

	// Someone (helm upgrade) resets the caBundle.
	api := e.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cfg, err := api.Get(t.Context(), e.config, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Webhooks[1].ClientConfig.CABundle = nil
	if _, err := api.Update(t.Context(), cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reset caBundle to be injected again", func() bool {
		return bytes.Equal(e.bundles(t)[1], bundle)
	})

	// The short-lived certificate is renewed by the rotator's timer, the
	// files follow, and the watcher serves the new certificate.
	var renewed *corev1.Secret
	waitFor(t, "the certificate to be renewed", func() bool {
		renewed = e.secret(t)
		return !bytes.Equal(renewed.Data[servingcert.CertKey], first.Data[servingcert.CertKey])
	})
	if _, err := tls.X509KeyPair(renewed.Data[servingcert.CertKey], renewed.Data[servingcert.KeyKey]); err != nil {
		t.Fatalf("the renewed certificate and key do not match: %v", err)
	}
	waitFor(t, "the certificate watcher to serve the renewed certificate", func() bool {
		got, err := cw.GetCertificate(nil)
		// Renewals follow every ~3 s: any certificate after the first
		// one proves the reload.
		return err == nil && !bytes.Equal(got.Certificate[0], certs(t, first.Data[servingcert.CertKey])[0].Raw)
	})
	if !bytes.Equal(e.secret(t).Data[servingcert.CABundleKey], bundle) {
		t.Error("renewing the serving certificate changed the CA bundle")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
