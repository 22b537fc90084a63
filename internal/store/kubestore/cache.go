package kubestore

import (
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What the informer cache holds. A cluster keeps a revision pin per image
// of every ReplicaSet it still has (10k Deployments with the default
// revisionHistoryLimit: ~100k ReplicaSets), and every replica of the
// webhook holds them all, so the cache keeps of each object only what
// the store reads, and shares the strings many objects repeat
// (namespaces, images, digests, owner kinds, registries, sources).
//
// Cached objects are never changed in place: the cache hands out deep
// copies (Get, List), and writes start from a copy.

// slimmer is the informer cache's transform and what it shares between
// objects.
type slimmer struct {
	// labels is the one map every cached tag whose labels are exactly
	// tagpin's own shares. Nothing writes to it: readers get copies.
	labels map[string]string
}

func newSlimmer() *slimmer {
	return &slimmer{labels: map[string]string{LabelManagedBy: managedBy}}
}

// transform slims the store's objects and leaves others as they are.
func (s *slimmer) transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *RevisionPin:
		slimPin(o)
	case *ClusterImageTag:
		s.slimTag(&o.ObjectMeta, &o.TagRecord)
	case *ImageTag:
		s.slimTag(&o.ObjectMeta, &o.TagRecord)
	}
	return obj, nil
}

// slimPin keeps of a pin its key (name and namespace), UID and
// resourceVersion (writes are conditional on them), its fields, and, on
// a pin of the earlier shape, the vanished-digest annotation.
// Pins are created, patched and deleted, never updated, so their labels
// and ownerReferences (the API server keeps them) need not be held.
func slimPin(p *RevisionPin) {
	var annotations map[string]string
	if since, ok := p.Annotations[AnnotationDigestMissingSince]; ok && p.Image != "" {
		// The vanished-digest watch's mark, read by Revisions and
		// moved by Migrate.
		annotations = map[string]string{AnnotationDigestMissingSince: since}
	}
	p.ObjectMeta = metav1.ObjectMeta{
		Name: p.Name, Namespace: intern(p.Namespace), UID: p.UID, ResourceVersion: p.ResourceVersion,
		CreationTimestamp: p.CreationTimestamp, Annotations: annotations,
	}
	p.Image = intern(p.Image)
	p.Digest = intern(p.Digest)
	p.Owner.Kind = intern(p.Owner.Kind)
	for i := range p.Images {
		p.Images[i].Image = intern(p.Images[i].Image)
		p.Images[i].Digest = intern(p.Images[i].Digest)
	}
}

// slimTag drops a tag's managedFields (an update without them keeps
// them) and Image (derived from the key, rewritten by every write), and
// shares the repeated strings and labels. The rest of the metadata
// stays: records are updated from a copy of the cached object, and an
// update writes back labels, annotations, owner references and
// finalizers as they are.
func (s *slimmer) slimTag(m *metav1.ObjectMeta, r *TagRecord) {
	m.ManagedFields = nil
	if len(m.Labels) == 1 && m.Labels[LabelManagedBy] == managedBy {
		m.Labels = s.labels
	}
	m.Namespace = intern(m.Namespace)
	r.Image = ""
	r.Registry = intern(r.Registry)
	for i := range r.History {
		r.History[i].Source = intern(r.History[i].Source)
	}
	if len(r.History) > 0 && r.Digest == r.History[0].Digest {
		r.Digest = r.History[0].Digest
	}
}

// intern returns s's canonical copy: equal strings share one. Only
// strings that many objects repeat are worth it: a canonical copy costs
// an entry in unique's map.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}
