package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/certtest"
	"github.com/tagpin/tagpin/internal/registrytest"
	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// TestMigrateRevisionPins upgrades a cluster whose revision pins an
// earlier release wrote, one RevisionPin per image: the webhook binary
// admits the revision's pods on those pins (not where the tags point
// now) before, while and after it moves them into one RevisionPin per
// revision, and the per-image objects are gone.
func TestMigrateRevisionPins(t *testing.T) {
	needCluster(t)
	cp := controlPlane.Get(t)
	reg := registrytest.New(t)
	ns := shared.namespace(t, "migrate")
	images := []string{reg.Ref("migrate/app:1"), reg.Ref("migrate/proxy:1")}
	pinned := []string{reg.PushImage(t, "migrate/app:1").String(), reg.PushImage(t, "migrate/proxy:1").String()}
	reg.PushImage(t, "migrate/app:1") // both tags move on: the pins must win
	reg.PushImage(t, "migrate/proxy:1")

	// The owner exists (the pruner keeps its pins); no pods of its own.
	rs, err := shared.client.AppsV1().ReplicaSets(ns).Create(t.Context(), &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f", Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: images[0]}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owner := store.Owner{Kind: "ReplicaSet", Name: rs.Name, UID: string(rs.UID)}
	for i, image := range images {
		// The JSON an earlier release wrote.
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": kubestore.GroupVersion.String(), "kind": "RevisionPin",
			"metadata": map[string]any{
				"name":      kubestore.LegacyRevisionObjectName(store.RevisionKey{Namespace: ns, Owner: owner, Image: image}),
				"namespace": ns,
				"labels":    map[string]any{kubestore.LabelManagedBy: "tagpin", kubestore.LabelOwnerKind: "ReplicaSet", kubestore.LabelOwnerUID: owner.UID},
				"ownerReferences": []any{map[string]any{
					"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner.Name, "uid": owner.UID,
					"controller": false, "blockOwnerDeletion": false,
				}},
			},
			"image": image, "digest": pinned[i],
			"owner": map[string]any{"kind": "ReplicaSet", "name": owner.Name, "uid": owner.UID},
		}}
		if err := cp.Client.Create(t.Context(), obj); err != nil {
			t.Fatal(err)
		}
	}

	certDir := filepath.Join(t.TempDir(), "certs")
	ca := certtest.Write(t, certDir)
	w := startWebhook(t, certDir,
		"--kubeconfig", shared.kubeconfig, "--store", "kubernetes",
		"--allow-registry", reg.Addr(), "--insecure-registry", reg.Addr(),
		"--refresh-interval", "0", "--gc-check-interval", "0")
	addr := fmt.Sprintf("127.0.0.1:%d", w.port)
	want := map[string]bool{images[0] + "@" + pinned[0]: true, images[1] + "@" + pinned[1]: true}
	admit := func() {
		t.Helper()
		got, err := revisionReview(t, addr, ca, ns, rs, images)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || !want[got[0]] || !want[got[1]] {
			t.Fatalf("the pod was admitted with %v, want its revision's pins %v", got, want)
		}
	}
	// Admissions while the leader moves the pins; then the per-image
	// objects are gone and the revision's one object holds both.
	var moved kubestore.RevisionPin
	waitFor(t, "the pins to be moved into one RevisionPin", func() (bool, error) {
		admit()
		var pins kubestore.RevisionPinList
		if err := cp.Client.List(t.Context(), &pins, client.InNamespace(ns)); err != nil {
			return false, err
		}
		if len(pins.Items) != 1 || len(pins.Items[0].Images) != 2 {
			return false, nil
		}
		moved = pins.Items[0]
		return true, nil
	})
	if moved.Name != kubestore.RevisionObjectName(owner) || moved.Image != "" || moved.ImageCount != 2 {
		t.Errorf("RevisionPin %s: image %q, %d images counted; want %s holding 2", moved.Name, moved.Image, moved.ImageCount, kubestore.RevisionObjectName(owner))
	}
	// The migration moves the pins in the order it lists them: the
	// images' order in the object says nothing.
	got := map[string]string{}
	for _, im := range moved.Images {
		got[im.Image] = im.Digest
	}
	for i, image := range images {
		if got[image] != pinned[i] {
			t.Errorf("RevisionPin images %+v; want %s at %s", moved.Images, image, pinned[i])
		}
	}
	admit()
	if log := w.log.String(); !strings.Contains(log, "moved revision pins into one object per revision") {
		t.Errorf("the webhook's log does not say it moved the pins:\n%s", log)
	}
}

// revisionReview sends the AdmissionReview of a pod of rs running
// images to the webhook at addr and returns the images the patch sets.
func revisionReview(t *testing.T, addr string, ca []byte, ns string, rs *appsv1.ReplicaSet, images []string) ([]string, error) {
	t.Helper()
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: rs.Name + "-", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true),
		}}},
	}
	for i, image := range images {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprint("c", i), Image: image})
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("migrate-1"), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+addr+"/mutate", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(ca)}, Timeout: 2 * deadline}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("status %s: %w", resp.Status, err)
	}
	if out.Response == nil || !out.Response.Allowed {
		return nil, fmt.Errorf("admission refused: %+v", out.Response)
	}
	if len(out.Response.Patch) == 0 {
		return nil, fmt.Errorf("no patch (warnings %q)", out.Response.Warnings)
	}
	var patch []struct {
		Path  string
		Value any
	}
	if err := json.Unmarshal(out.Response.Patch, &patch); err != nil {
		return nil, fmt.Errorf("reading the patch %q: %w", out.Response.Patch, err)
	}
	var got []string
	for _, op := range patch {
		if s, ok := op.Value.(string); ok && strings.HasSuffix(op.Path, "/image") {
			got = append(got, s)
		}
	}
	return got, nil
}
