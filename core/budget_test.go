package core

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// budT0 is the origin of the explicit clocks below.
var budT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func budAt(d time.Duration) time.Time { return budT0.Add(d) }

func budURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

var (
	budHostURL = budURL("https://api.example.com/users/1")
)

func TestBudgetDefaults(t *testing.T) {
	if got, want := defaultBudget(), (Budget{Ratio: 0.2, Reserve: 1500, Window: 10 * time.Second}); got != want {
		t.Fatalf("defaultBudget() = %+v, want %+v", got, want)
	}
	if got := Default().Budget; got != defaultBudget() {
		t.Fatalf("Default().Budget = %+v, want defaultBudget()", got)
	}
	b := newBudgets(defaultBudget())
	if b.reserve != 1_500_000 || b.pool != b.reserve || b.ratio != 200 || b.width != time.Second {
		t.Fatalf("default budgets: reserve %d, pool %d, ratio %d, slot %v", b.reserve, b.pool, b.ratio, b.width)
	}
	// The tolerances the Budget doc works with: the longest first
	// min(MaxRetries, 3) backoffs.
	for _, tc := range []struct {
		name  string
		p     Policy
		tol   time.Duration
		depth int
	}{
		{"Default", Default(), 10500 * time.Millisecond, 3},
		{"Background", Background(), 7 * time.Second, 3},
		{"Interactive", Interactive(), 300 * time.Millisecond, 2},
		{"Contention", Contention(), 350 * time.Millisecond, 3},
	} {
		tol, depth := b.shape(&tc.p)
		if depth != tc.depth || tol < tc.tol-time.Microsecond || tol > tc.tol {
			t.Errorf("%s: tolerance %v depth %d, want %v %d", tc.name, tol, depth, tc.tol, tc.depth)
		}
	}
	dp := Default()
	if tol, _ := newBudgets(Budget{Reserve: 1, Tolerance: time.Minute}).shape(&dp); tol != time.Minute {
		t.Errorf("Budget.Tolerance: %v, want 1m", tol)
	}
}

func TestBudgetDisabled(t *testing.T) {
	p := Default()
	for _, b := range []Budget{
		{},
		{Window: time.Second},
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
			var tk budgetTicket
			if !k.withdraw(&tk, budHostURL, now, i%4+1, &p, now) {
				t.Fatalf("nil budgets refused withdrawal %d", i+1)
			}
			tk.sent()
			k.settle(&tk, budHostURL, now, 2, i%2 == 0)
			k.refund(&tk, now)
		}
	}
}

func TestBudgetKeyOf(t *testing.T) {
	for _, tc := range []struct {
		url, route, want string
	}{
		{"https://h/users/42?x=1", "", "users"},
		{"https://h/users", "", "users"},
		{"https://h//a/b", "", "a"},
		{"https://h/", "", ""},
		{"https://h", "", ""},
		{"https://h/users/42", "accounts", "accounts"},
	} {
		if got := budgetKeyOf(budURL(tc.url), tc.route); got.route != tc.want || got.host != keyOf(budURL(tc.url)) {
			t.Errorf("budgetKeyOf(%s, %q) = %+v, want route %q", tc.url, tc.route, got, tc.want)
		}
	}
	if k := budgetKeyOf(nil, ""); k != (budgetKey{}) {
		t.Errorf("budgetKeyOf(nil) = %+v", k)
	}
	u := budURL("https://api.example.com/users/42")
	if n := testing.AllocsPerRun(100, func() { _ = budgetKeyOf(u, "") }); n != 0 {
		t.Errorf("budgetKeyOf allocates %v times", n)
	}
}

// budWithdraw asks for the retry after attempt of a fresh request, as the
// execution does (a refusal settles it), and returns the ticket.
func budWithdraw(b *budgets, u *url.URL, now time.Time, attempt int, p *Policy) (*budgetTicket, bool) {
	tk := new(budgetTicket)
	ok := b.withdraw(tk, u, now, attempt, p, now)
	if !ok {
		b.settle(tk, u, now, attempt, false)
	}
	return tk, ok
}

