package core

import (
	"math"
	"net/url"
	"sync"
	"time"
)

// Budget limits retries so that a client retries every burst of transient
// failures in full but cannot multiply the load on a host that is down,
// however many requests, clients or hosts there are. What tells a burst
// from an outage is time (how long a host has gone without a success) and
// successes (a burst's retries start succeeding), so a host gets a short
// tolerance per failure episode, sized to the policy's own schedule, and
// after it only a share of its recent traffic. It draws on Finagle's
// RetryBudget (a share of recent traffic), the AWS SDK retry quota (a pool
// of tokens, a retry that succeeds is refunded) and gRPC's throttling
// (tokens fall with failures and rise with successes).
//
// Accounts are kept per key: the host (scheme, host and port) and the
// route on it, which is the request's Route when the adapter passes one,
// else the first segment of the URL's path that answered ("users" for
// /users/42). A dead path behind a shared host:port spends nothing of the
// healthy paths' retries.
//
// # Model
//
// Tokens: every key holds up to Reserve tokens of its own, and the keys
// share one pool of up to Reserve tokens, full when the client starts. A
// success (an outcome that is not a retryable failure: a 200, a 404)
// deposits Ratio of a token into its key (what overflows goes to the pool);
// a retry that succeeds, or is paid for and not sent, gives its token back.
//
// Episodes: a key's failure episode starts with its first retry after its
// last success and ends with its next success. The key is down when its
// episode is older than the tolerance, by default the longest the policy
// can wait for its first min(MaxRetries, 3) retries (jitter at its
// maximum), or Budget.Tolerance. The tolerance is sized to the policy's
// own waits, so it grows by the waits the server named and the episode's
// retries were granted (a Retry-After, a Pace slot), beyond the policy's
// own backoff, counted once however many requests wait together, up to
// min(MaxRetries, 3) × MaxRetryAfter: a rate-limited host that says when to
// come back is not down for the waiting. That only lengthens the time
// tokens pay; an outage that names its waits still spends its tokens and
// is down at most that much later (Default: 10.5s + 90s).
//
// A retry that a request asks for, after its attempt n failed, is granted
// by the first of these that pays:
//
//  1. while the key is not down: the request's reservation, one token; or,
//     with no reservation left, the key's own tokens and then the pool's,
//     taking one token and reserving up to min(MaxRetries, 3) − 1 more for
//     the request's next retries, as far as there are tokens;
//  2. on the first retry only (n = 1): the key's recent traffic, when
//     (retries paid this way over the last Window) + 1 ≤ Ratio × (requests
//     to the key over the last Window);
//  3. on the first retry only: a probe, one per Window for the whole client
//     (when Ratio > 0).
//
// Otherwise the request ends with ErrBudgetExhausted and its reservation
// goes back to its key. So once a key is down, a request gets at most one
// retry and waits at most its first backoff: a Background request gives up
// in seconds instead of sleeping its schedule, and an outage costs
//
//	hits per request ≤ 1 + Ratio + probes/requests
//
// in its steady state, whatever the rate or the number of clients. Reserving
// at the first retry spends the tokens on the requests that already retried:
// a burst larger than the tokens gets every retry of as many requests as the
// tokens pay for, never the first retry of all and the second of none. The
// window is kept as 10 slots of Window/10 (at least 1ns), so what it counts
// expires between 0.9 and 1 Window later. Tokens are integer thousandths, so
// the accounting is exact; Ratio is rounded to thousandths, and a positive
// Ratio below 0.001 counts as 0.001.
//
// # The defaults, worked
//
// DefaultBudgetRatio 0.2, DefaultBudgetReserve 1,500, DefaultBudgetWindow
// 10s; Default's tolerance is 1.5s + 3s + 6s = 10.5s, Background's 1s + 2s +
// 4s = 7s, Interactive's 0.1s + 0.2s = 0.3s, Contention's 0.35s.
//
//   - Burst of N concurrent requests failing K ≤ 3 times on a fresh client:
//     each first retry reserves 3 tokens, so 500 requests are paid in full
//     from the pool of 1,500 whatever K is, and N/N succeed for N ≤ 500.
//     Beyond, K = 1 adds 20% of N paid by the traffic (1,000 × 1: 700 at
//     once, more as the refunds come back), K ≥ 2 stays at 500 (1,000 × 2:
//     500): more requests never mean fewer successes. A burst's failed
//     retries are paid (500 × 3: 1,000 tokens), its successful ones
//     refunded, its 500 successes deposit 100: 600 are left for the next.
//   - Warm: 1,000 successes have given the host 200 tokens of its own, on
//     top of the pool.
//   - Outage (every attempt fails), open loop at r requests a second: the
//     requests of the first 10.5s retry in full, as far as the tokens go
//     (at 10 a second about 105 × 3 retries); after, each request is
//     allowed one retry if 0.2 × (requests of the last 10s) pays for it,
//     plus one probe per 10s: 1.2 + 0.1/r hits per request (1.3 at one
//     request a second, 1.21 at 10, 1.201 at 100), for each client of a
//     fleet alike.
//   - Brownout (one attempt in five fails at random): successes keep
//     ending the episodes, so the key is never down; every failed retry
//     costs a token and every success deposits 0.2, so the tokens never run
//     out (0.05 failed retries per request against 0.2 deposited) and
//     99.84% of requests succeed, as with no budget.
//
// The zero Budget disables the limit. Window ≤ 0 means DefaultBudgetWindow.
// Reserve ≤ 0 gives no tokens: a request is then retried once at most, as
// far as the traffic pays. Ratio ≤ 0 pays nothing from traffic and deposits
// nothing: Reserve is then the number of failed retries the client may make
// in all.
//
// # Memory
//
// A client keeps the accounts of at most 1,024 keys; a newcomer evicts the
// least recently used one, whose own tokens go into the shared pool. A key
// that comes back starts a new episode with no tokens of its own and no
// traffic: it draws on the pool, which a long outage has emptied, and its
// traffic pays only as it comes, so forgetting a key never hands it a fresh
// allowance.
type Budget struct {
	// Ratio is the share of a key's requests, over the last Window, that
	// may be retried once when it has no tokens or is down, and the share of
	// a token each success deposits: 0.2 is one per five.
	Ratio float64
	// Reserve is how many tokens each key may hold, and how many the keys
	// share: the burst a fresh client can retry in full (with Default's 3
	// retries, Reserve/3 requests).
	Reserve int
	// Window is how long requests and the retries they paid for count.
	Window time.Duration
	// Tolerance is how long a failure episode may last, without a success,
	// before its key is down; 0 derives it from each request's policy: the
	// longest its first min(MaxRetries, 3) backoffs can be. Either way it
	// grows by the server-named waits granted in the episode.
	Tolerance time.Duration
}

