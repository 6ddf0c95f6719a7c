package core

import (
	"math"
	"sync"
	"time"
)

// Budget limits retries to what a host's recent successes and a small
// reserve pay for, so that a client retries every burst of transient
// failures but cannot multiply the load on a host that is down. It follows
// Finagle's RetryBudget (a reserve plus a share of recent traffic, both
// counted over a sliding window) and the AWS SDK retry quota (a retry that
// succeeds is refunded). One applied client keeps one budget per host
// (scheme, host and port), so a dead upstream cannot deny retries to the
// healthy ones; see below for the bound on memory.
//
// # Model
//
// Over the last Window, for each host:
//
//	retries paid ≤ Reserve + Ratio × successes
//
// where a retry is paid when it is allowed (withdrawn) and stops counting
// when it succeeds (refunded, as in the AWS SDK) or is not sent after all; a
// success is an attempt whose outcome is not a retryable failure (a 200, a
// 404: the host answered). Failures deposit nothing and cost nothing by
// themselves: only the retries they ask for are paid. A retry is refused,
// and its request ends with ErrBudgetExhausted, when less than one retry is
// left. Deposits and withdrawals expire together a Window after they were
// made: the window is kept as 10 slots of Window/10 (at least 1ns), so each
// expires between 0.9 and 1 Window later. Amounts are integer thousandths of a retry, so
// the accounting is exact; Ratio is rounded to thousandths, and a positive
// Ratio below 0.001 counts as 0.001.
//
// # The defaults, worked
//
// DefaultBudgetRatio 0.2, DefaultBudgetReserve 100, DefaultBudgetWindow 10s:
// a host is always allowed 100 retries per 10s (10 a second, Finagle's
// minimum), plus one for every 5 successes of the last 10s.
//
//   - Burst on a fresh client: 50 concurrent requests that each fail once
//     need 50 retries before any succeeds; failing twice, 100: both within
//     the Reserve of 100. The 50 retries that succeed are refunded and the
//     50 successes deposit 10, so the host is left with 110 retries to
//     spend (one failure each) or 60 (two: the first retries failed).
//   - Burst after steady traffic: N successes in the last 10s add N/5, and
//     isolated failures whose retry succeeds cost nothing, so steady traffic
//     only raises what a burst can spend: after 1,000 successful requests in
//     the last 10s, 300. Right after a burst that failed twice (60 left), a
//     second such burst within the window gets 60 of its 100 retries, unless
//     200 successes came in between.
//   - Outage (every attempt fails): no success, so no deposit and no
//     refund; the host gets the Reserve and nothing more, 100 retries per
//     0.9–1 Window. 4,000 requests that take T make at most
//     100 × (1 + ⌊T / 9s⌋) retries: 100 when T < 9s, so 1.025 server hits
//     per request instead of 1 + MaxRetries = 4; the bound of 1.25 holds for
//     any T under 81s. The reserve is a floor of 10 retries a second, so a
//     slow outage (20 callers, 1s per attempt, T of minutes) sees up to 2.
//   - Brownout (a share of attempts fails): retries that fail are paid from
//     the reserve and the 0.2 per success; in a steady load the retries that
//     fail stay below about 10 a second plus 20% of the successes (at worst
//     40%, as a deposit can pay in two consecutive 0.9-window spans).
//
// The zero Budget disables the limit. Window ≤ 0 means DefaultBudgetWindow;
// a Window longer than the client's life never gives anything back, so its
// Reserve is the number of failed retries the client may make in all.
// Reserve ≤ 0 gives no reserve: a fresh host is then not retried until its
// successes have paid for a retry.
//
// # Memory
//
// A client keeps the budgets of at most 1,024 hosts; a newcomer evicts the
// least recently used host, which starts again with a full Reserve if it
// comes back.
type Budget struct {
	// Ratio is the share of a host's successes, over the last Window, that
	// may be spent on retries that fail: 0.2 pays for one per five.
	Ratio float64
	// Reserve is how many retries a host may spend per Window however
	// little it succeeds: the burst a fresh client can retry, and all that
	// an outage gets.
	Reserve int
	// Window is how long deposits and withdrawals count.
	Window time.Duration
}

// The budget of the presets; see Budget.
const (
	DefaultBudgetRatio   = 0.2
	DefaultBudgetReserve = 100
	DefaultBudgetWindow  = 10 * time.Second
)

// defaultBudget is the Budget the presets use.
func defaultBudget() Budget {
	return Budget{Ratio: DefaultBudgetRatio, Reserve: DefaultBudgetReserve, Window: DefaultBudgetWindow}
}