func TestBudgetReservations(t *testing.T) {
	p := Default()
	b := newBudgets(Budget{Reserve: 7, Tolerance: time.Hour})
	now := budAt(0)
	// Each first retry takes one token and reserves two: 7 tokens pay two
	// requests in full and the first retry of a third, with none reserved.
	var tks []*budgetTicket
	for i := range 4 {
		tk, ok := budWithdraw(b, budHostURL, now, 1, &p)
		if want := i < 3; ok != want {
			t.Fatalf("first retry %d: %v, want %v", i+1, ok, want)
		}
		if ok {
			tks = append(tks, tk)
		}
	}
	if tks[0].reserved != 2*milli || tks[2].reserved != 0 || b.pool != 0 {
		t.Fatalf("reserved %d, %d, pool %d", tks[0].reserved, tks[2].reserved, b.pool)
	}
	for _, tk := range tks {
		tk.sent()
	}
	// The reserved retries are paid; the third request has none.
	for i, want := range []bool{true, true, false} {
		if got := b.withdraw(tks[i], budHostURL, now, 2, &p, now); got != want {
			t.Errorf("second retry of request %d: %v, want %v", i+1, got, want)
		}
	}
	// A success gives the retry's token back, and the rest of the
	// reservation: with no Ratio, nothing is deposited.
	tks[0].sent()
	b.settle(tks[0], budHostURL, now, 3, true)
	h := b.keys.find(budgetKeyOf(budHostURL, ""))
	if h.own != 2*milli || tks[0].reserved != 0 {
		t.Fatalf("after a success: own %d, reserved %d; want 2000, 0", h.own, tks[0].reserved)
	}
	// A request that ends with a retry paid and not sent gives it back.
	b.refund(tks[1], now)
	if h.own != 4*milli {
		t.Fatalf("after a refund: own %d, want 4000", h.own)
	}
	b.refund(tks[1], now) // twice: nothing more
	if h.own != 4*milli {
		t.Fatalf("after a second refund: own %d, want 4000", h.own)
	}
}

func TestBudgetDownKeyRatioAndProbe(t *testing.T) {
	p := Default()
	b := newBudgets(Budget{Ratio: 0.2, Reserve: 0, Window: 10 * time.Second})
	now := budAt(0)
	// No tokens: the first retry of every fifth request is paid by the
	// traffic, and the client's probe pays one more per window.
	granted := 0
	for range 50 {
		if _, ok := budWithdraw(b, budHostURL, now, 1, &p); ok {
			granted++
		}
	}
	if granted != 10+1 {
		t.Fatalf("granted %d of 50 first retries, want 10 (0.2 × 50) + 1 probe", granted)
	}
	// Never a second retry without a token.
	tk, ok := budWithdraw(b, budHostURL, now, 1, &p)
	if ok {
		t.Fatal("a 51st first retry granted")
	}
	if b.withdraw(tk, budHostURL, now, 2, &p, now) {
		t.Fatal("a second retry granted without a token")
	}
	// The window moves on: the requests expire with what they paid.
	now = budAt(10 * time.Second)
	if _, ok := budWithdraw(b, budHostURL, now, 1, &p); !ok {
		t.Fatal("the next window's probe refused")
	}
	if _, ok := budWithdraw(b, budHostURL, now, 1, &p); ok {
		t.Fatal("a retry paid by expired traffic")
	}
}

