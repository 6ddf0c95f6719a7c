package main

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/examples/internal/plot"
)

// The network of the blog's simulator: every one-way message (client to
// row, row to client) takes |N(10ms, 2ms)|, so one read-modify-write round
// is about 40ms and a client's read is stale once another write lands in
// the ~20ms between its read and its write.
const (
	netMean = 10 * time.Millisecond
	netSD   = 2 * time.Millisecond
)

// The jitter rows share the blog's schedule: base 5ms, cap 2s, and
// sleep = min(cap, base·2^n) after failure n ≥ 1, i.e. 10ms, 20ms, 40ms, …,
// 2s. In Policy terms that is BaseDelay 10ms, Multiplier 2, MaxDelay 2s; only
// the Jitter differs between the rows, so they compare jitter and nothing
// else.
const (
	jitterBase = 10 * time.Millisecond
	jitterCap  = 2 * time.Second
)

// resty's own defaults for RetryWaitTime and RetryMaxWaitTime (retry.go).
const (
	restyWaitTime    = 100 * time.Millisecond
	restyMaxWaitTime = 2 * time.Second
)

// maxSimRetries stops a client that never gets through. Optimistic
// concurrency always makes progress (a write only fails because another one
// succeeded), so it is a guard against a broken strategy, not a model
// parameter.
const maxSimRetries = 100000

// Strategy is one way of waiting between a lost race and the next attempt.
type Strategy struct {
	Name     string
	Group    string // "jitter", "preset" or "other"
	Schedule string // the waits in words, for the table

	// waiter returns the wait before retry n (1-based) of a client, drawing
	// all randomness from rng so that a run is reproducible.
	waiter func(rng *rand.Rand) func(retry int) time.Duration

	// MaxRetries and MaxElapsed are a preset's own limits (0: none), and
	// they are enforced as the library enforces them: a client that lost
	// and may not retry gives up (Result.GaveUp) and sends nothing more.
	MaxRetries int
	MaxElapsed time.Duration
}

// Limited reports whether the strategy has limits that can make a client
// give up.
func (s Strategy) Limited() bool { return s.MaxRetries > 0 || s.MaxElapsed > 0 }

// givesUp reports whether the preset gives up instead of waiting w before
// retry n at time now (the first attempt started at 0), checked as the
// library does: more retries than MaxRetries, or a wait that ends after
// MaxElapsed.
func (s Strategy) givesUp(retry int, now, w time.Duration) bool {
	if s.MaxRetries > 0 && retry > s.MaxRetries {
		return true
	}
	return s.MaxElapsed > 0 && now+w > s.MaxElapsed
}

// policyWaiter waits as p.Delay does: the library's own schedule and
// jitter, with p.Rand bound to the run's seeded source.
func policyWaiter(p restyretry.Policy) func(*rand.Rand) func(int) time.Duration {
	return func(rng *rand.Rand) func(int) time.Duration {
		q := p
		q.Rand = rng.Float64
		return q.Delay
	}
}

// restyWait reimplements, faithfully, the wait resty v2.17.2 uses when no
// RetryAfter function decides: jitterBackoff(min, max, attempt) in retry.go,
// where min = RetryWaitTime, max = RetryMaxWaitTime and attempt is the
// 0-based index of resty's Backoff loop, so attempt = retry−1:
//
//	temp   = min(max, min·2^attempt)
//	ri     = temp/2 (at least 1ns)
//	wait   = ri + Int63n(ri)        // temp/2 + U[0, temp/2)
//	wait   = max(wait, min)         // floored at RetryWaitTime
//
// With the defaults (100ms, 2s) retry 1 therefore always waits exactly
// 100ms (50–100ms floored to 100ms): every client that lost together comes
// back together. resty draws from a time-seeded math/rand; here the run's
// seeded source stands in for it.
func restyWait(rng *rand.Rand, min, max time.Duration, retry int) time.Duration {
	temp := math.Min(float64(max), float64(min)*math.Exp2(float64(retry-1)))
	ri := time.Duration(temp / 2)
	if ri == 0 {
		ri = time.Nanosecond
	}
	wait := ri + time.Duration(rng.Int64N(int64(ri)))
	if wait < min {
		wait = min
	}
	return wait
}

