package core

import (
	"container/heap"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// budT0 is the origin of the explicit clocks below.
var budT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func budAt(d time.Duration) time.Time { return budT0.Add(d) }

var (
	budHost  = hostKey{"https", "api.example.com", "443"}
	budOther = hostKey{"https", "other.example.com", "443"}
)

func TestBudgetDefaults(t *testing.T) {
	if got, want := defaultBudget(), (Budget{Ratio: 0.2, Reserve: 100, Window: 10 * time.Second}); got != want {
		t.Fatalf("defaultBudget() = %+v, want %+v", got, want)
	}
	if got := Default().Budget; got != defaultBudget() {
		t.Fatalf("Default().Budget = %+v, want defaultBudget()", got)
	}
	b := newBudgets(defaultBudget())
	if b.reserve != 100_000 || b.deposit != 200 || b.width != time.Second {
		t.Fatalf("default budgets: reserve %d, deposit %d, slot %v; want 100000, 200, 1s", b.reserve, b.deposit, b.width)
	}
}

func TestBudgetDisabled(t *testing.T) {
	for _, b := range []Budget{
		{},
		{Window: time.Second},
		{Ratio: 0, Reserve: 0},
		{Ratio: -1, Reserve: -5},
		{Ratio: math.NaN()},
		{Ratio: math.Inf(-1), Reserve: -1},
	} {
		k := newBudgets(b)
		if k != nil {
			t.Errorf("newBudgets(%+v) = %+v, want nil (no limit)", b, k)
			continue
		}
		for i := range 1000 {
			now := budAt(time.Duration(i) * time.Millisecond)
			k.onOutcome(budHost, now, i%2 == 0)
			if !k.withdraw(budHost, now) {
				t.Fatalf("nil budgets refused withdrawal %d", i+1)
			}
			k.refund(budHost, now)
		}
	}
}

// budStep is one step of an arithmetic table: at the offset from budT0, n
// times on host (0: budHost, 1: budOther) the operation 's' (a success), 'f'
// (a failure), 'w' (a withdrawal; granted of them must be allowed) or 'r'
// (a refund).
type budStep struct {
	at      time.Duration
	host    int
	op      byte
	n       int
	granted int
}

func TestBudgetArithmetic(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name  string
		b     Budget
		steps []budStep
	}{
		{"reserve only, refilled after a window", Budget{Reserve: 3}, []budStep{
			{0, 0, 'w', 5, 3},
			{1 * s, 0, 's', 100, 0}, // no Ratio: successes deposit nothing
			{2 * s, 0, 'w', 1, 0},
			{9*s + 999*time.Millisecond, 0, 'w', 1, 0},
			{10 * s, 0, 'w', 5, 3}, // slot 0 left the window
		}},
		{"ratio only: one retry per five successes", Budget{Ratio: 0.2}, []budStep{
			{0, 0, 'w', 1, 0},
			{0, 0, 's', 4, 0},
			{0, 0, 'w', 1, 0}, // 0.8
			{0, 0, 's', 1, 0},
			{0, 0, 'w', 2, 1}, // 1.0
			{0, 0, 'f', 50, 0},
			{0, 0, 'w', 1, 0}, // failures deposit nothing
			{0, 0, 's', 1000, 0},
			{1 * s, 0, 'w', 300, 200},
		}},
		{"refunds give back withdrawals, never more", Budget{Reserve: 2}, []budStep{
			{0, 0, 'r', 3, 0}, // nothing withdrawn: nothing to give back
			{0, 0, 'w', 3, 2},
			{0, 0, 'r', 1, 0},
			{0, 0, 'w', 2, 1},
			{0, 0, 'r', 5, 0}, // gives back the 2 withdrawn, no more
			{0, 0, 'w', 3, 2},
		}},
		{"withdrawals expire 0.9 to 1 window later", Budget{Reserve: 2, Window: 10 * s}, []budStep{
			{0, 0, 'w', 1, 1},
			{950 * time.Millisecond, 0, 'w', 1, 1}, // same 1s slot
			{9*s + 999*time.Millisecond, 0, 'w', 1, 0},
			{10 * s, 0, 'w', 3, 2},
			{19*s + 999*time.Millisecond, 0, 'w', 1, 0},
			{20 * s, 0, 'w', 1, 1},
		}},
		{"deposits expire; withdrawals they paid for outlive them", Budget{Ratio: 1, Window: 10 * s}, []budStep{
			{0, 0, 's', 3, 0},
			{9*s + 500*time.Millisecond, 0, 'w', 2, 2},
			{10 * s, 0, 'w', 5, 0}, // deposits gone, 2 still withdrawn
			{10 * s, 0, 's', 2, 0}, // pays back the 2
			{10 * s, 0, 'w', 1, 0},
			{19 * s, 0, 'w', 3, 2}, // the withdrawals of 9.5s expired; the deposits of 10s pay 2
			{20 * s, 0, 'w', 1, 0}, // those deposits expired, the 2 of 19s are still withdrawn
		}},
		{"a refund returns the newest withdrawal", Budget{Reserve: 2, Window: 10 * s}, []budStep{
			{0, 0, 'w', 1, 1},
			{5 * s, 0, 'w', 1, 1},
			{6 * s, 0, 'r', 1, 0}, // returns the one of 5s
			{10 * s, 0, 'w', 3, 2},
		}},
		{"hosts are independent", Budget{Reserve: 2}, []budStep{
			{0, 0, 'w', 5, 2},
			{0, 1, 'w', 5, 2},
			{0, 1, 'r', 1, 0},
			{0, 0, 'w', 1, 0},
			{0, 1, 'w', 1, 1},
		}},
		{"time going backwards counts in the newest slot", Budget{Reserve: 1, Window: 10 * s}, []budStep{
			{20 * s, 0, 'w', 1, 1}, // the first call sets the origin
			{0, 0, 'w', 1, 0},
			{29 * s, 0, 'w', 1, 0},
			{30 * s, 0, 'w', 1, 1},
			{25 * s, 0, 'w', 1, 0},
		}},
		{"ratio below the resolution counts as 0.001", Budget{Ratio: 0.0001}, []budStep{
			{0, 0, 's', 999, 0},
			{0, 0, 'w', 1, 0},
			{0, 0, 's', 1, 0},
			{0, 0, 'w', 2, 1},
		}},
		{"a window of 10ns", Budget{Reserve: 1, Window: 10}, []budStep{
			{0, 0, 'w', 2, 1},
			{9, 0, 'w', 1, 0},
			{10, 0, 'w', 2, 1},
		}},
		{"a window below 10ns has slots of 1ns", Budget{Reserve: 1, Window: 3}, []budStep{
			{0, 0, 'w', 1, 1},
			{9, 0, 'w', 1, 0},
			{10, 0, 'w', 1, 1},
		}},
		{"hostile values saturate", Budget{Ratio: 1e300, Reserve: math.MaxInt, Window: maxDuration}, []budStep{
			{0, 0, 'w', 1000, 1000},
			{0, 0, 's', 100, 0},
			{maxDuration, 0, 'w', 1000, 1000},
		}},
		{"default: a burst of 50 failing twice, then another", defaultBudget(), []budStep{
			{0, 0, 'w', 100, 100}, // the reserve
			{0, 0, 'w', 1, 0},
			{10 * time.Millisecond, 0, 's', 50, 0}, // + 10
			{10 * time.Millisecond, 0, 'r', 50, 0}, // the 50 retries that succeeded
			{20 * time.Millisecond, 0, 'w', 61, 60},
			{10*s + 20*time.Millisecond, 0, 'w', 101, 100}, // a window later: all expired
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBudgets(tc.b)
			if b == nil {
				t.Fatalf("newBudgets(%+v) = nil", tc.b)
			}
			for i, st := range tc.steps {
				k := budHost
				if st.host == 1 {
					k = budOther
				}
				now := budAt(st.at)
				got := 0
				for range st.n {
					switch st.op {
					case 's':
						b.onOutcome(k, now, true)
					case 'f':
						b.onOutcome(k, now, false)
					case 'w':
						if b.withdraw(k, now) {
							got++
						}
					case 'r':
						b.refund(k, now)
					}
				}
				if got != st.granted {
					t.Fatalf("step %d (%+v): %d of %d withdrawals granted, want %d", i, st, got, st.n, st.granted)
				}
			}
		})
	}
}

