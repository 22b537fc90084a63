// Package webhook is tagpin's mutating admission handler for Pods: it
// pins every image to name:tag@sha256:…, keeps the pods of one workload
// revision on one digest, and falls back to the last-known digest when
// the registry is unavailable. It is the one place where resolution
// errors become admission responses, warnings and events.
package webhook
