package cli

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagpin/tagpin/internal/store/kubestore"
)

// TestAuditPins checks that the audit reads one pin per image from
// RevisionPins of both shapes: one object per revision, and the earlier
// one object per image, which counts unless its revision's object holds
// the image too.
func TestAuditPins(t *testing.T) {
	t.Parallel()
	since := metav1.NewTime(time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC))
	a := kubestore.PinOwner{Kind: "ReplicaSet", Name: "web-a", UID: "uid-a"}
	b := kubestore.PinOwner{Kind: "ReplicaSet", Name: "web-b", UID: "uid-b"}
	objs := []kubestore.RevisionPin{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-a-1"},
			Owner:      a, ImageCount: 2, Images: []kubestore.PinnedImage{
				{Image: "app:1", Digest: "sha256:a1"},
				{Image: "proxy:1", Digest: "sha256:a2", MissingSince: &since},
			},
		},
		// The earlier shape, already moved into web-a-1: left out.
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-a-app-1"}, Owner: a, Image: "app:1", Digest: "sha256:a1"},
		// The earlier shape, not moved yet.
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-b-app-2", Annotations: map[string]string{
				kubestore.AnnotationDigestMissingSince: "2026-11-01T00:00:00Z",
			}},
			Owner: b, Image: "app:2", Digest: "sha256:b1",
		},
	}
	want := []auditPin{
		{Namespace: "shop", Name: "web-a-1", Image: "app:1", Digest: "sha256:a1", Owner: a},
		{Namespace: "shop", Name: "web-a-1", Image: "proxy:1", Digest: "sha256:a2", Owner: a, MissingSince: "2026-11-02T03:04:05Z"},
		{Namespace: "shop", Name: "web-b-app-2", Image: "app:2", Digest: "sha256:b1", Owner: b, MissingSince: "2026-11-01T00:00:00Z"},
	}
	if diff := cmp.Diff(want, auditPins(objs)); diff != "" {
		t.Errorf("auditPins (-want +got):\n%s", diff)
	}
}
