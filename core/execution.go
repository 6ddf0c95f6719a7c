package core

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Execution is the state of one request, from its first attempt until the
// HTTP client returns it: every decision about the request is made here,
// through Next, and only here.
//
// An adapter reports each point of the request's life as an Outcome and
// applies the Decision it gets back; it decides nothing itself:
//
//	PhaseBefore     before every attempt: a refusal stands; before the
//	                first, a Pace hold and an Idempotency-Key
//	PhaseSending    the last look before the network: a retry whose body
//	                changed is refused; a first attempt looks at Pace again
//	                (optional: an HTTP client with no hook between building
//	                a request and sending it skips it)
//	PhaseFinished   an attempt ended with a status or an error: retry after
//	                a wait, or stop (maybe giving up with a reason)
//	PhaseOverruled  a retry condition of the caller's asked for a retry the
//	                policy did not: the limits still hold
//	PhaseEnded      the client returned the request: a retry paid for but
//	                not sent is refunded, a context end is reported
//
// Time comes from the Client's Clock; in test mode every wait is skipped
// and a virtual clock, private to the execution, advances by the skipped
// waits, so deadlines and MaxElapsed give up at the same attempt as in
// production. Per-host state (budgets, Pace) keeps the Client's clock.
//
// An Execution is used by one goroutine at a time, as the HTTP client's
// own loop calls its callbacks in sequence.
type Execution struct {
	c          *Client
	p          *Policy
	ctx        context.Context // the caller's
	bound      context.Context // ctx, ended at MaxElapsed when there is one
	cancel     context.CancelFunc
	method     string
	header     http.Header
	defaultKey bool
	start      time.Time
	instant    bool          // test mode
	skipped    time.Duration // test mode: the waits skipped so far
	maxRetries int

	bud        budgetTicket // what the request holds of the retry budget
	held       time.Duration
	slot       time.Time // Pace: the slot the first attempt reserved
	probe      bool      // Pace: the first attempt is its host's probe through a long block
	refusal    error     // a give-up raised before sending: it stands
	key        string
	lastResp   any // the response of the last attempt retried
	lastStatus int // its status
	retried    int // attempts finished when the last retry was decided
	started    bool
}

// Phase says which point of a request an Outcome reports.
type Phase uint8

// The phases, in the order a request meets them; see Execution.
const (
	PhaseBefore    Phase = iota // before every attempt
	PhaseSending                // the last look before the network (optional)
	PhaseFinished               // an attempt ended with a status or an error
	PhaseOverruled              // a caller's condition asked for a retry the policy did not
	PhaseEnded                  // the HTTP client returned the request
)

// Outcome is what an adapter reports of one point of a request: its Phase,
// the attempt, where it went, and the facts only the adapter can see
// (whether the body can be replayed, was cut short or changed, whether a
// redirect changed the method). It carries no judgement: the adapter never
// classifies a status or an error itself, Next does. Fields a phase does
// not use are ignored.
type Outcome struct {
	// Phase is the point of the request this outcome reports.
	Phase Phase
	// Attempt is the 1-based attempt this outcome is about: the one about
	// to be sent (PhaseBefore, PhaseSending), just finished, or in flight
	// when the request ended; 0 at PhaseEnded when the last attempt was
	// never sent (a hold that was cancelled).
	Attempt int
	// URL is where the attempt goes (PhaseBefore, PhaseSending) or the URL
	// that answered or failed, after redirects (PhaseFinished): per-host
	// state is charged to its host.
	URL *url.URL
	// Status and Header are the final response's, zero without one.
	Status int
	Header http.Header
	// Err is the attempt's error (transport, body read, middleware), or at
	// PhaseEnded the error the request ends with.
	Err error
	// NotSent: the error was raised before the request was sent.
	NotSent bool
	// Redirected: a redirect changed the method (a POST followed by a GET
	// after 301, 302 or 303), so the server applied the original.
	Redirected bool
	// Replayable: the next attempt can carry the body this one sent.
	Replayable bool
	// Truncated: a response with a status arrived but its body ended
	// before its framing said (Content-Length, chunked): Err is the read
	// error. Any other error beside a status came from decoding or
	// middleware, and the status rules decide alone.
	Truncated bool
	// BodyChanged (PhaseSending of a retry): the body about to be sent
	// differs from the first attempt's, or cannot be read back.
	BodyChanged bool
	// Response is the adapter's own response, for conditions and
	// GiveUpError.Response.
	Response any
	// Context is the request's context as the adapter sees it now: the
	// caller's, with the values the client's hooks added since. Events
	// carry it (Event.Context); nil means the caller's.
	Context context.Context
}