func TestBudgetToleranceEndsTokens(t *testing.T) {
	p := Default() // tolerance 10.5s
	b := newBudgets(Budget{Reserve: 100})
	if _, ok := budWithdraw(b, budHostURL, budAt(0), 1, &p); !ok {
		t.Fatal("first retry of an episode refused")
	}
	tk, ok := budWithdraw(b, budHostURL, budAt(10400*time.Millisecond), 1, &p)
	if !ok {
		t.Fatal("a retry at the end of the tolerance refused")
	}
	tk.sent()
	// The key is down, but the request started within the tolerance: its
	// reservation is honoured (a burst's requests are paid alike however
	// long their attempts take); once spent, it is not renewed.
	for i, want := range []bool{true, true, false} {
		tk.sent()
		if got := b.withdraw(tk, budHostURL, budAt(20*time.Second), 2+i, &p, budAt(10400*time.Millisecond)); got != want {
			t.Fatalf("retry %d of a request started in the tolerance, the key down: %v, want %v", 2+i, got, want)
		}
	}
	if _, ok := budWithdraw(b, budHostURL, budAt(11*time.Second), 1, &p); ok {
		t.Fatal("tokens pay on a down key")
	}
	// A success ends the episode: tokens pay again.
	var s budgetTicket
	b.settle(&s, budHostURL, budAt(12*time.Second), 1, true)
	if _, ok := budWithdraw(b, budHostURL, budAt(12*time.Second), 1, &p); !ok {
		t.Fatal("tokens do not pay after a success")
	}
}

// The tolerance grows by the waits the server named and the episode's
// retries were granted, beyond the policy's own backoff, counted once for
// requests that wait together; a success ends the growth with the episode.
func TestBudgetToleranceGrowsByNamedWaits(t *testing.T) {
	p := Default() // tolerance 10.5s
	for _, named := range []bool{false, true} {
		b := newBudgets(Budget{Reserve: 100})
		tk, ok := budWithdraw(b, budHostURL, budAt(0), 1, &p)
		if !ok {
			t.Fatal("first retry of an episode refused")
		}
		if named {
			// Two requests told at 0s and at 1s to come back at 30s and 31s;
			// the policy's own first backoff is at most 1.5s.
			b.waited(tk, budAt(0), &p, 1, 30*time.Second)
			tk2, _ := budWithdraw(b, budHostURL, budAt(time.Second), 1, &p)
			b.waited(tk2, budAt(time.Second), &p, 1, 30*time.Second)
			h := b.keys.find(budgetKeyOf(budHostURL, ""))
			own := p.Jitter.Spread(p.backoff(1), 1) // 1.5s, less the jitter's last nanosecond
			if want := 31*time.Second - own; h.grown != want || own < 1499*time.Millisecond {
				t.Fatalf("grown %v, want %v: the union of [1.5s, 30s] and [2.5s, 31s]", h.grown, want)
			}
		}
		// At 35s a new request's first retry: the key is down after 10.5s
		// of policy waits, not after 10.5s plus the 29.5s the server named.
		_, ok = budWithdraw(b, budHostURL, budAt(35*time.Second), 1, &p)
		if ok != named {
			t.Fatalf("named waits %v: a retry at 35s granted %v, want %v", named, ok, named)
		}
		if _, ok := budWithdraw(b, budHostURL, budAt(41*time.Second), 1, &p); ok {
			t.Fatalf("named waits %v: a retry at 41s granted, past 10.5s + 29.5s", named)
		}
		if named {
			// A success ends the episode and its growth.
			var s budgetTicket
			b.settle(&s, budHostURL, budAt(42*time.Second), 1, true)
			h := b.keys.find(budgetKeyOf(budHostURL, ""))
			if h.grown != 0 || !h.namedTo.IsZero() {
				t.Fatalf("after a success: grown %v, named to %v", h.grown, h.namedTo)
			}
		}
	}
	// A wait no longer than the policy's own grows nothing.
	b := newBudgets(Budget{Reserve: 100})
	tk, _ := budWithdraw(b, budHostURL, budAt(0), 1, &p)
	b.waited(tk, budAt(0), &p, 1, time.Second)
	h := b.keys.find(budgetKeyOf(budHostURL, ""))
	if h.grown != 0 {
		t.Fatalf("a wait within the policy's backoff grew the tolerance by %v", h.grown)
	}
	// The growth stops at min(MaxRetries, 3) × MaxRetryAfter: 90s.
	for i := range 10 {
		at := budAt(time.Duration(i) * 30 * time.Second)
		b.waited(tk, at, &p, 1, 30*time.Second)
	}
	if h.grown != 90*time.Second {
		t.Fatalf("grown %v after 300s of named waits, want the cap 90s", h.grown)
	}
	var nb *budgets
	nb.waited(tk, budAt(0), &p, 1, time.Second) // a disabled budget
}

