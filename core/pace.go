package core

import (
	"net/http"
	"sync"
	"time"
)

// pacer holds, per host, the instant until which a server said the
// client's quota is spent, so that new requests to that host wait for it
// instead of being sent only to be refused. It keeps at most maxHosts hosts,
// evicting the least recently used (blocked or asked about); a host whose
// instant has passed is dropped when next asked about. A nil *pacer (pacing
// off) never holds.
type pacer struct {
	mu    sync.Mutex
	hosts *hostTable[time.Time]
}

// Held requests wait until the instant plus a spread drawn from u: at most
// this share of the remaining hold, and never more than paceSpreadMax, the
// same rule as for a server wait before a retry.
const (
	paceSpread    = 0.1
	paceSpreadMax = time.Second
)

// newPacer returns an empty pacer.
func newPacer() *pacer {
	return &pacer{hosts: newHostTable[time.Time](maxHosts)}
}

// block records that k's quota is spent until until; an earlier instant
// than the one held is ignored.
func (p *pacer) block(k hostKey, until time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if t := p.hosts.upsert(k); t.IsZero() || until.After(*t) {
		*t = until
	}
	p.mu.Unlock()
}

// hold returns how long a new request to k must wait before its first
// attempt: 0 when k is not blocked at now; else the time left until the
// instant, d, plus u × min(d × 0.1, 1s), so that requests held together
// return spread over a tenth of their hold (at most a second) after the
// instant, never before it. u is a random number in [0, 1); out of range
// values are clamped. The result saturates instead of overflowing.
func (p *pacer) hold(k hostKey, now time.Time, u float64) time.Duration {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	t := p.hosts.find(k)
	if t == nil {
		p.mu.Unlock()
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		p.hosts.remove(k)
		p.mu.Unlock()
		return 0
	}
	p.mu.Unlock()
	if !(u > 0) { // also NaN
		u = 0
	}
	u = min(u, 1)
	spread := min(time.Duration(float64(d)*paceSpread), paceSpreadMax)
	extra := time.Duration(u * float64(spread))
	if d > maxDuration-extra {
		return maxDuration
	}
	return d + extra
}

// noteQuota records, for Policy.Pace, until when a response from k says the
// client's quota there is spent: a 429 or 503 with a usable hint, or
// rate-limit headers with nothing remaining, on any status.
func (p *pacer) noteQuota(k hostKey, o *outcome, now time.Time) {
	var wait time.Duration
	ok := false
	if o.status == http.StatusTooManyRequests || o.status == http.StatusServiceUnavailable {
		wait, _, ok = serverHint(o.header, o.status, now)
	}
	if !ok {
		wait, _, ok = rateLimitReset(o.header, o.status, now)
	}
	if ok && wait > 0 {
		p.block(k, now.Add(wait))
	}
}
