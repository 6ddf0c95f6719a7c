package core

import (
	"context"
	"time"
)

// Clock is where the core reads time and waits. Every decision, and the
// budget and pacing state it consults, reads Now; Sleep is used by adapters
// to hold a request (Pace) when the HTTP client's own loop has no place for
// a wait. Tests pass a fake clock whose Sleep advances Now at once.
//
// The one timer not on the Clock is MaxElapsed's end of an attempt in
// flight: Execution.Context is a context.WithTimeout, so that net/http can
// end the attempt, and it runs on the real clock. The retry waits
// themselves are slept by the HTTP client's own loop (Decision.Wait).
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, whose error it then returns.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock: time.Now and a timer.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
