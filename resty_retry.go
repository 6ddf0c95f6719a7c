package restyretry

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
)

// The resty glue.
//
// One logical request is one call of resty's Request.Execute. resty runs
// its retry loop inside it and calls back into the installation:
//
//	beforeRequest  before every attempt: resolve the serving installation,
//	               quiet resty's retry log; before the first, hold it
//	               (Pace) and add an Idempotency-Key
//	guardBody      just before a retry is sent: replay or refuse its body
//	condition      after every attempt: build the outcome, decide (the pure
//	               core, decide.go), and on a Retry check the body and pay
//	               the budget
//	retryAfter     after a true: commit the decision (the wait, or the
//	               give-up error), prepare the body replay, discard the
//	               retried response's body
//	finish         when Execute ends (resty's success, error and panic
//	               hooks): refund an unused payment, end the state
//
// A request's state exists only while Execute runs (state.go), so nothing
// of the library is reachable from resp.Request.Context() afterwards.

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
	pp := p.normalized()
	in := adopt(c, true)
	in.budget.Store(newBudgets(pp.Budget))
	in.policy.Store(&pp)
	return c
}

// TestMode switches the policy applied on c, and every per-request policy
// used with it, to test mode (see Policy.TestMode): waits are skipped and, if
// maxRetries ≥ 0, retries are capped at maxRetries. It does nothing to a
// client that has no policy applied. Use it in tests of code that builds
// its own client.
func TestMode(c *resty.Client, maxRetries int) *resty.Client {
	if in := adopt(c, false); in != nil {
		in.instant.Store(true)
		in.retryCap.Store(int64(maxRetries))
	}
	return c
}

// Observe adds observe to the observers of the policy applied on c: it
// receives every Event of every request made with c, under the client's
// policy or a per-request one, after the policy's own OnDecision. It is kept
// when the policy is applied again. It does nothing to a client that has no
// policy applied. It is meant for instrumentation packages; observe must be
// safe for concurrent use.
func Observe(c *resty.Client, observe func(Event)) *resty.Client {
	in := adopt(c, false)
	if in == nil || observe == nil {
		return c
	}
	for {
		old := in.observers.Load()
		var list []func(Event)
		if old != nil {
			list = append(list, *old...)
		}
		list = append(list, observe)
		if in.observers.CompareAndSwap(old, &list) {
			return c
		}
	}
}

// ResendCount returns how many times the attempt in flight under ctx has
// been sent before: 0 for a first attempt, n for the nth retry. ctx is the
// context of the *http.Request a transport receives from an applied client.
// It is meant for instrumentation (the http.request.resend_count attribute
// of OpenTelemetry's HTTP conventions); outside a request of an applied
// client it returns 0.
//
// A request made from inside a hook of another, with that request's
// context, counts its own attempts, not the other's.
func ResendCount(ctx context.Context) int {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	if st == nil {
		return 0
	}
	return max(st.attempt()-1, 0)
}

// installation is the state Apply leaves on one client.
type installation struct {
	client    *resty.Client
	policy    atomic.Pointer[Policy]
	budget    atomic.Pointer[budgets]
	observers atomic.Pointer[[]func(Event)]
	instant   atomic.Bool  // TestMode: skip waits
	retryCap  atomic.Int64 // TestMode: cap on MaxRetries, −1 for none
	quiet     atomic.Pointer[quietLogger]
	pacer     *pacer       // Policy.Pace: per host, until when the quota is spent
	inflight  sync.Map     // *resty.Request → *requestState while Execute runs
	inflightN atomic.Int64 // entries in inflight
}

