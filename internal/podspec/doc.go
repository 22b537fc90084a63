// Package podspec knows where a Pod keeps image references (containers,
// init containers, ephemeral containers and image volumes) and turns
// pinned references into JSON patch operations plus the
// tagpin.dev/images annotation that records what was done.
package podspec