// The budget of the presets; see Budget.
const (
	DefaultBudgetRatio   = 0.2
	DefaultBudgetReserve = 1500
	DefaultBudgetWindow  = 10 * time.Second
)

// defaultBudget is the Budget the presets use.
func defaultBudget() Budget {
	return Budget{Ratio: DefaultBudgetRatio, Reserve: DefaultBudgetReserve, Window: DefaultBudgetWindow}
}

const (
	milli         = 1000          // a token, in the budget's integer unit
	budgetSlots   = 10            // the window's slots
	budgetDepth   = 3             // retries a reservation covers, at most
	maxReserve    = 1 << 40       // tokens: saturates, far from overflow
	maxRatioMilli = 1_000_000_000 // 10⁶ tokens per success
)

// budgets is the live state of a Budget for one applied client: the
// shared pool, the probe, and one keyBudget per key in a table of at most
// maxHosts. One mutex guards it all, so every decision sees a consistent
// state. All methods accept a nil *budgets (a disabled Budget), which allows
// every retry.
//
// An execution holds a budgetTicket and calls, with the wall clock's now:
// withdraw before every retry (sending it only when granted), sent when the
// retry is sent, settle when an attempt ends the request, and refund when
// the request ends with a retry paid for and not sent.
type budgets struct {
	mu        sync.Mutex
	reserve   int64         // milli: the cap of the pool and of each key's own
	ratio     int64         // milli-tokens per request (traffic) and per success (deposit)
	window    time.Duration // Budget.Window
	width     time.Duration // of one slot
	tolerance time.Duration // Budget.Tolerance; 0: from each request's policy
	origin    time.Time     // the first now seen: slot 0 starts there
	started   bool
	pool      int64     // milli: the tokens the keys share
	probeAt   time.Time // the last probe
	probed    bool
	keys      *keyTable[budgetKey, keyBudget]

	// The host key of the last URL seen, by its scheme and host as
	// written: most requests go to the host the last one went to.
	lastScheme, lastHost string
	lastKey              hostKey
}

