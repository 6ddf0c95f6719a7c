package core

import (
	"hash/maphash"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Pacing (Policy.Pace).
//
// The pacer keeps, per host, what the host's responses said of the client's
// quota there, and turns it into when the next request to that host may
// leave. Three things hold a request:
//
//   - A block: the quota is spent until an instant (a 429 or 503 with a
//     usable hint, or a rate-limit family with nothing remaining, on any
//     status). Nothing leaves before it.
//   - Smoothing: a response states a quota (RateLimit, RateLimit-Policy,
//     X-RateLimit-*, OpenAI's and Anthropic's families; see readQuotas):
//     R requests are left until its reset, D from now. The next requests
//     leave D/(R+1) apart, so that the R left are spread evenly over the
//     time to the reset and the last leaves one interval before it; once
//     the reset has passed, until a response speaks of the new window,
//     they leave window/limit apart (the window as stated by
//     RateLimit-Policy, else estimated as the longest time to one reset
//     seen). Each named quota (a RateLimit policy, OpenAI's requests and
//     tokens) is kept apart and the strictest spacing wins; a token quota
//     only blocks when spent, since a request's cost in tokens is unknown.
//     Slots are handed out in order: a request takes the next free slot,
//     so requests that wait together leave one interval apart, first
//     attempts and retries alike.
//   - Adaptive (Policy.AdaptivePace, for hosts that state no quota): a
//     rate per host, cut to 0.7× the measured rate on a 429 and raised by
//     one request per second per second of successes (1/rate on each),
//     AWS's adaptive retry mode in its simplest form.
//
// It fails safe on hints it does not trust: a reset or wait more than
// paceImplausible ahead is ignored (no server means a year), and a block
// longer than the MaxRetryAfter of the request that noted it is not a
// standing refusal: after that period one request goes out as a probe (one
// per period), and its response replaces what the host said, lifting or
// renewing the block.
//
// The table is sharded by host, so requests to different hosts never share
// a lock, and a request to a host the pacer knows nothing of takes its
// shard's lock only to find that out. A nil *pacer never holds.
type pacer struct {
	seed   maphash.Seed
	shards [paceShards]paceShard
}

// paceShards is the number of shards; each holds at most
// maxHosts/paceShards hosts, evicting its least recently used.
const paceShards = 16

type paceShard struct {
	mu    sync.Mutex
	hosts *hostTable[paceHost]
	// known is the number of hosts the shard holds, written under mu after
	// every upsert: MayPace reads it without the lock, so a request to a
	// host whose shard knows no host takes no lock at all.
	known atomic.Int32
	_     [36]byte // keeps shards on separate cache lines
}

// paceImplausible is the longest wait or reset Pace believes: beyond it, a
// hint is read as a mistake (Unix microseconds read as milliseconds, a
// wait of 99999999999 s) and ignored.
const paceImplausible = 366 * 24 * time.Hour

// Held requests wait until a block's instant plus a spread drawn from u: at
// most this share of the remaining hold, and never more than paceSpreadMax,
// the same rule as for a server wait before a retry. Smoothed requests get
// no spread: their slots already keep them apart.
const (
	paceSpread    = 0.1
	paceSpreadMax = time.Second
)

// maxPacePolicies is how many named quotas are kept per host.
const maxPacePolicies = 4

// paceHost is what the pacer knows of one host.
type paceHost struct {
	until   time.Time     // the quota is spent until then; zero: no block
	probeAt time.Time     // a block longer than period: when the next probe may leave
	period  time.Duration // the MaxRetryAfter of the request that noted that block
	next    time.Time     // smoothing: the next free slot
	pols    [maxPacePolicies]pacePolicy
	npols   int

	// Adaptive pacing.
	rate         float64   // requests per second; 0: no limit
	bucket       time.Time // the start of the current one-second bucket of responses
	count, prevN int       // responses in the current and the previous bucket
	cut          time.Time // the last cut: one per second at most, so that a burst of 429s counts once
}

// pacePolicy is one stated quota of a host.
type pacePolicy struct {
	name     string
	tokens   bool
	reset    time.Time     // the end of the window the latest response named
	interval time.Duration // the spacing until reset
	after    time.Duration // the spacing after reset: window/limit; 0 unknown
	window   time.Duration // stated, or the longest reset − now seen for one reset
	stated   bool          // window came from RateLimit-Policy
	// opened bounds when the current window opened: the earliest arrival
	// of a window's first answer (remaining = limit − 1), carried forward
	// by whole stated windows. The window ends at the latest a window
	// after it, which corrects a reset in whole seconds rounded up.
	opened time.Time
}

// newPacer returns an empty pacer.
func newPacer() *pacer {
	p := &pacer{seed: maphash.MakeSeed()}
	for i := range p.shards {
		p.shards[i].hosts = newHostTable[paceHost](maxHosts / paceShards)
	}
	return p
}

func (p *pacer) shard(k hostKey) *paceShard {
	return &p.shards[maphash.String(p.seed, k.host)%paceShards]
}

// spacing is the interval between sends to h at t: the strictest of its
// request quotas and its adaptive rate; 0 for none.
func (h *paceHost) spacing(t time.Time) time.Duration {
	var iv time.Duration
	for i := 0; i < h.npols; i++ {
		pol := &h.pols[i]
		if pol.tokens {
			continue
		}
		d := pol.after
		if t.Before(pol.reset) {
			d = pol.interval
		}
		iv = max(iv, d)
	}
	iv += iv / paceMargin
	if iv == 0 && h.rate > 0 {
		iv = time.Duration(float64(time.Second) / h.rate)
	}
	return iv
}

// paceMargin keeps smoothed requests a little under a stated quota: the
// spacing is lengthened by 1/paceMargin of itself, so that a limiter that
// counts over a sliding window, or whose clock runs a little apart, sees
// fewer than its limit.
const paceMargin = 10

// paceLook is what the pacer says of a send.
type paceLook struct {
	wait  time.Duration // hold this long before sending; 0: send now
	bare  time.Duration // the part of wait without the spread
	slot  time.Time     // the slot reserved for the send; zero: none
	probe bool          // send now, as the probe through a long block
}

// look says when a first attempt to k may leave, at now. slot is the slot
// the request reserved at an earlier look, zero if none: a slot that has
// come is taken unless a block arrived since. allow is how much more the
// request may be held (what is left of its MaxRetryAfter): a block longer
// than that holds for the whole block (bare), which the caller refuses,
// unless a probe is due, which is sent at once. u in [0, 1) draws the
// spread; out of range values are clamped. Durations saturate.
func (p *pacer) look(k hostKey, now, slot time.Time, allow time.Duration, u float64) paceLook {
	if p == nil {
		return paceLook{}
	}
	sh := p.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h := sh.hosts.find(k)
	if h == nil {
		return paceLook{}
	}
	t := now
	spread := time.Duration(0)
	if h.until.After(now) {
		d := h.until.Sub(now)
		if d > allow {
			if !h.probeAt.IsZero() && !now.Before(h.probeAt) {
				h.probeAt = now.Add(h.period)
				return paceLook{probe: true}
			}
			return paceLook{wait: d, bare: d}
		}
		t = h.until
		spread = min(time.Duration(float64(d)*paceSpread), paceSpreadMax)
	} else {
		if !h.until.IsZero() {
			h.until, h.probeAt = time.Time{}, time.Time{}
		}
		if !slot.IsZero() {
			if !slot.After(now) {
				return paceLook{slot: slot} // the slot has come: taken
			}
			d := slot.Sub(now) // woken early: the rest of the slot's wait
			return paceLook{wait: d, bare: d, slot: slot}
		}
	}
	if iv := h.spacing(t); iv > 0 {
		t = later(t, h.next)
		if d := t.Sub(now); d > allow {
			// Too far to be held for: refused without taking the slot (a
			// refusal that took it would push every later request a
			// whole interval further, for slots nobody uses), and, like
			// a long block, no standing refusal: after allow, one
			// request goes out as a probe, whose response replaces the
			// host's quotas.
			if !h.probeAt.IsZero() && !now.Before(h.probeAt) {
				h.probeAt = now.Add(allow)
				return paceLook{probe: true}
			}
			if h.probeAt.IsZero() {
				h.probeAt = now.Add(allow)
			}
			return paceLook{wait: d, bare: d}
		}
		h.next = t.Add(iv)
		if h.until.IsZero() {
			h.probeAt = time.Time{} // the spacing fits again: no probe due
		}
		spread = 0
	} else if t == now {
		return paceLook{}
	}
	bare := t.Sub(now)
	if !(u > 0) { // also NaN
		u = 0
	}
	extra := time.Duration(min(u, 1) * float64(spread))
	return paceLook{wait: satAdd(bare, extra), bare: bare, slot: t}
}

// reserve returns when a retry to k may leave, at or after at (now plus
// its wait): after any block, and in the next free slot when the host is
// smoothed, which it takes.
func (p *pacer) reserve(k hostKey, now, at, latest time.Time) time.Time {
	if p == nil {
		return at
	}
	sh := p.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h := sh.hosts.find(k)
	if h == nil {
		return at
	}
	t := later(at, h.until)
	if iv := h.spacing(t); iv > 0 {
		t = later(t, h.next)
		if !latest.IsZero() && t.After(latest) {
			return t // refused: a slot the retry cannot wait for is not taken
		}
		h.next = t.Add(iv)
	}
	return t
}

// rate is the rate Pace allows to k at now, in requests per second; 0 for
// no limit.
func (p *pacer) rate(k hostKey, now time.Time) float64 {
	if p == nil {
		return 0
	}
	sh := p.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h := sh.hosts.find(k)
	if h == nil {
		return 0
	}
	if iv := h.spacing(now); iv > 0 {
		return float64(time.Second) / float64(iv)
	}
	return 0
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// block records that k's quota is spent until until, a block noted by a
// request whose MaxRetryAfter is period; an earlier instant than the one
// held is ignored, unless replace is set (the response of a probe, which
// speaks for the host now).
func (p *pacer) block(k hostKey, now, until time.Time, period time.Duration, replace bool) {
	if p == nil {
		return
	}
	sh := p.shard(k)
	sh.mu.Lock()
	h := sh.hosts.upsert(k)
	sh.known.Store(int32(sh.hosts.len()))
	if replace || h.until.IsZero() || until.After(h.until) {
		h.until, h.probeAt, h.period = until, time.Time{}, period
		if until.Sub(now) > period {
			h.probeAt = now.Add(period)
		}
	}
	sh.mu.Unlock()
}

// forgetQuotas drops k's stated quotas and its next slot: a probe's
// response replaces them.
func (p *pacer) forgetQuotas(k hostKey) {
	sh := p.shard(k)
	sh.mu.Lock()
	if h := sh.hosts.find(k); h != nil {
		h.npols, h.next = 0, time.Time{}
	}
	sh.mu.Unlock()
}

// lift ends k's block: a probe's response named none.
func (p *pacer) lift(k hostKey) {
	sh := p.shard(k)
	sh.mu.Lock()
	if h := sh.hosts.find(k); h != nil {
		h.until, h.probeAt = time.Time{}, time.Time{}
	}
	sh.mu.Unlock()
}

// noteQuota records what a response from k says of the client's quota
// there, at now, under policy pol: a block until when the quota is spent
// (a 429 or 503 with a usable hint, or rate-limit headers with nothing
// remaining, on any status), the stated quotas for smoothing, and with
// AdaptivePace the host's rate. probe says that the response answers the
// host's probe, and replaces its block. A wait or reset more than
// paceImplausible ahead is no hint.
// mayNote reports whether a response's header can carry anything Pace
// notes (a wait or a quota: the Retry-After and rate-limit families of
// ratelimit.go, whose canonical keys all contain one of these), so that a
// response without any costs no host key and no scan of the families.
func mayNote(h http.Header) bool {
	for k := range h {
		if strings.Contains(k, "Ratelimit") || strings.Contains(k, "Retry-After") {
			return true
		}
	}
	return false
}

// empty reports whether no shard holds any host, without a lock.
func (p *pacer) empty() bool {
	for i := range p.shards {
		if p.shards[i].known.Load() != 0 {
			return false
		}
	}
	return true
}

func (p *pacer) noteQuota(k hostKey, o *outcome, now time.Time, pol *Policy, probe bool) {
	var wait time.Duration
	var src string
	ok := false
	if o.status == http.StatusTooManyRequests || o.status == http.StatusServiceUnavailable {
		wait, src, ok = serverHint(o.header, o.status, now)
	}
	if !ok {
		wait, src, ok = rateLimitReset(o.header, o.status, now)
	}
	if probe {
		p.forgetQuotas(k) // the probe's response speaks for the host now
	}
	var qs quotaSet
	readQuotas(o.header, now, &qs)
	if qs.n > 0 {
		if end := p.noteQuotas(k, now, &qs); ok && src != "Retry-After" && !end.IsZero() {
			// a spent quota's reset, corrected by the window's opening
			wait = min(wait, end.Sub(now))
		}
	}
	ok = ok && wait > 0 && wait <= paceImplausible
	if ok {
		p.block(k, now, now.Add(wait), pol.MaxRetryAfter, probe)
	} else if probe {
		p.lift(k)
	}
	if pol.AdaptivePace {
		p.adapt(k, now, o.status)
	}
}

// noteQuotas records the stated quotas of one response from k. It returns
// the latest reset of a spent quota whose reset it corrected (see
// pacePolicy.opened), zero if none.
func (p *pacer) noteQuotas(k hostKey, now time.Time, qs *quotaSet) (spentEnd time.Time) {
	sh := p.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var h *paceHost
	for i := 0; i < qs.n; i++ {
		q := &qs.q[i]
		if q.reset > paceImplausible || q.remaining < 0 && q.limit == 0 {
			continue
		}
		if h == nil {
			h = sh.hosts.upsert(k)
			sh.known.Store(int32(sh.hosts.len()))
		}
		pol := h.policy(q.name, q.tokens)
		if pol == nil {
			continue
		}
		if q.window > 0 {
			pol.window, pol.stated = q.window, true
		}
		if q.limit > 0 && q.remaining == q.limit-1 && pol.stated {
			// The first answer of a window: the window opened at or
			// before now. An earlier opening, carried forward by whole
			// windows, may bound it closer.
			a := now
			if !pol.opened.IsZero() && !pol.opened.After(now) {
				a = pol.opened.Add(now.Sub(pol.opened) / pol.window * pol.window)
			}
			pol.opened = a
		}
		if q.reset > 0 {
			// The latest answer wins. A reset of 0 (or one already past)
			// says nothing of the spacing: the window is ending, or an
			// answer of an older window arrived late.
			pol.reset = now.Add(q.reset)
			if end := pol.windowEnd(now); !end.IsZero() && end.Before(pol.reset) {
				pol.reset = end
				if q.remaining == 0 {
					spentEnd = later(spentEnd, end)
				}
			}
			if !pol.stated {
				pol.window = max(pol.window, q.reset)
			}
			if q.remaining >= 0 {
				pol.interval = pol.reset.Sub(now) / time.Duration(q.remaining+1)
			}
		}
		if q.limit > 0 && pol.window > 0 {
			pol.after = pol.window / time.Duration(q.limit)
		}
	}
	return spentEnd
}

// windowEnd is when the window around now ends by pol.opened, zero when
// unknown.
func (pol *pacePolicy) windowEnd(now time.Time) time.Time {
	if !pol.stated || pol.opened.IsZero() || pol.opened.After(now) || pol.window <= 0 {
		return time.Time{}
	}
	return pol.opened.Add((now.Sub(pol.opened)/pol.window + 1) * pol.window)
}

// policy returns h's quota named name, adding it (in place of the last
// when all are taken); the name is copied, not kept from the header.
func (h *paceHost) policy(name string, tokens bool) *pacePolicy {
	for i := 0; i < h.npols; i++ {
		if h.pols[i].name == name {
			return &h.pols[i]
		}
	}
	i := h.npols
	if i == maxPacePolicies {
		i--
	} else {
		h.npols++
	}
	h.pols[i] = pacePolicy{name: string([]byte(name)), tokens: tokens}
	return &h.pols[i]
}

// Adaptive pacing's constants: the cut on a 429, the floor and the
// ceiling of the rate (above it, no limit).
const (
	adaptiveCut   = 0.7
	adaptiveFloor = 0.5
	adaptiveCeil  = 1000.0
)

// adapt updates k's adaptive rate with a response of status: a 429 cuts
// it to adaptiveCut times the lower of the rate and the measured rate of
// responses (at most once a second: the 429s of one burst are one
// signal), a success (below 400) raises it by 1/rate.
func (p *pacer) adapt(k hostKey, now time.Time, status int) {
	sh := p.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var h *paceHost
	if status == http.StatusTooManyRequests {
		h = sh.hosts.upsert(k)
		sh.known.Store(int32(sh.hosts.len()))
	} else if h = sh.hosts.find(k); h == nil {
		return
	}
	switch d := now.Sub(h.bucket); {
	case d >= 2*time.Second || d < 0:
		h.bucket, h.count, h.prevN = now, 0, 0
	case d >= time.Second:
		h.bucket, h.prevN, h.count = h.bucket.Add(time.Second), h.count, 0
	}
	h.count++
	switch {
	case status == http.StatusTooManyRequests && (h.cut.IsZero() || now.Sub(h.cut) >= time.Second):
		h.cut = now
		measured := float64(max(h.count, h.prevN))
		if h.rate > 0 {
			measured = min(measured, h.rate)
		}
		h.rate = max(measured*adaptiveCut, adaptiveFloor)
	case status < 400 && h.rate > 0:
		if h.rate += 1 / h.rate; h.rate > adaptiveCeil {
			h.rate = 0
		}
	}
}

// MayPace reports whether Pace may hold, or must give a slot to, a first
// attempt to the URL ref (resolved against base when ref has no scheme, as
// an HTTP client with a base URL does) at this instant: its host is blocked,
// its requests are spread (smoothing or an adaptive rate), or the URL is
// not one the key can be read from without parsing it (then true: the
// caller takes the full path). A false lets an adapter skip the execution's
// PhaseBefore for the attempt altogether. It never allocates, and a host
// whose shard knows no host takes no lock. A nil Client never paces.
func (c *Client) MayPace(ref, base string) bool {
	if c == nil || c.pacer == nil {
		return false
	}
	if c.pacer.empty() {
		return false // no host is held or spread: nothing to look up
	}
	s := ref
	if !hasScheme(ref) {
		s = base
	}
	k, ok := keyOfString(s)
	if !ok {
		return true
	}
	return c.pacer.holds(k, c.clock.Now())
}

// MayPaceURL is MayPace for a parsed URL (an HTTP client's built request).
func (c *Client) MayPaceURL(u *url.URL) bool {
	if c == nil || c.pacer == nil || u == nil || c.pacer.empty() {
		return false
	}
	return c.pacer.holds(keyOf(u), c.clock.Now())
}

// holds reports whether k is blocked or spread at now.
func (p *pacer) holds(k hostKey, now time.Time) bool {
	sh := p.shard(k)
	if sh.known.Load() == 0 {
		return false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h := sh.hosts.find(k)
	if h == nil {
		return false
	}
	return h.until.After(now) || h.spacing(now) > 0
}

// hasScheme reports whether s starts with a URL scheme and "://".
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':' && i > 0:
			return strings.HasPrefix(s[i:], "://")
		default:
			return false
		}
	}
	return false
}

