package restyretry

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/core"
)

// Per-request state.
//
// A request's state belongs to one Execute. It is created the first time it
// is needed (a retry; under a policy that needs it from the start, the first
// attempt) and is carried in the request's context by stateCtx, which is
// context.WithValue but for hiding the state once Execute returns, around
// the execution's own context (the caller's, bounded by MaxElapsed
// when the policy has one). When Execute returns, end puts the caller's
// context back and marks the state done, so a context kept from a response,
// or derived from one inside a hook, carries nothing of the library that
// is still in use.
//
// The installation also keeps the state by its *resty.Request while Execute
// runs, so that a hook that replaces the request's context with one not
// derived from it cannot make the request forget its attempts.

// statesLive counts the states of every installation: while it is 0, no
// request's context can carry one, and the success path looks for none.
var statesLive atomic.Int64

// reqState is what the adapter keeps for one Execute of one request.
type reqState struct {
	in     *installation
	exec   *core.Execution
	req    *resty.Request
	parent context.Context // the context the caller gave the request
	own    context.Context // the context that carries the state, as set on the request
	client *resty.Client   // the client the request runs on, as its hooks receive it
	base   int             // req.Attempt before this Execute's first attempt
	done   atomic.Bool     // Execute has returned

	next        core.Decision // made by the condition, applied by retryAfter
	nextAttempt int           // the req.Attempt next belongs to; 0 when none
	held        bool          // a Pace hold was cancelled: no attempt was sent
	guardSeen   bool          // the body guard saw one of its attempts
	gaveUp      bool          // the request ends with a give-up
	replay      replay        // the first attempt's body

	ctx stateCtx // the first context that carries the state: one allocation with it
}

// attempt is the number of the attempt the request is at within this
// Execute.
func (st *reqState) attempt() int { return st.req.Attempt - st.base }

// newState gives r its state, around e.
// c is r's client, nil when the callback does not say (then the
// installation's own).
func (in *installation) newState(c *resty.Client, r *resty.Request, e *core.Execution) *reqState {
	if c == nil {
		c = in.self.Value()
	}
	st := &reqState{in: in, exec: e, req: r, client: c, parent: r.Context(), base: r.Attempt - 1}
	if h, ok := st.parent.(hideState); ok {
		st.parent = h.Context // what end puts back
	}
	in.inflight.Store(r, st)
	in.flightN.Add(1)
	statesLive.Add(1)
	st.ctx = stateCtx{Context: e.Context(), st: st}
	st.own = &st.ctx
	r.SetContext(st.own)
	return st
}

// stateCtx carries a request's state: it is context.WithValue but for one
// thing, the reason it exists. Once Execute has returned, its Value gives
// nil for the state, so that a context a hook derived from it (a span set
// in OnBeforeRequest, which end leaves in place), or another request was
// given (a request made inside a hook), carries nothing of the library.
// Everything else, Done, Deadline and Err included, is the wrapped
// context's.
type stateCtx struct {
	context.Context
	st *reqState
}

func (c *stateCtx) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		if c.st.done.Load() {
			return nil
		}
		return c.st
	}
	return c.Context.Value(key)
}

// stateOf returns r's state, nil if it has none. A context that carries
// another request's state (a request made from inside a hook of another)
// gives nil, and foreign reports it. When a hook replaced the request's
// context with one not derived from it, the installation's record finds
// the state, which is then carried by the new context.
func (in *installation) stateOf(r *resty.Request) (st *reqState, foreign bool) {
	if statesLive.Load() == 0 && in.pendingN.Load() == 0 {
		return nil, false // no request of any client has state: nothing to look for
	}
	st, _ = r.Context().Value(stateKey{}).(*reqState)
	if st != nil && st.req == r && !st.done.Load() {
		return st, false
	}
	foreign = st != nil && st.req != r
	if in.pendingN.Load() != 0 && !foreign && r.RawRequest != nil {
		if v, ok := in.pending.LoadAndDelete(r.RawRequest); ok {
			in.pendingN.Add(-1)
			pe := v.(*pendingExec)
			st = in.newState(nil, r, pe.exec)
			st.held, st.guardSeen = pe.held, true
			return st, false
		}
	}
	if in.flightN.Load() == 0 {
		return nil, foreign
	}
	v, ok := in.inflight.Load(r)
	if !ok {
		return nil, foreign
	}
	st = v.(*reqState)
	st.own = &stateCtx{Context: r.Context(), st: st}
	r.SetContext(st.own)
	return st, false
}

