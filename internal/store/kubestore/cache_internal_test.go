package kubestore

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestCacheTransform checks what the informer cache keeps of each kind:
// of pins, their key, UID, resourceVersion and fields; of tags,
// everything an update writes back, without managedFields and Image.
func TestCacheTransform(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	full := metav1.ObjectMeta{
		Name: "web-app-0123456789abcdef", Namespace: "shop", UID: "3f1c", ResourceVersion: "42", Generation: 3,
		CreationTimestamp: t0,
		Labels:            map[string]string{LabelManagedBy: managedBy, "team": "a"},
		Annotations:       map[string]string{"note": "kept by tags"},
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs-uid", Controller: ptr.To(false)}},
		Finalizers:        []string{"example.com/hold"},
		ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "tagpin", Operation: metav1.ManagedFieldsOperationUpdate}},
	}
	noManaged := *full.DeepCopy()
	noManaged.ManagedFields = nil
	record := TagRecord{
		Image: "registry.example/team/app:1.0", Registry: "registry.example", Repository: "team/app", Tag: "1.0",
		Digest: "sha256:aaaa", LastVerified: t0, Moves: 2,
		History: []TagMove{
			{Digest: "sha256:aaaa", FirstSeen: metav1.NewMicroTime(t0.Time), LastSeen: metav1.NewMicroTime(t0.Time), Source: "admission"},
			{Digest: "sha256:bbbb", FirstSeen: metav1.NewMicroTime(t0.Time), LastSeen: metav1.NewMicroTime(t0.Time), Source: "cli"},
		},
	}
	slimRecord := *record.DeepCopy()
	slimRecord.Image = ""
	owner := PinOwner{Kind: "ReplicaSet", Name: "web", UID: "rs-uid"}

	missing := *full.DeepCopy()
	missing.Annotations = map[string]string{AnnotationDigestMissingSince: "2026-11-01T12:00:00Z", "note": "dropped"}

	labelled := *full.DeepCopy()
	labelled.Labels = map[string]string{LabelManagedBy: managedBy}
	labelledSlim := *labelled.DeepCopy()
	labelledSlim.ManagedFields = nil

	for _, tc := range []struct {
		name      string
		obj, want any
	}{
		{
			"RevisionPin",
			&RevisionPin{ObjectMeta: *full.DeepCopy(), Owner: owner, ImageCount: 2, Images: []PinnedImage{
				{Image: "registry.example/team/app:1.0", Digest: "sha256:aaaa", MissingSince: &t0},
				{Image: "registry.example/mesh/proxy:1.0", Digest: "sha256:bbbb"},
			}},
			&RevisionPin{
				ObjectMeta: metav1.ObjectMeta{Name: full.Name, Namespace: full.Namespace, UID: full.UID, ResourceVersion: full.ResourceVersion, CreationTimestamp: t0},
				Owner:      owner, ImageCount: 2, Images: []PinnedImage{
					{Image: "registry.example/team/app:1.0", Digest: "sha256:aaaa", MissingSince: &t0},
					{Image: "registry.example/mesh/proxy:1.0", Digest: "sha256:bbbb"},
				},
			},
		},
		{
			"RevisionPin of the earlier shape",
			&RevisionPin{ObjectMeta: *missing.DeepCopy(), Image: "registry.example/team/app:1.0", Digest: "sha256:aaaa", Owner: owner},
			&RevisionPin{
				ObjectMeta: metav1.ObjectMeta{
					Name: full.Name, Namespace: full.Namespace, UID: full.UID, ResourceVersion: full.ResourceVersion, CreationTimestamp: t0,
					Annotations: map[string]string{AnnotationDigestMissingSince: "2026-11-01T12:00:00Z"},
				},
				Image: "registry.example/team/app:1.0", Digest: "sha256:aaaa", Owner: owner,
			},
		},
		{
			"ClusterImageTag",
			&ClusterImageTag{ObjectMeta: *full.DeepCopy(), TagRecord: *record.DeepCopy()},
			&ClusterImageTag{ObjectMeta: noManaged, TagRecord: slimRecord},
		},
		{
			"ImageTag",
			&ImageTag{ObjectMeta: *full.DeepCopy(), TagRecord: *record.DeepCopy()},
			&ImageTag{ObjectMeta: noManaged, TagRecord: slimRecord},
		},
		{
			"ImageTag with tagpin's labels only",
			&ImageTag{ObjectMeta: *labelled.DeepCopy(), TagRecord: *record.DeepCopy()},
			&ImageTag{ObjectMeta: labelledSlim, TagRecord: slimRecord},
		},
		{"another type", "left alone", "left alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newSlimmer().transform(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("cached (-want +got):\n%s", diff)
			}
		})
	}
}