func TestBudgetKeysIndependent(t *testing.T) {
	p := Default()
	b := newBudgets(Budget{Ratio: 0.2, Reserve: 3})
	dead := budURL("https://gw.example.com/dead/1")
	live := budURL("https://gw.example.com/live/1")
	// The dead route drains the shared pool and goes down.
	for i := range 100 {
		budWithdraw(b, dead, budAt(time.Duration(i)*100*time.Millisecond), 1, &p)
	}
	// The live route earned its own tokens by its successes: it keeps them.
	for range 100 {
		var tk budgetTicket
		b.settle(&tk, live, budAt(time.Second), 1, true)
	}
	if h := b.keys.find(budgetKeyOf(live, "")); h.own != 3*milli {
		t.Fatalf("live route owns %d, want 3000 (capped at Reserve)", h.own)
	}
	for i := range 10 {
		if _, ok := budWithdraw(b, live, budAt(11*time.Second), 1, &p); !ok {
			t.Fatalf("live route's retry %d refused", i+1)
		}
		if i == 0 {
			break // it reserved the rest: one request at a time
		}
	}
	// A route the caller names is its own key.
	tk := &budgetTicket{route: "orders"}
	if !b.withdraw(tk, dead, budAt(12*time.Second), 1, &p, budAt(12*time.Second)) || tk.key.route != "orders" {
		t.Fatalf("named route: key %+v", tk.key)
	}
}

func TestBudgetEvictionGivesNothing(t *testing.T) {
	p := Default()
	b := newBudgets(Budget{Ratio: 0.2, Reserve: 10})
	hostURL := func(i int) *url.URL { return budURL("http://h" + strconv.Itoa(i) + "/x") }
	// Every host fails: the shared pool of 10 pays 10 failed retries in
	// all (a reservation not spent comes back to it), plus the probe,
	// whatever the number of hosts; a host's traffic would pay 0.2 per
	// request, but a host evicted before its fifth request never has the
	// traffic to pay, however often it comes back.
	granted := 0
	now := budAt(0)
	for round := range 5 {
		for i := range 3 * maxHosts {
			tk, ok := budWithdraw(b, hostURL(i), now, 1, &p)
			if ok {
				granted++
				tk.sent()
				b.settle(tk, hostURL(i), now, 2, false)
			}
		}
		_ = round
	}
	if want := 10 + 1; granted > want {
		t.Fatalf("granted %d first retries over 15,360 requests to 3,072 hosts, want at most %d", granted, want)
	}
	if n := b.keys.len(); n > maxHosts {
		t.Fatalf("%d keys held, more than %d", n, maxHosts)
	}
	// An evicted key's own tokens go into the pool, never more than Reserve.
	b2 := newBudgets(Budget{Ratio: 1, Reserve: 5})
	for range 5 {
		b2.settle(new(budgetTicket), hostURL(0), now, 1, true)
	}
	b2.pool = 0
	for i := 1; i <= maxHosts; i++ {
		b2.settle(new(budgetTicket), hostURL(i), now, 1, true)
	}
	if b2.pool != 5*milli {
		t.Fatalf("pool %d after evicting a host with 5 tokens, want 5000", b2.pool)
	}
}

