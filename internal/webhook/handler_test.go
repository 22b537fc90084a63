package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tagpin/tagpin/internal/podspec"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/resolve"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/track"
	"github.com/tagpin/tagpin/internal/webhook"
)

type env struct {
	reg     *registrytest.Registry
	store   *store.Memory
	handler *webhook.Handler
	metrics *prometheus.Registry
}

func newEnv(t *testing.T, cfg webhook.Config, opts ...webhook.Option) *env {
	t.Helper()
	reg := registrytest.New(t)
	r := resolve.New(
		resolve.WithAllowRegistry(reg.Addr()),
		resolve.WithInsecureRegistry(reg.Addr()),
		resolve.WithKeychain(authn.NewMultiKeychain()),
		resolve.WithTimeout(time.Minute),
	)
	t.Cleanup(r.Close)
	st := store.NewMemory(0)
	promReg := prometheus.NewRegistry()
	opts = append([]webhook.Option{webhook.WithMetrics(webhook.NewMetrics(promReg))}, opts...)
	h, err := webhook.NewHandler(cfg, track.New(r, st, store.SourceAdmission), st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, store: st, handler: h, metrics: promReg}
}

// pod returns a pod in namespace app owned by the ReplicaSet rs (none
// when rs is "").
func pod(rs string, images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: "app"}}
	if rs != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: types.UID("uid-" + rs), Controller: ptr.To(true)}}
	}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: string(rune('a' + i)), Image: img})
	}
	return p
}

type reqOpt func(*admissionv1.AdmissionRequest)

func dryRun(r *admissionv1.AdmissionRequest) { r.DryRun = ptr.To(true) }

func ephemeralUpdate(r *admissionv1.AdmissionRequest) {
	r.Operation, r.SubResource = admissionv1.Update, "ephemeralcontainers"
}

// admit sends p through the handler and returns the response and the pod
// with the response's patch applied.
func (e *env) admit(t *testing.T, p *corev1.Pod, opts ...reqOpt) (admission.Response, *corev1.Pod) {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	req := admissionv1.AdmissionRequest{
		UID:       "req-1",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: p.Namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}
	for _, o := range opts {
		o(&req)
	}
	resp := e.handler.Handle(t.Context(), admission.Request{AdmissionRequest: req})
	out := p.DeepCopy()
	if len(resp.Patch) > 0 {
		patch, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("decoding the patch %s: %v", resp.Patch, err)
		}
		patched, err := patch.Apply(raw)
		if err != nil {
			t.Fatalf("applying the patch %s: %v", resp.Patch, err)
		}
		out = &corev1.Pod{}
		if err := json.Unmarshal(patched, out); err != nil {
			t.Fatal(err)
		}
	}
	return resp, out
}

func images(p *corev1.Pod) []string {
	var out []string
	for _, img := range podspec.Images(p) {
		out = append(out, img.Ref)
	}
	return out
}

func wantImages(t *testing.T, p *corev1.Pod, want ...string) {
	t.Helper()
	got := images(p)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("images:\n  got  %v\n  want %v", got, want)
	}
}

func TestPinsEveryImageField(t *testing.T) {
	e := newEnv(t, webhook.DefaultConfig())
	web := e.reg.PushImage(t, "web:1.0")
	side := e.reg.PushImage(t, "side:latest")
	initD := e.reg.PushImage(t, "init:2")
	model := e.reg.PushImage(t, "model:3")
	p := pod("rs1", e.reg.Ref("web:1.0"), e.reg.Ref("side"))
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: e.reg.Ref("init:2")}}
	p.Spec.Volumes = []corev1.Volume{{Name: "m", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: e.reg.Ref("model:3")}}}}

	resp, got := e.admit(t, p)
	if !resp.Allowed {
		t.Fatalf("denied: %v", resp.Result)
	}
	wantImages(t, got,
		e.reg.Ref("web:1.0@"+web.String()),
		e.reg.Ref("side:latest@"+side.String()),
		e.reg.Ref("init:2@"+initD.String()),
		e.reg.Ref("model:3@"+model.String()))
	var records map[string]podspec.Record
	if err := json.Unmarshal([]byte(got.Annotations[podspec.AnnotationImages]), &records); err != nil {
		t.Fatalf("annotation %q: %v", got.Annotations[podspec.AnnotationImages], err)
	}
	if r := records["container/b"]; r.Original != e.reg.Ref("side") || r.Digest != side.String() || r.Source != "registry" {
		t.Errorf("annotation record of container b: %+v", r)
	}

	// Reinvocation on its own output patches nothing.
	resp, _ = e.admit(t, got)
	if !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("reinvocation: allowed %v, patch %s; want allowed with no patch", resp.Allowed, resp.Patch)
	}
	if n := testutil.ToFloat64(e.metricsCounter(t, "pinned")); n != 1 {
		t.Errorf("tagpin_admissions_total{outcome=pinned} = %v, want 1", n)
	}
}