const (
	milli         = 1000          // a retry, in the budget's integer unit
	budgetSlots   = 10            // the window's slots
	maxReserve    = 1 << 40       // retries: saturates, far from overflow
	maxRatioMilli = 1_000_000_000 // 10⁶ retries per success
)

// budgets is the live state of a Budget for one applied client: one
// hostBudget per host, in a table of at most maxHosts. One mutex guards it
// all, so every decision sees a consistent state. All methods accept a nil
// *budgets (a disabled Budget), which allows every retry.
//
// The glue calls onOutcome after every attempt, withdraw before every
// retry (sending it only when granted), and refund once for a granted retry
// that is not sent after all, or that succeeds.
type budgets struct {
	mu      sync.Mutex
	reserve int64         // milli-retries per window
	deposit int64         // milli-retries per success
	width   time.Duration // of one slot
	origin  time.Time     // the first now seen: slot 0 starts there
	started bool
	hosts   *hostTable[hostBudget]
}

// hostBudget is one host's window: deposits and withdrawals per slot, and
// their sums over the live slots.
type hostBudget struct {
	head          int64 // absolute index of the newest slot
	dep, wd       [budgetSlots]int64
	depSum, wdSum int64
}

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
	deposit := int64(math.Round(min(ratio*milli, maxRatioMilli)))
	if ratio > 0 {
		deposit = max(deposit, 1) // the resolution: 0.001
	}
	return &budgets{
		reserve: int64(min(max(b.Reserve, 0), maxReserve)) * milli,
		deposit: deposit,
		width:   max(w/budgetSlots, 1),
		hosts:   newHostTable[hostBudget](maxHosts),
	}
}

// slot returns k's budget advanced to now: slots that have left the window
// are emptied. Time that goes backwards counts in the newest slot. The
// caller holds b.mu.
func (b *budgets) slot(k hostKey, now time.Time, add bool) (*hostBudget, int) {
	if !b.started {
		b.origin, b.started = now, true
	}
	var h *hostBudget
	if add {
		h = b.hosts.upsert(k)
	} else if h = b.hosts.find(k); h == nil {
		return nil, 0
	}
	idx := int64(max(now.Sub(b.origin), 0) / b.width)
	if idx > h.head {
		if idx-h.head >= budgetSlots {
			*h = hostBudget{}
		} else {
			for i := h.head + 1; i <= idx; i++ {
				s := i % budgetSlots
				h.depSum -= h.dep[s]
				h.wdSum -= h.wd[s]
				h.dep[s], h.wd[s] = 0, 0
			}
		}
		h.head = idx
	}
	return h, int(h.head % budgetSlots)
}

// onOutcome records the outcome of an attempt to k: ok means it succeeded
// (its outcome is not a retryable failure), which deposits Ratio of a
// retry. A failure records nothing: the retry it asks for is paid by
// withdraw.
func (b *budgets) onOutcome(k hostKey, now time.Time, ok bool) {
	if b == nil || !ok || b.deposit == 0 {
		return
	}
	b.mu.Lock()
	h, s := b.slot(k, now, true)
	h.dep[s] = satAdd(h.dep[s], b.deposit)
	h.depSum = satAdd(h.depSum, b.deposit)
	b.mu.Unlock()
}

// withdraw pays for one retry to k before it is sent; false means the
// budget refuses it.
func (b *budgets) withdraw(k hostKey, now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	h, s := b.slot(k, now, true)
	if satAdd(b.reserve, h.depSum)-h.wdSum < milli {
		return false
	}
	h.wd[s] += milli
	h.wdSum += milli
	return true
}

// refund gives back one retry withdrawn from k: call it when a withdrawn
// retry is not sent after all (the request gave up while waiting), and
// when a retry succeeds (its outcome is not a retryable failure), so that
// only retries that fail are paid for. It gives back the newest withdrawal
// still in the window; with none, it does nothing, so a refund can never
// add to what the reserve and the deposits allow.
func (b *budgets) refund(k hostKey, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	h, _ := b.slot(k, now, false)
	if h == nil || h.wdSum == 0 {
		return
	}
	for i := h.head; i > h.head-budgetSlots && i >= 0; i-- {
		if s := i % budgetSlots; h.wd[s] > 0 {
			h.wd[s] -= milli
			h.wdSum -= milli
			return
		}
	}
}

// satAdd returns a + b for non-negative a and b, saturating at MaxInt64.
func satAdd[T ~int64](a, b T) T {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