func TestBudgetConcurrent(t *testing.T) {
	p := Default()
	b := newBudgets(Budget{Ratio: 0.2, Reserve: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				u := budURL("http://h" + strconv.Itoa((g*2000+i)%1500) + "/r")
				now := budAt(time.Duration(i) * time.Millisecond)
				tk := new(budgetTicket)
				if b.withdraw(tk, u, now, 1, &p, now) {
					tk.sent()
					b.withdraw(tk, u, now, 2, &p, now)
				}
				b.settle(tk, u, now, 3, i%3 == 0)
				b.refund(tk, now)
			}
		}()
	}
	wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pool < 0 || b.pool > b.reserve || b.keys.len() > maxHosts {
		t.Fatalf("pool %d, %d keys", b.pool, b.keys.len())
	}
}

func TestBudgetSuccessPathAllocs(t *testing.T) {
	b := newBudgets(defaultBudget())
	now := budAt(0)
	b.settle(new(budgetTicket), budHostURL, now, 1, true)
	var tk budgetTicket
	if n := testing.AllocsPerRun(1000, func() {
		tk = budgetTicket{}
		b.settle(&tk, budHostURL, now, 1, true)
		b.refund(&tk, now)
	}); n != 0 {
		t.Fatalf("the success path allocates %v times", n)
	}
}

// --- A simulation on a fake clock, with the presets' real waits.
//
// Requests are real Executions of one Client, whose Clock is the
// simulation's: every wait a Decision asks for is simulated (the clock
// jumps to the next event), not compressed, so a 1s backoff is 1s of the
// budget's time. An attempt takes budLatency.

const budLatency = time.Millisecond

type budClock struct{ now time.Time }

func (c *budClock) Now() time.Time { return c.now }
func (c *budClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return ctx.Err()
}

type budEvent struct {
	at  time.Time
	seq int
	req int
}

type budQueue []budEvent

