package core

import (
	"container/heap"
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// A discrete-event simulation of clients against a rate-limited server,
// on the fake clock: no goroutines, no sleeps, the same result every run.

// simServer is a fixed-window limiter: limit requests per window, windows
// aligned to multiples of window from budT0, quota headers on every
// response in one of the families.
type simServer struct {
	limit  int
	window time.Duration
	family string // "x" (X-RateLimit-*, Unix seconds), "draft06", "draft08", "openai"

	cur     time.Time // the current window's start
	n       int       // requests in it
	refused []time.Time
}

var srvServeHook func(time.Time, int)

func (s *simServer) serve(at time.Time) (status int, h http.Header) {
	defer func() {
		if srvServeHook != nil {
			srvServeHook(at, status)
		}
	}()
	start := budT0.Add(at.Sub(budT0) / s.window * s.window)
	if !start.Equal(s.cur) {
		s.cur, s.n = start, 0
	}
	s.n++
	status = http.StatusOK
	if s.n > s.limit {
		status = http.StatusTooManyRequests
		s.refused = append(s.refused, at)
	}
	left := max(s.limit-s.n, 0)
	reset := start.Add(s.window)
	secs := int((reset.Sub(at) + time.Second - 1) / time.Second) // delta seconds, rounded up
	h = http.Header{}
	switch s.family {
	case "x":
		h.Set("X-Ratelimit-Limit", strconv.Itoa(s.limit))
		h.Set("X-Ratelimit-Remaining", strconv.Itoa(left))
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	case "draft06":
		h.Set("Ratelimit-Limit", strconv.Itoa(s.limit))
		h.Set("Ratelimit-Remaining", strconv.Itoa(left))
		h.Set("Ratelimit-Reset", strconv.Itoa(secs))
		h.Set("Ratelimit-Policy", strconv.Itoa(s.limit)+";w="+strconv.Itoa(int(s.window/time.Second)))
	case "draft08":
		h.Set("Ratelimit", `"burst";r=`+strconv.Itoa(left)+";t="+strconv.Itoa(secs))
		h.Set("Ratelimit-Policy", `"burst";q=`+strconv.Itoa(s.limit)+";w="+strconv.Itoa(int(s.window/time.Second)))
	case "openai":
		h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(s.limit))
		h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(left))
		h.Set("X-Ratelimit-Reset-Requests", reset.Sub(at).String())
		h.Set("X-Ratelimit-Limit-Tokens", "100000")
		h.Set("X-Ratelimit-Remaining-Tokens", "99000")
		h.Set("X-Ratelimit-Reset-Tokens", "6m0s")
	}
	if status == http.StatusTooManyRequests && s.family != "openai" {
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	return status, h
}

// simEvent is one step of one worker at an instant.
type simEvent struct {
	at     time.Time
	seq    int
	worker int
}

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// simWorker sends its requests one after another.
type simWorker struct {
	e       *Execution
	attempt int
	step    int // 0 before, 1 sending, 2 in flight
	status  int
	header  http.Header
}

type simResult struct {
	ok, failed   int
	refused      int // all 429s
	refusedLater int // 429s to requests sent after the first answer arrived
	took         time.Duration
	holds        int
}