// Simulation: callers driving the pure budgets on a virtual clock, every
// event in a deterministic order.

// budSim describes a load on one host: workers callers each send logical
// requests one after another, requests in all, from start; every attempt
// takes latency, and fails when fails says so. A failed attempt is retried
// as by Default at millisecond scale (3 retries, 1ms × 2ⁿ⁻¹ + U(0, half of
// it)), when the budget allows.
type budSim struct {
	workers, requests int
	start, latency    time.Duration
	fails             func(id, attempt int) bool
	seed              uint64
}

type budSimResult struct {
	hits, retries, refused, ok, exhausted int
	end                                   time.Duration // when the last attempt ended
}

type budEvent struct {
	at          time.Duration // the attempt ends
	seq         int
	id, attempt int
}

type budQueue []budEvent

func (q budQueue) Len() int { return len(q) }
func (q budQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q budQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *budQueue) Push(x any)   { *q = append(*q, x.(budEvent)) }
func (q *budQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

func (s budSim) run(b *budgets, k hostKey) budSimResult {
	const maxRetries = 3
	rng := rand.New(rand.NewPCG(s.seed, 1))
	var (
		q    budQueue
		seq  int
		next int
		r    budSimResult
	)
	send := func(at time.Duration, id, attempt int) {
		seq++
		heap.Push(&q, budEvent{at: at + s.latency, seq: seq, id: id, attempt: attempt})
	}
	startNext := func(at time.Duration) {
		if next < s.requests {
			send(at, next, 1)
			next++
		}
	}
	for range s.workers {
		startNext(s.start)
	}
	for q.Len() > 0 {
		e := heap.Pop(&q).(budEvent)
		now := budAt(e.at)
		r.hits++
		r.end = e.at
		if !s.fails(e.id, e.attempt) {
			b.onOutcome(k, now, true)
			if e.attempt > 1 {
				b.refund(k, now)
			}
			r.ok++
			startNext(e.at)
			continue
		}
		b.onOutcome(k, now, false)
		switch {
		case e.attempt > maxRetries:
			r.exhausted++
		case b.withdraw(k, now):
			r.retries++
			d := time.Millisecond << (e.attempt - 1)
			d += time.Duration(rng.Float64() * float64(d/2))
			send(e.at+d, e.id, e.attempt+1)
			continue
		default:
			r.refused++
		}
		startNext(e.at)
	}
	return r
}

func budFailTimes(n int) func(id, attempt int) bool {
	return func(_, attempt int) bool { return attempt <= n }
}

// budSteady is steady traffic: 1,000 requests from 4 callers over about
// 0.5s, of which 5% fail once (chosen by a seeded draw per request).
func budSteady(start time.Duration) budSim {
	return budSim{workers: 4, requests: 1000, start: start, latency: 2 * time.Millisecond, seed: 3,
		fails: func(id, attempt int) bool {
			return attempt == 1 && rand.New(rand.NewPCG(3, uint64(id))).IntN(20) == 0
		}}
}

// budOK is n requests that succeed at once, from 4 callers.
func budOK(start time.Duration, n int) budSim {
	return budSim{workers: 4, requests: n, start: start, latency: time.Millisecond, fails: budFailTimes(0)}
}

func budBurst(start time.Duration, failures int) budSim {
	return budSim{workers: 50, requests: 50, start: start, latency: time.Millisecond, seed: 5,
		fails: budFailTimes(failures)}
}

// TestBudgetSimBursts: under the default budget, 50 concurrent requests
// that each fail once or twice all get their retries, on a fresh client
// and after steady traffic; and what a burst leaves for the next.
func TestBudgetSimBursts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		before     []budSim // run first, on the same budgets
		burst      budSim
		ok, refuse int
	}{
		{"fresh, 50×1", nil, budBurst(0, 1), 50, 0},
		{"fresh, 50×2", nil, budBurst(0, 2), 50, 0},
		{"after steady traffic, 50×1", []budSim{budSteady(0)}, budBurst(time.Second, 1), 50, 0},
		{"after steady traffic, 50×2", []budSim{budSteady(0)}, budBurst(time.Second, 2), 50, 0},
		{"after steady traffic and a burst, 50×2", []budSim{budSteady(0), budBurst(time.Second, 2)}, budBurst(2*time.Second, 2), 50, 0},
		// The retries that succeeded were refunded, so one failure each
		// leaves the reserve whole...
		{"right after a 50×1 burst, 50×1", []budSim{budBurst(0, 1)}, budBurst(100*time.Millisecond, 1), 50, 0},
		{"right after a 50×2 burst, 50×1", []budSim{budBurst(0, 2)}, budBurst(100*time.Millisecond, 1), 50, 0},
		// ...but 50 first retries failed: 100 + 10 − 50 = 60 are left for
		// the next 100, so 40 requests are refused their second retry,
		// until a window has passed.
		{"right after a 50×2 burst, 50×2", []budSim{budBurst(0, 2)}, budBurst(100*time.Millisecond, 2), 10, 40},
		{"a window after a 50×2 burst, 50×2", []budSim{budBurst(0, 2)}, budBurst(10*time.Second, 2), 50, 0},
		// 200 successes in between pay for the 40 missing: 60 + 200 × 0.2.
		{"200 successes after a 50×2 burst, 50×2", []budSim{budBurst(0, 2), budOK(100*time.Millisecond, 200)}, budBurst(time.Second, 2), 50, 0},
		{"199 successes after a 50×2 burst, 50×2", []budSim{budBurst(0, 2), budOK(100*time.Millisecond, 199)}, budBurst(time.Second, 2), 49, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBudgets(defaultBudget())
			for _, s := range tc.before {
				s.run(b, budHost)
			}
			r := tc.burst.run(b, budHost)
			t.Logf("%+v", r)
			if r.ok != tc.ok || r.refused != tc.refuse || r.ok+r.refused != 50 {
				t.Fatalf("%d of 50 succeeded, %d refused; want %d and %d", r.ok, r.refused, tc.ok, tc.refuse)
			}
		})
	}
}

