package restyretry

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
)

// Per-request state.
//
// A request's state belongs to one Execute. It is created the first time it
// is needed (a retry; with MaxElapsed or an Idempotency-Key to add, the first
// attempt) and lives in a context wrapped around the caller's, where resty's
// callbacks and the pre-request hook find it. When Execute returns, finish
// ends it: the state is no longer visible through that context, the
// context's MaxElapsed deadline is disarmed, and the request gets the
// caller's context back. A context kept from a response, or derived from one
// inside a hook, is then the caller's context in all but identity.
//
// The installation also keeps the request's state by its *resty.Request
// while Execute runs, so that a hook that replaces the request's context
// with one not derived from it cannot make the request forget its attempts.

// requestState is what is kept for one Execute of one request.
type requestState struct {
	in     *installation
	req    *resty.Request
	sc     *stateCtx       // the context that carries the state
	parent context.Context // the caller's context, put back by finish
	policy *Policy
	base   int           // req.Attempt before this Execute's first attempt
	start  time.Time     // when the first attempt started
	skewed time.Duration // test mode: the waits skipped so far

	next        decision // made by the condition, committed by retryAfter
	nextErr     error    // the error of the attempt next is about
	nextAttempt int      // the req.Attempt next belongs to; 0 when none
	paid        bool     // a budget token is paid for a retry not yet sent

	replay   replay          // the first attempt's body
	lastResp *resty.Response // the response of the last attempt retried
	attempts int             // attempts finished when the last retry was committed
	autoKey  string          // the Idempotency-Key added to this request, if any
	refusal  error           // a give-up raised before sending (Pace, the body guard)
	host     hostKey         // Pace: the host the first attempt goes to
	held     time.Duration   // Pace: how long the first attempt was held
}

// stateCtx is the caller's context with the request's state and, under
// MaxElapsed, the request's deadline: its Done channel closes at the
// deadline or when the caller's context ends, whichever is first. It is one
// allocation for the state and the context.
//
// Once finished, it is the caller's context again: Value hides the state,
// and Done, Err and Deadline are the caller's, unless the deadline already
// ended it (a context that was done stays done). Contexts derived from it
// while it was armed (context.WithCancel, context.AfterFunc) follow it
// through its AfterFunc method: their registrations move to the caller's
// context when it is finished, so they keep following the caller's end.
type stateCtx struct {
	context.Context               // the caller's
	st              requestState  // the state, unless moved is set
	moved           *requestState // the state of a context that was replaced
	finished        atomic.Bool   // the Execute has returned

	// With MaxElapsed only.
	bounded    bool          // a deadline is armed
	deadline   time.Time     // start + MaxElapsed
	done       chan struct{} // closed at the deadline or the caller's end
	fired      atomic.Bool   // the deadline, not the caller, closed done
	timer      *time.Timer   // fires at the deadline
	stopParent func() bool   // stops forwarding the caller's end
	mu         sync.Mutex    // guards what follows, and the closing of done
	closed     bool          // done is closed
	detached   atomic.Bool   // finish disarmed the deadline
	regs       []*afterReg   // AfterFunc registrations while armed
}

func (c *stateCtx) state() *requestState {
	if c.moved != nil {
		return c.moved
	}
	return &c.st
}

func (c *stateCtx) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		if c.finished.Load() {
			return nil
		}
		return c.state()
	}
	return c.Context.Value(key)
}

func (c *stateCtx) live() bool { return c.bounded && !c.detached.Load() }

func (c *stateCtx) Deadline() (time.Time, bool) {
	if !c.live() {
		return c.Context.Deadline()
	}
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *stateCtx) Done() <-chan struct{} {
	if !c.live() {
		return c.Context.Done()
	}
	return c.done
}

func (c *stateCtx) Err() error {
	if !c.live() {
		return c.Context.Err()
	}
	select {
	case <-c.done:
		if c.fired.Load() {
			return context.DeadlineExceeded
		}
		return c.Context.Err()
	default:
		return nil
	}
}

// AfterFunc arranges for f to run when the context is done, as
// context.AfterFunc does; the context package uses it for every context
// derived from this one.
func (c *stateCtx) AfterFunc(f func()) (stop func() bool) {
	if !c.bounded {
		return context.AfterFunc(c.Context, f)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.detached.Load() {
		return context.AfterFunc(c.Context, f)
	}
	reg := &afterReg{f: f}
	if c.closed {
		go reg.run()
	} else {
		c.regs = append(c.regs, reg)
	}
	return reg.stop
}

// afterReg is one AfterFunc registration: it runs f once, unless stopped.
type afterReg struct {
	f          func()
	mu         sync.Mutex
	over       bool        // ran or stopped
	stopParent func() bool // once moved to the caller's context
}

func (r *afterReg) run() {
	r.mu.Lock()
	if r.over {
		r.mu.Unlock()
		return
	}
	r.over = true
	r.mu.Unlock()
	r.f()
}

func (r *afterReg) stop() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over {
		return false
	}
	r.over = true
	if r.stopParent != nil {
		r.stopParent()
	}
	return true
}