// adopt returns c's own installation, creating it when create is set or c
// inherited one through Clone. It returns nil when c has none and create is
// not set.
func adopt(c *resty.Client, create bool) *installation {
	own, inherited := find(c)
	if own != nil {
		return own
	}
	if inherited == nil && !create {
		return nil
	}
	in := &installation{client: c, pacer: newPacer()}
	in.retryCap.Store(-1)
	if inherited != nil {
		// A clone until now served by its original: it takes a copy.
		p := inherited.policy.Load()
		in.policy.Store(p)
		in.budget.Store(newBudgets(p.Budget))
		in.instant.Store(inherited.instant.Load())
		in.retryCap.Store(inherited.retryCap.Load())
		in.observers.Store(inherited.observers.Load())
	}
	conds := make([]resty.RetryConditionFunc, 0, len(c.RetryConditions)+1)
	for _, f := range c.RetryConditions {
		if !isCondition(f) {
			conds = append(conds, f)
		}
	}
	c.RetryConditions = append(conds, in.condition)
	if inherited == nil {
		// A clone keeps its original's hooks, which serve it through
		// resolve; adding more would write into slices it shares.
		c.OnBeforeRequest(in.beforeRequest)
		c.OnSuccess(in.onSuccess)
		c.OnError(in.onError)
		c.OnPanic(in.onError)
	}
	if hook, ok := preRequestHook(c); ok && hook.IsNil() {
		c.SetPreRequestHook(in.guardBody)
	}
	// A clone inherits these; writing them again while its requests run
	// would race with resty reading them.
	if c.RetryAfter == nil || reflect.ValueOf(c.RetryAfter).Pointer() != retryAfterCode {
		c.SetRetryAfter(in.retryAfter)
	}
	if c.RetryCount != loopCeiling || c.RetryWaitTime != 0 || c.RetryMaxWaitTime != maxDuration {
		c.SetRetryCount(loopCeiling)
		c.SetRetryWaitTime(0)
		c.SetRetryMaxWaitTime(maxDuration)
	}
	return in
}

// probe finds the installation behind a retry condition: the condition
// recognises it and writes its installation into it.
type probe struct{ in *installation }

func (*probe) Error() string { return "restyretry: probe" }

// Code pointers of the installation's methods as method values, the form
// in which they are registered with resty.
// They are set once, by init (as variable initialisers they would refer to
// themselves through the methods), and never change.
var conditionCode, guardCode, retryAfterCode uintptr

func init() {
	var in installation
	conditionCode = reflect.ValueOf(in.condition).Pointer()
	guardCode = reflect.ValueOf(in.guardBody).Pointer()
	retryAfterCode = reflect.ValueOf(in.retryAfter).Pointer()
}

func isCondition(f resty.RetryConditionFunc) bool {
	return f != nil && reflect.ValueOf(f).Pointer() == conditionCode
}

// find returns c's own installation and the first one c's retry conditions
// name (a clone's are its original's until it is adopted).
func find(c *resty.Client) (own, first *installation) {
	for _, f := range c.RetryConditions {
		if !isCondition(f) {
			continue
		}
		var pr probe
		f(nil, &pr)
		if pr.in == nil {
			continue
		}
		if first == nil {
			first = pr.in
		}
		if pr.in.client == c {
			return pr.in, first
		}
	}
	return nil, first
}

// resolve returns the installation that serves requests of c: in for its
// own client, else the one c's conditions name (a clone's own, once it has
// one).
func (in *installation) resolve(c *resty.Client) *installation {
	if c == nil || c == in.client {
		return in
	}
	if _, first := find(c); first != nil {
		return first
	}
	return in
}

// maxRetries is p.MaxRetries under the client's test-mode cap.
func (in *installation) maxRetries(p *Policy) int {
	if c := in.retryCap.Load(); c >= 0 && int64(p.MaxRetries) > c {
		return int(c)
	}
	return p.MaxRetries
}

func (in *installation) instantFor(p *Policy) bool {
	return p.instant || in.instant.Load()
}

type (
	policyKey struct{}
	stateKey  struct{}
)

// policyFor returns the policy for a request: the one fixed in its state
// st, else the one its context carries (WithPolicy), else the client's.
func (in *installation) policyFor(r *resty.Request, st *requestState) *Policy {
	if st != nil {
		return st.policy
	}
	if p, ok := r.Context().Value(policyKey{}).(*Policy); ok {
		return p
	}
	return in.policy.Load()
}

