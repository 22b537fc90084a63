package webhook

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// emitEvents records fallbacks and moved tags on the pod's owner (a pod
// being created may have no name yet), or on the pod when it has one.
func (h *Handler) emitEvents(namespace string, pod *corev1.Pod, outcomes []outcome) {
	if h.events == nil {
		return
	}
	obj := eventObject(namespace, pod)
	if obj == nil {
		return
	}
	for _, o := range outcomes {
		switch {
		case o.err == nil && o.source == sourceFallback:
			h.events.Event(obj, corev1.EventTypeWarning, "TagpinFallback", o.warning)
		case o.moved != nil:
			h.events.Event(obj, corev1.EventTypeNormal, "TagMoved",
				fmt.Sprintf("%s moved from %s to %s", o.image.Ref, o.moved.Previous, o.digest))
		case o.err != nil:
			h.events.Event(obj, corev1.EventTypeWarning, "TagpinNotPinned", fmt.Sprintf("%s: %s", o.image.Ref, explain(o.err)))
		}
	}
}

func eventObject(namespace string, pod *corev1.Pod) runtime.Object {
	if ref := metav1.GetControllerOf(pod); ref != nil {
		return &corev1.ObjectReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Namespace: namespace}
	}
	if pod.Name != "" {
		return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Namespace: namespace}
	}
	return nil
}