// Action is what a Decision asks the adapter to do.
type Action uint8

// The actions.
const (
	ActionSend  Action = iota // go on: send the attempt, or end as it is
	ActionHold                // wait Decision.Wait with Sleep, then report PhaseBefore again
	ActionRetry               // retry after Decision.Wait
	ActionStop                // stop: Decision.Err is the give-up, or nil for a plain stop
)

// Decision is the one answer to an Outcome: the adapter applies it as it
// is (send, hold, retry after Wait, or stop with Err) and adds no judgement
// of its own. The budget has already been paid or refunded, the events
// reported, and the give-up error built, when Next returns it.
type Decision struct {
	// Action is what to do.
	Action Action
	// Wait is how long to wait before going on (ActionHold, ActionRetry):
	// 0 in test mode, where the wait is skipped.
	Wait time.Duration
	// Err is the error to end the request with (ActionStop; at PhaseBefore
	// and PhaseSending an ActionStop always has one). It wraps ErrGaveUp.
	Err error
	// Key, at the first PhaseBefore, is an Idempotency-Key to add to the
	// request.
	Key string
}

var (
	send = Decision{Action: ActionSend}
	stop = Decision{Action: ActionStop}
)

// Context is the context the request's attempts should carry: the
// caller's, ended at MaxElapsed when the policy has one (the attempt in
// flight is then ended too). Its cause is ErrTimeLimit.
func (e *Execution) Context() context.Context { return e.bound }

// Parent is the caller's context.
func (e *Execution) Parent() context.Context { return e.ctx }

// Key is the Idempotency-Key the execution added, "" if none.
func (e *Execution) Key() string { return e.key }

// Policy is the execution's policy.
func (e *Execution) Policy() *Policy { return e.p }

// Sleep waits d on the client's clock, ended by the execution's context.
func (e *Execution) Sleep(d time.Duration) error { return e.c.clock.Sleep(e.bound, d) }

// Close releases the MaxElapsed timer: call it once nothing of the request
// is read any more (at its end, or when a streamed body is closed).
func (e *Execution) Close() {
	if e.cancel != nil {
		e.cancel()
	}
}

// Release closes e and hands it back for reuse by a later Start. Call it
// only when nothing holds e any more (it was never handed to a context or
// a response), as for a request decided at its first attempt.
func (e *Execution) Release() {
	e.Close()
	*e = Execution{}
	executions.Put(e)
}

// now is the decisions' clock: the client's, plus in test mode the waits
// skipped so far.
func (e *Execution) now() time.Time { return e.c.clock.Now().Add(e.skipped) }

// Next takes the outcome of one point of the request and returns the one
// decision about it.
func (e *Execution) Next(o Outcome) Decision {
	switch o.Phase {
	case PhaseBefore:
		return e.before(&o)
	case PhaseSending:
		return e.sending(&o)
	case PhaseFinished:
		return e.finished(&o)
	case PhaseOverruled:
		return e.overruled(&o)
	case PhaseEnded:
		return e.ended(&o)
	}
	return stop
}

func (e *Execution) before(o *Outcome) Decision {
	if e.refusal != nil {
		// A refusal stands for the whole request: the HTTP client asks
		// again only when a condition of the caller's retries any error.
		return Decision{Action: ActionStop, Err: e.refusal}
	}
	if o.Attempt > 1 || e.started && o.Attempt == 0 {
		return send
	}
	d := send
	if !e.started {
		e.started = true
		if e.p.AddsKey(e.method) && !e.defaultKey && firstValue(e.header, IdempotencyKeyHeader) == "" {
			e.key = newKey()
			d.Key = e.key
		}
	}
	if e.p.Pace {
		if h := e.pace(o); h.Action != ActionSend {
			h.Key = d.Key
			return h
		}
	}
	return d
}

