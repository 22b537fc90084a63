// Package store keeps what tagpin has learned about tags and revisions:
// for each tag the digest it points at now, when that was last verified
// and the history of its moves; for each workload revision the digest
// each of its images was pinned to.
//
// Store is the interface every backend implements: Memory here,
// boltstore (an embedded file, the default) and kubestore (custom
// resources shared by webhook replicas). storetest holds the conformance
// suite they all pass. The package imports nothing from Kubernetes.
package store