// hold reports PhaseBefore (or PhaseSending) o until the execution says
// send or stop, sleeping on the core's clock while it holds. setKey adds
// the Idempotency-Key the execution asks for.
func (st *reqState) hold(o core.Outcome, setKey func(string)) error {
	for {
		d := st.exec.Next(o)
		if d.Key != "" && setKey != nil {
			setKey(d.Key)
		}
		switch d.Action {
		case core.ActionHold:
			if err := st.exec.Sleep(d.Wait); err != nil {
				st.held = true
				return heldError{err}
			}
		case core.ActionStop:
			return d.Err
		default:
			return nil
		}
	}
}

// heldError is the caller's cancellation of a request held by Pace, which
// was never sent.
type heldError struct{ err error }

func (e heldError) Error() string { return e.err.Error() }
func (e heldError) Unwrap() error { return e.err }

// end ends the state: the Idempotency-Key it added is removed from
// req.Header, the caller's context is put back, and the execution is
// closed, unless the caller streams the body under MaxElapsed: closing the
// body closes it then, so the stream stays bounded. A streamed give-up's
// body is closed here: the caller gets an error, and net/http's rule is to
// ignore the response then; its status and headers stay readable.
func (in *installation) end(r *resty.Request, st *reqState, resp *resty.Response) {
	in.inflight.Delete(r)
	if r.RawRequest != nil {
		in.guarded.Delete(r.RawRequest)
	}
	in.flightN.Add(-1)
	statesLive.Add(-1)
	if k := st.exec.Key(); k != "" && header(r.Header, core.IdempotencyKeyHeader) == k {
		r.Header.Del(core.IdempotencyKeyHeader)
	}
	var body io.ReadCloser
	if resp != nil && resp.RawResponse != nil && resp.RawResponse.Body != nil && streamed(r, st.client) {
		body = resp.RawResponse.Body
	}
	switch {
	case body != nil && st.gaveUp:
		// The caller gets an error, and net/http's rule is to ignore the
		// response then: a body left open would leak its connection. The
		// status and headers stay readable.
		_ = body.Close()
		st.exec.Close()
	case body != nil && st.exec.Context() != st.exec.Parent():
		resp.RawResponse.Body = &closeOnEOF{ReadCloser: body, exec: st.exec}
	default:
		// Nothing of the execution outlives the request (the context the
		// state carried is the state's own field, and done hides it): it
		// goes back for reuse.
		st.exec.Release()
		st.exec = nil
	}
	st.replay = replay{}
	defer st.done.Store(true) // after the look at the context: done hides the state
	if v, ok := r.Context().Value(stateKey{}).(*reqState); ok && v == st {
		if cur := r.Context(); cur == st.own {
			r.SetContext(st.parent)
		} else {
			// A hook derived the request's context from ours (a span, a
			// value): keep what it added, with the caller's lifetime.
			r.SetContext(endedCtx{Context: cur, parent: st.parent})
		}
	} else if h, ok := r.Context().(hideState); ok {
		r.SetContext(h.Context)
	}
}

// closeOnEOF is the body of a streamed response under MaxElapsed: closing
// it closes the execution, whose deadline until then bounds the stream.
type closeOnEOF struct {
	io.ReadCloser
	exec *core.Execution
}

func (b *closeOnEOF) Close() error {
	err := b.ReadCloser.Close()
	b.exec.Close()
	return err
}

// replayable reports whether the next attempt can carry the same body as
// the one just sent: a reader body only if resty buffered it (GetBody), a
// multipart body only with the body guard (guard), which sends the first
// attempt's bytes again.
func replayable(r *resty.Request, guard bool) bool {
	if _, ok := r.Body.(io.Reader); ok {
		raw := r.RawRequest
		return raw != nil && (raw.GetBody != nil || raw.Body == nil || raw.Body == http.NoBody)
	}
	if !core.IsMultipart(header(r.Header, "Content-Type")) {
		return true
	}
	return guard
}

// endedCtx is the context of a request whose Execute returned, when a hook
// had derived the request's context from the one carrying the state: its
// values are the hook's (the state hidden), its deadline, cancellation and
// error the caller's own context's, so that the MaxElapsed bound, closed
// with the execution, does not end a follow-up made with it.
type endedCtx struct {
	context.Context // the hook's context, for its values
	parent          context.Context
}

func (c endedCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c endedCtx) Done() <-chan struct{}       { return c.parent.Done() }
func (c endedCtx) Err() error                  { return c.parent.Err() }

func (c endedCtx) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return nil
	}
	return c.Context.Value(key)
}

// pendingExec is an execution lastLook started for a built request that
// had no state yet.
type pendingExec struct {
	exec *core.Execution
	held bool // its hold was cancelled: no attempt was sent
}