func (q budQueue) Len() int { return len(q) }
func (q budQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q budQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *budQueue) Push(x any)   { *q = append(*q, x.(budEvent)) }
func (q *budQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// budSim is one scenario: requests start at start(i) to url(i); answer
// says whether attempt a (1-based) of request i at t succeeds.
type budSim struct {
	p      Policy
	n      int
	start  func(i int) time.Duration
	url    func(i int) *url.URL
	answer func(i, a int, t time.Duration) bool
	seed   uint64
	// header, when not nil, is the header of every failed attempt's
	// answer (a Retry-After).
	header http.Header
}

type budReq struct {
	e        *Execution
	attempts int
	ok       bool
	budget   bool          // ended with ErrBudgetExhausted
	start    time.Duration // when it started
	end      time.Duration // when it ended
	hitsAt   []time.Duration
}

func (s budSim) run(t *testing.T) []budReq {
	t.Helper()
	clk := &budClock{now: budT0}
	rng := rand.New(rand.NewPCG(s.seed, 7))
	p := s.p
	p.Rand = rng.Float64
	c := NewClient(p, Options{Clock: clk})
	reqs := make([]budReq, s.n)
	q := &budQueue{}
	seq := 0
	push := func(at time.Time, i int) {
		seq++
		heap.Push(q, budEvent{at: at, seq: seq, req: i})
	}
	for i := range s.n {
		reqs[i].start = s.start(i)
		push(budT0.Add(reqs[i].start+budLatency), i) // the first attempt's answer
	}
	ctx := context.Background()
	for q.Len() > 0 {
		ev := heap.Pop(q).(budEvent)
		clk.now = ev.at
		r := &reqs[ev.req]
		if r.e == nil {
			r.e = c.Start(ctx, nil, Request{Method: "GET", Start: budT0.Add(r.start)})
		}
		r.attempts++
		a := r.attempts
		now := clk.now.Sub(budT0)
		r.hitsAt = append(r.hitsAt, now-budLatency)
		u := s.url(ev.req)
		o := Outcome{Phase: PhaseFinished, Attempt: a, URL: u, Status: 503, Header: s.header, Replayable: true}
		if s.answer(ev.req, a, now) {
			o.Status, o.Header = 200, nil
		}
		d := r.e.Next(o)
		if d.Action == ActionRetry {
			// The wait is simulated; the retry is sent at its end.
			at := clk.now.Add(d.Wait)
			push(at.Add(budLatency), ev.req)
			continue
		}
		r.ok = o.Status == 200
		r.budget = errors.Is(d.Err, ErrBudgetExhausted)
		r.end = now
		r.e.Next(Outcome{Phase: PhaseEnded, Attempt: a, URL: u})
		r.e.Close()
	}
	return reqs
}

// The sends of a retry (PhaseBefore, PhaseSending) are skipped above: the
// budget learns that a retry was sent at its PhaseFinished.

// budSteady returns hits per request over the requests that started in
// [from, to), and how many succeeded.
func budSteady(reqs []budReq, from, to time.Duration) (hpr float64, n, ok int) {
	hits := 0
	for _, r := range reqs {
		if r.start >= from && r.start < to {
			n++
			hits += r.attempts
			if r.ok {
				ok++
			}
		}
	}
	return float64(hits) / float64(max(n, 1)), n, ok
}

func budOpenLoop(p Policy, rps float64, d time.Duration, u *url.URL, answer func(i, a int, t time.Duration) bool) budSim {
	gap := time.Duration(float64(time.Second) / rps)
	return budSim{p: p, n: int(d / gap), start: func(i int) time.Duration { return time.Duration(i) * gap },
		url: func(int) *url.URL { return u }, answer: answer, seed: 1}
}

func budDown(int, int, time.Duration) bool { return false }

// Goal 1: an outage, open loop, every attempt 503, 45s; the steady state
// is the requests started in the last 20s.
func TestBudgetSimOutageOpenLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		rps  float64
		max  float64
	}{
		{"Default 1rps", Default(), 1, 1.35},
		{"Default 10rps", Default(), 10, 1.25},
		{"Default 100rps", Default(), 100, 1.25},
		{"Background 1rps", Background(), 1, 1.35},
		{"Background 10rps", Background(), 10, 1.25},
		{"Background 100rps", Background(), 100, 1.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs := budOpenLoop(tc.p, tc.rps, 45*time.Second, budHostURL, budDown).run(t)
			hpr, n, _ := budSteady(reqs, 25*time.Second, 45*time.Second)
			all, _, _ := budSteady(reqs, 0, 45*time.Second)
			t.Logf("%s: steady %.3f hits per request (%d requests), whole run %.3f", tc.name, hpr, n, all)
			if hpr > tc.max {
				t.Errorf("steady state %.3f hits per request, want ≤ %.2f", hpr, tc.max)
			}
		})
	}
}

// An outage whose 503s name their wait (Retry-After: 20, longer than
// Default's backoffs, so every retry waits what the server named): the
// named waits grow the tolerance, so tokens pay for longer, but they are
// spent as before, and nothing deposits: over the whole run the retries are
// at most the pool, Ratio of the requests and one probe per window, and
// after the grown tolerance (at most 10.5s + 3 × 30s) the steady state is
// the same 1 + Ratio + probes as an outage that names nothing.
func TestBudgetSimOutageNamedWaits(t *testing.T) {
	const run = 300 * time.Second
	for _, rps := range []float64{1, 10, 100} {
		s := budOpenLoop(Default(), rps, run, budHostURL, budDown)
		s.header = http.Header{"Retry-After": {"20"}}
		reqs := s.run(t)
		hpr, n, _ := budSteady(reqs, run-60*time.Second, run)
		all, total, _ := budSteady(reqs, 0, run)
		retries := int(math.Round(all*float64(total))) - total
		t.Logf("%v rps: steady %.3f hits per request (%d requests), whole run %.3f (%d retries for %d requests)",
			rps, hpr, n, all, retries, total)
		if max := 1.2 + 0.1/rps + 0.05; hpr > max {
			t.Errorf("%v rps: steady state %.3f hits per request, want ≤ %.3f", rps, hpr, max)
		}
		if limit := DefaultBudgetReserve + int(DefaultBudgetRatio*float64(total)) + int(run/DefaultBudgetWindow) + 1; retries > limit {
			t.Errorf("%v rps: %d retries, more than the pool, Ratio of the requests and the probes: %d", rps, retries, limit)
		}
		for i, r := range reqs {
			for j := 1; j < len(r.hitsAt); j++ {
				if gap := r.hitsAt[j] - r.hitsAt[j-1]; gap < 20*time.Second {
					t.Fatalf("request %d: retry %d came %v after its attempt, before the named 20s", i, j, gap)
				}
			}
		}
	}
}