// keyOf is budgetKeyOf(u, route), reusing the host key of the last URL
// when its scheme and host are written the same. The caller holds b.mu.
func (b *budgets) keyOf(u *url.URL, route string) budgetKey {
	if u == nil {
		return budgetKey{route: route}
	}
	if u.Host != b.lastHost || u.Scheme != b.lastScheme {
		b.lastScheme, b.lastHost, b.lastKey = u.Scheme, u.Host, keyOf(u)
	}
	k := budgetKey{host: b.lastKey, route: route}
	if route == "" {
		k.route = firstSegment(u.Path)
	}
	return k
}

// keyBudget is one key's account: its requests and the retries its traffic
// paid per slot and their sums over the live slots, its own tokens and its
// failure episode.
type keyBudget struct {
	head            int64 // absolute index of the newest slot
	req, paid       [budgetSlots]int64
	reqSum, paidSum int64
	own             int64     // milli
	failAt          time.Time // the start of the failure episode; zero: none
	// grown is how much the episode's tolerance has grown by the waits the
	// server named (see budgets.waited), and namedTo the end of the latest
	// of those waits.
	grown   time.Duration
	namedTo time.Time
}

// budgetTicket is what one execution holds of its client's budget.
type budgetTicket struct {
	owner    *budgets  // the budget the ticket's payment and reservation are of
	route    string    // Request.Route
	key      budgetKey // where the reservation and the last payment are
	reserved int64     // milli: tokens set aside for the request's next retries
	pay      payment   // how the last granted retry was paid
	paidSlot int64     // payRatio: the absolute index of the slot it was counted in
	unsent   bool      // that retry is granted and not sent yet
	counted  bool      // the request is counted in its key's traffic
}

// payment says what paid a retry.
type payment uint8

const (
	payNone  payment = iota
	payToken         // a token: the key's, the pool's or the reservation's
	payRatio         // the key's recent traffic
	payProbe         // the client's probe
)

// newBudgets returns the state of b for one client, or nil when b disables
// the limit.
func newBudgets(b Budget) *budgets {
	ratio := b.Ratio
	if !(ratio > 0) { // also NaN
		ratio = 0
	}
	if ratio == 0 && b.Reserve <= 0 {
		return nil
	}
	w := b.Window
	if w <= 0 {
		w = DefaultBudgetWindow
	}
	r := int64(math.Round(min(ratio*milli, maxRatioMilli)))
	if ratio > 0 {
		r = max(r, 1) // the resolution: 0.001
	}
	bs := &budgets{
		reserve:   int64(min(max(b.Reserve, 0), maxReserve)) * milli,
		ratio:     r,
		window:    w,
		width:     max(w/budgetSlots, 1),
		tolerance: max(b.Tolerance, 0),
		keys:      newKeyTable[budgetKey, keyBudget](maxHosts),
	}
	bs.pool = bs.reserve
	bs.keys.evict = bs.fold
	return bs
}

// fold keeps what an evicted key must not lose: its own tokens go into the
// pool. Its traffic and episode are forgotten, which gives it nothing: it
// comes back with no traffic to pay for a retry and no tokens of its own.
func (b *budgets) fold(_ budgetKey, h *keyBudget) {
	b.pool = min(satAdd(b.pool, h.own), b.reserve)
}

// shape returns the tolerance and the reservation depth for a request
// under p.
func (b *budgets) shape(p *Policy) (tol time.Duration, depth int) {
	depth = min(max(p.MaxRetries, 1), budgetDepth)
	if b.tolerance > 0 {
		return b.tolerance, depth
	}
	for n := 1; n <= depth; n++ {
		tol = satAdd(tol, p.Jitter.Spread(p.backoff(n), 1))
	}
	return tol, depth
}