// TestBudgetSimOutage: 4,000 requests from 20 callers to a host that
// always fails, with attempts of 50µs to 1s, so that the run takes from
// milliseconds to minutes. With no success the host gets its Reserve once
// per 0.9–1 window: 100 × (1 + ⌊T/9s⌋) retries in a run of T, so ≤ 1.25
// hits per request whenever T < 81s.
func TestBudgetSimOutage(t *testing.T) {
	for _, tc := range []struct {
		latency time.Duration
		retries int // exactly, when the run is shorter than 9s
	}{
		{50 * time.Microsecond, 100},
		{time.Millisecond, 100},
		{10 * time.Millisecond, 100},
		{30 * time.Millisecond, 100},
		{100 * time.Millisecond, -1},
		{300 * time.Millisecond, -1},
		{time.Second, -1},
	} {
		t.Run(tc.latency.String(), func(t *testing.T) {
			const n = 4000
			s := budSim{workers: 20, requests: n, latency: tc.latency, seed: 9,
				fails: func(int, int) bool { return true }}
			r := s.run(newBudgets(defaultBudget()), budHost)
			perReq := float64(r.hits) / n
			bound := DefaultBudgetReserve * (1 + int(r.end/(9*time.Second)))
			t.Logf("attempts of %v: run of %v, %d hits = %.3f per request, %d retries (bound %d), %d refused, %d used every retry",
				tc.latency, r.end, r.hits, perReq, r.retries, bound, r.refused, r.exhausted)
			if r.hits != n+r.retries || r.ok != 0 || r.refused+r.exhausted != n {
				t.Fatalf("inconsistent run: %+v", r)
			}
			if r.retries > bound {
				t.Errorf("%d retries in %v, want ≤ %d", r.retries, r.end, bound)
			}
			if tc.retries >= 0 {
				if r.end >= 9*time.Second {
					t.Fatalf("the run took %v; this case wants it shorter than 9s", r.end)
				}
				if r.retries != tc.retries {
					t.Errorf("%d retries, want exactly %d (the reserve)", r.retries, tc.retries)
				}
			}
			if r.end < 81*time.Second && perReq > 1.25 {
				t.Errorf("%.3f hits per request in a run of %v, want ≤ 1.25", perReq, r.end)
			}
		})
	}
}

// TestBudgetSimBrownout: when 40% of attempts fail, the retries that fail
// stay within the reserve per window plus a fifth of the successes (in a
// steady load; the worst case over sliding windows is twice the second
// term, as a deposit can pay in two consecutive 0.9-window spans), and
// retries are refused.
func TestBudgetSimBrownout(t *testing.T) {
	const n = 20000
	s := budSim{workers: 20, requests: n, latency: 5 * time.Millisecond, seed: 11,
		fails: func(id, attempt int) bool {
			return rand.New(rand.NewPCG(11, uint64(id)<<4|uint64(attempt))).IntN(10) < 4
		}}
	r := s.run(newBudgets(defaultBudget()), budHost)
	// Every request that failed its first attempt and succeeded did so on
	// a retry (refunded); the other retries failed.
	succeededRetries := r.ok - budFirstTimeOK(s)
	failed := r.retries - succeededRetries
	bound := float64(DefaultBudgetReserve*(1+int(r.end/(9*time.Second)))) + DefaultBudgetRatio*float64(r.ok)
	t.Logf("brownout: run of %v, %d ok (%d after a retry), %d refused, %d used every retry; %d retries, %d failed (bound %.0f); %.3f hits per request",
		r.end, r.ok, succeededRetries, r.refused, r.exhausted, r.retries, failed, bound, float64(r.hits)/n)
	if float64(failed) > 1.05*bound {
		t.Errorf("%d failed retries, want ≤ %.0f (5%% above the steady bound)", failed, 1.05*bound)
	}
	if r.refused == 0 {
		t.Error("a 40% brownout was never refused a retry")
	}
}

// budFirstTimeOK counts the requests of s whose first attempt succeeds.
func budFirstTimeOK(s budSim) int {
	n := 0
	for id := range s.requests {
		if !s.fails(id, 1) {
			n++
		}
	}
	return n
}

// TestBudgetDeadHostSparesHealthy: a host in an outage spends its own
// budget only; a healthy host of the same client still retries a burst.
func TestBudgetDeadHostSparesHealthy(t *testing.T) {
	b := newBudgets(defaultBudget())
	dead := budSim{workers: 20, requests: 4000, latency: time.Millisecond, seed: 1,
		fails: func(int, int) bool { return true }}.run(b, budOther)
	if dead.retries != DefaultBudgetReserve || dead.refused == 0 {
		t.Fatalf("dead host: %+v, want its reserve spent and refusals", dead)
	}
	r := budBurst(dead.end, 2).run(b, budHost)
	if r.ok != 50 || r.refused != 0 {
		t.Fatalf("healthy host after the dead one's outage: %+v, want 50 ok", r)
	}
	if b.withdraw(budOther, budAt(dead.end)) {
		t.Fatal("the dead host's budget was refilled by the healthy host's traffic")
	}
}

