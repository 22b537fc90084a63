// Package imageref parses container image references with the canonical
// grammar (github.com/distribution/reference) while keeping the text exactly
// as the user wrote it, so that a pinned reference can be written back
// without rewriting the name or tag.
package imageref