func (e *Execution) sending(o *Outcome) Decision {
	if e.refusal != nil {
		return Decision{Action: ActionStop, Err: e.refusal}
	}
	if o.Attempt <= 1 {
		// The last look at the host's hold, as close to sending as the
		// client lets (test mode skipped the hold already).
		if e.p.Pace && !e.instant {
			return e.pace(o)
		}
		return send
	}
	if !o.BodyChanged {
		return send
	}
	e.refund()
	o.Response, o.Status = e.lastResp, e.lastStatus // this attempt has no response of its own
	gu := e.emit(o, decision{verdict: Stop, rule: RuleBody, reason: ErrBodyNotReplayable}, e.retried)
	e.refusal = gu
	return Decision{Action: ActionStop, Err: gu}
}

func (e *Execution) finished(o *Outcome) Decision {
	p := e.p
	if o.NotSent {
		return stop // raised before sending: never retried, never reported (a paid retry is refunded at the end)
	}
	e.bud.sent() // the retry paid for was sent: it is settled below
	oc := e.outcomeOf(o)
	if !oc.canceled {
		r := Result{Attempt: o.Attempt, Method: e.method, Status: o.Status, Header: o.Header, Err: o.Err,
			Response: o.Response}
		for i, c := range p.conditions {
			if v := c(r); v == Retry || v == Stop {
				oc.custom, oc.cond = v, i+1
				break
			}
		}
	}
	wall := e.c.clock.Now()
	var host hostKey // Pace's key, computed only when Pace has something to note or a retry to place
	probe := e.probe && o.Attempt == 1
	if p.Pace && o.Header != nil && (p.AdaptivePace || probe || mayNote(o.Header)) {
		host = keyOf(o.URL)
		// the host's instant is the world's, not test mode's
		e.c.pacer.noteQuota(host, &oc, wall, p, probe)
	}
	d := decide(p, &oc, wall.Add(e.skipped), p.random())
	if p.Pace && d.verdict == Retry && !e.instant {
		if host == (hostKey{}) {
			host = keyOf(o.URL)
		}
		d = e.paceRetry(host, d, &oc, wall)
	}
	if d.verdict != Retry && d.reason == nil {
		// The server answered: a success deposits, and a retry that
		// succeeded is given back.
		ok := oc.failure == noFailure && o.Status != 0 && o.Status < 500 && o.Status != http.StatusTooManyRequests
		e.c.budget.Load().settle(&e.bud, o.URL, wall, o.Attempt, ok)
		e.emit(o, d, o.Attempt)
		return stop
	}
	return e.commit(o, d, wall)
}

// commit completes a Retry with the limits outside the rules (the body must
// be replayable, the budget must pay) and reports the decision.
func (e *Execution) commit(o *Outcome, d decision, wall time.Time) Decision {
	if d.verdict == Retry {
		switch {
		case !o.Replayable:
			d.verdict, d.reason = Stop, ErrBodyNotReplayable
		case !e.c.budget.Load().withdraw(&e.bud, o.URL, wall, o.Attempt, e.p, e.start):
			d.verdict, d.reason = Stop, ErrBudgetExhausted
		}
	}
	if d.verdict != Retry {
		e.c.budget.Load().settle(&e.bud, o.URL, wall, o.Attempt, false)
	} else if d.source != SourceBackoff {
		// A wait the server named (Retry-After, a Pace slot): it grows the
		// episode's tolerance by what it adds to the policy's own backoff.
		e.c.budget.Load().waited(&e.bud, wall, e.p, o.Attempt, d.wait)
	}
	if gu := e.emit(o, d, o.Attempt); gu != nil {
		return Decision{Action: ActionStop, Err: gu}
	}
	e.retried, e.lastResp, e.lastStatus = o.Attempt, o.Response, o.Status
	wait := d.wait
	if e.instant {
		e.skipped = satAdd(e.skipped, wait)
		wait = 0
	}
	return Decision{Action: ActionRetry, Wait: wait}
}

