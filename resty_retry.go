package restyretry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"time"
	"weak"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/core"
)

// The resty v2 adapter.
//
// One logical request is one call of resty's Request.Execute. resty runs its
// retry loop inside it and calls back into the installation, which turns
// each callback into an Outcome for the request's core.Execution and
// applies the Decision it gets back. The adapter decides nothing:
//
//	beforeRequest  before every attempt: PhaseBefore (a Pace hold, an
//	               Idempotency-Key, a refusal that stands)
//	guardBody      resty's pre-request hook, just before sending:
//	               PhaseSending (a retry's changed body, Pace's last look)
//	condition      after every attempt: PhaseFinished
//	retryAfter     after a true: the wait or the give-up error; the body
//	               replay is readied
//	finish         when Execute ends (resty's success, error and panic
//	               hooks): PhaseEnded
//
// A request's state (state.go) exists only while Execute runs.

// Apply installs the Default policy on c and returns c.
func Apply(c *resty.Client) *resty.Client {
	return Default().Apply(c)
}

// Apply installs p on c and returns c. It works through resty's own retry
// loop: it registers one retry condition that decides every outcome (so no
// other built-in rule can override "never retry 401"), a RetryAfter
// function that computes every wait, a pre-request hook that keeps a
// changed body off the network (only if c has no pre-request hook yet) and
// request hooks that keep per-request state. It sets resty's retry count
// and wait bounds so that the policy's attempts and waits pass through
// unchanged; change them afterwards and the policy no longer holds. It also
// keeps resty's retry loop from logging each failed attempt (resty logs
// none of them without retries): use Policy.OnDecision or LogEvents.
//
// Applying again, with the same or another policy, replaces the policy in
// place, safely while requests run: rules never stack. The retry budget is
// reset on every Apply. Retry conditions you add to the client yourself
// are consulted by resty before or after this one (a true from any wins),
// so prefer Policy.With.
//
// A Clone of an applied client shares its original's policy, budget, test
// mode and observers until Apply, TestMode or Observe is called on the
// clone, which gives the clone its own copy (and a fresh budget) without
// changing the original. That first call configures the clone and, like
// every resty setting, belongs before the clone carries requests; later
// ones replace the clone's policy in place, safely while requests run.
func (p Policy) Apply(c *resty.Client) *resty.Client {
	return p.applyOn(c, nil)
}

// applyOn is Apply with the clock of a new installation (nil: the system
// clock); tests pass a fake one.
func (p Policy) applyOn(c *resty.Client, clock core.Clock) *resty.Client {
	in := adopt(c, true, clock)
	in.core.SetPolicy(core.Policy(p))
	return c
}

// TestMode switches the policy applied on c, and every per-request policy
// used with it, to test mode (see Policy.TestMode): waits are skipped and, if
// maxRetries ≥ 0, retries are capped at maxRetries. It does nothing to a
// client that has no policy applied. Use it in tests of code that builds
// its own client.
func TestMode(c *resty.Client, maxRetries int) *resty.Client {
	if in := adopt(c, false, nil); in != nil {
		in.core.SetTestMode(maxRetries)
	}
	return c
}

// Observe adds observe to the observers of the policy applied on c: it
// receives every Event of every request made with c, under the client's
// policy or a per-request one, after the policies' own OnDecision. It is
// kept when the policy is applied again. It does nothing to a client that
// has no policy applied. It is meant for instrumentation packages; observe
// must be safe for concurrent use.
func Observe(c *resty.Client, observe func(Event)) *resty.Client {
	if in := adopt(c, false, nil); in != nil {
		in.core.Observe(observe)
	}
	return c
}

// ResendCount returns how many times the attempt in flight under ctx has
// been sent before: 0 for a first attempt, n for the nth retry. ctx is the
// context of the *http.Request a transport receives from an applied client.
// It is meant for instrumentation (the http.request.resend_count attribute
// of OpenTelemetry's HTTP conventions); outside a request of an applied
// client it returns 0.
func ResendCount(ctx context.Context) int {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	if st == nil || st.done.Load() {
		return 0
	}
	return max(st.req.Attempt-st.base-1, 0)
}

