package core

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// paceClock is a fake Clock: Now moves only when the test says, and Sleep
// advances it at once.
type paceClock struct {
	mu sync.Mutex
	t  time.Time
}

func newPaceClock() *paceClock { return &paceClock{t: budT0} }

func (c *paceClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *paceClock) Sleep(ctx context.Context, d time.Duration) error {
	c.advance(d)
	return ctx.Err()
}

func (c *paceClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *paceClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var paceURL = &url.URL{Scheme: "https", Host: "api.example.com", Path: "/v1"}

// pacedPolicy is Default with Pace on, a fixed u of 0.5 and maxRetryAfter.
func pacedPolicy(maxRetryAfter time.Duration) Policy {
	p := Default()
	p.Pace = true
	p.MaxRetryAfter = maxRetryAfter
	p.Rand = func() float64 { return 0.5 }
	return p
}

// answer finishes a fresh request to paceURL with status and header, so
// that its response is noted by the pacer.
func answer(c *Client, status int, header http.Header) Decision {
	e := c.Start(context.Background(), nil, Request{Method: http.MethodGet})
	e.slot = time.Time{}
	return e.Next(Outcome{Phase: PhaseFinished, Attempt: 1, URL: paceURL, Status: status, Header: header, Replayable: true})
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestPaceAbsurdResetWhileHeld is issue 15 item 1: a request is held, then
// another response to the same host brings an absurd reset, then the held
// request looks again. Its holds, all together, never pass MaxRetryAfter,
// the deadline or MaxElapsed, whatever the reset.
func TestPaceAbsurdResetWhileHeld(t *testing.T) {
	const mra = 30 * time.Second
	usAsMs := strconv.FormatInt(budT0.Add(time.Hour).UnixMicro(), 10) // Unix µs, read as ms
	for _, tc := range []struct {
		name     string
		second   http.Header
		deadline time.Duration // 0: none
		elapsed  time.Duration // MaxElapsed; 0: none
		want     error         // how the held request ends at its second look; nil: sent
	}{
		{"Retry-After 99999999999: no hint, sent at its instant", hdr("Retry-After", "99999999999"), 0, 0, nil},
		{"Retry-After 20 digits: no hint", hdr("Retry-After", "99999999999999999999"), 0, 0, nil},
		{"µs read as ms: no hint", hdr("X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", usAsMs), 0, 0, nil},
		{"a date in 9999: no hint", hdr("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"), 0, 0, nil},
		{"a day: too long for what is left", hdr("Retry-After", "86400"), 0, 0, ErrWaitTooLong},
		{"25s more: past MaxRetryAfter with the 10s held", hdr("Retry-After", "25"), 0, 0, ErrWaitTooLong},
		{"15s more: fits", hdr("Retry-After", "15"), 0, 0, nil},
		{"15s more: past the deadline", hdr("Retry-After", "15"), 20 * time.Second, 0, ErrDeadline},
		{"15s more: past MaxElapsed", hdr("Retry-After", "15"), 0, 20 * time.Second, ErrTimeLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newPaceClock()
			p := pacedPolicy(mra)
			p.MaxElapsed = tc.elapsed
			c := NewClient(p, Options{Clock: clk})
			answer(c, http.StatusTooManyRequests, hdr("Retry-After", "10"))

			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.Now().Add(tc.deadline))
				defer cancel()
			}
			e := c.Start(ctx, nil, Request{Method: http.MethodGet})
			defer e.Close()
			start := clk.Now()
			var held time.Duration
			d := e.Next(Outcome{Phase: PhaseBefore, Attempt: 1, URL: paceURL})
			if d.Action != ActionHold || d.Wait < 10*time.Second || d.Wait > 11*time.Second {
				t.Fatalf("first look: %+v, want a hold of 10–11s", d)
			}
			// While it sleeps, another response brings the absurd reset.
			clk.advance(d.Wait / 2)
			answer(c, http.StatusTooManyRequests, tc.second)
			clk.advance(d.Wait - d.Wait/2)
			held += d.Wait
			for range 10 {
				d = e.Next(Outcome{Phase: PhaseBefore, Attempt: 1, URL: paceURL})
				if d.Action != ActionHold {
					break
				}
				held += d.Wait
				if held > mra {
					t.Fatalf("held %v in all, past MaxRetryAfter %v", held, mra)
				}
				clk.advance(d.Wait)
			}
			end := clk.Now()
			if tc.deadline > 0 && end.Sub(start) >= tc.deadline || tc.elapsed > 0 && end.Sub(start) > tc.elapsed {
				t.Fatalf("held until %v after the start, past the limits", end.Sub(start))
			}
			switch {
			case tc.want == nil && d.Action != ActionSend:
				t.Fatalf("second look: %+v, want send", d)
			case tc.want != nil && (d.Action != ActionStop || !errors.Is(d.Err, tc.want)):
				t.Fatalf("second look: %+v, want a stop with %v", d, tc.want)
			}
		})
	}
}

