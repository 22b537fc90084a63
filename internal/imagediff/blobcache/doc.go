// Package blobcache keeps content-addressed blobs (image layers, configs,
// manifests) on disk between runs, verified against their digests and
// capped in size.
//
// A blob lives in dir/<algorithm>/<hex>, a path made only of the validated
// digest; only sha256 and sha512 digests are accepted. [Cache.Open]
// serves a blob from disk when it is there, verifying it while it is read,
// and otherwise from the caller's fetch function, copying what is read
// into a temporary file that is renamed into place only once the blob's
// size and digest have been checked. Nothing is held locked across a
// download: processes sharing the directory see a blob complete or not
// at all. Recency is the file's modification time, updated on every hit;
// [Cache.Prune], run after every insertion, removes the least recently
// used blobs until the total size is under the cap.
package blobcache
