package refresh

import (
	"context"
	"sync"
	"time"
)

// limiter spaces requests to one registry evenly at rate per second,
// with no burst beyond one request.
type limiter struct {
	clock Clock
	every time.Duration

	mu   sync.Mutex
	next time.Time // the earliest time of the next request
}

func newLimiter(clock Clock, rate float64) *limiter {
	return &limiter{clock: clock, every: time.Duration(float64(time.Second) / rate)}
}

// wait returns when a request may be made, or ctx's error.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.clock.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		select {
		case <-l.clock.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// limiters holds one limiter per registry.
type limiters struct {
	clock Clock
	rate  float64

	mu  sync.Mutex
	all map[string]*limiter
}

func (l *limiters) get(registry string) *limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.all == nil {
		l.all = map[string]*limiter{}
	}
	lim, ok := l.all[registry]
	if !ok {
		lim = newLimiter(l.clock, l.rate)
		l.all[registry] = lim
	}
	return lim
}
