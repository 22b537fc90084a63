// Package e2e proves the webhook on a real control plane: etcd,
// kube-apiserver and kube-controller-manager built from the Go module
// proxy (hack/controlplane.sh), the Distribution registry, and the built
// tagpin binary running as a separate process behind a
// MutatingWebhookConfiguration. TestInstall goes the way a user does:
// the image built into the registry, helm install of charts/tagpin, and
// the binary taken out of the image run with the arguments of the
// chart's Deployment as the chart's ServiceAccount. The tests are part
// of make test.
package e2e
