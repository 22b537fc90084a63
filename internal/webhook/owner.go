package webhook

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagpin/tagpin/internal/store"
)

// RevisionOwner returns the workload revision pod belongs to, the owner
// of its revision pins, or false for a bare pod (or one whose controller
// is not a workload tagpin knows revisions of). tagpin audit finds pins
// with it as admission does.
func RevisionOwner(pod *corev1.Pod) (store.Owner, bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.UID == "" {
		return store.Owner{}, false
	}
	kind, ok := store.LookupOwnerKind(ref.Kind)
	if !ok {
		return store.Owner{}, false
	}
	o := store.Owner{Kind: ref.Kind, Name: ref.Name, UID: string(ref.UID)}
	if kind.Revisioned {
		o.Revision = pod.Labels["controller-revision-hash"]
		return o, o.Revision != ""
	}
	return o, true
}