// Goal 5: a Background request to a down host gives up with
// ErrBudgetExhausted within its first backoff, instead of sleeping its
// schedule; Interactive still fails fast.
func TestBudgetSimBackgroundGivesUp(t *testing.T) {
	reqs := budOpenLoop(Background(), 10, 60*time.Second, budHostURL, budDown).run(t)
	worst := time.Duration(0)
	for _, r := range reqs {
		if r.start < 20*time.Second {
			continue // the episode's tolerance, and the requests it paid in full
		}
		worst = max(worst, r.end-r.start)
		if !r.budget {
			t.Fatalf("request of %v ended %v without ErrBudgetExhausted after %d attempts", r.start, r.end, r.attempts)
		}
	}
	if worst > 1100*time.Millisecond {
		t.Errorf("a Background request was held %v by a down host, want ≤ its first backoff (1s)", worst)
	}
	held := time.Duration(0)
	for _, r := range reqs {
		held = max(held, r.end-r.start)
	}
	t.Logf("Background on a down host after its tolerance: held ≤ %v; any request: ≤ %v", worst, held)
	if held > time.Minute {
		t.Errorf("a request was held %v, want less than a minute", held)
	}
}

// Goal 2: bursts of N concurrent requests failing K times, fresh client.
func TestBudgetSimBursts(t *testing.T) {
	got := map[[2]int]int{}
	for _, k := range []int{1, 2, 3} {
		for _, n := range []int{50, 100, 200, 400, 500, 600, 800, 1000, 1500, 2000} {
			s := budSim{p: Default(), n: n, start: func(int) time.Duration { return 0 },
				url:    func(int) *url.URL { return budHostURL },
				answer: func(_, a int, _ time.Duration) bool { return a > k }, seed: uint64(n*10 + k)}
			_, _, ok := budSteady(s.run(t), 0, time.Second)
			got[[2]int{n, k}] = ok
			if n <= 500 && ok != n {
				t.Errorf("%d × %d: %d/%d succeeded, want all", n, k, ok, n)
			}
		}
	}
	if v := got[[2]int{1000, 2}]; v < 500 {
		t.Errorf("1000 × 2: %d succeeded, want at least 500", v)
	}
	for _, k := range []int{1, 2, 3} {
		prev := 0
		for _, n := range []int{50, 100, 200, 400, 500, 600, 800, 1000, 1500, 2000} {
			if v := got[[2]int{n, k}]; v < prev {
				t.Errorf("a cliff: %d × %d gives %d, fewer than a smaller burst's %d", n, k, v, prev)
			} else {
				prev = v
			}
		}
	}
	t.Logf("successes by (N, K): %v", got)
}

// Goal 3: many hosts, all down, 150 requests each on a 1–4µs schedule:
// 2,000 hosts do no worse than 10.
func TestBudgetSimManyHosts(t *testing.T) {
	p := Default()
	p.BaseDelay, p.MaxDelay, p.Jitter = time.Microsecond, 4*time.Microsecond, NoJitter
	hpr := map[int]float64{}
	for _, hosts := range []int{10, 2000} {
		urls := make([]*url.URL, hosts)
		for i := range urls {
			urls[i] = budURL("http://h" + strconv.Itoa(i) + ".example/x")
		}
		// Round robin over the hosts, a request every 10µs.
		s := budSim{p: p, n: hosts * 150, start: func(i int) time.Duration { return time.Duration(i) * 10 * time.Microsecond },
			url: func(i int) *url.URL { return urls[i%hosts] }, answer: budDown, seed: 3}
		hpr[hosts], _, _ = budSteady(s.run(t), 0, time.Hour)
	}
	t.Logf("hits per request: 10 hosts %.3f, 2000 hosts %.3f", hpr[10], hpr[2000])
	if hpr[2000] > hpr[10] {
		t.Errorf("2000 hosts %.3f hits per request, worse than 10 hosts' %.3f", hpr[2000], hpr[10])
	}
}

