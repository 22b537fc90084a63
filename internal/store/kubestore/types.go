package kubestore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The custom resources. Their doc comments become the descriptions in the
// CRDs (kubectl explain) and their markers the schema, printer columns and
// names: after changing them, run make generate (controller-gen) to
// rewrite zz_generated.deepcopy.go and config/crd.

// ClusterImageTag records what tagpin knows about a tag in the public
// scope (digests resolved without credentials): the digest it points at,
// when that was last verified and the history of its moves.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=clusterimagetags,singular=clusterimagetag,scope=Cluster,shortName=cit,categories=tagpin
// +kubebuilder:metadata:labels="app.kubernetes.io/name=tagpin"
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=".image",description="registry/repository:tag"
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=".digest",description="The digest the tag points at"
// +kubebuilder:printcolumn:name="Last Verified",type=date,JSONPath=".lastVerified",description="When the digest was last confirmed"
// +kubebuilder:printcolumn:name="Moves",type=integer,JSONPath=".moves",description="How many digests the history holds"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type ClusterImageTag struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	TagRecord         `json:",inline"`
}

// ClusterImageTagList is a list of ClusterImageTags.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
type ClusterImageTagList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterImageTag `json:"items"`
}

// ImageTag records what tagpin knows about a tag resolved with this
// namespace's pull secrets (never served to another namespace): the
// digest it points at, when that was last verified and the history of
// its moves.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=imagetags,singular=imagetag,scope=Namespaced,shortName=it,categories=tagpin
// +kubebuilder:metadata:labels="app.kubernetes.io/name=tagpin"
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=".image",description="registry/repository:tag"
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=".digest",description="The digest the tag points at"
// +kubebuilder:printcolumn:name="Last Verified",type=date,JSONPath=".lastVerified",description="When the digest was last confirmed"
// +kubebuilder:printcolumn:name="Moves",type=integer,JSONPath=".moves",description="How many digests the history holds"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type ImageTag struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	TagRecord         `json:",inline"`
}

// ImageTagList is a list of ImageTags.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
type ImageTagList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageTag `json:"items"`
}

// TagRecord holds the fields of ImageTag and ClusterImageTag: what is
// known about one tag. Registry, Repository and Tag are the key.
//
// +kubebuilder:object:generate=true
type TagRecord struct {
	// registry/repository:tag, for people.
	Image string `json:"image"`
	// The registry host, canonically named (docker.io, not
	// index.docker.io or a mirror).
	// +kubebuilder:validation:MinLength=1
	Registry string `json:"registry"`
	// The repository path within the registry (library/nginx).
	// +kubebuilder:validation:MinLength=1
	Repository string `json:"repository"`
	// The tag.
	// +kubebuilder:validation:MinLength=1
	Tag string `json:"tag"`
	// The digest the tag points at, as last observed (history[0].digest).
	// +kubebuilder:validation:Pattern=`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`
	Digest string `json:"digest"`
	// When digest was last confirmed (history[0].lastSeen), to the second.
	LastVerified metav1.Time `json:"lastVerified"`
	// How many moves history holds (len(history)), for kubectl's printer
	// column.
	// +kubebuilder:validation:Minimum=1
	Moves int32 `json:"moves"`
	// The periods during which the tag pointed at one digest, newest
	// first; history[0] is the current digest.
	// +kubebuilder:validation:MinItems=1
	History []TagMove `json:"history"`
}

// TagMove is a period during which the tag pointed at one digest.
//
// +kubebuilder:object:generate=true
type TagMove struct {
	// The digest the tag pointed at.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`
	Digest string `json:"digest"`
	// When the tag was first seen at this digest (in this period).
	FirstSeen metav1.MicroTime `json:"firstSeen"`
	// When the tag was last seen at this digest.
	LastSeen metav1.MicroTime `json:"lastSeen"`
	// How the move was first learned: admission, refresh, notification or
	// cli.
	Source string `json:"source"`
}

// RevisionPin holds the digests the images of one workload revision are
// pinned to, so every pod of the revision runs the same bytes: one object
// per revision, each image pinned by its first writer. Kubernetes deletes
// it with its owner (ownerReferences).
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=revisionpins,singular=revisionpin,scope=Namespaced,shortName=rp,categories=tagpin
// +kubebuilder:metadata:labels="app.kubernetes.io/name=tagpin"
// +kubebuilder:printcolumn:name="Owner Kind",type=string,JSONPath=".owner.kind",description="The owner's kind"
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=".owner.name",description="The owner's name"
// +kubebuilder:printcolumn:name="Images",type=integer,JSONPath=".imageCount",description="How many images of the revision are pinned"
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=".owner.revision",priority=1,description="The pods' controller-revision-hash (StatefulSet, DaemonSet)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
type RevisionPin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// The workload revision the pins belong to.
	Owner PinOwner `json:"owner"`
	// How many entries images holds (len(images)), for kubectl's printer
	// column.
	// +optional
	ImageCount int32 `json:"imageCount,omitempty"`
	// The revision's images, each with the digest it is pinned to, in
	// the order they were pinned.
	// +listType=map
	// +listMapKey=image
	// +optional
	Images []PinnedImage `json:"images,omitempty"`
	// Image and Digest are the earlier shape of a RevisionPin, one object
	// per image of a revision. tagpin reads them, moves them into the
	// object of their revision (images) and deletes them; it never
	// writes them.
	// +optional
	Image string `json:"image,omitempty"`
	// The digest of image, in the earlier shape.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`
	// +optional
	Digest string `json:"digest,omitempty"`
}

// PinnedImage is one image of a revision and the digest it is pinned to.
//
// +kubebuilder:object:generate=true
type PinnedImage struct {
	// The container's image reference exactly as written.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// The digest the image is pinned to for this revision.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`
	Digest string `json:"digest"`
	// When the digest was first found missing from its registry (a HEAD
	// by digest answered 404); absent while the registry has it. tagpin
	// audit lists the images that carry it.
	// +optional
	MissingSince *metav1.Time `json:"missingSince,omitempty"`
}

// RevisionPinList is a list of RevisionPins.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
type RevisionPinList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RevisionPin `json:"items"`
}

// PinOwner is the workload revision a RevisionPin belongs to.
//
// +kubebuilder:object:generate=true
type PinOwner struct {
	// ReplicaSet, Job, StatefulSet or DaemonSet.
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// The owner's name.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// The owner's UID.
	// +kubebuilder:validation:MinLength=1
	UID string `json:"uid"`
	// The pods' controller-revision-hash for a StatefulSet or DaemonSet,
	// empty otherwise.
	Revision string `json:"revision,omitempty"`
}