// beforeRequest runs before every attempt. The first attempt of a request
// gets its state at once when the policy has a MaxElapsed (whose deadline
// bounds the attempt) or when it is a POST or PATCH that needs an
// Idempotency-Key.
func (in *installation) beforeRequest(c *resty.Client, r *resty.Request) error {
	in = in.resolve(c)
	in.quietLog(r)
	st, foreign := in.stateOrForeign(r)
	if st != nil {
		// A refusal stands for the whole Execute: resty asks again only
		// when a retry condition of the user's says true to any error.
		return st.refusal
	}
	if foreign {
		r.SetContext(hideState{r.Context()}) // another request's context
	}
	p := in.policyFor(r, nil)
	needKey := p.AddIdempotencyKey && (r.Method == http.MethodPost || r.Method == http.MethodPatch) &&
		r.Header.Get(idempotencyKeyHeader) == "" && c.Header.Get(idempotencyKeyHeader) == ""
	if !needKey && p.MaxElapsed <= 0 && !p.Pace {
		return nil
	}
	st = in.newState(r, p, time.Now())
	if p.Pace {
		if u, ok := targetURL(c, r); ok {
			st.host = keyOf(u)
			event := func() *resty.Request { // about the URL resty will send to
				return (&resty.Request{Method: r.Method, URL: u.String()}).SetContext(st.parent)
			}
			if err := in.pace(st, event); err != nil {
				return err
			}
		}
	}
	if needKey {
		st.autoKey = rand.Text()
		r.Header.Set(idempotencyKeyHeader, st.autoKey)
	}
	return nil
}

// condition is the one resty retry condition. It decides every outcome:
// false ends the request as it is; true hands over to retryAfter, which
// sleeps or returns the give-up error.
func (in *installation) condition(resp *resty.Response, err error) bool {
	if pr, ok := err.(*probe); ok && resp == nil {
		pr.in = in
		return false
	}
	if resp == nil || resp.Request == nil {
		return false // raised before sending: never retried, never reported
	}
	r := resp.Request
	st := in.stateOf(r)
	if st != nil {
		st.paid = false // the retry paid for was sent: it is settled below
	}
	p := in.policyFor(r, st)
	attempt := st.attempt()
	o := in.outcomeOf(p, resp, err, st, attempt)
	p.runConditions(&o, resp, err)
	wall := time.Now()
	now := st.now(wall)
	if p.Pace && o.header != nil {
		in.noteQuota(r, &o, wall) // the host's instant is the world's, not test mode's
	}
	d := decide(p, &o, now, p.random())
	if d.verdict != Retry && d.reason == nil {
		if o.failure == noFailure && o.status != 0 && o.status < 500 && o.status != http.StatusTooManyRequests {
			// The server answered: a success deposits, and a retry
			// that succeeded is given back.
			b, k := in.budget.Load(), hostOf(r)
			b.onOutcome(k, wall, true)
			if attempt > 1 {
				b.refund(k, wall)
			}
		}
		in.emit(p, st, resp, err, d, attempt)
		return false
	}
	if st == nil {
		st = in.newState(r, p, o.start)
	}
	if d.verdict == Retry {
		d = in.admit(d, r, st)
	}
	if d.reason != nil && err != nil {
		// resty returns a transport error as it is, not retryAfter's
		// error: carry the give-up inside it when it can.
		gu := in.emit(p, st, resp, err, d, attempt)
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.Err = gu
		}
		return false
	}
	st.next, st.nextErr, st.nextAttempt = d, err, r.Attempt
	return true
}