// slot returns k's account advanced to now: slots that have left the
// window are emptied. Time that goes backwards counts in the newest slot.
// With add, a missing key is added (evicting the least recently used);
// without, a missing key gives nil. The caller holds b.mu.
func (b *budgets) slot(k budgetKey, now time.Time, add bool) (*keyBudget, int) {
	if !b.started {
		b.origin, b.started = now, true
	}
	var h *keyBudget
	if add {
		h = b.keys.upsert(k)
	} else if h = b.keys.find(k); h == nil {
		return nil, 0
	}
	idx := int64(max(now.Sub(b.origin), 0) / b.width)
	if idx > h.head {
		if idx-h.head >= budgetSlots {
			h.req, h.paid = [budgetSlots]int64{}, [budgetSlots]int64{}
			h.reqSum, h.paidSum = 0, 0
		} else {
			for i := h.head + 1; i <= idx; i++ {
				s := i % budgetSlots
				h.reqSum -= h.req[s]
				h.paidSum -= h.paid[s]
				h.req[s], h.paid[s] = 0, 0
			}
		}
		h.head = idx
	}
	return h, int(h.head % budgetSlots)
}

// count counts t's request in h's traffic, once per request.
func (t *budgetTicket) count(h *keyBudget, s int) {
	if !t.counted {
		h.req[s]++
		h.reqSum++
		t.counted = true
	}
}

// grant records that p paid t's next retry.
func (t *budgetTicket) grant(p payment) bool {
	t.pay, t.unsent = p, true
	return true
}

