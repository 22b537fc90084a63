package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/registrytest"
)

// suite is one run of the scenarios against one store backend.
type suite struct {
	reg      *registrytest.Distribution // the public registry
	proxy    *faultProxy                // in front of reg: what the webhook and pods use
	private  *registrytest.Distribution // htpasswd-protected
	webhooks []*webhookProc
	args     []string
	probeNS  string // for dry-run probes
}

func (s *suite) ref(repoTag string) string { return s.proxy.addr() + "/" + repoTag }

// push pushes repoTag and waits until the webhook resolves it: after an
// outage the webhook probes a registry at most every 100 ms, so a test
// that follows one must not count on the very next request.
func (s *suite) push(t *testing.T, repoTag string) digest.Digest {
	t.Helper()
	d := push(t, s.reg.Addr(), repoTag, nil)
	s.waitPinned(t, s.ref(repoTag), d, nil)
	return d
}

// waitPinned waits until dry-run pods of image come back pinned to d from
// every replica in a row.
func (s *suite) waitPinned(t *testing.T, image string, d digest.Digest, mutate func(*corev1.Pod), nss ...string) {
	t.Helper()
	ns := s.probeNS
	if len(nss) > 0 {
		ns = nss[0]
	}
	var opts []func(*corev1.Pod)
	if mutate != nil {
		opts = append(opts, mutate)
	}
	hits := 0
	waitFor(t, image+" to be pinned to "+d.String(), func() (bool, error) {
		p, err := createPod(t, shared.client, ns, image, true, opts...)
		if err != nil {
			return false, err
		}
		if p.Spec.Containers[0].Image == image+"@"+d.String() {
			hits++
		} else {
			hits = 0
		}
		return hits >= 2*len(s.webhooks), nil
	})
}

// restartWebhooks restarts every replica with the suite's args plus extra.
func (s *suite) restartWebhooks(t *testing.T, extra ...string) {
	t.Helper()
	for _, w := range s.webhooks {
		w.args = append(append([]string(nil), s.args...), extra...)
		w.restart()
	}
}

func TestWebhook(t *testing.T) {
	needCluster(t)
	for _, backend := range []struct {
		name     string
		replicas int
		store    func(t *testing.T) string
	}{
		{"bolt", 1, func(t *testing.T) string { return "bolt:" + filepath.Join(t.TempDir(), "store.db") }},
		{"kubernetes", 2, func(*testing.T) string { return "kubernetes" }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			s := &suite{
				reg:     registrytest.StartDistribution(t, registrytest.DistributionOptions{}),
				private: registrytest.StartDistribution(t, registrytest.DistributionOptions{Users: map[string]string{"team": "s3cret"}}),
			}
			s.proxy = startFaultProxy(t, s.reg.Addr())
			certDir := filepath.Join(t.TempDir(), "certs")
			ca := certtest.Write(t, certDir)
			s.args = []string{
				"--kubeconfig", shared.kubeconfig,
				"--store", backend.store(t),
				"--resolve-timeout", "2s",
				"--allow-registry", s.proxy.addr(), "--insecure-registry", s.proxy.addr(),
				"--allow-registry", s.private.Addr(), "--insecure-registry", s.private.Addr(),
			}
			var addrs []string
			for range backend.replicas {
				w := startWebhook(t, certDir, s.args...)
				s.webhooks = append(s.webhooks, w)
				addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", w.port))
			}
			url := "https://" + addrs[0] + "/mutate"
			if len(addrs) > 1 {
				url = "https://" + startBalancer(t, addrs...).addr() + "/mutate"
			}
			registerWebhook(t, url, ca)
			s.waitActive(t)

			t.Run("deployment, scale up, restart, rollback", s.testRollout)
			t.Run("registry down, webhook restarted", s.testOutage)
			t.Run("registry hangs", s.testHang)
			t.Run("ephemeral container", s.testEphemeral)
			t.Run("image volume and init container", s.testImageVolume)
			t.Run("dry run records nothing", s.testDryRun)
			t.Run("pull secrets scope digests", s.testPullSecrets)
			t.Run("exclude and enforce", s.testExcludeEnforce)
		})
	}
}

// waitActive waits until the API server calls the webhook (it picks up
// new webhook configurations asynchronously).
func (s *suite) waitActive(t *testing.T) {
	t.Helper()
	if s.probeNS == "" {
		s.probeNS = shared.namespace(t, "probe")
	}
	s.push(t, "probe:1")
}

