// Package notify receives push notifications from registries (CNCF
// Distribution, Harbor, Docker Hub, or a generic JSON event) so that
// tagpin learns a tag moved when it moves, not when the next pod asks.
//
// A notification is a hint, never the truth: senders put digests where
// tags belong, leave digests out, and deliver late, twice or out of
// order. Each pushed tag is therefore confirmed with the registry (one
// HEAD, shared with every other resolution under way) by a ConfirmFunc
// that records what the registry says. Requests are authenticated with a
// shared token, bounded in size, and validated; tags are confirmed by a
// few workers, once at a time per tag, at a bounded rate per repository.
package notify