// simulate runs requests GETs from workers workers through one client
// under p against srv, each answer latency after its request.
func simulate(t *testing.T, p Policy, srv *simServer, requests, workers int, latency time.Duration) simResult {
	t.Helper()
	clk := newPaceClock()
	c := NewClient(p, Options{Clock: clk})
	var q simQueue
	seq := 0
	push := func(at time.Time, w int) {
		seq++
		heap.Push(&q, simEvent{at: at, seq: seq, worker: w})
	}
	ws := make([]simWorker, workers)
	started := 0
	var r simResult
	firstAnswer := budT0.Add(latency)
	begin := func(w int, at time.Time) {
		if started == requests {
			return
		}
		started++
		ws[w] = simWorker{e: c.Start(context.Background(), nil, Request{Method: http.MethodGet}), attempt: 1}
		push(at, w)
	}
	for w := range ws {
		begin(w, budT0)
	}
	for steps := 0; q.Len() > 0; steps++ {
		if steps > 100000 {
			t.Fatal("the simulation does not end")
		}
		ev := heap.Pop(&q).(simEvent)
		clk.set(ev.at)
		w := &ws[ev.worker]
		switch w.step {
		case 0, 1:
			phase := PhaseBefore
			if w.step == 1 {
				phase = PhaseSending
			}
			d := w.e.Next(Outcome{Phase: phase, Attempt: w.attempt, URL: paceURL})
			switch d.Action {
			case ActionHold:
				r.holds++
				push(ev.at.Add(d.Wait), ev.worker)
				continue
			case ActionStop:
				r.failed++
				begin(ev.worker, ev.at)
				continue
			}
			if w.step == 0 && w.attempt == 1 {
				w.step = 1
				push(ev.at, ev.worker)
				continue
			}
			w.step = 2
			w.status, w.header = srv.serve(ev.at.Add(latency / 2))
			if w.status == http.StatusTooManyRequests {
				r.refused++
				if !ev.at.Before(firstAnswer) {
					r.refusedLater++
				}
			}
			push(ev.at.Add(latency), ev.worker)
		case 2:
			d := w.e.Next(Outcome{Phase: PhaseFinished, Attempt: w.attempt, URL: paceURL, Status: w.status,
				Header: w.header, Replayable: true})
			if d.Action == ActionRetry {
				w.attempt++
				w.step = 0
				push(ev.at.Add(d.Wait), ev.worker)
				continue
			}
			if d.Err == nil && w.status == http.StatusOK {
				r.ok++
			} else {
				r.failed++
			}
			r.took = ev.at.Sub(budT0)
			begin(ev.worker, ev.at)
		}
	}
	return r
}

// TestPaceSmoothsFixedWindow is issue 17's target on the fake clock: a
// fixed-window server, 5 per second with its quota on every response, 60
// GETs from 20 workers: all succeed, at most 2 refusals after the first
// wave, done within 15 s; in every family the library reads.
func TestPaceSmoothsFixedWindow(t *testing.T) {
	for _, family := range []string{"x", "draft06", "draft08", "openai"} {
		t.Run(family, func(t *testing.T) {
			p := Default()
			p.Pace = true
			p.MaxRetries = 10
			p.Rand = func() float64 { return 0.5 }
			srv := &simServer{limit: 5, window: time.Second, family: family}
			r := simulate(t, p, srv, 60, 20, 10*time.Millisecond)
			t.Logf("%s: %+v", family, r)
			if r.ok != 60 {
				t.Errorf("%d of 60 succeeded", r.ok)
			}
			if r.refusedLater > 2 {
				t.Errorf("%d refusals after the first wave (at %v), want at most 2", r.refusedLater, srv.refused)
			}
			if r.took > 15*time.Second {
				t.Errorf("took %v, want at most 15s", r.took)
			}
		})
	}
	// The measure is live: without Pace the same server refuses many more.
	p := Default()
	p.MaxRetries = 10
	p.Rand = func() float64 { return 0.5 }
	r := simulate(t, p, &simServer{limit: 5, window: time.Second, family: "x"}, 60, 20, 10*time.Millisecond)
	t.Logf("without Pace: %+v", r)
	if r.refusedLater <= 10 {
		t.Errorf("without Pace: %d refusals after the first wave; the simulation does not bite", r.refusedLater)
	}
}

// TestPaceAdaptive: a server that names no quota, only Retry-After on its
// 429s. With AdaptivePace the host gets a rate of its own, visible in
// events, and far fewer refusals after the first wave than with Pace alone.
func TestPaceAdaptive(t *testing.T) {
	run := func(adaptive bool) (simResult, float64) {
		p := Default()
		p.Pace, p.AdaptivePace = true, adaptive
		p.MaxRetries = 10
		p.Rand = func() float64 { return 0.5 }
		var rate float64
		p.OnDecision = func(ev Event) { rate = max(rate, ev.PaceRate) }
		return simulate(t, p, &simServer{limit: 5, window: time.Second, family: "none"}, 60, 20, 10*time.Millisecond), rate
	}
	plain, _ := run(false)
	adaptive, rate := run(true)
	t.Logf("Pace: %+v; AdaptivePace: %+v, highest rate %.2f/s", plain, adaptive, rate)
	if adaptive.ok != 60 {
		t.Errorf("AdaptivePace: %d of 60 succeeded", adaptive.ok)
	}
	if rate <= 0 {
		t.Error("no event showed a PaceRate")
	}
	if 2*adaptive.refusedLater > plain.refusedLater {
		t.Errorf("AdaptivePace: %d refusals after the first wave, want at most half of Pace's %d", adaptive.refusedLater, plain.refusedLater)
	}
}
