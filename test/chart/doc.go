// Package chart tests the Helm chart charts/tagpin with Helm built from
// the tools module (go tool -modfile=hack/tools/go.mod helm): lint and
// rendering with each value set of charts/tagpin/ci, the arguments the
// Deployment passes parsed by tagpin webhook's own flags, least-privilege
// RBAC, bad values refused with a message naming them, deploy/tagpin.yaml
// up to date, and the rendered objects accepted by a real kube-apiserver
// (with Pod Security restricted enforced). The tests are part of make
// test; go test -short skips them.
package chart
