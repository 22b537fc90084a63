package kubestore_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tagpin/tagpin/internal/store"
	"github.com/tagpin/tagpin/internal/store/kubestore"
	"github.com/tagpin/tagpin/internal/store/storetest"
)

// legacyPin writes key's pin in the earlier shape (one RevisionPin per
// image, image and digest at the top level) as the JSON it had, through
// an unstructured client.
func legacyPin(t *testing.T, c client.Client, key store.RevisionKey, d digest.Digest, annotations map[string]any) {
	t.Helper()
	o := key.Owner
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kubestore.GroupVersion.String(),
		"kind":       "RevisionPin",
		"metadata": map[string]any{
			"name":      kubestore.LegacyRevisionObjectName(key),
			"namespace": key.Namespace,
			"labels": map[string]any{
				kubestore.LabelManagedBy: "tagpin", kubestore.LabelOwnerKind: o.Kind, kubestore.LabelOwnerUID: o.UID,
			},
			"ownerReferences": []any{map[string]any{
				"apiVersion": "apps/v1", "kind": o.Kind, "name": o.Name, "uid": o.UID,
				"controller": false, "blockOwnerDeletion": false,
			}},
		},
		"image":  key.Image,
		"digest": string(d),
		"owner":  map[string]any{"kind": o.Kind, "name": o.Name, "uid": o.UID},
	}}
	if annotations != nil {
		obj.Object["metadata"].(map[string]any)["annotations"] = annotations
	}
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatalf("seeding the pin of %+v in the earlier shape: %v", key, err)
	}
}

