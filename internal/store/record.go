package store

import (
	"time"

	"github.com/opencontainers/go-digest"
)

// Record applies an observation to t, a tag's record (nil when the tag
// has none yet), keeping at most maxMoves moves, and returns the new
// record and what happened. It is the one implementation of Observe's
// semantics; backends call it inside their own transaction. changed is
// false when nothing needs writing.
func Record(t *Tag, key TagKey, d digest.Digest, at time.Time, src Source, maxMoves int) (out *Tag, obs Observation, changed bool) {
	at = at.UTC()
	if t == nil || len(t.History) == 0 {
		return &Tag{Key: key, History: []Move{{Digest: d, FirstSeen: at, LastSeen: at, Source: src}}}, Observation{}, true
	}
	cur := t.History[0]
	obs.Previous = cur.Digest
	switch {
	case cur.Digest == d:
		if !at.After(cur.LastSeen) {
			return t, obs, false
		}
		out = &Tag{Key: t.Key, History: append([]Move{cur}, t.History[1:]...)}
		out.History[0].LastSeen = at
		if at.Before(out.History[0].FirstSeen) {
			out.History[0].FirstSeen = at
		}
		return out, obs, true
	case at.Before(cur.LastSeen):
		// A late writer: someone saw the current digest after this
		// observation was made.
		obs.Stale = true
		return t, obs, false
	default:
		obs.Moved = true
		if maxMoves <= 0 {
			maxMoves = DefaultMaxMoves
		}
		n := min(len(t.History)+1, maxMoves)
		h := make([]Move, n)
		h[0] = Move{Digest: d, FirstSeen: at, LastSeen: at, Source: src}
		copy(h[1:], t.History)
		return &Tag{Key: t.Key, History: h}, obs, true
	}
}
