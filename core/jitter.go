package core

import (
	"math"
	"math/rand/v2"
	"time"
)

// Jitter spreads a backoff delay d over an interval so that clients that
// failed together do not retry together. Every Jitter draws the wait
// uniformly from [Low·d, High·d):
//
//	NoJitter         [d, d]        the bare schedule
//	FullJitter       [0, d)        least total work under contention
//	EqualJitter      [d/2, d)      keeps at least half the backoff
//	Proportional(f)  [d, d+f·d)    never shorter than d; the default uses f = 0.5
//
// The zero Jitter is NoJitter.
type Jitter struct {
	// Low and High are the bounds of the interval as multiples of d.
	Low, High float64
}

var (
	// NoJitter waits exactly d.
	NoJitter = Jitter{Low: 1, High: 1}
	// FullJitter waits U(0, d): the "full jitter" of the AWS architecture blog,
	// which completes contended work with the fewest calls.
	FullJitter = Jitter{Low: 0, High: 1}
	// EqualJitter waits d/2 + U(0, d/2).
	EqualJitter = Jitter{Low: 0.5, High: 1}
)

// Proportional returns a Jitter that waits d + U(0, f·d): the computed delay
// is a floor, and up to a fraction f of it is added on top. A negative or
// NaN f is treated as 0.
func Proportional(f float64) Jitter {
	if !(f > 0) {
		f = 0
	}
	return Jitter{Low: 1, High: 1 + f}
}

// Spread returns the wait for delay d given u, a number in [0, 1) from a
// random source: Low·d + u·(High−Low)·d. It is pure, so a fixed u gives an
// exact, testable result. Bounds that are negative, NaN or inverted are
// repaired (High is raised to Low), and the result never overflows.
func (j Jitter) Spread(d time.Duration, u float64) time.Duration {
	if d <= 0 {
		return 0
	}
	lo, hi := j.Low, j.High
	if lo == 0 && hi == 0 {
		lo, hi = 1, 1 // the zero Jitter is NoJitter
	}
	if !(lo > 0) || math.IsInf(lo, 0) {
		lo = 0
	}
	if !(hi > lo) || math.IsInf(hi, 0) {
		hi = lo
	}
	if !(u > 0) {
		u = 0
	}
	if u >= 1 {
		u = math.Nextafter(1, 0)
	}
	w := durationOf(float64(d) * (lo + u*(hi-lo)))
	if hi > lo {
		// Rounding can reach High·d for u just below 1; the interval is
		// half-open.
		if top := durationOf(float64(d) * hi); w >= top && top > durationOf(float64(d)*lo) {
			w = top - 1
		}
	}
	return w
}

// backoff is the delay before retry n (1-based) before jitter:
// BaseDelay·Multiplier^(n−1), capped at MaxDelay when MaxDelay > 0.
func (p *Policy) backoff(retry int) time.Duration {
	if retry < 1 || p.BaseDelay <= 0 {
		return 0
	}
	m := p.Multiplier
	if !(m >= 1) || math.IsInf(m, 0) {
		m = 1
	}
	d := float64(p.BaseDelay) * math.Pow(m, float64(retry-1))
	if p.MaxDelay > 0 && d > float64(p.MaxDelay) {
		return p.MaxDelay
	}
	return durationOf(d)
}

// Delay returns the backoff wait before retry n (1-based), jitter included,
// ignoring server hints. It draws from the policy's Rand. Use it to see a
// policy's schedule or to drive your own loop.
func (p Policy) Delay(retry int) time.Duration {
	return p.Jitter.Spread(p.backoff(retry), p.random())
}

// random returns a number in [0, 1) from the policy's source.
func (p *Policy) random() float64 {
	if p.Rand != nil {
		return p.Rand()
	}
	return rand.Float64()
}

// maxDuration is the longest wait the package ever computes; larger values
// saturate here instead of overflowing.
const maxDuration = time.Duration(math.MaxInt64)

// durationOf converts nanoseconds held in a float to a Duration, saturating
// at maxDuration and flooring negatives and NaN at 0.
func durationOf(ns float64) time.Duration {
	switch {
	case !(ns > 0):
		return 0
	case ns >= float64(maxDuration):
		return maxDuration
	}
	return time.Duration(ns)
}