// arm sets the MaxElapsed deadline.
func (c *stateCtx) arm(deadline time.Time) {
	c.bounded, c.deadline, c.done = true, deadline, make(chan struct{})
	c.stopParent = context.AfterFunc(c.Context, func() { c.end(false) })
	c.timer = time.AfterFunc(time.Until(deadline), func() {
		c.end(true)
		c.stopParent()
	})
}

// end closes done, once, recording whether the deadline did it, and runs
// the registrations.
func (c *stateCtx) end(byDeadline bool) {
	c.mu.Lock()
	if c.closed || c.detached.Load() {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.fired.Store(byDeadline)
	close(c.done)
	regs := c.regs
	c.regs = nil
	c.mu.Unlock()
	for _, r := range regs {
		go r.run()
	}
}

// expired reports whether the MaxElapsed deadline ended the request.
func (c *stateCtx) expired() bool { return c.bounded && c.fired.Load() }

// finish hides the state. Unless keepDeadline, it also disarms the deadline
// (a response whose body the caller streams keeps it, so the stream stays
// bounded, until the body is closed): see disarm.
func (c *stateCtx) finish(keepDeadline bool) {
	c.finished.Store(true)
	if c.bounded && !keepDeadline {
		c.disarm()
	}
}

// disarm stops the deadline and hands the context back to the caller's:
// registrations move to it. A context the deadline or the caller already
// ended stays as it is.
func (c *stateCtx) disarm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.detached.Load() {
		return
	}
	c.timer.Stop()
	c.stopParent()
	c.detached.Store(true)
	for _, r := range c.regs {
		r.mu.Lock()
		if !r.over {
			r.stopParent = context.AfterFunc(c.Context, r.run)
		}
		r.mu.Unlock()
	}
	c.regs = nil
}

// disarmOnClose is the body of a streamed response under MaxElapsed: closing
// it disarms the deadline, which until then bounds the stream.
type disarmOnClose struct {
	io.ReadCloser
	sc *stateCtx
}

func (b *disarmOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.sc.disarm()
	return err
}

// hideState is the context of a request made with another request's
// context while that one runs (from inside one of its hooks): it hides the
// other's state, so that the inner request is not mistaken for the outer.
type hideState struct{ context.Context }

func (h hideState) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return nil
	}
	return h.Context.Value(key)
}

// stateOf returns r's state, nil if it has none. A context that carries
// another request's state (a request made from inside a hook of another)
// gives nil, and foreign reports it.
func stateOf(r *resty.Request) (st *requestState, foreign bool) {
	st, _ = r.Context().Value(stateKey{}).(*requestState)
	if st == nil || st.req != r {
		return nil, st != nil
	}
	return st, false
}

// stateOf is the package stateOf, falling back on the installation's own
// record when a hook replaced the request's context with one not derived
// from it: the state is then wrapped around the new context, so that the
// attempts go on counting, finish ends it, and the body guard still finds
// it. The record is consulted only while the installation holds any.
func (in *installation) stateOf(r *resty.Request) *requestState {
	st, _ := in.stateOrForeign(r)
	return st
}

// stateOrForeign is stateOf, also reporting whether r's context carries
// another request's state, with one look at the context.
func (in *installation) stateOrForeign(r *resty.Request) (*requestState, bool) {
	st, foreign := stateOf(r)
	if st != nil || in.inflightN.Load() == 0 {
		return st, foreign
	}
	v, ok := in.inflight.Load(r)
	if !ok {
		return nil, foreign
	}
	st = v.(*requestState)
	sc := &stateCtx{Context: r.Context(), moved: st}
	st.sc, st.parent = sc, sc.Context
	r.SetContext(sc)
	return st, false
}

// newState gives r its state; start is when its first attempt started.
// With MaxElapsed, the state's context ends at start + MaxElapsed, which
// bounds the attempt in flight too, not only the waits.
func (in *installation) newState(r *resty.Request, p *Policy, start time.Time) *requestState {
	parent := r.Context()
	sc := &stateCtx{Context: parent}
	st := &sc.st
	st.in, st.req, st.sc, st.parent, st.policy = in, r, sc, parent, p
	st.base, st.start = r.Attempt-1, start
	if h, ok := parent.(hideState); ok {
		st.parent = h.Context // what finish puts back, and what events carry
	}
	if p.MaxElapsed > 0 {
		sc.arm(start.Add(p.MaxElapsed))
	}
	in.inflight.Store(r, st)
	in.inflightN.Add(1)
	r.SetContext(sc)
	return st
}

// release drops what a finished state holds of the request, so that a
// deadline kept armed for a streamed body holds almost nothing.
func (st *requestState) release() {
	st.req, st.lastResp, st.nextErr, st.replay = nil, nil, nil, replay{}
}

// callerContext is the context the caller gave r.
func (st *requestState) callerContext(r *resty.Request) context.Context {
	if st == nil {
		return r.Context()
	}
	return st.parent
}

// attempt is the number of the attempt r just made within this Execute.
func (st *requestState) attempt() int {
	if st == nil {
		return 1
	}
	return st.req.Attempt - st.base
}

// now is the decisions' clock at wall-clock time wall: wall itself, plus in
// test mode the waits skipped so far.
func (st *requestState) now(wall time.Time) time.Time {
	if st == nil {
		return wall
	}
	return wall.Add(st.skewed)
}