// createPod creates a bare pod running image (server-side dry run when
// dryRun).
func createPod(t *testing.T, c kubernetes.Interface, ns, image string, dryRun bool, mutate ...func(*corev1.Pod)) (*corev1.Pod, error) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "bare-", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
	}
	for _, m := range mutate {
		m(p)
	}
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return c.CoreV1().Pods(ns).Create(t.Context(), p, opts)
}

func mustCreatePod(t *testing.T, ns, image string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	p, err := createPod(t, shared.client, ns, image, false, mutate...)
	if err != nil {
		t.Fatalf("creating a pod of %s: %v", image, err)
	}
	return p
}

// warningClient returns a client that collects the API server's warnings.
func warningClient(t *testing.T) (kubernetes.Interface, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(shared.cfg)
	cfg.WarningHandler = w
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

func deployment(ns, name, image string, replicas int32) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			// Recreate: the old ReplicaSet's pods go before the new ones
			// come, so every revision change creates fresh pods.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
			},
		},
	}
}

// podsOf waits until the ReplicaSet of deployment name with the given
// revision has n pods, and returns their images.
func podsOf(t *testing.T, ns, name, revision string, n int) []string {
	t.Helper()
	var images []string
	waitFor(t, fmt.Sprintf("%d pods of %s revision %s", n, name, revision), func() (bool, error) {
		rs, err := replicaSet(t, ns, name, revision)
		if err != nil || rs == nil {
			return false, err
		}
		pods, err := shared.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: labels.SelectorFromSet(map[string]string{"app": name}).String()})
		if err != nil {
			return false, err
		}
		images = images[:0]
		for _, p := range pods.Items {
			if c := metav1.GetControllerOf(&p); c != nil && c.UID == rs.UID && p.DeletionTimestamp == nil {
				images = append(images, p.Spec.Containers[0].Image)
			}
		}
		return len(images) == n, nil
	})
	return images
}

