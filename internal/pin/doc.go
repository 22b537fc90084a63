// Package pin finds container image references in text files and rewrites
// them to name:tag@sha256:… without touching any other byte.
//
// It owns three things:
//
//   - Scanning: [Scan] finds references by rules chosen from the file name
//     (image: keys in YAML and JSON, Cloud Build step names, Helm values
//     image maps, FROM and COPY --from in Dockerfiles with the ARG
//     defaults FROM uses, the images: entries of kustomizations, IMAGE
//     variables of dotenv files, existing name:tag@sha256:… pins in any
//     text) and classifies each one as unpinned, pinned, digest-only or
//     skipped (templated, placeholder, built here or invalid).
//   - Rewriting: [Apply] splices replacement text into the exact byte
//     spans a scan reported, so quoting, comments, indentation, line
//     endings and a missing trailing newline all survive. A reference
//     spelled by several keys (a kustomize images entry, a Helm values
//     map) is pinned at its digest key, or by inserting one:
//     [Finding.Pin] says which bytes to write where.
//   - Running: [Run] walks paths, learns which images the walked build
//     configurations (Skaffold, Tilt) build, resolves every other unique
//     tag once through an injected [ResolveFunc] with bounded
//     concurrency, and writes files atomically, prints a unified diff,
//     or (in check mode) only reports.
//     Pass 1 keeps only the unique references and a checksum per file;
//     pass 2 scans each file again and streams its rewrite into a
//     temporary file, renamed over the file only if the file still has
//     the content pass 1 saw. Files that a rename would not replace
//     faithfully (read-only, hard-linked, owned by someone it cannot
//     chown to) are left alone and reported.
//
// Resolution itself belongs to the caller: the package talks to no
// registry and imports nothing from Kubernetes.
package pin
