// Package e2e proves the webhook on a real control plane: etcd,
// kube-apiserver and kube-controller-manager built from the Go module
// proxy (hack/controlplane.sh), the Distribution registry, and the built
// tagpin binary running as a separate process behind a
// MutatingWebhookConfiguration. The tests are part of make test.
package e2e
