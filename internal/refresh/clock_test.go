package refresh_test

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only when told. With auto set,
// every wait advances the time by its duration at once (one waiter at a
// time: for code that waits from one goroutine); otherwise waits block
// until Advance passes their deadline, and each wait is announced on
// waiting.
type fakeClock struct {
	auto bool
	// onWait, if set, is called (with the time before the wait) by every
	// wait of an auto clock.
	onWait func(now time.Time)

	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	waiting chan struct{}
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

var epoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newFakeClock(auto bool) *fakeClock {
	return &fakeClock{auto: auto, now: epoch, waiting: make(chan struct{}, 64)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	if c.auto {
		if c.onWait != nil {
			c.onWait(c.now)
		}
		c.now = c.now.Add(max(d, 0))
		ch <- c.now
		c.mu.Unlock()
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.waiting <- struct{}{}
	return ch
}

// Advance moves the time on by d and fires the waits due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// awaitWait returns once something waits on the clock, or fails the
// test after 30 s.
func (c *fakeClock) awaitWait(t *testing.T) {
	t.Helper()
	select {
	case <-c.waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("nothing waited on the clock within 30 s")
	}
}
