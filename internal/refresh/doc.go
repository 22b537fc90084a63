// Package refresh keeps what tagpin knows fresh without waiting for an
// admission: a Refresher re-resolves the tags in use (those of live
// revision pins and those seen recently) on a schedule, records moves
// with source refresh and reports them on the workloads that use the
// tag, and checks at a lower rate that the digests revision pins hold
// still exist in their registries, reporting those that vanished.
//
// It is meant to run on one process at a time (the leader); it talks to
// registries through a per-registry rate limit and HEAD requests only.
package refresh