func (e *Execution) overruled(o *Outcome) Decision {
	oc := e.outcomeOf(o)
	var d decision
	if o.Attempt > e.maxRetries {
		d = decision{verdict: Stop, rule: RuleMaxRetries, reason: ErrRetriesExhausted}
	} else {
		d = e.p.schedule(decision{verdict: Retry, rule: RuleCondition}, &oc, e.now(), e.p.random())
	}
	return e.commit(o, d, e.c.clock.Now())
}

func (e *Execution) ended(o *Outcome) Decision {
	e.refund()
	if o.Err == nil || !isContextEnd(o.Err) {
		return stop
	}
	expired := e.cancel != nil && context.Cause(e.bound) == errElapsed && e.ctx.Err() == nil
	if !expired && e.ctx.Err() == nil {
		return stop // a context of somebody else's
	}
	d := decision{verdict: Stop, rule: RuleCanceled}
	if expired {
		d.rule, d.reason = RuleMaxElapsed, ErrTimeLimit
	}
	o.Response, o.Status, o.Header = nil, 0, nil
	if gu := e.emit(o, d, o.Attempt); gu != nil {
		return Decision{Action: ActionStop, Err: gu}
	}
	return stop
}

// refund gives back a retry paid for and not sent, and what the request
// reserved of the budget.
func (e *Execution) refund() {
	e.c.budget.Load().refund(&e.bud, e.c.clock.Now())
}

// outcomeOf is the rules' view of o.
func (e *Execution) outcomeOf(o *Outcome) outcome {
	oc := outcome{method: e.method, reqHeader: e.header, sent: !o.NotSent, canceled: e.ctx.Err() != nil,
		status: o.Status, header: o.Header, redirected: o.Redirected, attempt: o.Attempt,
		maxRetries: e.maxRetries, start: e.start}
	if e.defaultKey || e.key != "" {
		oc.reqHeader = keyed // the key may live outside the header map the adapter gave
	}
	if dl, ok := e.ctx.Deadline(); ok {
		oc.deadline = dl
	}
	if o.Err != nil {
		oc.failure = failureOf(classify(o.Err, e.c.permanent...), o.Status, o.Truncated)
	}
	return oc
}

// keyed stands for the headers of a request whose client adds an
// Idempotency-Key.
var keyed = http.Header{IdempotencyKeyHeader: {"client"}}

// pace holds the first attempt while its host is paced (see Policy.Pace
// and pacer): its quota is spent, or its requests are spread over the
// time to a reset. The request reserves a slot at its first look and
// takes it at the next, unless a block arrived meanwhile. All holds
// together must fit in MaxRetryAfter, the spread is capped by it as for a
// server wait before a retry; a hold that would pass the context's
// deadline or MaxElapsed fails at once, without sending, and so does a
// block longer than what is left of MaxRetryAfter, except for the host's
// probe, which is sent. Every round is reported as an Event with RulePace
// and Attempt 0, and a give-up stands as the request's refusal. All the
// arithmetic saturates.
func (e *Execution) pace(o *Outcome) Decision {
	if e.probe {
		return send // the probe goes through the block it probes
	}
	p := e.p
	host := keyOf(o.URL)
	now := e.c.clock.Now()
	allow := max(p.MaxRetryAfter-e.held, 0)
	l := e.c.pacer.look(host, now, e.slot, allow, p.random())
	e.slot = l.slot
	if l.probe {
		e.probe = true
		return send
	}
	if l.wait <= 0 {
		return send
	}
	wait := min(l.wait, max(allow, l.bare))
	d := decision{verdict: Retry, rule: RulePace, wait: wait, source: SourcePace}
	if dl, has := e.ctx.Deadline(); l.bare > allow {
		d.verdict, d.wait, d.reason = Stop, l.bare, ErrWaitTooLong
	} else if end := now.Add(wait); has && !end.Before(dl) {
		d.verdict, d.reason = Stop, ErrDeadline
	} else if p.MaxElapsed > 0 && end.Sub(e.start) > p.MaxElapsed {
		d.verdict, d.reason = Stop, ErrTimeLimit
	}
	q := Outcome{URL: o.URL, Context: o.Context}
	if gu := e.emit(&q, d, 0); gu != nil {
		e.refusal = gu
		return Decision{Action: ActionStop, Err: gu}
	}
	e.held = satAdd(e.held, wait)
	if e.instant {
		return send // test mode: the hold is skipped, once
	}
	return Decision{Action: ActionHold, Wait: wait}
}