// keyOfString is keyOf(url.Parse(s)) for an absolute URL s, read without
// parsing it whole and without allocating (unless the scheme or host has
// upper-case letters). ok is false when s is not of the plain form
// scheme://[userinfo@]host[:port][/?#...] that it reads safely: no scheme,
// an empty host, an escape or a template in the authority, or a
// malformed port. Then the caller parses s.
func keyOfString(s string) (k hostKey, ok bool) {
	i := strings.Index(s, "://")
	if i <= 0 || !hasScheme(s) {
		return hostKey{}, false
	}
	scheme, rest := s[:i], s[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.LastIndexByte(rest, '@'); j >= 0 {
		rest = rest[j+1:]
	}
	if rest == "" || strings.ContainsAny(rest, "%{}\\ ") {
		return hostKey{}, false
	}
	host, port := rest, ""
	if host[0] == '[' {
		j := strings.IndexByte(host, ']')
		if j < 0 {
			return hostKey{}, false
		}
		host, port = rest[1:j], rest[j+1:]
		if port != "" {
			if port[0] != ':' {
				return hostKey{}, false
			}
			port = port[1:]
		}
	} else if j := strings.IndexByte(host, ':'); j >= 0 {
		host, port = rest[:j], rest[j+1:]
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return hostKey{}, false
		}
	}
	if host == "" {
		return hostKey{}, false
	}
	k = hostKey{scheme: lowerASCII(scheme), host: lowerASCII(host), port: port}
	if k.port == "" {
		switch k.scheme {
		case "https", "wss":
			k.port = "443"
		case "http", "ws":
			k.port = "80"
		}
	}
	return k, true
}
