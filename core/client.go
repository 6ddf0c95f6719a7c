package core

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Client is what an adapter keeps for one HTTP client: the policy it
// applies, test mode, the observers, and the per-host tables (retry
// budgets and pacing holds) that all of the client's requests share. One
// request is one Execution, started from the Client.
//
// Every method is safe for concurrent use; SetPolicy, SetTestMode and
// Observe may be called while requests run.
type Client struct {
	clock     Clock
	permanent []error
	policy    atomic.Pointer[Policy]
	budget    atomic.Pointer[budgets]
	observers atomic.Pointer[[]func(Event)]
	instant   atomic.Bool  // test mode: skip waits
	retryCap  atomic.Int64 // test mode: cap on MaxRetries, −1 for none
	pacer     *pacer
	mu        sync.Mutex
	degraded  error // why the adapter runs degraded, guarded by mu
}

// Options configure a Client.
type Options struct {
	// Clock is where time is read; nil is SystemClock.
	Clock Clock
	// Permanent lists the adapter's own errors that a retry cannot cure
	// (errors.Is against each), besides the ones the core knows.
	Permanent []error
}

// NewClient returns the state for one HTTP client under p.
func NewClient(p Policy, opts Options) *Client {
	c := &Client{clock: opts.Clock, permanent: opts.Permanent, pacer: newPacer()}
	if c.clock == nil {
		c.clock = SystemClock
	}
	c.retryCap.Store(-1)
	c.SetPolicy(p)
	return c
}

// SetPolicy replaces the client's policy, safely while requests run, and
// resets its retry budgets.
func (c *Client) SetPolicy(p Policy) {
	pp := p.normalized()
	c.budget.Store(newBudgets(pp.Budget))
	c.policy.Store(&pp)
	c.mu.Lock()
	err := c.degraded
	c.mu.Unlock()
	if err != nil {
		c.report(Event{Context: context.Background(), Verdict: Stop, Rule: RuleDegraded, Err: err})
	}
}

// Degraded records that the adapter runs degraded because of err (it
// cannot read something of its HTTP client, or the client does something
// the policy cannot see through, such as hedging): it is logged with
// slog's default logger and reported at once, and again every time a policy
// is set, as a RuleDegraded event to the client policy's OnDecision and the
// observers.
func (c *Client) Degraded(err error) {
	c.mu.Lock()
	c.degraded = err
	c.mu.Unlock()
	slog.Default().Warn("restyretry: degraded", "error", err)
	if c.policy.Load() != nil {
		c.report(Event{Context: context.Background(), Verdict: Stop, Rule: RuleDegraded, Err: err})
	}
}

// report sends ev to the client policy's OnDecision and the observers.
func (c *Client) report(ev Event) {
	if f := c.policy.Load().OnDecision; f != nil {
		f(ev)
	}
	if obs := c.observers.Load(); obs != nil {
		for _, f := range *obs {
			f(ev)
		}
	}
}

// Policy returns the client's policy. It must not be changed.
func (c *Client) Policy() *Policy { return c.policy.Load() }

// SetTestMode switches the client, and every per-request policy used with
// it, to test mode (see Policy.TestMode).
func (c *Client) SetTestMode(maxRetries int) {
	c.instant.Store(true)
	c.retryCap.Store(int64(maxRetries))
}

// Observe adds an observer of every Event of the client's requests, called
// after the policies' own OnDecision.
func (c *Client) Observe(observe func(Event)) {
	if observe == nil {
		return
	}
	for {
		old := c.observers.Load()
		var list []func(Event)
		if old != nil {
			list = append(list, *old...)
		}
		list = append(list, observe)
		if c.observers.CompareAndSwap(old, &list) {
			return
		}
	}
}

// Copy returns a new Client with c's policy, test mode, observers and
// options, a fresh budget and empty host tables: what a resty Clone gets
// when it is configured on its own.
func (c *Client) Copy() *Client {
	n := &Client{clock: c.clock, permanent: c.permanent, pacer: newPacer()}
	p := c.policy.Load()
	n.policy.Store(p)
	n.budget.Store(newBudgets(p.Budget))
	n.instant.Store(c.instant.Load())
	n.retryCap.Store(c.retryCap.Load())
	n.observers.Store(c.observers.Load())
	return n
}

// Request is what an execution knows of its request from the start.
type Request struct {
	// Method is the request's method, for the method rules.
	Method string
	// Header is the request's header, read at every decision for an
	// Idempotency-Key (a hook may add one later).
	Header http.Header
	// DefaultKey reports that the client adds an Idempotency-Key to every
	// request itself (a client-level header).
	DefaultKey bool
	// Start is when the first attempt started; zero means now.
	Start time.Time
	// Route names the request's route for the retry budget, which keeps
	// its accounts per host and route (see Budget); "" means the first
	// segment of the path of the URL that answered. Adapters pass what the
	// caller set for the request, if anything.
	Route string
}

// Start begins the execution of one request under p, or under the
// client's policy when p is nil. ctx is the caller's context.
func (c *Client) Start(ctx context.Context, p *Policy, r Request) *Execution {
	if p == nil {
		p = c.policy.Load()
	}
	e := executions.Get().(*Execution)
	*e = Execution{c: c, p: p, ctx: ctx, bound: ctx, method: r.Method, header: r.Header,
		defaultKey: r.DefaultKey, start: r.Start, bud: budgetTicket{route: r.Route}}
	if e.bud.route == "" {
		e.bud.route = RouteFrom(ctx)
	}
	if e.start.IsZero() {
		e.start = c.clock.Now()
	}
	e.instant = p.instant || c.instant.Load()
	e.maxRetries = p.MaxRetries
	if cp := c.retryCap.Load(); cp >= 0 && int64(e.maxRetries) > cp {
		e.maxRetries = int(cp)
	}
	if p.MaxElapsed > 0 {
		left := p.MaxElapsed - c.clock.Now().Sub(e.start)
		e.bound, e.cancel = context.WithTimeoutCause(ctx, max(left, 0), errElapsed)
	}
	return e
}

// executions are reused (Execution.Release), so that a request decided at
// its first attempt costs no allocation.
var executions = sync.Pool{New: func() any { return new(Execution) }}

// errElapsed is the cause of an execution's context ending at MaxElapsed.
// net/http ends the attempt in flight with the cause, so it is both
// ErrTimeLimit and context.DeadlineExceeded, as the context's own Err is:
// a caller testing for either finds it, and PhaseEnded sees a context end.
var errElapsed error = &reasonError{msg: ErrTimeLimit.Error(), wraps: []error{ErrTimeLimit, context.DeadlineExceeded}}