// Hosts returns the budget and pacing state of at most max upstreams of
// the policy applied on c, and the tokens of its budget's shared pool (see
// core.Client.Hosts): for instrumentation, such as a gauge. A client with
// no policy applied has none.
func Hosts(c *resty.Client, max int) ([]HostState, float64) {
	in := lookup(c)
	if in == nil {
		in = inherited(c) // a clone served by its original
	}
	if in == nil {
		return nil, 0
	}
	return in.core.Hosts(max)
}

// adopt returns c's own installation, creating it (on clock) when create is
// set or c inherited one through Clone. It returns nil when c has none and
// create is not set.
func adopt(c *resty.Client, create bool, clock core.Clock) *installation {
	if in := lookup(c); in != nil {
		return in
	}
	from := inherited(c)
	if from == nil && !create {
		return nil
	}
	in := &installation{self: weak.Make(c)}
	if from != nil {
		// A clone until now served by its original: it takes a copy, and
		// the original's hooks, which it shares, serve it from now on.
		in.core, in.guard = from.core.Copy(), from.guard
	} else {
		in.core = core.NewClient(core.Default(), core.Options{Clock: clock,
			Permanent: []error{resty.ErrAutoRedirectDisabled, resty.ErrResponseBodyTooLarge}})
		in.hooks = true
		c.RetryConditions = append(c.RetryConditions[:len(c.RetryConditions):len(c.RetryConditions)], in.condition)
		c.OnBeforeRequest(in.beforeRequest)
		c.OnSuccess(in.onSuccess)
		c.OnError(in.onError)
		c.OnPanic(in.onError)
		if hook, ok := preRequestHook(c); ok && hook.IsNil() {
			c.SetPreRequestHook(in.guardBody)
			in.guard = true
		}
		c.SetRetryAfter(in.retryAfter)
		c.SetRetryCount(loopCeiling)
		c.SetRetryWaitTime(0)
		c.SetRetryMaxWaitTime(maxWait)
		if hc := c.GetClient(); hc != nil {
			hk := weak.Make(hc)
			if _, loaded := byHTTP.LoadOrStore(hk, in); !loaded {
				runtime.AddCleanup(hc, func(k weak.Pointer[http.Client]) { byHTTP.Delete(k) }, hk)
			}
		}
		if err := fieldsMissing(); err != nil {
			in.core.Degraded(err)
		}
	}
	key := weak.Make(c)
	byClient.Store(key, in)
	runtime.AddCleanup(c, func(k weak.Pointer[resty.Client]) { byClient.Delete(k) }, key)
	return in
}

// beforeRequest runs before every attempt. The first attempt of a request
// gets its state at once when its policy needs it from the start
// (MaxElapsed bounds the attempt, Pace holds or spreads its host now, a
// POST may need an Idempotency-Key), or when it is served by an installation other than the
// one whose hook runs (a clone applied on its own), so that the condition
// finds it.
func (in *installation) beforeRequest(c *resty.Client, r *resty.Request) error {
	owner := in
	if in = in.resolve(c); in != owner && in.hooks {
		return nil // c's own hooks run too
	}
	in.quiet.quiet(r)
	st, foreign := in.stateOf(r)
	if st != nil {
		return st.exec.Next(core.Outcome{Phase: core.PhaseBefore, Attempt: st.attempt()}).Err
	}
	if foreign {
		r.SetContext(hideState{r.Context()}) // another request's context
	}
	p := in.policyFor(r.Context())
	if !p.AddsKey(r.Method) && p.MaxElapsed <= 0 && in == owner && (!p.Pace || !in.core.MayPace(r.URL, baseURL(c))) {
		// Pace asks the pacer first, from the URL's strings: a host it
		// neither blocks nor spreads costs no state, no parse and no lock
		// (unless its shard knows a host), and the attempt is sent as if
		// Pace were off. Its answer is still read by the condition.
		return nil
	}
	st = in.newState(c, r, in.start(c, r, p, time.Time{}))
	o := core.Outcome{Phase: core.PhaseBefore, Attempt: 1, Context: r.Context()}
	if p.Pace {
		o.URL = core.TargetURL(r.URL, baseURL(c))
	}
	return st.hold(o, func(key string) { r.Header.Set(core.IdempotencyKeyHeader, key) })
}