// scaled multiplies every duration of a preset by k, keeping its
// multiplier, jitter and retry count: the shape of the schedule is kept and
// only its clock changes.
func scaled(p restyretry.Policy, k float64) restyretry.Policy {
	mul := func(d time.Duration) time.Duration { return time.Duration(float64(d) * k) }
	p.BaseDelay = mul(p.BaseDelay)
	p.MaxDelay = mul(p.MaxDelay)
	p.MaxElapsed = mul(p.MaxElapsed)
	p.MaxRetryAfter = mul(p.MaxRetryAfter)
	return p
}

// Strategies returns the strategies compared, in table order. The presets
// are run as shipped when scale is 1, against the same 10ms network as every
// other row; scale multiplies all of their durations (and resty's
// RetryWaitTime/RetryMaxWaitTime) alike, so the presets stay comparable
// with each other at any scale. The jitter rows keep the blog's schedule.
func Strategies(scale float64) []Strategy {
	jit := func(name, spread string, j restyretry.Jitter) Strategy {
		p := restyretry.Policy{BaseDelay: jitterBase, Multiplier: 2, MaxDelay: jitterCap, Jitter: j}
		return Strategy{
			Name: name, Group: "jitter", waiter: policyWaiter(p),
			Schedule: "10ms→2s ×2, " + spread,
		}
	}
	preset := func(name string, p restyretry.Policy, spread string) Strategy {
		p = scaled(p, scale)
		return Strategy{
			Name: name, Group: "preset", waiter: policyWaiter(p),
			Schedule: plot.Dur(p.BaseDelay) + "→" + plot.Dur(p.MaxDelay) + " ×2, " + spread +
				", ≤" + itoa(p.MaxRetries) + " retries",
			MaxRetries: p.MaxRetries, MaxElapsed: p.MaxElapsed,
		}
	}
	rmin := time.Duration(float64(restyWaitTime) * scale)
	rmax := time.Duration(float64(restyMaxWaitTime) * scale)
	return []Strategy{
		{
			Name: "no backoff", Group: "other", Schedule: "retry at once",
			waiter: func(*rand.Rand) func(int) time.Duration {
				return func(int) time.Duration { return 0 }
			},
		},
		jit("NoJitter", "d", restyretry.NoJitter),
		jit("Proportional(0.5)", "[d, 1.5d)", restyretry.Proportional(0.5)),
		jit("EqualJitter", "[d/2, d)", restyretry.EqualJitter),
		jit("FullJitter", "[0, d)", restyretry.FullJitter),
		{
			Name: "resty built-in", Group: "other",
			Schedule: plot.Dur(rmin) + "→" + plot.Dur(rmax) + " ×2, [d/2, d) ≥ " + plot.Dur(rmin),
			waiter: func(rng *rand.Rand) func(int) time.Duration {
				return func(retry int) time.Duration { return restyWait(rng, rmin, rmax, retry) }
			},
		},
		preset("Default()", restyretry.Default(), "[d, 1.5d)"),
		preset("Interactive()", restyretry.Interactive(), "[d/2, d)"),
		preset("Background()", restyretry.Background(), "[d/2, d)"),
		preset("Contention()", restyretry.Contention(), "[0, d)"),
	}
}

// Result is the outcome of one simulated storm.
type Result struct {
	Clients    int
	Succeeded  int           // clients whose write went through
	GaveUp     int           // clients the strategy's own limits stopped
	Calls      int           // writes that reached the row: the contended calls, as the blog counts them
	Completion time.Duration // when the last client learned that its write succeeded
	Done       time.Duration // when the last client finished: won, or gave up
	MaxRetries int           // the most retries any client made
}

type evKind uint8

const (
	readAtRow     evKind = iota // a read arrives at the row
	readAtClient                // the version read arrives back at the client
	writeAtRow                  // a conditional write arrives at the row
	writeAtClient               // its outcome arrives back at the client
)

// event is a message in flight, delivered at virtual time at. seq breaks
// ties in the order events were made, so a run never depends on heap order.
type event struct {
	at     time.Duration
	seq    uint64
	client int32
	val    uint32 // the version read or written against; 1 for a won write
	kind   evKind
}

// queue is a binary min-heap of events by (at, seq), typed so that a push
// does not box the event.
type queue []event