func (e *env) metricsCounter(t *testing.T, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tagpin_admissions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
					c.Add(m.GetCounter().GetValue())
					return c
				}
			}
		}
	}
	t.Fatalf("no tagpin_admissions_total{outcome=%q}", outcome)
	return nil
}

func TestRevisionPins(t *testing.T) {
	for _, tc := range []struct {
		scope    webhook.PinScope
		sameRS   bool // a new pod of the same ReplicaSet keeps the old digest
		bareSame bool
	}{
		{webhook.PinRevision, true, false},
		{webhook.PinPod, false, false},
	} {
		t.Run(string(tc.scope), func(t *testing.T) {
			cfg := webhook.DefaultConfig()
			cfg.PinScope = tc.scope
			e := newEnv(t, cfg)
			old := e.reg.PushImage(t, "app:latest")
			ref := e.reg.Ref("app:latest")
			_, p1 := e.admit(t, pod("rs1", ref))
			wantImages(t, p1, ref+"@"+old.String())

			cur := e.reg.PushImage(t, "app:latest")
			_, p2 := e.admit(t, pod("rs1", ref))
			want := cur
			if tc.sameRS {
				want = old
			}
			wantImages(t, p2, ref+"@"+want.String())
			// A new ReplicaSet and a bare pod resolve afresh.
			_, p3 := e.admit(t, pod("rs2", ref))
			wantImages(t, p3, ref+"@"+cur.String())
			_, p4 := e.admit(t, pod("", ref))
			wantImages(t, p4, ref+"@"+cur.String())
			// Rolling back scales rs1 up again: its digest comes back.
			if tc.sameRS {
				_, p5 := e.admit(t, pod("rs1", ref))
				wantImages(t, p5, ref+"@"+old.String())
			}
		})
	}
}

func TestStatefulSetRevisions(t *testing.T) {
	e := newEnv(t, webhook.DefaultConfig())
	old := e.reg.PushImage(t, "db:latest")
	ref := e.reg.Ref("db:latest")
	sts := func(rev string) *corev1.Pod {
		p := pod("", ref)
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "uid-db", Controller: ptr.To(true)}}
		p.Labels = map[string]string{"controller-revision-hash": rev}
		return p
	}
	_, p1 := e.admit(t, sts("db-1"))
	cur := e.reg.PushImage(t, "db:latest")
	_, p2 := e.admit(t, sts("db-1"))
	_, p3 := e.admit(t, sts("db-2"))
	wantImages(t, p1, ref+"@"+old.String())
	wantImages(t, p2, ref+"@"+old.String())
	wantImages(t, p3, ref+"@"+cur.String())
}

func TestFallbackAndDeadline(t *testing.T) {
	for _, fault := range []registrytest.Fault{registrytest.Unavailable, registrytest.Hang} {
		t.Run(map[registrytest.Fault]string{registrytest.Unavailable: "503", registrytest.Hang: "hang"}[fault], func(t *testing.T) {
			cfg := webhook.DefaultConfig()
			cfg.ResolveTimeout = 300 * time.Millisecond
			e := newEnv(t, cfg)
			d := e.reg.PushImage(t, "app:1.0")
			ref := e.reg.Ref("app:1.0")
			e.admit(t, pod("rs1", ref))
			e.reg.SetFault(fault)

			// A new ReplicaSet: no revision pin, the registry is down.
			resp, got := e.admit(t, pod("rs2", ref))
			wantImages(t, got, ref+"@"+d.String())
			if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "registry unavailable") || !strings.Contains(resp.Warnings[0], d.String()) {
				t.Errorf("warnings %q; want one saying the registry is unavailable and naming %s", resp.Warnings, d)
			}
			var records map[string]podspec.Record
			_ = json.Unmarshal([]byte(got.Annotations[podspec.AnnotationImages]), &records)
			if records["container/a"].Source != "fallback" {
				t.Errorf("annotation source %q, want fallback", records["container/a"].Source)
			}
			// A tag never seen cannot be pinned; the pod is still admitted.
			resp, got = e.admit(t, pod("rs3", e.reg.Ref("other:1")))
			wantImages(t, got, e.reg.Ref("other:1"))
			if !resp.Allowed || len(resp.Warnings) == 0 {
				t.Errorf("unknown tag during an outage: allowed %v, warnings %q; want allowed with a warning", resp.Allowed, resp.Warnings)
			}
		})
	}
}

