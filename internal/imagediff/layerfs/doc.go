// Package layerfs reads container image layers as file trees: it
// decompresses a layer blob (gzip, zstd or plain tar), walks the tar stream
// once without buffering file contents, applies each layer on top of the
// previous ones with the OCI image-spec rules (whiteouts, opaque
// directories, implicit parent directories, hard links), keeps a compact
// index of the result (path, type, mode, owner, size, link target and the
// sha256 of the content, never the bytes) and compares two such trees.
//
// # Two kinds of trees
//
// A Tree made with NewTree and given every layer of an image, bottom
// first, is the exact final file system of that image. Whiteouts and
// opaque markers are applied and leave no trace: a path is either in the
// tree or absent from the image.
//
// A Tree made with NewOverlay and given only the top layers of an image,
// the ones above a base it shares with another image, is the change those
// layers make to an unknown base. It keeps what the base would otherwise
// hide or show:
//
//   - a whiteout whose path is not written again by the applied layers is
//     an entry of Type Whiteout: the path is absent whatever the base holds;
//   - a directory whose base entries are hidden (an opaque marker, a
//     whiteout of the directory itself, or a directory written over a
//     non-directory or a whiteout of a lower applied layer) has Opaque set;
//   - a directory created only because an entry below it needed a parent
//     has Implicit set: its attributes are those of the base when the base
//     has that directory.
//
// A path that an overlay tree does not hold, and that no opaque directory,
// whiteout or non-directory above it hides, is whatever the base holds
// there. An overlay tree cannot see the base: an entry below a path the
// base holds as a symbolic link or a file (which NewTree would skip) is
// taken as below a directory. Image builders write a layer's parent
// directories before its entries, which replaces such a path anyway.
//
// # Comparing trees
//
// Diff compares two trees path by path and reports additions, removals and
// changes with the attributes that changed. Modification times are never
// stored, so never compared. When one side of a path is only the unknown
// base of an overlay tree, the Change has BaseUnknown set and that side's
// Entry is nil: Removed means "the first image's layers hold it, the second
// has only what the shared base has there", Added the converse; a path
// whited out on one side and only in the base on the other is Removed or
// Added with BaseUnknown ("removed, if the shared base had it"). A
// directory that is neither opaque nor whited out is not compared against
// the unknown base: its entries are. The base's entries below a directory
// reported added, removed or changed in type, or below an opaque
// directory, cannot be listed: that change stands for them. A hard link of an overlay tree to
// an entry of the base has the base's type and content, so a change of it
// has BaseUnknown too.
//
// Paths are slash-separated, cleaned and relative to the image's root
// ("usr/bin/env"); they are sorted component by component (ComparePaths),
// so a directory's entries follow it directly.
//
// # Hard links
//
// A hard link is another name of its target's inode: it takes the
// target's type, attributes and content when the layer names it (a tar
// archive names the target before the link), and keeps them when the
// target is later rewritten or removed, as a file system does. Chains of
// hard links therefore resolve once and cannot loop.
//
// # Hostile layers
//
// Entries whose name escapes the root, holds a NUL byte or is too long,
// hard links to missing entries or to directories, entries below a
// symbolic link or a file, and tar entry types that are not files are
// skipped and listed in LayerStats.Skipped. Limits on the number of
// entries, the size of one file and the uncompressed bytes of one layer
// stop the walk with a *LimitError; a broken tar, gzip or zstd stream
// stops it with an error wrapping ErrCorrupt. Every error from Apply is a
// *LayerError naming the layer and the path. Names that are not UTF-8 are
// kept as they are; errors quote them.
package layerfs