// condition is the one resty retry condition: PhaseFinished. false ends
// the request as it is; true hands over to retryAfter, which sleeps or
// returns the give-up error.
func (in *installation) condition(resp *resty.Response, err error) bool {
	if resp == nil || resp.Request == nil {
		return false // raised before sending: never retried, never reported
	}
	r := resp.Request
	st, _ := in.stateOf(r)
	if st != nil && st.in != in {
		// A clone's request: its installation decides, through its own
		// condition if it has one.
		if st.in.hooks {
			return false
		}
		in = st.in
	}
	var e *core.Execution
	attempt := 1
	if st != nil {
		e, attempt = st.exec, st.attempt()
	} else {
		// resty has merged the client's headers into r.Header by now, so
		// a client-level Idempotency-Key is seen there: no client needed.
		e = in.start(nil, r, in.policyFor(r.Context()), r.Time)
	}
	o := outcomeOf(resp, err, attempt, in.guard)
	if err != nil {
		c := in.self.Value()
		if st != nil {
			c = st.client
		}
		proxyRefused(resp, err, c) // rewraps the *url.Error's cause in place
		o.Truncated = truncated(resp, err, c)
	}
	d := e.Next(o)
	if d.Action != core.ActionRetry && d.Err == nil {
		if st == nil {
			e.Release() // decided at the first attempt: nothing holds it
		}
		return false
	}
	if st == nil {
		st = in.newState(nil, r, e)
	}
	if d.Err != nil && err != nil {
		// resty returns a transport error as it is, not retryAfter's
		// error: carry the give-up inside it when it can.
		if ue, ok := asType[*url.Error](err); ok {
			ue.Err = d.Err
		}
		st.gaveUp = true
		return false
	}
	st.next, st.nextAttempt = d, r.Attempt
	return true
}

// outcomeOf is PhaseFinished for the attempt that produced resp and err.
func outcomeOf(resp *resty.Response, err error, attempt int, guard bool) core.Outcome {
	r := resp.Request
	o := core.Outcome{Phase: core.PhaseFinished, Attempt: attempt, Err: err, Response: resp,
		Replayable: replayable(r, guard), Context: r.Context()}
	if raw := resp.RawResponse; raw != nil {
		o.Status, o.Header = raw.StatusCode, raw.Header
		if raw.Request != nil {
			o.URL = raw.Request.URL // the host that answered, after redirects
			o.Redirected = raw.Request.Method != r.Method
		}
	}
	if o.URL == nil && r.RawRequest != nil {
		o.URL = r.RawRequest.URL
	}
	if err != nil && resp.RawResponse == nil && r.RawRequest != nil {
		if u, ok := core.RedirectTarget(err, r.RawRequest.URL); ok {
			o.Redirected, o.URL = true, u // the original may have been applied; the target failed
		}
	}
	return o
}

// truncated reports whether resp's body was cut short, by what resty
// read of it against its framing, not by the error's type alone. resty
// sets the response's size only once it read the body whole, so a size
// means that the error came later (a decoder, a hook); io.ReadAll keeps
// what it read of a body whose read failed, so bytes without a size are a
// cut body. When nothing was read: a Content-Length that promised bytes is
// a cut body (unless resty's gzip reader, which may decode a whole body to
// nothing, stood between), io.EOF is a decoder's end of an empty body
// (net/http never reports it: io.ReadAll swallows it), and otherwise only
// a network read error counts (a chunked body cut before its first
// chunk). A streamed body is not read by resty at all.
func truncated(resp *resty.Response, err error, c *resty.Client) bool {
	raw := resp.RawResponse
	switch {
	case err == nil || raw == nil || raw.ContentLength == 0 || streamed(resp.Request, c):
		return false
	case resp.Size() > 0:
		return false
	case len(resp.Body()) > 0:
		return true
	case errors.Is(err, io.EOF):
		return false
	case raw.ContentLength > 0 && !strings.EqualFold(header(raw.Header, "Content-Encoding"), "gzip"):
		return true
	}
	return core.ReadFailure(err)
}