func TestModesAndFilters(t *testing.T) {
	setup := func(t *testing.T, mutate func(*webhook.Config)) (*env, digest.Digest) {
		cfg := webhook.DefaultConfig()
		mutate(&cfg)
		e := newEnv(t, cfg)
		return e, e.reg.PushImage(t, "app:latest")
	}
	t.Run("enforce denies what cannot be pinned", func(t *testing.T) {
		e, d := setup(t, func(c *webhook.Config) { c.Mode = webhook.ModeEnforce })
		resp, _ := e.admit(t, pod("rs", e.reg.Ref("app:latest"), e.reg.Ref("missing:1")))
		if resp.Allowed || !strings.Contains(resp.Result.Message, e.reg.Ref("missing:1")) || !strings.Contains(resp.Result.Message, "not found") {
			t.Errorf("enforce: allowed %v, message %q; want denied naming %s and why", resp.Allowed, resp.Result.Message, e.reg.Ref("missing:1"))
		}
		resp, got := e.admit(t, pod("rs", e.reg.Ref("app:latest")))
		if !resp.Allowed {
			t.Errorf("enforce denied a pinnable pod: %v", resp.Result)
		}
		wantImages(t, got, e.reg.Ref("app:latest@"+d.String()))
	})
	t.Run("mutate admits what cannot be pinned", func(t *testing.T) {
		e, _ := setup(t, func(*webhook.Config) {})
		resp, got := e.admit(t, pod("rs", e.reg.Ref("missing:1")))
		wantImages(t, got, e.reg.Ref("missing:1"))
		if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], e.reg.Ref("missing:1")) {
			t.Errorf("mutate: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
		}
	})
	t.Run("audit changes nothing", func(t *testing.T) {
		e, d := setup(t, func(c *webhook.Config) { c.Mode = webhook.ModeAudit })
		resp, got := e.admit(t, pod("rs", e.reg.Ref("app:latest")))
		wantImages(t, got, e.reg.Ref("app:latest"))
		if !resp.Allowed || len(resp.Patch) != 0 || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], d.String()) {
			t.Errorf("audit: allowed %v, patch %s, warnings %q", resp.Allowed, resp.Patch, resp.Warnings)
		}
		if _, err := e.store.Revision(t.Context(), store.RevisionKey{Namespace: "app", Owner: store.Owner{Kind: "ReplicaSet", Name: "rs", UID: "uid-rs"}, Image: e.reg.Ref("app:latest")}); err == nil {
			t.Error("audit mode wrote a revision pin")
		}
	})
	for _, tc := range []struct {
		name   string
		mutate func(*webhook.Config)
		pod    func(*env) *corev1.Pod
		opts   []reqOpt
	}{
		{"exclude :latest$", func(c *webhook.Config) { c.Exclude = []*regexp.Regexp{regexp.MustCompile(`:latest$`)} }, nil, nil},
		{"include another registry", func(c *webhook.Config) { c.Include = []*regexp.Regexp{regexp.MustCompile(`^ghcr\.io/`)} }, nil, nil},
		{"resolveTags off", func(c *webhook.Config) { c.ResolveTags = false }, nil, nil},
		{"skipped namespace", func(c *webhook.Config) { c.SkipNamespaces = []string{"app"} }, nil, nil},
		{"skip annotation", func(*webhook.Config) {}, func(e *env) *corev1.Pod {
			p := pod("rs", e.reg.Ref("app"))
			p.Annotations = map[string]string{podspec.AnnotationSkip: "true"}
			return p
		}, nil},
		{"other updates", func(*webhook.Config) {}, nil, []reqOpt{func(r *admissionv1.AdmissionRequest) { r.Operation = admissionv1.Update }}},
		{"not a pod", func(*webhook.Config) {}, nil, []reqOpt{func(r *admissionv1.AdmissionRequest) {
			r.Kind = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := setup(t, tc.mutate)
			p := pod("rs", e.reg.Ref("app"))
			if tc.pod != nil {
				p = tc.pod(e)
			}
			resp, got := e.admit(t, p, tc.opts...)
			if !resp.Allowed || len(resp.Patch) != 0 {
				t.Errorf("allowed %v, patch %s; want allowed, unchanged", resp.Allowed, resp.Patch)
			}
			wantImages(t, got, e.reg.Ref("app"))
			if c := e.reg.Counts().Total(); c != 0 {
				t.Errorf("%d registry requests; want none", c)
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, webhook.DefaultConfig())
	d := e.reg.PushImage(t, "app:1.0")
	ref := e.reg.Ref("app:1.0")
	_, got := e.admit(t, pod("rs1", ref), dryRun)
	wantImages(t, got, ref+"@"+d.String())
	if _, err := e.store.Tag(t.Context(), store.TagKey{Registry: e.reg.Addr(), Repository: "app", Tag: "1.0"}); err == nil {
		t.Error("a dry run recorded the tag")
	}
	if _, err := e.store.Revision(t.Context(), store.RevisionKey{Namespace: "app", Owner: store.Owner{Kind: "ReplicaSet", Name: "rs1", UID: "uid-rs1"}, Image: ref}); err == nil {
		t.Error("a dry run wrote a revision pin")
	}
}

func TestEphemeralContainers(t *testing.T) {
	e := newEnv(t, webhook.DefaultConfig())
	d := e.reg.PushImage(t, "debug:1")
	p := pod("", e.reg.Ref("app:unresolvable-but-already-running"))
	p.Name = "web-1"
	p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: e.reg.Ref("debug:1")}}}
	resp, got := e.admit(t, p, ephemeralUpdate)
	if !resp.Allowed {
		t.Fatalf("denied: %v", resp.Result)
	}
	// Only the ephemeral container changes: the subresource allows
	// nothing else.
	wantImages(t, got, e.reg.Ref("app:unresolvable-but-already-running"), e.reg.Ref("debug:1@"+d.String()))
}

