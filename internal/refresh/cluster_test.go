package refresh_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/controlplanetest"
	"github.com/tagpin/tagpin/internal/refresh"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
	"github.com/tagpin/tagpin/internal/webhook"
)

// TestCluster runs the refresher against a real API server with the
// kubernetes store and the webhook's events: a moved tag is recorded
// with source refresh without any admission and reported with a
// TagMoved event on the Deployment of the pinned ReplicaSet (and on a
// ReplicaSet no Deployment owns); a vanished digest raises
// PinnedDigestMissing once per workload, and the RevisionPins carry the
// annotation tagpin audit reads until the digest is back.
func TestCluster(t *testing.T) {
	cp := controlplanetest.ForTest(t)
	ctx := t.Context()
	const ns = "shop"
	if err := cp.CreateNamespaces(ctx, ns); err != nil {
		t.Fatal(err)
	}
	reg := registrytest.New(t)
	img := reg.Ref("app:1")
	d1 := reg.PushImage(t, "app:1")
	reg.Tag(t, "app:1", "keep") // to bring d1 back later

	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: podTemplate("web", img),
		},
	}
	create(t, cp.Client, deploy)
	owned := replicaSet(ns, "web-5d8f7c9b6", "web", img)
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: deploy.UID, Controller: ptr.To(true)}}
	create(t, cp.Client, owned)
	lone := replicaSet(ns, "lone", "lone", img)
	create(t, cp.Client, lone)

	st, err := kubestore.New(ctx, cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Observe(ctx, key(t, img, store.Public), d1, epoch.Add(-time.Hour), store.SourceAdmission); err != nil {
		t.Fatal(err)
	}
	for _, rs := range []*appsv1.ReplicaSet{owned, lone} {
		pin(t, st, store.RevisionKey{Namespace: ns, Owner: store.Owner{Kind: "ReplicaSet", Name: rs.Name, UID: string(rs.UID)}}, img, d1)
	}

	kube := kubernetes.NewForConfigOrDie(cp.Config)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	t.Cleanup(broadcaster.Shutdown)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "tagpin"})
	meta, err := metadata.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	r, verifier := resolvers(t, reg)
	ref, err := refresh.New(r, verifier, st, refresh.WithClock(newFakeClock(true)),
		refresh.WithEvents(&webhook.WorkloadEvents{Recorder: recorder, Client: meta}))
	if err != nil {
		t.Fatal(err)
	}

	// The tag moves; the refresher finds it.
	d2 := reg.PushImage(t, "app:1")
	if rep, err := ref.Refresh(ctx); err != nil || rep.Moved != 1 {
		t.Fatalf("Refresh = %+v, %v; want one move", rep, err)
	}
	tag, err := st.Tag(ctx, key(t, img, store.Public))
	if err != nil {
		t.Fatal(err)
	}
	if cur := tag.History[0]; cur.Digest != d2 || cur.Source != store.SourceRefresh {
		t.Errorf("current move = %+v, want %s from refresh", cur, d2)
	}
	moved := fmt.Sprintf("%s moved: %s → %s", key(t, img, store.Public).String(), d1, d2)
	awaitEvent(t, kube, ns, "Deployment", "web", webhook.ReasonTagMoved, moved)
	awaitEvent(t, kube, ns, "ReplicaSet", "lone", webhook.ReasonTagMoved, moved)

	// The pinned digest vanishes: reported once, marked on the pins.
	reg.DeleteManifest(t, "app", d1)
	for i := range 2 {
		rep, err := ref.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (refresh.CheckReport{Digests: 1, Missing: 2, NewlyMissing: 2 * (1 - i)}); rep != want {
			t.Errorf("check %d = %+v, want %+v", i+1, rep, want)
		}
	}
	// Events are written in order: once the sentinel is there, the
	// second check's would be too.
	recorder.Event(deploy, corev1.EventTypeNormal, "Sentinel", "after the second check")
	awaitEvent(t, kube, ns, "Deployment", "web", "Sentinel", "after the second check")
	for _, o := range []struct{ kind, name string }{{"Deployment", "web"}, {"ReplicaSet", "lone"}} {
		ev := awaitEvent(t, kube, ns, o.kind, o.name, webhook.ReasonPinnedDigestMissing, d1.String())
		if ev.Type != corev1.EventTypeWarning || ev.Count > 1 || ev.Series != nil {
			t.Errorf("PinnedDigestMissing on %s %s: type %s, count %d, series %v; want one Warning", o.kind, o.name, ev.Type, ev.Count, ev.Series)
		}
	}
	checkMarks(t, cp.Client, ns, 2)

	reg.Tag(t, "app:keep", "keep") // puts d1 back
	if rep, err := ref.Check(ctx); err != nil || rep.Missing != 0 {
		t.Fatalf("check once the digest is back = %+v, %v; want nothing missing", rep, err)
	}
	checkMarks(t, cp.Client, ns, 0)
}

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func replicaSet(ns, name, app, image string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: podTemplate(app, image),
		},
	}
}

func create(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// awaitEvent waits (at most 30 s) for an event of reason on the object
// whose message contains msg, and returns it.
func awaitEvent(t *testing.T, kube kubernetes.Interface, ns, kind, name, reason, msg string) corev1.Event {
	t.Helper()
	var found corev1.Event
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s,reason=%s", kind, name, reason),
		})
		if err != nil {
			return false, err
		}
		for _, ev := range list.Items {
			if strings.Contains(ev.Message, msg) {
				found = ev
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("waiting for a %s event on %s %s/%s saying %q: %v", reason, kind, ns, name, msg, err)
	}
	return found
}

// checkMarks fails the test unless n pinned images of the RevisionPins
// in ns are marked missing (missingSince).
func checkMarks(t *testing.T, c client.Client, ns string, n int) {
	t.Helper()
	var pins kubestore.RevisionPinList
	if err := c.List(t.Context(), &pins, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, p := range pins.Items {
		for _, img := range p.Images {
			if img.MissingSince != nil {
				got++
			}
		}
	}
	if got != n {
		t.Errorf("%d pinned images are marked missing, want %d", got, n)
	}
}