func (a event) before(b event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *queue) push(e event) {
	*q = append(*q, e)
	h := *q
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !e.before(h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = e
}

func (q *queue) pop() event {
	h := *q
	top := h[0]
	last := h[len(h)-1]
	h = h[:len(h)-1]
	*q = h
	if len(h) == 0 {
		return top
	}
	// Move the hole at the root down to where the last event belongs.
	i := 0
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && h[r].before(h[c]) {
			c = r
		}
		if !h[c].before(last) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = last
	return top
}

// stream derives the random stream of one run from the strategy's name, the
// number of clients and the run index (FNV-1a, stable across processes), so
// that adding a strategy or reordering the sweep changes no other result.
func stream(name string, clients, run int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(clients))
	binary.LittleEndian.PutUint64(b[8:], uint64(run))
	h.Write(b[:])
	return h.Sum64()
}

// Simulate runs one storm in virtual time: n clients start at 0, each reads
// the row's version and writes it back conditionally; a write whose version
// is stale fails, and its client waits for the strategy's backoff (plus the
// network delay of the next read, as in the blog's simulator) and starts
// over. A strategy with limits stops a client the moment they forbid its
// next retry: it gives up and sends nothing more. The storm ends when every
// client has won or given up.
func Simulate(n int, s Strategy, seed uint64, run int) Result {
	rng := rand.New(rand.NewPCG(seed, stream(s.Name, n, run)))
	wait := s.waiter(rng)
	net := func() time.Duration {
		return time.Duration(math.Abs(rng.NormFloat64()*float64(netSD) + float64(netMean)))
	}

	var (
		q       = make(queue, 0, n)
		seq     uint64
		version uint32
		retries = make([]int, n)
		r       = Result{Clients: n}
	)
	push := func(at time.Duration, client int32, kind evKind, val uint32) {
		seq++
		q.push(event{at: at, seq: seq, client: client, kind: kind, val: val})
	}
	for i := range int32(n) {
		push(net(), i, readAtRow, 0)
	}
	for len(q) > 0 {
		e := q.pop()
		switch e.kind {
		case readAtRow:
			push(e.at+net(), e.client, readAtClient, version)
		case readAtClient:
			push(e.at+net(), e.client, writeAtRow, e.val)
		case writeAtRow:
			r.Calls++
			var won uint32
			if e.val == version {
				version++
				won = 1
			}
			push(e.at+net(), e.client, writeAtClient, won)
		case writeAtClient:
			if e.val == 1 {
				r.Succeeded++
				r.Completion = e.at // events leave the queue in time order
				r.Done = e.at
				continue
			}
			retry := retries[e.client] + 1
			if retry > maxSimRetries {
				continue // abandoned: Succeeded stays short of Clients
			}
			w := wait(retry)
			if s.givesUp(retry, e.at, w) {
				r.GaveUp++
				r.Done = e.at
				continue
			}
			retries[e.client] = retry
			r.MaxRetries = max(r.MaxRetries, retry)
			push(e.at+net()+w, e.client, readAtRow, 0)
		}
	}
	return r
}

// Summary is the mean of several runs of one strategy at one N.
type Summary struct {
	Clients    int
	Runs       int
	Calls      float64       // mean writes per run
	Completion time.Duration // mean time until the last success
	Done       time.Duration // mean time until the last client won or gave up
	MaxRetries int           // the most retries any client made in any run
	GaveUp     float64       // mean clients stopped by the strategy's limits
	Failed     int           // runs in which some client neither won nor gave up (should be 0)
}

// Average runs the storm runs times (run indexes 0..runs−1) and averages.
func Average(n int, s Strategy, seed uint64, runs int) Summary {
	sum := Summary{Clients: n, Runs: runs}
	var calls, gaveUp, completion, done float64
	for run := range runs {
		r := Simulate(n, s, seed, run)
		calls += float64(r.Calls)
		gaveUp += float64(r.GaveUp)
		completion += float64(r.Completion)
		done += float64(r.Done)
		sum.MaxRetries = max(sum.MaxRetries, r.MaxRetries)
		if r.Succeeded+r.GaveUp != r.Clients {
			sum.Failed++
		}
	}
	k := float64(max(runs, 1))
	sum.Calls = calls / k
	sum.GaveUp = gaveUp / k
	sum.Completion = time.Duration(completion / k)
	sum.Done = time.Duration(done / k)
	return sum
}