// staticSecrets gives every pod the same pull secrets.
type staticSecrets webhook.PullSecretKeychain

func (s staticSecrets) Keychain(_ context.Context, _ string, _ *corev1.Pod) (authn.Keychain, error) {
	return webhook.PullSecretKeychain(s), nil
}

func TestPullSecretsScopeTheRecord(t *testing.T) {
	var e *env
	e = newEnv(t, webhook.DefaultConfig(), webhook.WithPullSecrets(lazySecrets(func() staticSecrets {
		return staticSecrets{{Pattern: e.reg.Addr(), Auth: authn.AuthConfig{Username: "team", Password: "secret"}}}
	})))
	d := e.reg.PushImage(t, "private:1")
	_, got := e.admit(t, pod("rs", e.reg.Ref("private:1")))
	wantImages(t, got, e.reg.Ref("private:1@"+d.String()))
	key := store.TagKey{Registry: e.reg.Addr(), Repository: "private", Tag: "1"}
	if _, err := e.store.Tag(t.Context(), key); err == nil {
		t.Error("a digest learned with the namespace's pull secret was recorded publicly")
	}
	key.Scope = "app"
	if _, err := e.store.Tag(t.Context(), key); err != nil {
		t.Errorf("the namespace's record: %v", err)
	}
}

// lazySecrets builds the secrets on first use (after the registry exists).
type lazySecrets func() staticSecrets

func (l lazySecrets) Keychain(ctx context.Context, ns string, p *corev1.Pod) (authn.Keychain, error) {
	return l().Keychain(ctx, ns, p)
}

func TestBurstOfOneRevisionMakesOneRequest(t *testing.T) {
	e := newEnv(t, webhook.DefaultConfig())
	d := e.reg.PushImage(t, "app:latest")
	ref := e.reg.Ref("app:latest")
	e.reg.ResetCounts()
	// Hold the registry so that every pod arrives before the first
	// resolution ends.
	e.reg.Hold()
	var wg sync.WaitGroup
	got := make([]*corev1.Pod, 64)
	for i := range got {
		wg.Go(func() { _, got[i] = e.admit(t, pod("rs-burst", ref)) })
	}
	e.reg.WaitHeld(t, 1)
	e.reg.Release()
	wg.Wait()
	for _, p := range got {
		wantImages(t, p, ref+"@"+d.String())
	}
	if c := e.reg.Counts(); c.Total() != 1 {
		t.Errorf("64 pods of one new ReplicaSet made %d registry requests (%+v), want 1", c.Total(), c)
	}
}