// proxyRefused gives a proxy's refusal of a CONNECT the form net/http
// gives every other proxy failure, a *net.OpError with Op "proxyconnect",
// which the core knows as permanent: net/http reports a CONNECT answered
// with any status but 200 (a 407, a 403, a 502) as a bare errors.New of
// the status text, which tells nothing by its type. It is recognised as
// such a bare error, with no response, for an https URL (the only one
// sent through CONNECT) that the client's transport sends through a proxy.
func proxyRefused(resp *resty.Response, err error, c *resty.Client) {
	ue, ok := err.(*url.Error)
	if !ok || resp.RawResponse != nil || c == nil || reflect.TypeOf(ue.Err) != bareError {
		return
	}
	tr, ok := c.GetClient().Transport.(*http.Transport)
	if !ok || tr.Proxy == nil {
		return
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || u.Scheme != "https" {
		return
	}
	if pu, perr := tr.Proxy(&http.Request{Method: http.MethodConnect, URL: u, Header: http.Header{}}); perr != nil || pu == nil {
		return
	}
	ue.Err = &net.OpError{Op: "proxyconnect", Net: "tcp", Err: ue.Err}
}

// bareError is the type of errors.New's errors.
var bareError = reflect.TypeOf(errors.New(""))

// retryAfter is resty's RetryAfter: it is called after a condition said
// true, and returns the wait or the give-up error. It never returns 0,
// which resty reads as "use your own backoff".
func (in *installation) retryAfter(c *resty.Client, resp *resty.Response) (time.Duration, error) {
	in = in.resolve(c)
	r := resp.Request
	st, _ := in.stateOf(r)
	var d core.Decision
	if st != nil && st.nextAttempt == r.Attempt {
		d = st.next
		st.nextAttempt = 0
	} else {
		// Another condition said true before ours was asked, or over our
		// Stop: the limits still hold.
		if st == nil {
			st = in.newState(c, r, in.start(c, r, in.policyFor(r.Context()), r.Time))
		}
		o := outcomeOf(resp, nil, st.attempt(), in.guard)
		o.Phase = core.PhaseOverruled
		d = st.exec.Next(o)
	}
	if d.Err == nil {
		err := prepareReplay(r, &st.replay)
		if err == nil && core.IsMultipart(header(r.Header, "Content-Type")) && !in.sawGuard(st) {
			// A pre-request hook set after Apply, or on a clone, took the
			// guard's place (it did not see the attempt): resty would
			// rebuild the parts.
			err = errNoGuard
		}
		if err != nil {
			d = st.exec.Next(core.Outcome{Phase: core.PhaseSending, Attempt: st.attempt() + 1,
				URL: urlOf(r), BodyChanged: true, Err: err})
		}
	}
	if d.Err != nil {
		st.gaveUp = true
		return 0, d.Err
	}
	discard(resp)
	return max(d.Wait, time.Nanosecond), nil
}

func urlOf(r *resty.Request) *url.URL {
	if r.RawRequest != nil {
		return r.RawRequest.URL
	}
	return nil
}

// baseURL is c's base URL, "" without a client.
func baseURL(c *resty.Client) string {
	if c == nil {
		return ""
	}
	return c.BaseURL
}

// discard drains (a few KiB, for a short time) and closes the body of a
// response that is retried, so that its connection can be reused and
// nothing is left open when the caller streams responses
// (SetDoNotParseResponse). A body that is longer or slower costs its
// connection instead. A body resty read already is closed, and closing it
// again does nothing.
func discard(resp *resty.Response) {
	if resp != nil && resp.RawResponse != nil {
		core.Drain(resp.RawResponse.Body)
	}
}

func (in *installation) onSuccess(c *resty.Client, resp *resty.Response) {
	owner := in
	if in = in.resolve(c); in != owner && in.hooks {
		return // c's own hooks run too
	}
	st, _ := in.stateOf(resp.Request)
	in.finish(resp.Request, st, resp, nil)
}

// onError runs when Execute ends with an error (and, registered as resty's
// panic hook, when it panics). resty's loop stops without asking the
// condition when the request's context is done, so PhaseEnded reports those
// ends: the MaxElapsed deadline ending an attempt in flight is a give-up
// (ErrTimeLimit, placed inside the *url.Error), and the caller's own
// context ending it is "canceled".
func (in *installation) onError(r *resty.Request, err error) {
	st, _ := in.stateOf(r)
	if st != nil {
		in = st.in
	}
	var resp *resty.Response
	if re, ok := asType[*resty.ResponseError](err); ok {
		resp = re.Response
	}
	in.finish(r, st, resp, err)
}

// finish ends an Execute (PhaseEnded): it removes the Idempotency-Key it
// added, ends the state and puts back the caller's logger and context. A
// request executed again starts afresh.
func (in *installation) finish(r *resty.Request, st *reqState, resp *resty.Response, err error) {
	if l, ok := requestLogger(r); ok {
		if q, ours := l.(*quietLogger); ours {
			r.SetLogger(q.inner)
		}
	}
	if st == nil {
		if err != nil && r.Context().Err() != nil {
			// The caller's context ended the first attempt, which has no
			// state yet: resty asked no condition, so report it here.
			e := in.start(nil, r, in.policyFor(r.Context()), r.Time)
			d := e.Next(core.Outcome{Phase: core.PhaseEnded, Attempt: 1, URL: urlOf(r), Err: err, Context: r.Context()})
			if ue, ok := asType[*url.Error](err); ok && d.Err != nil {
				ue.Err = d.Err
			}
			e.Release()
		}
		if raw := r.RawRequest; raw != nil && core.IsMultipart(header(raw.Header, "Content-Type")) {
			in.guarded.Delete(raw)
		}
		if h, ok := r.Context().(hideState); ok {
			r.SetContext(h.Context)
		}
		return
	}
	attempt := st.attempt()
	if st.held {
		attempt = 0
	}
	d := st.exec.Next(core.Outcome{Phase: core.PhaseEnded, Attempt: attempt, URL: urlOf(r), Err: err,
		Context: r.Context()})
	if d.Err != nil {
		st.gaveUp = true
		if ue, ok := asType[*url.Error](err); ok {
			ue.Err = d.Err
		}
	}
	in.end(r, st, resp)
}

// guardBody is resty's pre-request hook, PhaseSending: on a retry it
// compares the built body with the first attempt's, and the execution keeps
// a different one off the network. A first attempt passes without work,
// unless the policy paces: the execution then looks at the host's hold once
// more, as close to sending as resty lets.
func (in *installation) guardBody(_ *resty.Client, raw *http.Request) error {
	st, _ := raw.Context().Value(stateKey{}).(*reqState)
	if st == nil || st.req != nil && st.req.RawRequest != raw || st.done.Load() {
		if core.IsMultipart(header(raw.Header, "Content-Type")) {
			in.guarded.Store(raw, struct{}{}) // sawGuard: the guard is the client's hook
		}
		if st == nil {
			return in.lastLook(raw)
		}
		return nil // another request's context
	}
	st.guardSeen = true
	o := core.Outcome{Phase: core.PhaseSending, Attempt: st.attempt(), URL: raw.URL, Context: st.req.Context()}
	rp := &st.replay
	if !rp.printed {
		return st.hold(o, nil)
	}
	if core.IsMultipart(rp.firstType) && rp.firstBody != nil {
		// resty rebuilt the parts; send the first attempt's bytes instead.
		if body, err := rp.firstBody(); err == nil {
			raw.Body, raw.GetBody, raw.ContentLength = body, rp.firstBody, rp.fingerprint.n
			raw.Header.Set("Content-Type", rp.firstType)
			return nil
		}
	}
	fp, known, err := fingerprint(raw, rp.seed)
	o.BodyChanged, o.Err = err != nil || !known || fp != rp.fingerprint, err
	return st.exec.Next(o).Err
}

// lastLook is Pace's last look for a first attempt that has no state:
// its host was neither blocked nor spread when beforeRequest asked, and
// something (another request's answer) may have changed that since. When
// the host is paced now, the attempt gets an execution here, which holds
// it as beforeRequest would have, and which the request's state takes
// over at its next callback (stateOf, by the built request).
func (in *installation) lastLook(raw *http.Request) error {
	p := in.policyFor(raw.Context())
	if !p.Pace || !in.core.MayPaceURL(raw.URL) {
		return nil
	}
	e := in.core.Start(raw.Context(), p, core.Request{Method: raw.Method, Header: raw.Header})
	pe := &pendingExec{exec: e}
	in.pending.Store(raw, pe)
	in.pendingN.Add(1)
	tmp := reqState{exec: e}
	err := tmp.hold(core.Outcome{Phase: core.PhaseBefore, Attempt: 1, URL: raw.URL, Context: raw.Context()}, nil)
	pe.held = tmp.held
	return err
}

// sawGuard reports whether the body guard saw st's last attempt, that is,
// whether it is still the client's pre-request hook (a hook set after
// Apply, or on a clone, replaces it).
func (in *installation) sawGuard(st *reqState) bool {
	if st.guardSeen {
		return true
	}
	_, ok := in.guarded.LoadAndDelete(st.req.RawRequest)
	return ok
}