// Goal 4: a dead path on a shared host:port costs the healthy path
// nothing, and is capped like a dead host (10–40ms schedule). One request
// in ten goes to the dead path; one healthy request in five fails its
// first attempt, which any retrying client recovers.
func TestBudgetSimDeadRoute(t *testing.T) {
	p := Default()
	p.BaseDelay, p.MaxDelay = 10*time.Millisecond, 40*time.Millisecond
	dead, live := budURL("http://gw.example/dead/1"), budURL("http://gw.example/live/1")
	rng := rand.New(rand.NewPCG(5, 5))
	fail := map[[2]int]bool{}
	s := budSim{p: p, n: 4000, start: func(i int) time.Duration { return time.Duration(i) * 20 * time.Millisecond },
		url: func(i int) *url.URL {
			if i%10 == 0 {
				return dead
			}
			return live
		},
		answer: func(i, a int, _ time.Duration) bool {
			if i%10 == 0 {
				return false
			}
			// One healthy request in five fails its first attempt.
			if a == 1 {
				if _, ok := fail[[2]int{i, a}]; !ok {
					fail[[2]int{i, a}] = rng.Float64() < 0.2
				}
				return !fail[[2]int{i, a}]
			}
			return true
		}, seed: 9}
	reqs := s.run(t)
	var deadHits, deadN, liveOK, liveN int
	for i, r := range reqs {
		if i%10 == 0 {
			deadN++
			deadHits += r.attempts
		} else {
			liveN++
			if r.ok {
				liveOK++
			}
		}
	}
	dh := float64(deadHits) / float64(deadN)
	t.Logf("healthy path %d/%d, dead path %.3f hits per request", liveOK, liveN, dh)
	if float64(liveOK) < 0.999*float64(liveN) {
		t.Errorf("healthy path: %d/%d succeeded, want ≥ 99.9%%", liveOK, liveN)
	}
	if dh > 1.5 {
		t.Errorf("dead path: %.3f hits per request, want ≤ 1.5", dh)
	}
}

// Goal 6: a brownout, open loop at 50 requests a second, one attempt in
// five answered 503 at random.
func TestBudgetSimBrownout(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	reqs := budOpenLoop(Default(), 50, 60*time.Second, budHostURL, func(int, int, time.Duration) bool {
		return rng.Float64() >= 0.2
	}).run(t)
	hpr, n, ok := budSteady(reqs, 0, time.Hour)
	t.Logf("brownout: %d/%d succeeded (%.2f%%), %.3f hits per request", ok, n, 100*float64(ok)/float64(n), hpr)
	if float64(ok) < 0.995*float64(n) || hpr > 1.35 {
		t.Errorf("brownout: %d/%d at %.3f hits per request, want ≥ 99.5%% at ≤ 1.35", ok, n, hpr)
	}
}

// An outage that ends: the first success ends the episode, and the host
// is retried in full again.
func TestBudgetSimRecovery(t *testing.T) {
	reqs := budOpenLoop(Default(), 10, 90*time.Second, budHostURL, func(_, _ int, at time.Duration) bool {
		return at >= 40*time.Second && at%(10*time.Second) > 2*time.Second // down until 40s, then 20% flaky
	}).run(t)
	_, n, ok := budSteady(reqs, 50*time.Second, 90*time.Second)
	if ok != n {
		t.Errorf("after the outage: %d/%d succeeded, want all", ok, n)
	}
}
