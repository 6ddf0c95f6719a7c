package core

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The core's shared test helpers: a fake clock, builders of executions and
// outcomes, an event recorder, and one small net/http driver that plays the
// adapter, for the tests that need real transport errors.

// fakeClock is a Clock whose Now is set by the test and whose Sleep
// advances it by d at once. It is safe for concurrent use. It starts at the
// real time, to the second, so that a context deadline set from its Now
// means the same to a decision and to the context's own timer (which the
// tests keep far in real time).
type fakeClock struct {
	mu    sync.Mutex
	start time.Time
	now   time.Time
	slept []time.Duration // every Sleep's d, in order
}

func newFakeClock() *fakeClock {
	t := time.Now().Truncate(time.Second)
	return &fakeClock{start: t, now: t}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep advances the clock by d (if positive) and returns ctx.Err() if ctx
// is done.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return nil
}

// Set moves the clock to t; Advance moves it by d.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Since is how far the clock has moved from its start.
func (c *fakeClock) Since() time.Duration { return c.Now().Sub(c.start) }

// Slept returns the d of every Sleep so far.
func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// fixed returns a Policy.Rand that always returns u.
func fixed(u float64) func() float64 { return func() float64 { return u } }

// testURL is the URL of the executions built below.
var testURL = mustURL("https://api.example.com/v1/items")

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// newCore returns a Client under p on a fresh fake clock.
func newCore(p Policy) (*Client, *fakeClock) {
	clk := newFakeClock()
	return NewClient(p, Options{Clock: clk}), clk
}

// newExec starts an execution of method, under the client's policy p, on
// a fresh fake clock, with a Background context.
func newExec(t testing.TB, p Policy, method string) (*Execution, *Client, *fakeClock) {
	t.Helper()
	c, clk := newCore(p)
	return start(t, c, context.Background(), method), c, clk
}

// start starts an execution of method on c under c's policy, with the
// caller's context ctx; it is closed when the test ends.
func start(t testing.TB, c *Client, ctx context.Context, method string) *Execution {
	t.Helper()
	e := c.Start(ctx, nil, Request{Method: method, Header: http.Header{}})
	t.Cleanup(e.Close)
	return e
}

// step reports o to e and returns the decision; a wait it asks for
// (ActionRetry, ActionHold) is slept on clk, as an adapter sleeps it.
func step(e *Execution, clk *fakeClock, o Outcome) Decision {
	d := e.Next(o)
	if d.Action == ActionRetry || d.Action == ActionHold {
		_ = clk.Sleep(context.Background(), d.Wait)
	}
	return d
}

// resp is the PhaseFinished outcome of attempt n answered with status and
// headers, given as name, value pairs; the body is replayable.
func resp(n, status int, kv ...string) Outcome {
	var h http.Header
	if len(kv) > 0 {
		h = http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
	}
	return Outcome{Phase: PhaseFinished, Attempt: n, URL: testURL, Status: status, Header: h, Replayable: true}
}

// failed is the PhaseFinished outcome of attempt n that failed with err.
func failed(n int, err error) Outcome {
	return Outcome{Phase: PhaseFinished, Attempt: n, URL: testURL, Err: err, Replayable: true}
}

// before and sending are the PhaseBefore and PhaseSending outcomes of
// attempt n.
func before(n int) Outcome  { return Outcome{Phase: PhaseBefore, Attempt: n, URL: testURL} }
func sending(n int) Outcome { return Outcome{Phase: PhaseSending, Attempt: n, URL: testURL} }

// ended is the PhaseEnded outcome of a request whose last attempt was n and
// that ends with err.
func ended(n int, err error) Outcome {
	return Outcome{Phase: PhaseEnded, Attempt: n, URL: testURL, Err: err}
}

// eventLog records events; safe for concurrent use.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) record(ev Event) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

// all returns the events recorded so far.
func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.evs...)
}

// Errors standing for what the standard library returns.

// condTimeout is a net.Error that timed out, as a read deadline produces.
type condTimeout struct{}

func (condTimeout) Error() string   { return "i/o timeout" }
func (condTimeout) Timeout() bool   { return true }
func (condTimeout) Temporary() bool { return true }

// condNetErr is a net.Error that did not time out.
type condNetErr struct{}

func (condNetErr) Error() string   { return "some network failure" }
func (condNetErr) Timeout() bool   { return false }
func (condNetErr) Temporary() bool { return false }

// condURL is the URL net/http names in the *url.Error of a request it sent.
const condURL = "http://restyretry.test/resource"

