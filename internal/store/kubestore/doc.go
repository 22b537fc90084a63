// Package kubestore is the in-cluster store.Store backend: tag records and
// revision pins kept as custom resources of the API group tagpin.dev, so
// every replica of the webhook shares them, people read them with kubectl,
// RBAC guards them and Kubernetes garbage-collects revision pins with the
// workload revision they belong to.
//
// Three kinds, version v1alpha1, hold the records (see types.go):
//
//   - ClusterImageTag (cluster-scoped, short name cit): a tag of the
//     public scope, resolved without credentials.
//   - ImageTag (namespaced, short name it): a tag resolved with a
//     namespace's pull secrets; the object's namespace is the scope, and
//     the record is never served to another one.
//   - RevisionPin (namespaced, short name rp): the digests the images of
//     one workload revision are pinned to, one object per revision,
//     owned (ownerReferences) by the ReplicaSet, Job, StatefulSet or
//     DaemonSet it belongs to. Objects of the earlier shape, one per
//     image, are read until Migrate moves them (pins.go, migrate.go).
//
// Records are data, not desired state: their fields sit at the top level
// (no spec, no status), so one write updates a record. Object names are
// derived from the key (a readable prefix and a hash of the whole key).
//
// Reads come from an informer cache: a lookup costs no API call, and a
// key the cache does not hold is not found. Writes go to the API server
// with optimistic concurrency (resourceVersion) and wait until the cache
// has caught up, so a read after a write sees it.
//
// controller-gen (make generate) writes the CustomResourceDefinitions of
// config/crd and zz_generated.deepcopy.go from the types and their
// markers (types.go, groupversion.go).
package kubestore