func replicaSet(t *testing.T, ns, name, revision string) (*appsv1.ReplicaSet, error) {
	t.Helper()
	list, err := shared.client.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Annotations["deployment.kubernetes.io/revision"] == revision {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

func allEqual(t *testing.T, what string, got []string, want string) {
	t.Helper()
	for _, g := range got {
		if g != want {
			t.Errorf("%s: image %s, want %s (all: %v)", what, g, want, got)
			return
		}
	}
}

func (s *suite) updateDeployment(t *testing.T, ns, name string, change func(*appsv1.Deployment)) {
	t.Helper()
	waitFor(t, "updating deployment "+name, func() (bool, error) {
		d, err := shared.client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		change(d)
		_, err = shared.client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
		return err == nil, err
	})
}

// testRollout: scenarios 1 and 2 of the issue.
func (s *suite) testRollout(t *testing.T) {
	ns := shared.namespace(t, "rollout")
	image := s.ref("app:latest")
	old := s.push(t, "app:latest")
	if _, err := shared.client.AppsV1().Deployments(ns).Create(t.Context(), deployment(ns, "web", image, 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	allEqual(t, "3 replicas", podsOf(t, ns, "web", "1", 3), image+"@"+old.String())

	// The tag moves; scaling up keeps the revision's digest.
	cur := s.push(t, "app:latest")
	s.updateDeployment(t, ns, "web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	allEqual(t, "after scaling up", podsOf(t, ns, "web", "1", 5), image+"@"+old.String())

	// A restart makes a new ReplicaSet, which resolves afresh.
	s.updateDeployment(t, ns, "web", func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": time.Now().Format(time.RFC3339)}
	})
	allEqual(t, "after a restart", podsOf(t, ns, "web", "2", 5), image+"@"+cur.String())
	waitEvent(t, ns, "TagMoved", old.String()+" to "+cur.String())

	// Rolling back (kubectl rollout undo: the old ReplicaSet's template)
	// brings the old digest back, though :latest points elsewhere.
	rs1, err := replicaSet(t, ns, "web", "1")
	if err != nil || rs1 == nil {
		t.Fatalf("revision 1's ReplicaSet: %v", err)
	}
	s.updateDeployment(t, ns, "web", func(d *appsv1.Deployment) {
		tmpl := rs1.Spec.Template.DeepCopy()
		delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		d.Spec.Template = *tmpl
	})
	// The rollback revives revision 1's ReplicaSet as revision 3.
	allEqual(t, "after a rollback", podsOf(t, ns, "web", "3", 5), image+"@"+old.String())
}

// testOutage: scenario 3.
func (s *suite) testOutage(t *testing.T) {
	ns := shared.namespace(t, "outage")
	image := s.ref("stable:1")
	d := s.push(t, "stable:1")
	mustCreatePod(t, ns, image) // the webhook sees the tag once
	s.reg.Stop()
	defer s.reg.Start()

	if _, err := shared.client.AppsV1().Deployments(ns).Create(t.Context(), deployment(ns, "late", image, 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	allEqual(t, "a new deployment while the registry is down", podsOf(t, ns, "late", "1", 2), image+"@"+d.String())

	c, warn := warningClient(t)
	p, err := createPod(t, c, ns, image, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Spec.Containers[0].Image; got != image+"@"+d.String() {
		t.Errorf("bare pod while the registry is down: %s, want %s", got, image+"@"+d.String())
	}
	if w := warn.all(); !strings.Contains(w, "registry unavailable") || !strings.Contains(w, d.String()) {
		t.Errorf("warnings %q: want one saying the registry is unavailable, naming %s", w, d)
	}
	var records map[string]struct{ Source string }
	_ = json.Unmarshal([]byte(p.Annotations["tagpin.dev/images"]), &records)
	if records["container/main"].Source != "fallback" {
		t.Errorf("annotation %q: want source fallback", p.Annotations["tagpin.dev/images"])
	}

	waitEvent(t, ns, "TagpinFallback", d.String())

	// The last-known digest survives a restart of the webhook.
	s.restartWebhooks(t)
	if got := mustCreatePod(t, ns, image).Spec.Containers[0].Image; got != image+"@"+d.String() {
		t.Errorf("after restarting the webhook with the registry down: %s, want %s", got, image+"@"+d.String())
	}
}

// waitEvent waits for an event with reason on a ReplicaSet in ns whose
// message contains text (the webhook emits them asynchronously, on the
// pods' owner).
func waitEvent(t *testing.T, ns, reason, text string) {
	t.Helper()
	waitFor(t, "a "+reason+" event saying "+text, func() (bool, error) {
		events, err := shared.client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "reason=" + reason})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "ReplicaSet" && strings.Contains(e.Message, text) {
				return true, nil
			}
		}
		return false, nil
	})
}

// testHang: scenario 4.
func (s *suite) testHang(t *testing.T) {
	ns := shared.namespace(t, "hang")
	image := s.ref("slow:1")
	d := s.push(t, "slow:1")
	mustCreatePod(t, ns, image)
	s.proxy.setHang(true)
	defer s.proxy.setHang(false)
	start := time.Now()
	p := mustCreatePod(t, ns, image)
	t.Logf("pod creation with a hanging registry took %s (resolve timeout 2s, webhook timeout 15s)", time.Since(start).Round(time.Millisecond))
	// Had the webhook not answered before the API server's timeout, the
	// failure policy (Ignore) would have admitted the pod unpinned.
	if got := p.Spec.Containers[0].Image; got != image+"@"+d.String() {
		t.Errorf("pod created while the registry hangs: %s, want %s from the store", got, image+"@"+d.String())
	}
}

// testEphemeral: scenario 5.
func (s *suite) testEphemeral(t *testing.T) {
	ns := shared.namespace(t, "debug")
	d := s.push(t, "debugger:1")
	s.push(t, "app:1")
	p := mustCreatePod(t, ns, s.ref("app:1"))
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: s.ref("debugger:1")},
	})
	got, err := shared.client.CoreV1().Pods(ns).UpdateEphemeralContainers(t.Context(), p.Name, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := got.Spec.EphemeralContainers[0].Image; img != s.ref("debugger:1@"+d.String()) {
		t.Errorf("ephemeral container: %s, want %s", img, s.ref("debugger:1@"+d.String()))
	}
}

// testImageVolume: every image field of a pod is pinned.
func (s *suite) testImageVolume(t *testing.T) {
	ns := shared.namespace(t, "volumes")
	app, data, setup := s.push(t, "app:3"), s.push(t, "models:7"), s.push(t, "setup:1")
	p := mustCreatePod(t, ns, s.ref("app:3"), func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: s.ref("setup:1")}}
		p.Spec.Volumes = []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: s.ref("models:7")}}}}
	})
	if got := p.Spec.Containers[0].Image; got != s.ref("app:3@"+app.String()) {
		t.Errorf("container: %s", got)
	}
	if got := p.Spec.InitContainers[0].Image; got != s.ref("setup:1@"+setup.String()) {
		t.Errorf("init container: %s", got)
	}
	// An API server without image volumes drops them, so there may be none.
	var v *corev1.ImageVolumeSource
	if len(p.Spec.Volumes) == 1 {
		v = p.Spec.Volumes[0].Image
	}
	if v == nil || v.Reference != s.ref("models:7@"+data.String()) {
		t.Errorf("image volume: %+v in %+v, want %s (image volumes need Kubernetes 1.35 or later)", v, p.Spec.Volumes, s.ref("models:7@"+data.String()))
	}
}

