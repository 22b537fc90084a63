// Package boltstore is the embedded store.Store backend, the default: one
// bbolt file (by default ~/.cache/tagpin/store.db) that one process opens
// at a time.
//
// The file holds three buckets:
//
//   - meta: key "schema" holds the schema version as decimal text (1).
//     Open refuses a file with another version, or a bolt file that has
//     buckets but no version (not a tagpin store), with ErrSchema.
//   - tags: one record per tag. The key is scope, registry, repository
//     and tag joined by NUL bytes (the public scope is the empty
//     string). The value is a compact binary history; see encoding.go.
//   - revisions: one pin per image of a workload revision. The key is
//     namespace, owner kind, owner UID, owner revision and image joined
//     by NUL bytes, so the pins of one owner are adjacent; the value
//     holds the owner's name and the pinned digest.
//
// No part of a key may contain a NUL byte; Observe and PinRevision
// refuse such keys.
//
// Buckets keep bbolt's default FillPercent (0.5). Records arrive in no
// particular order and grow with every move, so pages filled tighter
// soon split unevenly: populating 100k tags with 10 moves each in random
// order made a file of 80 MiB at 0.5 or 0.6, 96 MiB at 0.3 and 112 MiB
// at 0.9 or 1 (make bench reports the figure).
//
// Writes from concurrent callers are committed together: a caller that
// finds a commit in progress queues its change, and the next commit
// applies every queued change in one transaction and one fsync. A lone
// caller commits at once. Every call returns only after its change is on
// disk.
package boltstore
