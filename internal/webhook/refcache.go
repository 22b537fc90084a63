package webhook

import (
	"sync"

	"github.com/tagpin/tagpin/internal/imageref"
)

// refCacheSize bounds the parsed references kept; a cluster runs far
// fewer distinct image references than this.
const refCacheSize = 8192

// refCache remembers parsed references: the same few references come
// back in pod after pod, and parsing one (the reference grammar's
// regular expressions) costs more than the rest of a revision-pin hit.
type refCache struct {
	mu   sync.RWMutex
	refs map[string]parsed
}

type parsed struct {
	ref imageref.Reference
	err error
}

func (c *refCache) parse(s string) (imageref.Reference, error) {
	c.mu.RLock()
	p, ok := c.refs[s]
	c.mu.RUnlock()
	if ok {
		return p.ref, p.err
	}
	ref, err := imageref.Parse(s)
	c.mu.Lock()
	if c.refs == nil || len(c.refs) >= refCacheSize {
		c.refs = make(map[string]parsed, 64) // start over rather than track ages
	}
	c.refs[s] = parsed{ref, err}
	c.mu.Unlock()
	return ref, err
}
