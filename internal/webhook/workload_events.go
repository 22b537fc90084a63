package webhook

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"

	"github.com/tagpin/tagpin/internal/refresh"
	"github.com/tagpin/tagpin/internal/store"
)

// Event reasons of the background refresher.
const (
	ReasonTagMoved            = "TagMoved"
	ReasonPinnedDigestMissing = "PinnedDigestMissing"
)

// WorkloadEvents reports what the background refresher finds as events
// on the workloads that use the image: a ReplicaSet's Deployment when it
// has one, else the owner of the revision pin (ReplicaSet, Job,
// StatefulSet, DaemonSet). It implements refresh.Events.
type WorkloadEvents struct {
	Recorder record.EventRecorder
	// Client looks up a ReplicaSet's controller (get on replicasets).
	Client metadata.Interface
}

var _ refresh.Events = (*WorkloadEvents)(nil)

// TagMoved implements refresh.Events: a Normal TagMoved event on each
// workload.
func (w *WorkloadEvents) TagMoved(ctx context.Context, image string, from, to digest.Digest, owners []refresh.PinOwner) {
	msg := fmt.Sprintf("%s moved: %s → %s (found by tagpin's background refresh; pods of new rollouts get %s)", image, from, to, to)
	for _, obj := range w.workloads(ctx, owners) {
		w.Recorder.Event(obj, corev1.EventTypeNormal, ReasonTagMoved, msg)
	}
}

// DigestMissing implements refresh.Events: a Warning PinnedDigestMissing
// event on each workload.
func (w *WorkloadEvents) DigestMissing(ctx context.Context, image string, d digest.Digest, owners []refresh.PinOwner) {
	msg := fmt.Sprintf("%s is pinned to %s, which its registry no longer has (HEAD by digest: not found): "+
		"pods that are rescheduled or scaled up will fail to pull it; roll the workload out again "+
		"(kubectl rollout restart) to pin the tag's current digest, or push the digest back", image, d)
	for _, obj := range w.workloads(ctx, owners) {
		w.Recorder.Event(obj, corev1.EventTypeWarning, ReasonPinnedDigestMissing, msg)
	}
}

// workloads returns the objects to put the events on, each once.
func (w *WorkloadEvents) workloads(ctx context.Context, owners []refresh.PinOwner) []*corev1.ObjectReference {
	var out []*corev1.ObjectReference
	seen := map[types.UID]bool{}
	for _, o := range owners {
		obj, ok := w.workload(ctx, o.Namespace, o.Owner)
		if !ok || seen[obj.UID] {
			continue
		}
		seen[obj.UID] = true
		out = append(out, obj)
	}
	return out
}

// workload returns the object o belongs to; false when o is gone.
func (w *WorkloadEvents) workload(ctx context.Context, namespace string, o store.Owner) (*corev1.ObjectReference, bool) {
	kind, known := store.LookupOwnerKind(o.Kind)
	self := &corev1.ObjectReference{Kind: o.Kind, Name: o.Name, UID: types.UID(o.UID), Namespace: namespace}
	if !known {
		return self, true
	}
	self.APIVersion = kind.APIVersion()
	if o.Kind != "ReplicaSet" || w.Client == nil {
		return self, true
	}
	gvr := schema.GroupVersionResource{Group: kind.Group, Version: kind.Version, Resource: kind.Resource}
	m, err := w.Client.Resource(gvr).Namespace(namespace).Get(ctx, o.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || err == nil && string(m.UID) != o.UID:
		return nil, false // gone: nobody to tell
	case err != nil:
		return self, true
	}
	if ref := metav1.GetControllerOf(m); ref != nil && ref.Kind == "Deployment" {
		return &corev1.ObjectReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Namespace: namespace}, true
	}
	return self, true
}
