package resolve

import (
	"errors"
	"sync"
	"time"
)

// errHostDown fails a request fast while a registry is down and another
// request is checking, or has just checked, whether it is back.
var errHostDown = errors.New("registry marked down")

// health is a registry's circuit breaker. A resolution that fails
// because the registry is unavailable (network error, timeout, 5xx, 429)
// marks it down. While it is down, one request at a time goes through
// as a probe, with no retries, and at most one per probe interval; the
// others fail at once as unavailable, so callers with a fallback (the
// webhook) answer without waiting and a failing registry is not
// hammered. The first probe that gets an answer marks the registry up.
type health struct {
	interval time.Duration

	mu        sync.Mutex
	down      bool
	probing   bool
	lastProbe time.Time
}

// admit says whether a request may go to the registry, and whether it
// goes as the probe.
func (h *health) admit() (probe, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return false, true
	}
	now := time.Now()
	if h.probing || now.Sub(h.lastProbe) < h.interval {
		return false, false
	}
	h.probing, h.lastProbe = true, now
	return true, true
}

// settle records the outcome of an admitted request: err is its
// error, canceled whether its caller canceled it (which says nothing
// about the registry).
func (h *health) settle(probe, canceled bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if probe {
		h.probing = false
	}
	switch {
	case canceled || errors.Is(err, errHostDown) || errors.As(err, new(*credentialError)):
		// Nothing learned about the registry.
	case errors.Is(err, ErrUnavailable):
		// The failure is as good as a probe: the next one waits.
		h.down, h.lastProbe = true, time.Now()
	default:
		// An answer, even not found or unauthorized: the registry is up.
		h.down = false
	}
}