// paceRetry lengthens a retry's wait to its host's next slot when Pace
// spreads the host's requests or holds them (see pacer): the retry leaves
// then, not with the herd. A slot later than MaxRetryAfter (or the wait
// itself, if longer) gives up with ErrWaitTooLong; the deadline and
// MaxElapsed are checked again on the longer wait.
func (e *Execution) paceRetry(host hostKey, d decision, o *outcome, wall time.Time) decision {
	longest := max(e.p.MaxRetryAfter, d.wait)
	latest := wall.Add(longest)
	if !o.deadline.IsZero() && o.deadline.Before(latest) {
		latest = o.deadline
	}
	if e.p.MaxElapsed > 0 {
		if end := o.start.Add(e.p.MaxElapsed); end.Before(latest) {
			latest = end
		}
	}
	slot := e.c.pacer.reserve(host, wall, wall.Add(d.wait), latest)
	w := slot.Sub(wall)
	if w <= d.wait {
		return d
	}
	d.wait, d.source = w, SourcePace
	end := wall.Add(w)
	switch {
	case w > longest:
		d.verdict, d.reason = Stop, ErrWaitTooLong
	case !o.deadline.IsZero() && !end.Before(o.deadline):
		d.verdict, d.reason = Stop, ErrDeadline
	case e.p.MaxElapsed > 0 && end.Sub(o.start) > e.p.MaxElapsed:
		d.verdict, d.reason = Stop, ErrTimeLimit
	}
	return d
}

// emit is the one place that reports a decision: to the policy's
// OnDecision, to the client policy's (unless the request's policy replaces
// it), and to the client's observers. For a give-up it builds the
// *GiveUpError, returned whether or not anyone observes. Nothing else is
// built when there is no observer, so the success path stays free.
func (e *Execution) emit(o *Outcome, d decision, attempt int) *GiveUpError {
	cause := innerError(o.Err)
	var gu *GiveUpError
	if d.reason != nil {
		gu = &GiveUpError{Reason: d.reason, Attempt: attempt, Status: o.Status, Wait: d.wait, Err: cause,
			Response: o.Response}
	}
	own := e.p.OnDecision
	var client func(Event)
	if cp := e.c.policy.Load(); cp != e.p && !e.p.ReplaceOnDecision {
		client = cp.OnDecision
	}
	observers := e.c.observers.Load()
	if own == nil && client == nil && observers == nil {
		return gu
	}
	ctx := o.Context
	if ctx == nil {
		ctx = e.ctx
	}
	ev := Event{
		Context:   ctx,
		Attempt:   attempt,
		Method:    e.method,
		URL:       redact(o.URL),
		Status:    o.Status,
		Err:       cause,
		Verdict:   d.verdict,
		Rule:      d.rule,
		Condition: d.cond,
	}
	if d.verdict == Retry || d.reason != nil {
		ev.Wait, ev.WaitSource = d.wait, d.source
	}
	if e.p.Pace {
		ev.PaceRate = e.c.pacer.rate(keyOf(o.URL), e.c.clock.Now())
	}
	if gu != nil {
		quiet := *gu
		quiet.Response = nil
		ev.GiveUp = &quiet
	}
	for _, f := range [2]func(Event){own, client} {
		if f != nil {
			f(ev)
		}
	}
	if observers != nil {
		for _, f := range *observers {
			f(ev)
		}
	}
	return gu
}

// isContextEnd reports whether err is a context's end.
func isContextEnd(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// newKey returns a fresh random Idempotency-Key: 128 bits, base32.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}
