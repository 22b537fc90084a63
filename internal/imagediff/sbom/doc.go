// Package sbom reads the package lists of software bills of materials
// attached to images — SPDX 2.x JSON and CycloneDX JSON (1.4 to 1.6) —
// also when wrapped in an in-toto statement, itself possibly inside a DSSE
// envelope (cosign attestations), and compares two such lists.
//
// Input is size-limited (MaxSize) and hostile input yields an error wrapping
// ErrMalformed, ErrUnsupportedFormat or ErrTooLarge, never a panic. The
// package does no I/O beyond the reader it is given and imports nothing from
// Kubernetes.
package sbom
