// Package controlplanetest is the one harness that starts a real
// Kubernetes control plane for tests, benchmarks and the demo: etcd and
// kube-apiserver (through controller-runtime's envtest), optionally
// kube-controller-manager, with tagpin's CRDs from config/crd installed
// and an admin kubeconfig file written for other processes.
//
// The binaries come from $KUBEBUILDER_ASSETS or, when it is unset, from
// the directory hack/controlplane.sh builds them into (once, under
// ~/.cache/tagpin). When they are not built, Start fails with ErrNotBuilt
// unless WithBuild asks it to build them (minutes, the first time); the
// test helpers ForTest and Shared skip the tests instead, and also under
// go test -short:
//
//	make controlplane                               # build them once
//	export KUBEBUILDER_ASSETS=$(bash hack/controlplane.sh)
//	go test ./internal/store/kubestore/
//
// make test does both.
package controlplanetest