// testDryRun: scenario 6. A dry run is pinned but recorded nowhere, so
// during an outage the tag has no last-known digest.
func (s *suite) testDryRun(t *testing.T) {
	ns := shared.namespace(t, "dryrun")
	image := s.ref("dry:1")
	d := s.push(t, "dry:1")
	p, err := createPod(t, shared.client, ns, image, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Spec.Containers[0].Image; got != image+"@"+d.String() {
		t.Fatalf("dry-run pod: %s, want %s", got, image+"@"+d.String())
	}
	s.reg.Stop()
	defer s.reg.Start()
	if got := mustCreatePod(t, ns, image).Spec.Containers[0].Image; got != image {
		t.Errorf("after only a dry run, during an outage: %s, want %s unpinned (nothing recorded)", got, image)
	}
}

// testPullSecrets: scenario 7.
func (s *suite) testPullSecrets(t *testing.T) {
	d := push(t, s.private.Addr(), "secret:1", &authn.Basic{Username: "team", Password: "s3cret"})
	image := s.private.Addr() + "/secret:1"
	nsA, nsB := shared.namespace(t, "team-a"), shared.namespace(t, "team-b")
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{s.private.Addr(): map[string]string{"username": "team", "password": "s3cret"}}})
	if _, err := shared.client.CoreV1().Secrets(nsA).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pull"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withSecret := func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}} }
	// Every replica's secret cache must have caught up.
	s.waitPinned(t, image, d, withSecret, nsA)
	if got := mustCreatePod(t, nsA, image, withSecret).Spec.Containers[0].Image; got != image+"@"+d.String() {
		t.Errorf("namespace A with its pull secret: %s, want %s", got, image+"@"+d.String())
	}
	if got := mustCreatePod(t, nsB, image).Spec.Containers[0].Image; got != image {
		t.Errorf("namespace B without a pull secret: %s, want it unpinned", got)
	}
	s.private.Stop()
	defer s.private.Start()
	if got := mustCreatePod(t, nsA, image, withSecret).Spec.Containers[0].Image; got != image+"@"+d.String() {
		t.Errorf("namespace A during an outage: %s, want %s from its own record", got, image+"@"+d.String())
	}
	if got := mustCreatePod(t, nsB, image).Spec.Containers[0].Image; got != image {
		t.Errorf("namespace B during an outage: %s, want it unpinned (never from A's record)", got)
	}
}

// testExcludeEnforce: scenario 8.
func (s *suite) testExcludeEnforce(t *testing.T) {
	ns := shared.namespace(t, "policy")
	s.push(t, "app:latest")
	d := s.push(t, "app:2")
	s.restartWebhooks(t, "--exclude", ":latest$", "--mode", "enforce")
	defer s.restartWebhooks(t)
	s.waitActive(t)
	if got := mustCreatePod(t, ns, s.ref("app:latest")).Spec.Containers[0].Image; got != s.ref("app:latest") {
		t.Errorf("--exclude ':latest$': %s, want it untouched", got)
	}
	if got := mustCreatePod(t, ns, s.ref("app:2")).Spec.Containers[0].Image; got != s.ref("app:2@"+d.String()) {
		t.Errorf("not excluded: %s, want %s", got, s.ref("app:2@"+d.String()))
	}
	_, err := createPod(t, shared.client, ns, s.ref("missing:1"), false)
	if err == nil || !strings.Contains(err.Error(), s.ref("missing:1")) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("enforce with an unresolvable image: err = %v; want a denial naming %s and why", err, s.ref("missing:1"))
	}
}