// outcomeOf builds the outcome of the attempt that produced resp and err.
func (in *installation) outcomeOf(p *Policy, resp *resty.Response, err error, st *requestState, attempt int) outcome {
	r := resp.Request
	ctx := st.callerContext(r)
	o := outcome{method: r.Method, reqHeader: r.Header, sent: true, canceled: ctx.Err() != nil,
		attempt: attempt, maxRetries: in.maxRetries(p), start: r.Time}
	if st != nil {
		o.start = st.start
	}
	if dl, ok := ctx.Deadline(); ok {
		o.deadline = dl
	}
	raw := resp.RawResponse
	if raw != nil {
		o.status, o.header = raw.StatusCode, raw.Header
		o.redirected = raw.Request != nil && raw.Request.Method != r.Method
	}
	if err != nil {
		o.failure = failureOf(err, raw != nil)
		if raw == nil && redirectedBefore(err, r) {
			o.redirected = true
		}
	}
	return o
}

// failureOf classifies an attempt's error (see errClass). An error not
// recognised counts as one that may have been applied when no response
// arrived (a transport error); when a response arrived, it came from
// middleware (an OnAfterResponse hook that turns statuses into errors, a
// parse error) or a refused redirect, and the status rules decide.
func failureOf(err error, withResponse bool) failure {
	switch classify(err) {
	case errPermanent:
		return failedPermanent
	case errNotSent:
		return failedNotSent
	case errMaybeSent:
		return failedMaybeSent
	}
	if withResponse {
		return noFailure
	}
	return failedMaybeSent
}

// redirectedBefore reports whether a transport error happened after a
// redirect: net/http's *url.Error then names the redirect's target, not
// the URL the request was sent to. The original may then have been
// applied, whatever the error says about the target. (A redirect to the
// same URL cannot be told apart; see the README's limits.)
func redirectedBefore(err error, r *resty.Request) bool {
	ue, ok := errors.AsType[*url.Error](err)
	if !ok || r.RawRequest == nil || r.RawRequest.URL == nil {
		return false
	}
	return ue.URL != stripPassword(r.RawRequest.URL)
}

// stripPassword writes u as net/http writes it into a *url.Error: with
// "***" for a password.
func stripPassword(u *url.URL) string {
	if _, has := u.User.Password(); has {
		return strings.Replace(u.String(), u.User.String()+"@", u.User.Username()+":***@", 1)
	}
	return u.String()
}

// runConditions records the first custom condition's Retry or Stop.
func (p *Policy) runConditions(o *outcome, resp *resty.Response, err error) {
	if !o.sent || o.canceled {
		return
	}
	for i, c := range p.conditions {
		if v := c(resp, err); v == Retry || v == Stop {
			o.custom, o.cond = v, i+1
			return
		}
	}
}

// admit completes a Retry with the checks outside the core: the body must
// be replayable and the budget must pay for the retry.
func (in *installation) admit(d decision, r *resty.Request, st *requestState) decision {
	switch {
	case !replayable(r):
		d.verdict, d.reason = Stop, ErrBodyNotReplayable
	case !in.budget.Load().withdraw(hostOf(r), time.Now()):
		d.verdict, d.reason = Stop, ErrBudgetExhausted
	default:
		st.paid = true
	}
	return d
}

// retryAfter is resty's RetryAfter: it is called after a condition said
// true, and returns the wait or the give-up error. It never returns 0,
// which resty reads as "use your own backoff".
func (in *installation) retryAfter(c *resty.Client, resp *resty.Response) (time.Duration, error) {
	in = in.resolve(c)
	r := resp.Request
	st := in.stateOf(r)
	var d decision
	var err error
	if st != nil && st.nextAttempt == r.Attempt {
		d, err = st.next, st.nextErr
		st.nextAttempt, st.nextErr = 0, nil
	} else {
		// Another condition said true before ours was asked, or over our
		// Stop. The limits still hold.
		p := in.policyFor(r, st)
		if st == nil {
			st = in.newState(r, p, r.Time)
		}
		o := in.outcomeOf(p, resp, nil, st, st.attempt())
		if o.attempt > o.maxRetries {
			d = decision{verdict: Stop, rule: RuleMaxRetries, reason: ErrRetriesExhausted}
		} else {
			d = p.schedule(decision{verdict: Retry, rule: RuleCondition}, &o, st.now(time.Now()), p.random())
		}
		if d.verdict == Retry {
			d = in.admit(d, r, st)
		}
	}
	if d.reason == nil {
		st.attempts, st.lastResp = st.attempt(), resp
		if err := prepareReplay(r, st); err != nil {
			d.verdict, d.reason = Stop, ErrBodyNotReplayable
		}
	}
	gu := in.emit(st.policy, st, resp, err, d, st.attempt())
	if gu != nil {
		return 0, gu
	}
	discard(resp)
	if in.instantFor(st.policy) {
		st.skewed += d.wait
		return time.Nanosecond, nil
	}
	return max(d.wait, time.Nanosecond), nil
}

