// Package kustomize runs tagpin fn as a KRM function under the real
// kustomize (built from the tools module hack/tools): kustomize build
// hands it the ResourceList of a kustomization, and the output must be
// that kustomization with its images pinned.
package kustomize
