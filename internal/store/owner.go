package store

// OwnerKind is a kind of workload whose pods tagpin pins by revision.
// The webhook finds a pod's owner by it, pruning looks owners up by it,
// and the kubernetes store writes owner references with it.
type OwnerKind struct {
	// Kind, Group, Version and Resource name the owner's API type.
	Kind, Group, Version, Resource string
	// Revisioned is true when one owner runs several revisions at once,
	// told apart by the pods' controller-revision-hash label
	// (StatefulSet, DaemonSet); false when each owner object is one
	// revision (ReplicaSet, Job).
	Revisioned bool
}

// APIVersion returns group/version, or version for the core group.
func (k OwnerKind) APIVersion() string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// OwnerKinds returns the owner kinds tagpin pins revisions of.
func OwnerKinds() []OwnerKind {
	return []OwnerKind{
		{Kind: "ReplicaSet", Group: "apps", Version: "v1", Resource: "replicasets"},
		{Kind: "Job", Group: "batch", Version: "v1", Resource: "jobs"},
		{Kind: "StatefulSet", Group: "apps", Version: "v1", Resource: "statefulsets", Revisioned: true},
		{Kind: "DaemonSet", Group: "apps", Version: "v1", Resource: "daemonsets", Revisioned: true},
	}
}

// LookupOwnerKind returns the owner kind called kind, if tagpin pins
// revisions of it.
func LookupOwnerKind(kind string) (OwnerKind, bool) {
	for _, k := range OwnerKinds() {
		if k.Kind == kind {
			return k, true
		}
	}
	return OwnerKind{}, false
}