// A pod with many images resolves at most Config.Concurrency of them at
// once: the registry sees no more requests in flight than that.
func TestConcurrencyPerAdmission(t *testing.T) {
	for _, rs := range []string{"", "rs-many"} { // one flight per image, or plain resolutions
		t.Run("owner="+rs, func(t *testing.T) {
			cfg := webhook.DefaultConfig()
			cfg.Concurrency = 4
			e := newEnv(t, cfg)
			var refs, want []string
			for i := range 40 {
				tag := fmt.Sprintf("img%d:1", i)
				d := e.reg.PushImage(t, tag)
				refs = append(refs, e.reg.Ref(tag))
				want = append(want, e.reg.Ref(tag)+"@"+d.String())
			}
			e.reg.ResetCounts()
			e.reg.Hold()
			done := make(chan *corev1.Pod)
			go func() {
				_, got := e.admit(t, pod(rs, refs...))
				done <- got
			}()
			e.reg.WaitHeld(t, cfg.Concurrency)
			e.reg.Release()
			wantImages(t, <-done, want...)
			if n := e.reg.MaxInFlight(); n > cfg.Concurrency {
				t.Errorf("%d registry requests in flight at once for one pod, want at most %d", n, cfg.Concurrency)
			}
		})
	}
}

// A pod with a thousand distinct tags is pinned whole, with the default
// bound on concurrent resolutions.
func TestThousandImagePod(t *testing.T) {
	e := newEnv(t, webhook.DefaultConfig())
	d := e.reg.PushImage(t, "many:0")
	refs, want := []string{e.reg.Ref("many:0")}, []string{e.reg.Ref("many:0@" + d.String())}
	for i := 1; i < 1000; i++ {
		tag := fmt.Sprint(i)
		e.reg.Tag(t, "many:0", tag)
		refs = append(refs, e.reg.Ref("many:"+tag))
		want = append(want, e.reg.Ref("many:"+tag+"@"+d.String()))
	}
	e.reg.ResetCounts()
	resp, got := e.admit(t, pod("rs-thousand", refs...))
	if !resp.Allowed {
		t.Fatalf("denied: %v", resp.Result)
	}
	wantImages(t, got, want...)
	if c := e.reg.Counts(); c.Head != 1000 {
		t.Errorf("registry HEADs = %d, want 1000 (one per tag)", c.Head)
	}
	if n := e.reg.MaxInFlight(); n > webhook.DefaultConcurrency {
		t.Errorf("%d registry requests in flight at once, want at most %d", n, webhook.DefaultConcurrency)
	}
}

// histogram is what a test reads of a histogram.
type histogram struct {
	count   uint64
	sum     float64
	largest float64 // the largest finite bucket bound
}

// admissionHistogram returns tagpin_admission_duration_seconds{outcome}.
func (e *env) admissionHistogram(t *testing.T, outcome string) histogram {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tagpin_admission_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					h := m.GetHistogram()
					b := h.GetBucket()
					return histogram{count: h.GetSampleCount(), sum: h.GetSampleSum(), largest: b[len(b)-1].GetUpperBound()}
				}
			}
		}
	}
	t.Fatalf("no tagpin_admission_duration_seconds{outcome=%q}", outcome)
	return histogram{}
}

func TestAdmissionDuration(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name    string
		fault   registrytest.Fault
		pod     func(e *env) *corev1.Pod
		outcome string
		// atLeast is a lower bound of the observed duration: a hanging
		// registry holds the admission for the whole resolve timeout.
		atLeast time.Duration
	}{
		{name: "pinned", pod: func(e *env) *corev1.Pod { return pod("rs", e.reg.Ref("app:1")) }, outcome: "pinned"},
		{name: "skipped", pod: func(e *env) *corev1.Pod {
			p := pod("rs", e.reg.Ref("app:1"))
			p.Annotations = map[string]string{podspec.AnnotationSkip: "true"}
			return p
		}, outcome: "skipped"},
		{name: "registry hangs", fault: registrytest.Hang, pod: func(e *env) *corev1.Pod { return pod("rs", e.reg.Ref("app:1")) }, outcome: "unchanged", atLeast: timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := webhook.DefaultConfig()
			cfg.ResolveTimeout = timeout
			e := newEnv(t, cfg)
			e.reg.PushImage(t, "app:1")
			e.reg.SetFault(tc.fault)
			e.admit(t, tc.pod(e))

			h := e.admissionHistogram(t, tc.outcome)
			if h.count != 1 {
				t.Errorf("tagpin_admission_duration_seconds{outcome=%q} count = %d, want 1", tc.outcome, h.count)
			}
			if got := time.Duration(h.sum * float64(time.Second)); got < tc.atLeast {
				t.Errorf("observed %s, want at least %s (the whole admission)", got, tc.atLeast)
			}
			if h.largest != 30 {
				t.Errorf("largest bucket %vs, want 30s (the longest timeoutSeconds)", h.largest)
			}
		})
	}
}