// TestBudgetEviction: at most maxHosts hosts are kept; the least recently
// used is dropped and comes back with a full reserve.
func TestBudgetEviction(t *testing.T) {
	b := newBudgets(Budget{Reserve: 1})
	now := budAt(0)
	for i := range maxHosts {
		if !b.withdraw(hk(i), now) || b.withdraw(hk(i), now) {
			t.Fatalf("host %d: want exactly one retry", i)
		}
	}
	b.withdraw(hk(0), now) // h0 is now the most recently used; h1 the least
	if b.hosts.len() != maxHosts {
		t.Fatalf("%d hosts kept, want %d", b.hosts.len(), maxHosts)
	}
	if !b.withdraw(hk(maxHosts), now) {
		t.Fatal("a new host was refused its reserve")
	}
	if b.hosts.len() != maxHosts {
		t.Fatalf("%d hosts kept after one more, want %d", b.hosts.len(), maxHosts)
	}
	if b.withdraw(hk(0), now) {
		t.Fatal("h0, recently used, was evicted: its spent reserve came back")
	}
	if !b.withdraw(hk(1), now) {
		t.Fatal("h1, the least recently used, was kept: want it evicted and back with a full reserve")
	}
	// Many more hosts: memory stays bounded.
	for i := range 10 * maxHosts {
		b.onOutcome(hk(i), now, true)
		b.withdraw(hk(i), now)
	}
	if b.hosts.len() != maxHosts {
		t.Fatalf("%d hosts kept, want %d", b.hosts.len(), maxHosts)
	}
	// A refund to a host not held does not add it.
	b.refund(hk(-1), now)
	if b.hosts.find(hk(-1)) != nil {
		t.Fatal("a refund added a host")
	}
}