// pace holds the first attempt of st's request to its host while the
// server has said that the client's quota there is spent (see
// Policy.Pace). When a hold ends it looks again: requests released just
// before may have been refused and pushed the instant later. The instant
// must fit in MaxRetryAfter, all rounds together (st.held), and the spread
// is capped by it, as for a server wait before a retry; a hold that would
// pass the context's deadline or MaxElapsed fails at once, without sending;
// the caller's cancellation ends it. Every round is reported as an Event
// with RulePace and Attempt 0, about the request req returns, and a
// give-up stands as the request's refusal. It runs in beforeRequest and,
// just before the request is sent, once more in the body guard.
func (in *installation) pace(st *requestState, req func() *resty.Request) error {
	p, sc := st.policy, st.sc
	for {
		now := time.Now()
		bare := in.pacer.hold(st.host, now, 0) // until the instant, without the spread
		if bare <= 0 {
			return nil
		}
		wait := min(in.pacer.hold(st.host, now, p.random()), max(p.MaxRetryAfter-st.held, bare))
		d := decision{verdict: Retry, rule: RulePace, wait: wait, source: SourcePace}
		end := now.Add(wait)
		if dl, has := st.parent.Deadline(); st.held+bare > p.MaxRetryAfter {
			d.verdict, d.wait, d.reason = Stop, bare, ErrWaitTooLong
		} else if has && !end.Before(dl) {
			d.verdict, d.reason = Stop, ErrDeadline
		} else if sc.bounded && end.After(sc.deadline) {
			d.verdict, d.reason = Stop, ErrTimeLimit
		}
		if gu := in.emit(p, st, &resty.Response{Request: req()}, nil, d, 0); gu != nil {
			st.refusal = gu
			return gu
		}
		if in.instantFor(p) {
			st.held += wait
			return nil // test mode: the hold is skipped, once
		}
		if err := sleep(sc, wait); err != nil {
			return heldError{err}
		}
		st.held += wait
	}
}

// sleep waits for d or until ctx ends, whose error it then returns.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// heldError is the caller's cancellation of a request held by Pace, which
// was never sent: onError reports it as attempt 0.
type heldError struct{ err error }

func (e heldError) Error() string { return e.err.Error() }
func (e heldError) Unwrap() error { return e.err }

// noteQuota records, for Policy.Pace, until when a response says the
// client's quota at its host is spent: a 429 or 503 with a usable hint, or
// rate-limit headers with nothing remaining, on any status.
func (in *installation) noteQuota(r *resty.Request, o *outcome, now time.Time) {
	var wait time.Duration
	ok := false
	if o.status == http.StatusTooManyRequests || o.status == http.StatusServiceUnavailable {
		wait, _, ok = serverHint(o.header, o.status, now)
	}
	if !ok {
		wait, _, ok = rateLimitReset(o.header, o.status, now)
	}
	if ok && wait > 0 {
		in.pacer.block(hostOf(r), now.Add(wait))
	}
}

// targetURL is the URL a request is about to be sent to, before resty has
// built it: its URL if absolute, else resolved against the client's base
// URL.
func targetURL(c *resty.Client, r *resty.Request) (*url.URL, bool) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, false
	}
	if u.Host == "" {
		base, err := url.Parse(c.BaseURL)
		if err != nil || base.Host == "" {
			return nil, false
		}
		u = base.ResolveReference(u)
	}
	return u, true
}