// httpResult is what doHTTP returns of one logical request.
type httpResult struct {
	status   int    // the last response's status, 0 without one
	body     string // its body
	proto    string // its protocol
	err      error  // the request's error: the give-up, else the last attempt's
	attempts int    // attempts sent
}

// httpReq is one logical request for doHTTP.
type httpReq struct {
	ctx    context.Context // nil: Background
	policy *Policy         // nil: the client's
	method string          // "": GET
	url    string
	body   string
	header http.Header
}

// doHTTP runs r through hc under c, as an adapter would: it reports every
// phase to an Execution and applies its decisions, waiting with the
// execution's Sleep (so on c's clock, which is fake in these tests: no
// wait is slept). It stands for the adapters in the core's tests that need
// real transport errors; it reads every body in full.
func doHTTP(c *Client, hc *http.Client, r httpReq) httpResult {
	ctx := r.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	header := r.header.Clone()
	if header == nil {
		header = http.Header{}
	}
	e := c.Start(ctx, r.policy, Request{Method: method, Header: header})
	defer e.Close()
	var res httpResult
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(e.Context(), method, r.url, strings.NewReader(r.body))
		if err != nil {
			res.err = err
			return res
		}
		d := e.Next(Outcome{Phase: PhaseBefore, Attempt: attempt, URL: req.URL})
		for d.Action == ActionHold {
			if err := e.Sleep(d.Wait); err != nil {
				e.Next(Outcome{Phase: PhaseEnded, Err: err})
				res.err = err
				return res
			}
			d = e.Next(Outcome{Phase: PhaseBefore, Attempt: attempt, URL: req.URL})
		}
		if d.Key != "" {
			header.Set(IdempotencyKeyHeader, d.Key)
		}
		if d.Action == ActionStop {
			res.err = d.Err
			return res
		}
		req.Header = header.Clone()
		if d := e.Next(Outcome{Phase: PhaseSending, Attempt: attempt, URL: req.URL}); d.Action == ActionStop {
			res.err = d.Err
			return res
		}
		res.attempts = attempt
		hr, err := hc.Do(req)
		o := Outcome{Phase: PhaseFinished, Attempt: attempt, URL: req.URL, Err: err, Replayable: true}
		res.status, res.body, res.proto = 0, "", ""
		if hr != nil {
			b, rerr := io.ReadAll(hr.Body)
			hr.Body.Close()
			if err == nil {
				err = rerr
			}
			res.status, res.body, res.proto = hr.StatusCode, string(b), hr.Proto
			o.Status, o.Header, o.Err = hr.StatusCode, hr.Header, err
			o.Truncated = rerr != nil // the raw body's framing failed: no decoder stands between
			if hr.Request != nil {
				o.URL = hr.Request.URL
			}
		}
		res.err = err
		d = e.Next(o)
		if d.Action == ActionRetry {
			if serr := e.Sleep(d.Wait); serr != nil {
				if gd := e.Next(Outcome{Phase: PhaseEnded, Attempt: attempt, Err: serr}); gd.Err != nil {
					serr = gd.Err
				}
				res.err = serr
				return res
			}
			continue
		}
		if d.Err != nil {
			res.err = d.Err
		}
		if gd := e.Next(Outcome{Phase: PhaseEnded, Attempt: attempt, Err: res.err}); gd.Err != nil {
			res.err = gd.Err
		}
		return res
	}
}

// dialHTTP returns an http.Client over its own transport (no proxy, dials
// counted in *dials when dials is not nil). When delay is positive the
// dialer holds each new connection for delay before handing it to the
// transport, so that anything the server does right after accepting is
// seen before the request is written. Its idle connections are closed when
// the test ends.
func dialHTTP(t testing.TB, dials *atomic.Int32, delay time.Duration) *http.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials != nil {
				dials.Add(1)
			}
			c, err := d.DialContext(ctx, network, addr)
			if err == nil && delay > 0 {
				time.Sleep(delay)
			}
			return c, err
		},
		MaxIdleConnsPerHost: 512,
		MaxIdleConns:        512,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// goWG runs f in a goroutine counted by wg (sync.WaitGroup.Go, which needs
// Go 1.25).
func goWG(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
}

// The host keys of the per-host tests (Pace, budget).
var (
	budHost  = hostKey{"https", "api.example.com", "443"}
	budOther = hostKey{"https", "other.example.com", "443"}
)

// retriesLeft is what c's retry budget lets the key of rawURL draw at now
// (its own tokens and the shared pool), in thousandths of a token; what
// executions hold reserved is not counted.
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
	own := int64(0)
	if h, _ := b.slot(budgetKeyOf(u, ""), now, false); h != nil {
		own = h.own
	}
	return own + b.pool
}