// withdraw pays for the retry that follows attempt (1-based) of t's
// request to u, under p; false means the budget refuses it.
//
// The tolerance is judged by when the request started (start) as well as
// by now, so that a burst's requests, which start together, are paid alike
// however long their attempts take; a request that has spent its
// reservation is paid again only while now is within the tolerance.
func (b *budgets) withdraw(t *budgetTicket, u *url.URL, now time.Time, attempt int, p *Policy, start time.Time) bool {
	if b == nil {
		return true
	}
	tol, depth := b.shape(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.adopt(t)
	k := b.keyOf(u, t.route)
	if t.key != k {
		b.release(t) // a redirect moved the request to another key
	}
	h, s := b.slot(k, now, true)
	t.count(h, s)
	t.key = k
	if h.failAt.IsZero() {
		h.failAt, h.grown, h.namedTo = now, 0, time.Time{}
	}
	tol = satAdd(tol, h.grown)
	fresh := now.Sub(h.failAt) <= tol // the episode's tolerance: tokens pay
	if fresh || start.Sub(h.failAt) <= tol && (attempt == 1 || t.reserved >= milli) {
		if t.reserved >= milli {
			t.reserved -= milli
			return t.grant(payToken)
		}
		if avail := satAdd(h.own, b.pool); avail >= milli {
			take := min(int64(depth)*milli, avail)
			own := min(take, h.own)
			h.own -= own
			b.pool -= take - own
			t.reserved = take - milli
			return t.grant(payToken)
		}
	}
	b.release(t) // down: what the request had reserved goes back
	if attempt > 1 {
		return false
	}
	if h.paidSum+1 <= mulDiv(h.reqSum, b.ratio) {
		h.paid[s]++
		h.paidSum++
		t.paidSlot = h.head
		return t.grant(payRatio)
	}
	if b.ratio > 0 && (!b.probed || now.Sub(b.probeAt) >= b.window) {
		b.probed, b.probeAt = true, now
		return t.grant(payProbe)
	}
	return false
}

// waited records that the retry after attempt (1-based) of t's request,
// under p, was just granted at now and waits wait. The policy's own
// backoff for it is at most own (its jitter at its maximum); the rest was
// named by the server (a Retry-After, a Pace slot). The tolerance is sized
// to the policy's own schedule, so the key's episode's tolerance grows by
// the time [now+own, now+wait] adds to the union of such waits in the
// episode (a host that says when to come back, and is waited for, is not
// down for the waiting, however many requests wait together), up to
// min(MaxRetries, 3) × MaxRetryAfter, the most the policy lets the server
// add to its first retries. This grows only the time during which tokens
// pay; they are spent as before, so an outage that names its waits still
// empties the pool, and its steady state is then 1 + Ratio + probes as for
// any outage.
func (b *budgets) waited(t *budgetTicket, now time.Time, p *Policy, attempt int, wait time.Duration) {
	if b == nil {
		return
	}
	own := p.Jitter.Spread(p.backoff(attempt), 1)
	if wait <= own {
		return
	}
	_, depth := b.shape(p)
	limit := time.Duration(depth) * max(p.MaxRetryAfter, 0)
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.keys.find(t.key)
	if h == nil || h.failAt.IsZero() || h.grown >= limit {
		return
	}
	from, to := now.Add(own), now.Add(wait)
	if h.namedTo.After(from) {
		from = h.namedTo
	}
	if to.After(from) {
		h.grown = min(satAdd(h.grown, to.Sub(from)), limit)
		h.namedTo = to
	}
}

// sent records that the retry t was granted is sent.
func (t *budgetTicket) sent() { t.unsent = false }

// settle records that attempt (1-based) of t's request to u ended it
// without a retry: ok means it succeeded (its outcome is not a retryable
// failure), which ends the key's episode, deposits Ratio of a token and,
// for a retry, gives its payment back. What the request had reserved goes
// back to its key.
func (b *budgets) settle(t *budgetTicket, u *url.URL, now time.Time, attempt int, ok bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.adopt(t)
	k := b.keyOf(u, t.route)
	h, s := b.slot(k, now, true)
	t.count(h, s)
	if ok {
		h.failAt, h.grown, h.namedTo = time.Time{}, 0, time.Time{}
		b.store(h, b.ratio)
		if attempt > 1 {
			b.giveBack(t, now, false)
		}
	}
	t.pay, t.unsent = payNone, false
	b.release(t)
}

// refund gives back the retry t was granted if it was not sent (the request
// gave up while waiting, or its body changed), and what the request had
// reserved: call it when the request ends.
func (b *budgets) refund(t *budgetTicket, now time.Time) {
	if b == nil || !t.unsent && t.reserved == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.adopt(t)
	if t.unsent {
		b.giveBack(t, now, true)
		t.unsent = false
	}
	b.release(t)
}

// giveBack returns what paid t's last retry: a token to its key, a traffic
// payment to the slot of the key's window it was counted in (nothing when
// that slot has left the window: the payment expired already, and taking
// another request's off would let the traffic pay for more than its
// share), and, when the retry was not sent, the probe. The caller holds
// b.mu.
func (b *budgets) giveBack(t *budgetTicket, now time.Time, unsent bool) {
	switch t.pay {
	case payToken:
		b.storeAt(t.key, milli)
	case payRatio:
		if h, _ := b.slot(t.key, now, false); h != nil && t.paidSlot <= h.head && t.paidSlot > h.head-budgetSlots {
			if s := t.paidSlot % budgetSlots; h.paid[s] > 0 {
				h.paid[s]--
				h.paidSum--
			}
		}
	case payProbe:
		if unsent {
			b.probed = false
		}
	}
	t.pay = payNone
}

// adopt makes b the budget of t. A ticket of another budget (the policy
// was applied again while its request ran, which resets the budget) holds
// a payment and a reservation of that one: they are dropped, never given
// to b, which nobody paid them into. The caller holds b.mu.
func (b *budgets) adopt(t *budgetTicket) {
	if t.owner == b {
		return
	}
	if t.owner != nil {
		t.reserved, t.pay, t.unsent, t.counted = 0, payNone, false, false
	}
	t.owner = b
}

// release gives back what t has reserved, to its key. The caller holds
// b.mu.
func (b *budgets) release(t *budgetTicket) {
	if t.reserved > 0 {
		b.storeAt(t.key, t.reserved)
		t.reserved = 0
	}
}

// storeAt adds n milli-tokens to k's own, or to the pool when k is no
// longer held. The caller holds b.mu.
func (b *budgets) storeAt(k budgetKey, n int64) {
	if h := b.keys.find(k); h != nil {
		b.store(h, n)
		return
	}
	b.pool = min(satAdd(b.pool, n), b.reserve)
}

// store adds n milli-tokens to h's own, up to Reserve; what overflows goes
// to the pool, up to Reserve. The caller holds b.mu.
func (b *budgets) store(h *keyBudget, n int64) {
	sum := satAdd(h.own, n)
	h.own = min(sum, b.reserve)
	b.pool = min(satAdd(b.pool, sum-h.own), b.reserve)
}

// mulDiv returns n × r / milli for non-negative n and r, saturating at
// MaxInt64.
func mulDiv(n, r int64) int64 {
	if r != 0 && n > math.MaxInt64/r {
		return math.MaxInt64 / milli
	}
	return n * r / milli
}

// satAdd returns a + b for non-negative a and b, saturating at MaxInt64.
func satAdd[T ~int64](a, b T) T {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
