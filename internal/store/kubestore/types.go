package kubestore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version of the custom resources.
const (
	Group   = "tagpin.dev"
	Version = "v1alpha1"
)

// GroupVersion is the API version of the custom resources.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// AddToScheme registers the custom resources' types with s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ClusterImageTag{}, &ClusterImageTagList{},
		&ImageTag{}, &ImageTagList{},
		&RevisionPin{}, &RevisionPinList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// ClusterImageTag is the record of a tag in the public scope: digests
// resolved without credentials, which anyone may be served.
type ClusterImageTag struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	TagRecord         `json:",inline"`
}

// ClusterImageTagList is a list of ClusterImageTags.
type ClusterImageTagList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterImageTag `json:"items"`
}

// ImageTag is the record of a tag in a namespace's scope: digests learned
// with the namespace's pull secrets, never served to another namespace.
type ImageTag struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	TagRecord         `json:",inline"`
}

// ImageTagList is a list of ImageTags.
type ImageTagList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageTag `json:"items"`
}

// TagRecord holds the fields of ImageTag and ClusterImageTag: what is
// known about one tag.
type TagRecord struct {
	// Image is registry/repository:tag, for people.
	Image string `json:"image"`
	// Registry, Repository and Tag are the key.
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// Digest is the digest the tag points at, as last observed
	// (History[0].Digest).
	Digest string `json:"digest"`
	// LastVerified is when Digest was last confirmed (History[0].LastSeen),
	// to the second.
	LastVerified metav1.Time `json:"lastVerified"`
	// Moves is len(History), for kubectl's printer column.
	Moves int32 `json:"moves"`
	// History holds the periods during which the tag pointed at one
	// digest, newest first.
	History []TagMove `json:"history"`
}

// TagMove is one period during which a tag pointed at one digest.
type TagMove struct {
	Digest    string           `json:"digest"`
	FirstSeen metav1.MicroTime `json:"firstSeen"`
	LastSeen  metav1.MicroTime `json:"lastSeen"`
	// Source is how the move was first learned (admission, refresh,
	// notification, cli).
	Source string `json:"source"`
}

// RevisionPin is the digest one image of one workload revision is pinned
// to. It is owned by the workload (ownerReferences), so Kubernetes
// deletes it with the owner.
type RevisionPin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Image is the container's image reference exactly as written.
	Image string `json:"image"`
	// Digest is the digest Image is pinned to for this revision.
	Digest string `json:"digest"`
	// Owner is the workload revision.
	Owner PinOwner `json:"owner"`
}

// RevisionPinList is a list of RevisionPins.
type RevisionPinList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RevisionPin `json:"items"`
}

// PinOwner is the workload revision a RevisionPin belongs to.
type PinOwner struct {
	// Kind is ReplicaSet, Job, StatefulSet, DaemonSet or
	// ControllerRevision.
	Kind string `json:"kind"`
	// Name is the owner's name.
	Name string `json:"name"`
	// UID is the owner's UID.
	UID string `json:"uid"`
	// Revision is the pods' controller-revision-hash for a StatefulSet or
	// DaemonSet, empty otherwise.
	Revision string `json:"revision,omitempty"`
}

// DeepCopyInto copies r into out.
func (r *TagRecord) DeepCopyInto(out *TagRecord) {
	*out = *r
	r.LastVerified.DeepCopyInto(&out.LastVerified)
	if r.History != nil {
		out.History = make([]TagMove, len(r.History))
		for i := range r.History {
			r.History[i].DeepCopyInto(&out.History[i])
		}
	}
}

// DeepCopyInto copies m into out.
func (m *TagMove) DeepCopyInto(out *TagMove) {
	*out = *m
	m.FirstSeen.DeepCopyInto(&out.FirstSeen)
	m.LastSeen.DeepCopyInto(&out.LastSeen)
}

// DeepCopyInto copies t into out.
func (t *ClusterImageTag) DeepCopyInto(out *ClusterImageTag) {
	*out = *t
	t.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	t.TagRecord.DeepCopyInto(&out.TagRecord)
}

// DeepCopy returns a copy of t.
func (t *ClusterImageTag) DeepCopy() *ClusterImageTag {
	if t == nil {
		return nil
	}
	out := new(ClusterImageTag)
	t.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (t *ClusterImageTag) DeepCopyObject() runtime.Object {
	if c := t.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies l into out.
func (l *ClusterImageTagList) DeepCopyInto(out *ClusterImageTagList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]ClusterImageTag, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of l.
func (l *ClusterImageTagList) DeepCopy() *ClusterImageTagList {
	if l == nil {
		return nil
	}
	out := new(ClusterImageTagList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *ClusterImageTagList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies t into out.
func (t *ImageTag) DeepCopyInto(out *ImageTag) {
	*out = *t
	t.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	t.TagRecord.DeepCopyInto(&out.TagRecord)
}

// DeepCopy returns a copy of t.
func (t *ImageTag) DeepCopy() *ImageTag {
	if t == nil {
		return nil
	}
	out := new(ImageTag)
	t.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (t *ImageTag) DeepCopyObject() runtime.Object {
	if c := t.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies l into out.
func (l *ImageTagList) DeepCopyInto(out *ImageTagList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]ImageTag, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of l.
func (l *ImageTagList) DeepCopy() *ImageTagList {
	if l == nil {
		return nil
	}
	out := new(ImageTagList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *ImageTagList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies p into out.
func (p *RevisionPin) DeepCopyInto(out *RevisionPin) {
	*out = *p
	p.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
}

// DeepCopy returns a copy of p.
func (p *RevisionPin) DeepCopy() *RevisionPin {
	if p == nil {
		return nil
	}
	out := new(RevisionPin)
	p.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (p *RevisionPin) DeepCopyObject() runtime.Object {
	if c := p.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies l into out.
func (l *RevisionPinList) DeepCopyInto(out *RevisionPinList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]RevisionPin, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of l.
func (l *RevisionPinList) DeepCopy() *RevisionPinList {
	if l == nil {
		return nil
	}
	out := new(RevisionPinList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *RevisionPinList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}
