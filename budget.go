package restyretry

import "sync/atomic"

// Budget limits retries to a share of a client's traffic, so that a client
// retries every isolated failure but cannot multiply the load on a service
// that is down. It is a token bucket, shared by every request of one applied
// client, in the manner of gRPC retry throttling, the AWS SDK retry quota
// and Finagle's retry budget:
//
//   - the bucket starts full, holding Reserve tokens, and never holds more;
//   - every request's first attempt deposits Ratio of a token;
//   - every retry withdraws one token, and is refused when less than one is
//     left (the request then ends with ErrBudgetExhausted).
//
// While failures are rarer than Ratio the bucket stays full and every
// failure is retried. During an outage the bucket drains and the client sends
// at most 1 + Ratio requests per logical request, plus the Reserve once,
// instead of 1 + MaxRetries. The arithmetic is integer (milli-tokens), so
// the budget is exact and needs no clock.
//
// The zero Budget disables the limit.
type Budget struct {
	// Ratio is the share of requests that may be retried over time; 0.2
	// allows one retry per five requests.
	Ratio float64
	// Reserve is how many retries may be spent at once before any deposit,
	// so a quiet client can still retry a burst of failures. With Ratio set,
	// a Reserve below 1 counts as 1, the least a bucket needs to pay for a
	// retry.
	Reserve int
}

// Budget parameters of the presets.
const (
	defaultBudgetRatio   = 0.2
	defaultBudgetReserve = 10
)

const milli = 1000

// bucket is the live state of a Budget for one applied client.
type bucket struct {
	tokens  atomic.Int64 // milli-tokens
	max     int64
	deposit int64
}

// newBucket returns nil for a disabled Budget: a nil bucket allows all.
func newBucket(b Budget) *bucket {
	if !(b.Ratio > 0) && b.Reserve <= 0 {
		return nil
	}
	ratio := b.Ratio
	if !(ratio > 0) {
		ratio = 0
	}
	if ratio > 1e6 {
		ratio = 1e6
	}
	reserve := int64(max(b.Reserve, 1))
	k := &bucket{max: min(reserve, 1<<40) * milli, deposit: int64(ratio * milli)}
	k.tokens.Store(k.max)
	return k
}

// onRequest credits the bucket for a new logical request.
func (k *bucket) onRequest() {
	if k == nil || k.deposit == 0 {
		return
	}
	for {
		t := k.tokens.Load()
		if t >= k.max {
			return
		}
		if k.tokens.CompareAndSwap(t, min(t+k.deposit, k.max)) {
			return
		}
	}
}

// refund returns the token of a retry that was paid for but not sent.
func (k *bucket) refund() {
	if k == nil {
		return
	}
	for {
		t := k.tokens.Load()
		if k.tokens.CompareAndSwap(t, min(t+milli, k.max)) {
			return
		}
	}
}

// withdraw takes one token for a retry; it reports false when none is left.
func (k *bucket) withdraw() bool {
	if k == nil {
		return true
	}
	for {
		t := k.tokens.Load()
		if t < milli {
			return false
		}
		if k.tokens.CompareAndSwap(t, t-milli) {
			return true
		}
	}
}