// TestMigrate seeds pins of the earlier shape, one object per image, and
// checks that a store serves them before and after Migrate moves them
// into one RevisionPin per revision, that pinning an image pinned in the
// earlier shape returns its digest (no pod is admitted off its pin), and
// that the objects of the earlier shape are gone afterwards.
func TestMigrate(t *testing.T) {
	env := shared.Get(t)
	reset(t, env)
	const ns = "owners"
	missingAt := time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)
	a := store.Owner{Kind: "ReplicaSet", Name: "web-a", UID: "uid-migrate-a"}
	b := store.Owner{Kind: "ReplicaSet", Name: "web-b", UID: "uid-migrate-b"}
	key := func(o store.Owner, image string) store.RevisionKey {
		return store.RevisionKey{Namespace: ns, Owner: o, Image: image}
	}
	legacy := map[store.RevisionKey]digest.Digest{
		key(a, "app:1"):                    storetest.Digest("a1"),
		key(a, "proxy:1"):                  storetest.Digest("a2"),
		key(a, "registry.example/agent:2"): storetest.Digest("a3"),
		key(b, "app:2"):                    storetest.Digest("b1"),
	}
	for k, d := range legacy {
		var ann map[string]any
		if k.Image == "proxy:1" {
			ann = map[string]any{kubestore.AnnotationDigestMissingSince: missingAt.Format(time.RFC3339)}
		}
		legacyPin(t, env.Client, k, d, ann)
	}

	s := open(t, env.Config)
	// Served as they are, before any migration.
	for k, want := range legacy {
		if got, err := s.Revision(t.Context(), k); err != nil || got != want {
			t.Errorf("Revision(%s) = %s, %v; want %s", k.Image, got, err, want)
		}
		// A writer with another digest gets the pin's.
		if got, err := s.PinRevision(t.Context(), k, storetest.Digest("other")); err != nil || got != want {
			t.Errorf("PinRevision(%s, other) = %s, %v; want %s", k.Image, got, err, want)
		}
	}
	// A new image of a revision pinned in the earlier shape goes into
	// the revision's object.
	added := key(b, "sidecar:3")
	if got, err := s.PinRevision(t.Context(), added, storetest.Digest("b2")); err != nil || got != storetest.Digest("b2") {
		t.Fatalf("PinRevision(%s) = %s, %v; want %s", added.Image, got, err, storetest.Digest("b2"))
	}
	want := map[store.RevisionKey]store.Pin{added: {Key: added, Digest: storetest.Digest("b2")}}
	for k, d := range legacy {
		want[k] = store.Pin{Key: k, Digest: d}
	}
	p := want[key(a, "proxy:1")]
	p.MissingSince = missingAt
	want[key(a, "proxy:1")] = p
	listed := func(s *kubestore.Store) map[store.RevisionKey]store.Pin {
		t.Helper()
		got := map[store.RevisionKey]store.Pin{}
		if err := s.Revisions(t.Context(), func(p store.Pin) bool { got[p.Key] = p; return true }); err != nil {
			t.Fatalf("Revisions: %v", err)
		}
		return got
	}
	if diff := cmp.Diff(want, listed(s)); diff != "" {
		t.Errorf("Revisions before the migration (-want +got):\n%s", diff)
	}

	n, err := s.Migrate(t.Context())
	if err != nil || n != len(legacy) {
		t.Fatalf("Migrate = %d, %v; want %d, nil", n, err, len(legacy))
	}
	// The API server holds one object per revision, none of the earlier
	// shape.
	var objs kubestore.RevisionPinList
	if err := env.Client.List(t.Context(), &objs); err != nil {
		t.Fatal(err)
	}
	gotObjs := map[string][]kubestore.PinnedImage{}
	for _, o := range objs.Items {
		if o.Image != "" || o.Digest != "" || int(o.ImageCount) != len(o.Images) {
			t.Errorf("RevisionPin %s after the migration: image %q digest %q, %d images counted %d", o.Name, o.Image, o.Digest, len(o.Images), o.ImageCount)
		}
		gotObjs[o.Name] = o.Images
	}
	since := metav1.NewTime(missingAt)
	wantObjs := map[string][]kubestore.PinnedImage{
		kubestore.RevisionObjectName(a): {
			{Image: "app:1", Digest: string(storetest.Digest("a1"))},
			{Image: "proxy:1", Digest: string(storetest.Digest("a2")), MissingSince: &since},
			{Image: "registry.example/agent:2", Digest: string(storetest.Digest("a3"))},
		},
		kubestore.RevisionObjectName(b): {
			{Image: "sidecar:3", Digest: string(storetest.Digest("b2"))},
			{Image: "app:2", Digest: string(storetest.Digest("b1"))},
		},
	}
	sortImages := cmp.Transformer("sort", func(in []kubestore.PinnedImage) map[string]kubestore.PinnedImage {
		out := map[string]kubestore.PinnedImage{}
		for _, i := range in {
			out[i.Image] = i
		}
		return out
	})
	if diff := cmp.Diff(wantObjs, gotObjs, sortImages); diff != "" {
		t.Errorf("RevisionPins after the migration (-want +got):\n%s", diff)
	}
	// The owner's references and labels are the new object's.
	var pa kubestore.RevisionPin
	if err := env.Client.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: kubestore.RevisionObjectName(a)}, &pa); err != nil {
		t.Fatal(err)
	}
	if len(pa.OwnerReferences) != 1 || string(pa.OwnerReferences[0].UID) != a.UID || pa.Labels[kubestore.LabelOwnerUID] != a.UID {
		t.Errorf("migrated RevisionPin: ownerReferences %+v, labels %v; want owner %s", pa.OwnerReferences, pa.Labels, a.UID)
	}

	// The same answers from this store and from another replica.
	other := open(t, env.Config)
	for _, st := range []*kubestore.Store{s, other} {
		if diff := cmp.Diff(want, listed(st)); diff != "" {
			t.Errorf("Revisions after the migration (-want +got):\n%s", diff)
		}
		for k, p := range want {
			if got, err := st.Revision(t.Context(), k); err != nil || got != p.Digest {
				t.Errorf("Revision(%s) after the migration = %s, %v; want %s", k.Image, got, err, p.Digest)
			}
		}
	}
	if n, err := other.Migrate(t.Context()); err != nil || n != 0 {
		t.Errorf("a second Migrate = %d, %v; want 0, nil", n, err)
	}
}
