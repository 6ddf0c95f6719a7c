package retrytest

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake core.Clock: Now starts where it is told and moves only
// when Sleep or Advance moves it, so a test that sleeps on it never waits.
// It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
	// slept is the sum of every Sleep, for tests that check a hold.
	slept time.Duration
}

// NewClock returns a fake clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the clock forward by d at once, unless ctx is done already,
// whose error it then returns.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.mu.Lock()
		c.now = c.now.Add(d)
		c.slept += d
		c.mu.Unlock()
	}
	return nil
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Slept returns the sum of every Sleep so far.
func (c *Clock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}