// discard drains (up to discardLimit) and closes the body of a response that
// is retried, so that its connection can be reused and nothing is left
// open when the caller streams responses (SetDoNotParseResponse). A body
// resty read already is closed, and closing it again does nothing.
func discard(resp *resty.Response) {
	if raw := resp.RawResponse; raw != nil && raw.Body != nil {
		_, _ = io.CopyN(io.Discard, raw.Body, discardLimit)
		_ = raw.Body.Close()
	}
}

// discardLimit bounds the bytes read from a retried response's body to
// reuse its connection; a longer body costs a new connection instead.
const discardLimit = 64 << 10

func (in *installation) onSuccess(c *resty.Client, resp *resty.Response) {
	in = in.resolve(c)
	in.finish(resp.Request, in.stateOf(resp.Request), resp)
}

// onError runs when Execute ends with an error (and, registered as resty's
// panic hook, when it panics). resty's loop stops without asking the
// condition when the request's context is done, so this reports those
// ends: the MaxElapsed deadline ending an attempt in flight is a give-up
// (ErrTimeLimit, placed inside the *url.Error), and the caller's own
// context ending it is "canceled".
func (in *installation) onError(r *resty.Request, err error) {
	st := in.stateOf(r)
	if st != nil {
		in = st.in
	} else {
		in = in.resolve(requestClient(r))
	}
	var resp *resty.Response
	if re, ok := errors.AsType[*resty.ResponseError](err); ok {
		resp = re.Response
	}
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		at := resp
		if at == nil {
			at = &resty.Response{Request: r}
		}
		d := decision{verdict: Stop, rule: RuleCanceled}
		if st != nil && st.sc.expired() && st.parent.Err() == nil {
			d.rule, d.reason = RuleMaxElapsed, ErrTimeLimit
		}
		attempt := st.attempt()
		if _, held := errors.AsType[heldError](err); held {
			attempt = 0
		}
		gu := in.emit(in.policyFor(r, st), st, at, err, d, attempt)
		if ue, ok := errors.AsType[*url.Error](err); ok && gu != nil {
			ue.Err = gu
		}
	}
	in.finish(r, st, resp)
}

// finish ends an Execute: it returns the budget token of a retry that was
// paid for but not sent, removes the Idempotency-Key it added, ends the
// state (see stateCtx) and puts back the caller's logger and, unless a hook
// has wrapped it since, the caller's context. A request executed again
// starts afresh.
func (in *installation) finish(r *resty.Request, st *requestState, resp *resty.Response) {
	if l, ok := requestLogger(r); ok {
		if q, ours := l.(*quietLogger); ours {
			r.SetLogger(q.inner)
		}
	}
	if st == nil {
		if h, ok := r.Context().(hideState); ok {
			r.SetContext(h.Context)
		}
		return
	}
	in.inflight.Delete(r)
	in.inflightN.Add(-1)
	if st.paid {
		st.in.budget.Load().refund(hostOf(r), time.Now())
		st.paid = false
	}
	if st.autoKey != "" && r.Header.Get(idempotencyKeyHeader) == st.autoKey {
		r.Header.Del(idempotencyKeyHeader)
	}
	stream := streamed(r)
	if stream && st.sc.live() && resp != nil && resp.RawResponse != nil && resp.RawResponse.Body != nil {
		// The caller reads this body: closing it ends the deadline.
		resp.RawResponse.Body = &disarmOnClose{ReadCloser: resp.RawResponse.Body, sc: st.sc}
	}
	st.sc.finish(stream)
	st.release()
	switch ctx := r.Context().(type) {
	case *stateCtx:
		if ctx == st.sc {
			r.SetContext(st.parent)
		}
	case hideState:
		r.SetContext(ctx.Context)
	}
}

// hostOf is the key of the host r is sent to.
func hostOf(r *resty.Request) hostKey {
	if r.RawRequest == nil {
		return hostKey{}
	}
	return keyOf(r.RawRequest.URL)
}

func statusOf(resp *resty.Response) int {
	if resp == nil || resp.RawResponse == nil {
		return 0
	}
	return resp.StatusCode()
}