// TestBudgetSuccessPathAllocs: recording outcomes and paying for retries on
// a known host does not allocate.
func TestBudgetSuccessPathAllocs(t *testing.T) {
	b := newBudgets(Budget{Ratio: 0.2, Reserve: 1 << 30})
	now := budAt(0)
	b.onOutcome(budHost, now, true)
	i := 0
	for name, f := range map[string]func(){
		"onOutcome ok":   func() { b.onOutcome(budHost, now, true) },
		"onOutcome fail": func() { b.onOutcome(budHost, now, false) },
		"withdraw":       func() { b.withdraw(budHost, now) },
		"refund":         func() { b.refund(budHost, now) },
		"moving clock": func() {
			i++
			t := budAt(time.Duration(i) * 300 * time.Millisecond)
			b.onOutcome(budHost, t, true)
			b.withdraw(budHost, t)
			b.refund(budHost, t)
		},
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

// TestBudgetConcurrent: whatever the interleaving, with the clock stopped
// (nothing expires) the retries granted to a host never exceed its reserve,
// its deposits and the refunds it was given, and the state adds up.
func TestBudgetConcurrent(t *testing.T) {
	const (
		workers = 16
		ops     = 3000
	)
	for _, bud := range []Budget{defaultBudget(), {Ratio: 0.5}, {Reserve: 50}, {Ratio: 0.05, Reserve: 1}} {
		t.Run(strconv.FormatFloat(bud.Ratio, 'g', -1, 64)+"/"+strconv.Itoa(bud.Reserve), func(t *testing.T) {
			b := newBudgets(bud)
			now := budAt(time.Hour)
			keys := []hostKey{budHost, budOther, hk(7)}
			var succ, granted, refunds [3]atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				goWG(&wg, func() {
					rng := rand.New(rand.NewPCG(42, uint64(w)))
					for range ops {
						h := rng.IntN(len(keys))
						switch x := rng.IntN(100); {
						case x < 50:
							b.onOutcome(keys[h], now, true)
							succ[h].Add(1)
						case x < 60:
							b.onOutcome(keys[h], now, false)
						case x < 90:
							if b.withdraw(keys[h], now) {
								granted[h].Add(1)
							}
						default:
							b.refund(keys[h], now)
							refunds[h].Add(1)
						}
					}
				})
			}
			wg.Wait()
			for h, k := range keys {
				hb := b.hosts.find(k)
				if hb == nil {
					t.Fatalf("host %v missing", k)
				}
				dep := succ[h].Load() * b.deposit
				if hb.depSum != dep {
					t.Errorf("%v: %d milli-retries deposited, want %d", k, hb.depSum, dep)
				}
				if hb.wdSum < 0 || hb.wdSum > granted[h].Load()*milli || hb.wdSum > b.reserve+hb.depSum {
					t.Errorf("%v: %d milli-retries withdrawn after %d grants; want within [0, min(grants, reserve + deposits = %d)]",
						k, hb.wdSum, granted[h].Load(), b.reserve+hb.depSum)
				}
				if limit := b.reserve + dep + refunds[h].Load()*milli; granted[h].Load()*milli > limit {
					t.Errorf("%v: %d grants exceed reserve + deposits + refunds (%d milli)", k, granted[h].Load(), limit)
				}
				t.Logf("%v: %d successes, %d granted, %d refunds", k, succ[h].Load(), granted[h].Load(), refunds[h].Load())
			}
		})
	}
}

// Behaviour of the budget on a live client: a core Client in test mode on
// a fake clock that stands still (no wait is slept, and the budget's window
// never moves, so what the reserve allows is exact), with doHTTP playing
// the adapter over loopback.

// budClient returns such a client under p, and an http.Client.
func budClient(t *testing.T, p Policy) (*Client, *http.Client) {
	t.Helper()
	c, _ := newCore(p)
	c.SetTestMode(-1)
	return c, dialHTTP(t, nil, 0)
}

// budGet sends a GET to rawURL with the X-Bud-ID header id ("" for none).
func budGet(c *Client, hc *http.Client, rawURL, id string) httpResult {
	r := httpReq{url: rawURL}
	if id != "" {
		r.header = http.Header{"X-Bud-Id": {id}}
	}
	return doHTTP(c, hc, r)
}

// budFlaky is a server whose request of each X-Bud-ID fails (503) its
// first fails times, then succeeds.
type budFlaky struct {
	*httptest.Server
	fails int
	mu    sync.Mutex
	seen  map[string]int
	hits  atomic.Int64
}

func newBudFlaky(t *testing.T, fails int) *budFlaky {
	s := &budFlaky{fails: fails, seen: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		id := r.Header.Get("X-Bud-ID")
		s.mu.Lock()
		s.seen[id]++
		n := s.seen[id]
		s.mu.Unlock()
		if n <= s.fails {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(s.Close)
	return s
}

// TestBudgetBurstLive: 50 concurrent GETs that each fail once, or twice,
// then succeed, all succeed under Default (delays shortened), on a fresh
// client and on one that carried steady traffic.
func TestBudgetBurstLive(t *testing.T) {
	for _, tc := range []struct {
		fails  int
		steady int // sequential successful requests first
	}{{1, 0}, {2, 0}, {1, 200}, {2, 200}} {
		t.Run(strconv.Itoa(tc.fails)+"×50/steady"+strconv.Itoa(tc.steady), func(t *testing.T) {
			srv := newBudFlaky(t, tc.fails)
			c, hc := budClient(t, Default())
			for i := range tc.steady {
				srv.mu.Lock()
				srv.seen["steady"+strconv.Itoa(i)] = tc.fails // succeeds at once
				srv.mu.Unlock()
				if res := budGet(c, hc, srv.URL, "steady"+strconv.Itoa(i)); res.err != nil || res.status != 200 {
					t.Fatalf("steady request %d: %d, %v", i, res.status, res.err)
				}
			}
			srv.hits.Store(0)
			var (
				wg     sync.WaitGroup
				failed atomic.Int64
				gate   = make(chan struct{})
			)
			for i := range 50 {
				goWG(&wg, func() {
					<-gate
					res := budGet(c, hc, srv.URL, strconv.Itoa(i))
					if res.err != nil || res.status != http.StatusOK {
						failed.Add(1)
						t.Errorf("request %d: %d, %v", i, res.status, res.err)
					}
				})
			}
			close(gate)
			wg.Wait()
			if failed.Load() != 0 {
				t.Fatalf("%d of 50 failed", failed.Load())
			}
			if got, want := srv.hits.Load(), int64(50*(1+tc.fails)); got != want {
				t.Fatalf("server hits %d, want %d", got, want)
			}
		})
	}
}

// TestBudgetPerHostLive: a client whose budget for a dead host is spent
// still retries a burst on a healthy host.
func TestBudgetPerHostLive(t *testing.T) {
	var deadHits atomic.Int64
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer dead.Close()
	healthy := newBudFlaky(t, 2)
	c, hc := budClient(t, Default())
	refused := 0
	for range 200 {
		if res := budGet(c, hc, dead.URL, ""); errors.Is(res.err, ErrBudgetExhausted) {
			refused++
		}
	}
	// The clock stands still: exactly the Reserve is spent on the dead
	// host, 3 retries each for the first 33 requests and 1 for the 34th,
	// refused at its second; the other 166 are refused at their first.
	if refused != 200-33 || deadHits.Load() != 200+DefaultBudgetReserve {
		t.Fatalf("dead host: %d hits, %d refused; want %d hits and %d refusals", deadHits.Load(), refused, 200+DefaultBudgetReserve, 200-33)
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 50 {
		goWG(&wg, func() {
			if res := budGet(c, hc, healthy.URL, strconv.Itoa(i)); res.err != nil || res.status != 200 {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 50 requests to the healthy host failed after the dead host spent its budget", failed.Load())
	}
}

// TestBudgetIsolatedFailuresAllRetried: when 10% of requests fail once, the
// default budget retries every one of them.
func TestBudgetIsolatedFailuresAllRetried(t *testing.T) {
	const (
		logical = 600
		workers = 8
	)
	rng := rand.New(rand.NewPCG(7, 11))
	failOnce := make([]bool, logical)
	nFail := 0
	for i := range failOnce {
		if rng.IntN(10) == 0 {
			failOnce[i] = true
			nFail++
		}
	}
	var (
		mu    sync.Mutex
		seen  = map[int]int{}
		total atomic.Int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		id, err := strconv.Atoi(r.Header.Get("X-Bud-ID"))
		if err != nil || id < 0 || id >= logical {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[id]++
		n := seen[id]
		mu.Unlock()
		if failOnce[id] && n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c, hc := budClient(t, Default())

	var (
		wg     sync.WaitGroup
		failed atomic.Int64
		next   atomic.Int64
	)
	for range workers {
		goWG(&wg, func() {
			for {
				id := int(next.Add(1) - 1)
				if id >= logical {
					return
				}
				res := budGet(c, hc, srv.URL, strconv.Itoa(id))
				if res.err != nil || res.status != http.StatusOK {
					failed.Add(1)
					t.Errorf("request %d (fails once: %v): status %d, err %v", id, failOnce[id], res.status, res.err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d requests failed once; server hits %d", nFail, logical, total.Load())
	if nFail < logical/20 || nFail > logical*3/20 {
		t.Fatalf("seeded draw gave %d failures; the test wants about 10%%", nFail)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed; every isolated failure should be retried", failed.Load())
	}
	if got, want := total.Load(), int64(logical+nFail); got != want {
		t.Fatalf("server hits %d, want %d (one retry per isolated failure)", got, want)
	}
}

// TestBudgetOutage: during a full outage 20 goroutines sharing one client
// send 1,000 requests: the retries are the Reserve (no success deposits or
// is refunded), so 1.1 server hits per request, not 1 + MaxRetries. The
// clock stands still, so the window never gives the reserve back: exactly
// Reserve retries are made.
func TestBudgetOutage(t *testing.T) {
	const (
		logical = 1000
		workers = 20
	)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	p := Default()
	c, hc := budClient(t, p)

	var (
		wg                 sync.WaitGroup
		next               atomic.Int64
		refused, exhausted atomic.Int64
		unexpected         atomic.Int64
		refusedAtFirst     atomic.Int64 // refused before any retry
	)
	for range workers {
		goWG(&wg, func() {
			for next.Add(1) <= logical {
				res := budGet(c, hc, srv.URL, "")
				switch err := res.err; {
				case res.status != http.StatusServiceUnavailable:
					unexpected.Add(1)
					t.Errorf("status %d, err %v: want the 503 kept", res.status, err)
				case err == nil:
					exhausted.Add(1) // every retry spent, from the reserve
				case errors.Is(err, ErrBudgetExhausted):
					refused.Add(1)
					var ge *GiveUpError
					if !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable {
						unexpected.Add(1)
						t.Errorf("err %v: want a *GiveUpError with status 503", err)
					}
					if ge != nil && ge.Attempt == 1 {
						refusedAtFirst.Add(1)
					}
				default:
					unexpected.Add(1)
					t.Errorf("unexpected err %v", err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("outage: %d logical requests, %d server hits; %d refused by the budget (%d at attempt 1), %d used every retry",
		logical, hits.Load(), refused.Load(), refusedAtFirst.Load(), exhausted.Load())
	if unexpected.Load() != 0 {
		t.Fatalf("%d unexpected outcomes", unexpected.Load())
	}
	if got, want := hits.Load(), int64(logical+p.Budget.Reserve); got != want {
		t.Errorf("%d server hits, want logical + Reserve = %d", got, want)
	}
	if got := refused.Load() + exhausted.Load(); got != logical {
		t.Errorf("%d requests refused or exhausted, want all %d", got, logical)
	}
	if refusedAtFirst.Load() < logical-int64(p.Budget.Reserve) {
		t.Errorf("%d refused at attempt 1, want at least %d", refusedAtFirst.Load(), logical-p.Budget.Reserve)
	}
}

// TestBudgetRefusalIsPrompt: once the budget is spent, a failing request
// returns at once, with ErrBudgetExhausted and its 503 response, instead of
// sleeping the backoff it would otherwise wait: the fake clock does not
// move.
func TestBudgetRefusalIsPrompt(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	// A 10s backoff with FullJitter; the random source gives 0 (no wait)
	// while the budget is being spent, then 0.99 (a ~10s wait).
	var slow atomic.Bool
	p := Default()
	p.BaseDelay = 10 * time.Second
	p.Jitter = FullJitter
	p.Budget = Budget{Reserve: 2}
	p.Rand = func() float64 {
		if slow.Load() {
			return 0.99
		}
		return 0
	}
	c, clk := newCore(p)
	hc := dialHTTP(t, nil, 0)

	res := budGet(c, hc, srv.URL, "")
	resp, err := res.status, res.err
	if !errors.Is(err, ErrBudgetExhausted) || hits.Load() != 3 {
		t.Fatalf("first request: %d hits, err %v; want 3 hits (2 retries from the reserve) then ErrBudgetExhausted", hits.Load(), err)
	}
	if resp != http.StatusServiceUnavailable {
		t.Fatalf("first request: status %d, want the 503 kept", resp)
	}

	slow.Store(true)
	for i := range 5 {
		before := hits.Load()
		start := clk.Now()
		res := budGet(c, hc, srv.URL, "")
		resp, err := res.status, res.err
		if took := clk.Now().Sub(start); took != 0 {
			t.Errorf("refused request %d took %v; it must not sleep a backoff", i, took)
		}
		if !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, ErrGaveUp) {
			t.Errorf("request %d: err %v, want ErrBudgetExhausted", i, err)
		}
		var ge *GiveUpError
		if !errors.As(err, &ge) || ge.Attempt != 1 || ge.Status != http.StatusServiceUnavailable {
			t.Errorf("request %d: err %#v, want a *GiveUpError for attempt 1, status 503", i, ge)
		}
		if resp != http.StatusServiceUnavailable {
			t.Errorf("request %d: status %d, want the 503 kept", i, resp)
		}
		if n := hits.Load() - before; n != 1 {
			t.Errorf("request %d reached the server %d times, want 1", i, n)
		}
	}
}

// TestBudgetResetOnApply: setting a policy again gives fresh budgets.
func TestBudgetResetOnApply(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	p := Default()
	p.Budget = Budget{Reserve: 2}
	c, hc := budClient(t, p)
	for range 3 {
		budGet(c, hc, srv.URL, "")
	}
	if got := hits.Load(); got != 5 {
		t.Fatalf("3 requests with a 2-retry reserve hit %d times, want 5", got)
	}
	c.SetPolicy(p)
	hits.Store(0)
	if err := budGet(c, hc, srv.URL, "").err; !errors.Is(err, ErrBudgetExhausted) || hits.Load() != 3 {
		t.Fatalf("after re-Apply: %d hits, err %v; want 3 hits (a full reserve of 2) then ErrBudgetExhausted", hits.Load(), err)
	}
}

// retriesLeft is what c's retry budget allows for rawURL's host at now, in
// thousandths of a retry.
func retriesLeft(t *testing.T, c *Client, rawURL string, now time.Time) int64 {
	t.Helper()
	b := c.budget.Load()
	if b == nil {
		t.Fatal("client has no budget")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	h, _ := b.slot(keyOf(u), now, true)
	return b.reserve + h.depSum - h.wdSum
}

// Stress: one applied client shared by 300 goroutines against a flaky
// server, under the race detector. Every logical request carries a unique
// ID in its path (so that the policy's events, which carry the path but no
// header or query, can be told apart per request); the server counts the attempts per ID and decides each attempt's fate
// from a PCG source seeded with (test seed, ID, attempt), so the fate of
// every attempt — and, without a budget, the exact outcome of every logical
// request — is known in advance whatever the scheduling.

const (
	stressWorkers    = 300
	stressPerWorker  = 4
	stressLogical    = stressWorkers * stressPerWorker
	stressMaxRetries = 3
)

type stressFate int

const (
	fateOK        stressFate = iota
	fate503                  // 503, no hint
	fate429                  // 429 with Retry-After: 0
	fateTruncated            // headers and part of the body, then RST
)

// stressFateOf is the fate of one attempt: 25% 503, 5% 429, 10% truncated by
// a reset, the rest 200.
func stressFateOf(seed uint64, id, attempt int) stressFate {
	r := rand.New(rand.NewPCG(seed, uint64(id)<<8|uint64(attempt)))
	switch x := r.IntN(100); {
	case x < 25:
		return fate503
	case x < 30:
		return fate429
	case x < 40:
		return fateTruncated
	}
	return fateOK
}

// stressExpect is the outcome of a logical request when every retry the policy
// allows is made: the attempts used and the fate of the last one.
func stressExpect(seed uint64, id int) (attempts int, last stressFate) {
	for a := 1; a <= stressMaxRetries+1; a++ {
		last = stressFateOf(seed, id, a)
		if last == fateOK {
			return a, last
		}
	}
	return stressMaxRetries + 1, last
}

// stressServer is the flaky server. attempts[id] counts the attempts per ID;
// total counts all.
type stressServer struct {
	*httptest.Server
	seed     uint64
	attempts [stressLogical]atomic.Int32
	total    atomic.Int64
	bad      atomic.Int64 // requests with a missing or bad ID
}

func stressListen(t *testing.T, seed uint64) *stressServer {
	s := &stressServer{seed: seed}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// stressPath is the path of logical request id.
func stressPath(id int) string { return "/stress/" + strconv.Itoa(id) }

// stressID is the ID in a request path or event URL, or -1.
func stressID(path string) int {
	i := strings.LastIndex(path, "/stress/")
	if i < 0 {
		return -1
	}
	id, err := strconv.Atoi(path[i+len("/stress/"):])
	if err != nil || id < 0 || id >= stressLogical {
		return -1
	}
	return id
}

func (s *stressServer) serve(w http.ResponseWriter, r *http.Request) {
	s.total.Add(1)
	id := stressID(r.URL.Path)
	if id < 0 {
		s.bad.Add(1)
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	attempt := int(s.attempts[id].Add(1))
	switch stressFateOf(s.seed, id, attempt) {
	case fate503:
		w.WriteHeader(http.StatusServiceUnavailable)
	case fate429:
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
	case fateTruncated:
		// The reset comes after the headers, so the client has a response
		// and fails reading its body: the transport never retries this on
		// its own, which keeps the server's count equal to the client's.
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		buf.Flush()
		faultReset(conn)
	default:
		w.Write([]byte("ok-" + strconv.Itoa(id)))
	}
}

type stressResult struct {
	attempts int
	status   int
	body     string
	err      error
	events   []Event // the policy's decisions for this request, in order
}

// stressRun sends stressLogical GETs through c from stressWorkers goroutines, and
// collects the events the policy reports for each.
func stressRun(t *testing.T, s *stressServer, p Policy) []stressResult {
	var (
		mu     sync.Mutex
		events = make([][]Event, stressLogical)
		stray  atomic.Int64 // events whose URL names no request
	)
	p.OnDecision = func(ev Event) {
		id := stressID(ev.URL)
		if id < 0 {
			stray.Add(1)
			return
		}
		mu.Lock()
		events[id] = append(events[id], ev)
		mu.Unlock()
	}
	c, hc := budClient(t, p)
	hc.Timeout = 20 * time.Second

	results := make([]stressResult, stressLogical)
	var wg sync.WaitGroup
	for w := range stressWorkers {
		goWG(&wg, func() {
			for i := range stressPerWorker {
				id := w*stressPerWorker + i
				r := doHTTP(c, hc, httpReq{url: s.URL + stressPath(id)})
				results[id] = stressResult{err: r.err, attempts: r.attempts, status: r.status, body: r.body}
			}
		})
	}
	wg.Wait()
	if n := stray.Load(); n != 0 {
		t.Errorf("%d events with no request ID in their URL", n)
	}
	for id := range results {
		results[id].events = events[id]
	}
	return results
}

func stressPolicy() Policy {
	p := Default()
	p.MaxRetries = stressMaxRetries
	return p
}

// stressCheckCommon checks what holds with or without a budget, and returns
// the number of retries made.
func stressCheckCommon(t *testing.T, s *stressServer, results []stressResult) (retries int) {
	t.Helper()
	if n := s.bad.Load(); n != 0 {
		t.Errorf("%d requests reached the server without a valid ID", n)
	}
	sum := int64(0)
	for id, res := range results {
		server := int(s.attempts[id].Load())
		sum += int64(server)
		if server < 1 || server > stressMaxRetries+1 {
			t.Errorf("id %d: server saw %d attempts, want 1..%d", id, server, stressMaxRetries+1)
		}
		if res.attempts != server {
			t.Errorf("id %d: client reports %d attempts, server saw %d", id, res.attempts, server)
		}
		// One decision per attempt: Retry for all but the last, then Stop.
		if len(res.events) != res.attempts {
			t.Errorf("id %d: %d events for %d attempts", id, len(res.events), res.attempts)
		} else {
			for i, ev := range res.events {
				want := Retry
				if i == len(res.events)-1 {
					want = Stop
				}
				if ev.Attempt != i+1 || ev.Verdict != want || ev.Method != http.MethodGet {
					t.Errorf("id %d: event %d is %s attempt %d %v, want GET attempt %d %v",
						id, i, ev.Method, ev.Attempt, ev.Verdict, i+1, want)
				}
			}
		}
		retries += server - 1
	}
	if sum != s.total.Load() {
		t.Errorf("per-ID attempts add up to %d, server counted %d", sum, s.total.Load())
	}
	return retries
}

// stressTornDown reports whether err is the error of a response whose
// connection was reset under it.
func stressTornDown(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// TestStressUnlimited: no budget, so every logical request's outcome is
// exactly the one its seeded fates dictate.
func TestStressUnlimited(t *testing.T) {
	const seed = 20240601
	s := stressListen(t, seed)
	p := stressPolicy()
	p.Budget = Budget{}
	start := time.Now()
	results := stressRun(t, s, p)
	elapsed := time.Since(start)

	var ok, failed503, failed429, failedTorn int
	for id, res := range results {
		want, last := stressExpect(seed, id)
		for _, ev := range res.events {
			if ev.GiveUp != nil {
				t.Errorf("id %d: event %+v gives up, with no limit set", id, ev)
			}
		}
		if res.attempts != want {
			t.Errorf("id %d: %d attempts, want %d (last fate %d)", id, res.attempts, want, last)
			continue
		}
		switch last {
		case fateOK:
			if res.err != nil || res.status != http.StatusOK || res.body != "ok-"+strconv.Itoa(id) {
				t.Errorf("id %d: got (%d %q, %v), want 200 ok-%d", id, res.status, res.body, res.err, id)
			}
			ok++
		case fate503, fate429:
			// Retries used up: the last response, no error.
			wantStatus := map[stressFate]int{fate503: 503, fate429: 429}[last]
			if res.err != nil || res.status != wantStatus {
				t.Errorf("id %d: got (%d, %v), want (%d, nil) after %d attempts", id, res.status, res.err, wantStatus, want)
			}
			if last == fate503 {
				failed503++
			} else {
				failed429++
			}
		case fateTruncated:
			if !stressTornDown(res.err) || errors.Is(res.err, ErrGaveUp) {
				t.Errorf("id %d: err %v, want the body read error", id, res.err)
			}
			failedTorn++
		}
	}
	retries := stressCheckCommon(t, s, results)
	t.Logf("%d logical requests in %v: %d ok, %d ended 503, %d ended 429, %d ended torn; %d server hits (%d retries)",
		stressLogical, elapsed, ok, failed503, failed429, failedTorn, s.total.Load(), retries)
	if ok < stressLogical*9/10 {
		t.Errorf("only %d of %d succeeded; the seeded fates should give ~97%%", ok, stressLogical)
	}
}

// TestStressDefaultBudget: the same load with the default budget. Retries
// are refused once the budget runs dry, so outcomes depend on scheduling;
// what must hold: a request ends as its fates dictate, or earlier because
// the budget refused a retry, and the retries made are paid for.
//
// A refusal is a *GiveUpError with ErrBudgetExhausted: after a response
// (503, 429) with its status; after a body-read error (the status line
// arrived, then the reset) with the status and the read error; after a
// transport error with the transport error. (How an adapter hands each to
// its caller is the adapter's test.) In every case the final event gives up
// with ErrBudgetExhausted, and the server saw no attempt beyond the
// client's.
func TestStressDefaultBudget(t *testing.T) {
	const seed = 77
	s := stressListen(t, seed)
	p := stressPolicy()
	start := time.Now()
	results := stressRun(t, s, p)
	elapsed := time.Since(start)

	var ok, okRetried, full, refusedResp, refusedTransport, refusedBody int
	for id, res := range results {
		want, last := stressExpect(seed, id)
		var final Event
		if n := len(res.events); n > 0 {
			final = res.events[n-1]
		}
		switch {
		case res.attempts < 1 || res.attempts > want:
			t.Errorf("id %d: %d attempts, want 1..%d", id, res.attempts, want)
		case res.attempts < want:
			// Cut short: only the budget may do that here.
			if final.Attempt != res.attempts || final.Verdict != Stop || !errors.Is(final.GiveUp, ErrBudgetExhausted) {
				t.Errorf("id %d: stopped after %d of %d attempts; final event attempt %d %v, give-up %v; want a give-up with ErrBudgetExhausted",
					id, res.attempts, want, final.Attempt, final.Verdict, final.GiveUp)
			}
			fate := stressFateOf(seed, id, res.attempts)
			ge, isGU := asType[*GiveUpError](res.err)
			if !isGU || !errors.Is(res.err, ErrBudgetExhausted) || ge.Attempt != res.attempts {
				t.Errorf("id %d: err %v, want a *GiveUpError with ErrBudgetExhausted for attempt %d", id, res.err, res.attempts)
				break
			}
			switch {
			case fate == fateTruncated && res.status == 0:
				refusedTransport++
				if !stressTornDown(ge.Err) {
					t.Errorf("id %d: refused after a transport error with cause %v", id, ge.Err)
				}
			case fate == fateTruncated:
				refusedBody++
				if !stressTornDown(ge.Err) || ge.Status != http.StatusOK {
					t.Errorf("id %d: refused after a body-read error with %+v, want status 200 and the read error", id, ge)
				}
				if !stressTornDown(final.Err) || !errors.Is(final.GiveUp, final.Err) {
					t.Errorf("id %d: final event err %v, give-up %v; want the body-read error in both", id, final.Err, final.GiveUp)
				}
			default:
				refusedResp++
				if fate == fate503 && res.status != 503 || fate == fate429 && res.status != 429 || fate != fate503 && fate != fate429 {
					t.Errorf("id %d: refused after a fate-%d attempt but got status %d", id, fate, res.status)
				}
				if ge.Status != res.status {
					t.Errorf("id %d: GiveUpError status %d, response %d", id, ge.Status, res.status)
				}
			}
		case last == fateOK:
			if res.err != nil || res.body != "ok-"+strconv.Itoa(id) {
				t.Errorf("id %d: got (%d %q, %v), want 200 ok-%d", id, res.status, res.body, res.err, id)
			}
			ok++
			if res.attempts > 1 {
				okRetried++ // a retry that succeeded: refunded
			}
		default:
			full++
			if last == fateTruncated && !stressTornDown(res.err) || last != fateTruncated && res.err != nil {
				t.Errorf("id %d: all %d attempts failed (last fate %d) but err = %v", id, want, last, res.err)
			}
		}
		if res.attempts == want {
			for _, ev := range res.events {
				if ev.GiveUp != nil {
					t.Errorf("id %d: ran its full course but event %+v gives up", id, ev)
				}
			}
		}
	}
	retries := stressCheckCommon(t, s, results)
	// The run is far shorter than the budget's window: every retry that
	// failed was paid for by the reserve or by a deposit of Ratio per
	// success; every retry that succeeded was refunded.
	limit := p.Budget.Reserve + int(p.Budget.Ratio*float64(ok)+0.5) + okRetried
	refused := refusedResp + refusedTransport + refusedBody
	t.Logf("%d logical requests in %v: %d ok, %d failed after all retries, %d refused by the budget (%d after a response, %d after a transport error, %d after a body-read error); %d retries (limit %d)",
		stressLogical, elapsed, ok, full, refused, refusedResp, refusedTransport, refusedBody, retries, limit)
	if retries > limit {
		t.Errorf("%d retries exceed Reserve + Ratio·successes + retries that succeeded = %d", retries, limit)
	}
	// The seeded fates fail far more first attempts than the budget can
	// retry, so refusals are certain; about a quarter of them follow a
	// truncated body, so at least one of those is certain in practice
	// (the chance of none among hundreds is below 1e-30).
	if refusedResp == 0 || refusedBody == 0 {
		t.Errorf("refusals after a response: %d, after a body-read error: %d; the load should produce both", refusedResp, refusedBody)
	}
}

// A paid retry is settled once, when its attempt's outcome arrives, never
// refunded a second time (the adapter's test adds a hook that replaces the
// request's context on every attempt). With
// Reserve 3 and Ratio 0 an always-503 path gets at most 3 failed retries
// per Window, however many retries to a flaky path of the same host
// succeed; the flaky path's retries draw on the same reserve, so once it is
// spent they are refused (ErrBudgetExhausted) rather than sent.
func TestBudgetDoubleRefund(t *testing.T) {
	var flakyHits, deadHits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dead" {
			deadHits.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if flakyHits.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	p := Default()
	p.MaxRetries = 1
	p.Budget = Budget{Reserve: 3, Ratio: 0, Window: time.Hour}
	c, hc := budClient(t, p)
	const rounds = 20
	for i := range rounds {
		budGet(c, hc, srv.URL+"/dead", "")
		res := budGet(c, hc, srv.URL+"/flaky", "")
		if res.err != nil && !errors.Is(res.err, ErrBudgetExhausted) {
			t.Fatalf("round %d, flaky: status %d, err %v; want 200 or ErrBudgetExhausted", i, res.status, res.err)
		}
		if res.err == nil && res.status != http.StatusOK {
			t.Fatalf("round %d, flaky: status %d without an error", i, res.status)
		}
	}
	// The clock stands still: the dead path's first 3 rounds spend the
	// reserve (the flaky retries between them succeed and are refunded),
	// and nothing gives it back.
	if failed := deadHits.Load() - rounds; failed != 3 {
		t.Errorf("failed retries to the host: %d, want 3: the budget allows 3 (Reserve 3, Ratio 0, Window 1h)", failed)
	}
}
