// Package imagediff compares two container images, cheapest first: the
// manifests or indexes (media types, platforms, annotations), the image
// configs (environment, entrypoint, labels, history…), the layers (shared,
// added, removed, and whether the base changed), and, through a
// LayerReader, the files, OS packages and Go binaries of the layers that
// differ. Layers both images share are never fetched.
//
// Images are read through a Source (NewRegistrySource reads them from a
// registry with a resolve.Resolver). The result is a Report: a stable
// JSON document (docs/diff.md describes every field) that renders as
// text, JSON or Markdown.
package imagediff