// TestPaceSaturates: holds stay within their bounds for every extreme of
// MaxRetryAfter and block.
func TestPaceSaturates(t *testing.T) {
	for _, mra := range []time.Duration{0, time.Nanosecond, time.Second, maxDuration - 1, maxDuration} {
		for _, block := range []time.Duration{time.Nanosecond, time.Second, paceImplausible, maxDuration} {
			clk := newPaceClock()
			c := NewClient(pacedPolicy(mra), Options{Clock: clk})
			c.pacer.block(keyOf(paceURL), clk.Now(), clk.Now().Add(block), mra, false)
			e := c.Start(context.Background(), nil, Request{Method: http.MethodGet})
			var held time.Duration
			for range 5 {
				d := e.Next(Outcome{Phase: PhaseBefore, Attempt: 1, URL: paceURL})
				if d.Action != ActionHold {
					break
				}
				if d.Wait < 0 || satAdd(held, d.Wait) > mra {
					t.Fatalf("MaxRetryAfter %v, block %v: hold %v after %v held", mra, block, d.Wait, held)
				}
				held += d.Wait
				clk.advance(d.Wait)
			}
		}
	}
}

// TestPaceProbe is issue 15 item 2: a block longer than MaxRetryAfter is
// not a standing refusal. Requests meanwhile fail at once, unsent; after
// MaxRetryAfter one request (only one) goes out as a probe, whose answer
// lifts or renews the block.
func TestPaceProbe(t *testing.T) {
	const mra = 30 * time.Second
	look := func(c *Client) (*Execution, Decision) {
		e := c.Start(context.Background(), nil, Request{Method: http.MethodGet})
		return e, e.Next(Outcome{Phase: PhaseBefore, Attempt: 1, URL: paceURL})
	}
	for _, tc := range []struct {
		name      string
		probeGets int
		probeHdr  http.Header
		lifted    bool // the next request is sent at once
	}{
		{"the probe succeeds: lifted", http.StatusOK, hdr(), true},
		{"the probe is refused for a second: the short block holds", http.StatusTooManyRequests, hdr("Retry-After", "1"), false},
		{"the probe is refused for a day: renewed", http.StatusTooManyRequests, hdr("Retry-After", "86400"), false},
		{"the probe gets an absurd reset: no hint, lifted", http.StatusTooManyRequests, hdr("Retry-After", "99999999999"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newPaceClock()
			c := NewClient(pacedPolicy(mra), Options{Clock: clk})
			answer(c, http.StatusTooManyRequests, hdr("Retry-After", "86400"))
			for _, at := range []time.Duration{0, time.Second, mra - 1} {
				clk.set(budAt(at))
				if _, d := look(c); d.Action != ActionStop || !errors.Is(d.Err, ErrWaitTooLong) {
					t.Fatalf("at %v: %+v, want ErrWaitTooLong at once", at, d)
				}
			}
			clk.set(budAt(mra))
			probe, d := look(c)
			if d.Action != ActionSend {
				t.Fatalf("after MaxRetryAfter: %+v, want the probe sent", d)
			}
			if _, d := look(c); d.Action != ActionStop {
				t.Fatalf("a second request at the probe's time: %+v, want refused (one probe per period)", d)
			}
			if d := probe.Next(Outcome{Phase: PhaseSending, Attempt: 1, URL: paceURL}); d.Action != ActionSend {
				t.Fatalf("the probe's last look: %+v, want send", d)
			}
			probe.Next(Outcome{Phase: PhaseFinished, Attempt: 1, URL: paceURL, Status: tc.probeGets, Header: tc.probeHdr})
			_, d = look(c)
			if lifted := d.Action == ActionSend; lifted != tc.lifted {
				t.Fatalf("after the probe's answer: %+v, want lifted %t", d, tc.lifted)
			}
			if tc.probeHdr.Get("Retry-After") == "86400" {
				clk.set(budAt(2*mra - 1))
				if _, d := look(c); d.Action != ActionStop {
					t.Fatalf("before the next period: %+v, want refused", d)
				}
				clk.set(budAt(2 * mra))
				if _, d := look(c); d.Action != ActionSend {
					t.Fatalf("a period after the probe: %+v, want the next probe", d)
				}
			}
		})
	}
}

// TestPaceImplausible: a wait or reset more than a year ahead is no hint
// for Pace; a year is still one.
func TestPaceImplausible(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		held bool
	}{
		{"366 days", hdr("Retry-After", strconv.Itoa(366*86400)), true},
		{"366 days and a second", hdr("Retry-After", strconv.Itoa(366*86400+1)), false},
		{"Retry-After-Ms 20 digits", hdr("Retry-After-Ms", "99999999999999999999"), false},
		{"RateLimit t 99999999", hdr("Ratelimit", `"d";r=0;t=99999999`), false},
		{"X-RateLimit-Reset in the year 3000", hdr("X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "32503680000"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newPaceClock()
			c := NewClient(pacedPolicy(maxDuration), Options{Clock: clk})
			answer(c, http.StatusTooManyRequests, tc.h)
			e := c.Start(context.Background(), nil, Request{Method: http.MethodGet})
			d := e.Next(Outcome{Phase: PhaseBefore, Attempt: 1, URL: paceURL})
			if held := d.Action == ActionHold; held != tc.held {
				t.Fatalf("%+v, want held %t", d, tc.held)
			}
		})
	}
}
