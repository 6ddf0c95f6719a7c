package core

import (
	"net/http"
	"time"
)

// The rules.
//
// decide is a pure function from what is known of one finished attempt (an
// outcome), the time and a random number to a decision: retry after a wait,
// or stop, perhaps giving up with a reason. It reads no clock and no random
// source, so its table test (decide_test.go) writes every expected result
// out. Execution.Next (execution.go) builds the outcome, calls decide, and
// completes the decision: the body check, the retry budget, the event and
// the error.

// Rule names the rule that gave a decision, reported in Event.Rule.
type Rule string

// The rules, in the order they are consulted (see the package doc).
const (
	RuleNotSent    Rule = "not-sent"    // raised before the request was sent: never retried
	RuleCanceled   Rule = "canceled"    // the caller's context is done
	RuleCondition  Rule = "condition"   // a custom Condition; Event.Condition says which
	RuleServer     Rule = "server"      // the server's explicit verdict (X-Should-Retry, Stripe-Should-Retry)
	RuleNetwork    Rule = "network"     // the transport error rules
	RuleSuccess    Rule = "success"     // a 1xx, 2xx or 3xx response
	RuleStatus     Rule = "status"      // the status rules
	RuleMethod     Rule = "method"      // the method (idempotency) rules
	RuleMaxRetries Rule = "max-retries" // MaxRetries reached
	RuleMaxElapsed Rule = "max-elapsed" // MaxElapsed ended the attempt in flight
	RuleBody       Rule = "body"        // the retry's body would differ from the first attempt's
	RulePace       Rule = "pace"        // a request held before its first attempt (Policy.Pace)
	RuleRetriesOff Rule = "retries-off" // a retryable outcome of a request whose policy allows no retry (WithoutRetry)
	RuleDegraded   Rule = "degraded"    // an adapter cannot read what it needs of its HTTP client; Event.Err says what
)

// SourceBackoff is Event.WaitSource when the wait is the policy's own
// jittered backoff rather than a server's hint (whose header name is used).
const SourceBackoff = "backoff"

// SourcePace is Event.WaitSource of a pacing hold (RulePace).
const SourcePace = "pace"

// failure says what an attempt's error means for a retry. The glue derives
// it from classify (errclass.go).
type failure int

const (
	noFailure       failure = iota // no error, or one the status rules override
	failedNotSent                  // certainly never reached the server
	failedMaybeSent                // may have been applied
	failedPermanent                // the same request would fail the same way
)

// outcome is what is known of one finished attempt of a logical request.
type outcome struct {
	method    string      // the logical request's method, as first sent
	reqHeader http.Header // its headers (Idempotency-Key)
	sent      bool        // false: the error was raised before sending
	canceled  bool        // the caller's context is done
	custom    Verdict     // the first custom condition's Retry or Stop, else Abstain
	cond      int         // that condition's 1-based index
	status    int         // the final response's status, 0 without one
	header    http.Header // the final response's headers, nil without one
	// redirected is true when a redirect changed the method (a POST
	// followed by a GET after 301, 302 or 303): the server accepted the
	// original, so the outcome judges the redirected request only.
	redirected bool
	failure    failure
	attempt    int       // 1 is the first attempt of this logical request
	maxRetries int       // the retries allowed (the policy's, under a test-mode cap)
	start      time.Time // when the first attempt started
	deadline   time.Time // the context's deadline, zero if none
}

// decision is what decide concludes about one attempt.
type decision struct {
	verdict Verdict // Retry or Stop
	rule    Rule
	cond    int           // with RuleCondition, the 1-based index
	wait    time.Duration // the wait before the retry, or the one refused
	source  string        // SourceBackoff or the header that gave wait
	reason  error         // a give-up reason, nil otherwise
}

// decide applies the policy's rules to one outcome at time now; u, in
// [0, 1), drives the jitter. The rules, in order: not sent or canceled
// stops; a custom condition's Retry or Stop decides; the server's explicit
// verdict decides; otherwise the status, method and error rules. A Retry
// then passes MaxRetries, the wait (hint and backoff) and the time limits,
// any of which may turn it into a give-up.
func decide(p *Policy, o *outcome, now time.Time, u float64) decision {
	if !o.sent {
		return decision{verdict: Stop, rule: RuleNotSent}
	}
	if o.canceled {
		return decision{verdict: Stop, rule: RuleCanceled}
	}
	var d decision
	switch o.custom {
	case Stop:
		return decision{verdict: Stop, rule: RuleCondition, cond: o.cond}
	case Retry:
		d = decision{verdict: Retry, rule: RuleCondition, cond: o.cond}
	default:
		d.verdict, d.rule = p.serverRule(o)
		if d.verdict == Abstain {
			d.verdict, d.rule = p.builtin(o)
		}
		if d.verdict != Retry {
			return d
		}
	}
	if o.attempt > o.maxRetries {
		d = decision{verdict: Stop, rule: RuleMaxRetries}
		if o.maxRetries == 0 {
			d.rule = RuleRetriesOff
		}
		if p.ErrorOnExhausted {
			d.reason = ErrRetriesExhausted
		}
		return d
	}
	return p.schedule(d, o, now, u)
}

// serverRule is the server's explicit verdict on an error response
// (status 400 or more): X-Should-Retry or Stripe-Should-Retry. false stops
// even a 503 or a 429; true makes the response retryable whatever its
// status and method, since the server vouches that repeating is safe,
// except 401, never retried, and a response reached through a redirect
// that changed the method, whose verdict speaks for the redirected request
// only. Abstain when neither header gives a verdict.
func (p *Policy) serverRule(o *outcome) (Verdict, Rule) {
	if o.status < 400 || o.failure != noFailure {
		return Abstain, ""
	}
	retry, ok := serverVerdict(o.header)
	switch {
	case !ok:
		return Abstain, ""
	case !retry:
		return Stop, RuleServer
	case o.status == http.StatusUnauthorized || o.redirected:
		return Abstain, ""
	}
	return Retry, RuleServer
}

// builtin is the status, method and error rules.
func (p *Policy) builtin(o *outcome) (Verdict, Rule) {
	switch f := o.failure; f {
	case noFailure:
	case failedPermanent:
		return Stop, RuleNetwork
	default:
		if f == failedNotSent && !o.redirected {
			return Retry, RuleNetwork
		}
		if p.idempotent(o) {
			return Retry, RuleNetwork
		}
		return Stop, RuleMethod
	}
	status := o.status
	if status == 0 {
		return Stop, RuleStatus
	}
	if status < 400 {
		return Stop, RuleSuccess
	}
	if status == http.StatusForbidden && (rateLimited(o.header) || hasRetryAfter(o.header)) {
		// A 403 with a spent quota (GitHub's primary limit) or with a
		// Retry-After (its secondary limits) is a rate limit.
		status = http.StatusTooManyRequests
	}
	if !retryableStatus(status) {
		return Stop, RuleStatus
	}
	if !o.redirected && (status == http.StatusTooManyRequests ||
		status == http.StatusServiceUnavailable && hasRetryAfter(o.header)) {
		// The server refused the request before acting on it. A bare 503
		// is no such proof: a gateway answers it when the upstream
		// connection broke (Envoy's "upstream connect error or
		// disconnect/reset before headers", Heroku's H12), while the
		// upstream may still apply the request.
		return Retry, RuleStatus
	}
	if p.idempotent(o) {
		return Retry, RuleStatus
	}
	return Stop, RuleMethod
}

// idempotent reports whether the logical request may be repeated after it
// may have been applied: the idempotent methods of RFC 9110 §9.2.2, any
// request carrying an Idempotency-Key, or any request if the policy retries
// all methods.
func (p *Policy) idempotent(o *outcome) bool {
	if p.RetryAllMethods {
		return true
	}
	switch o.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return firstValue(o.reqHeader, IdempotencyKeyHeader) != ""
}

// schedule computes the wait of a Retry and checks the time limits.
//
// The wait is the longer of the jittered backoff and the server's hint
// (plus its spread, capped at MaxRetryAfter): a hint is a floor, so it can
// lengthen a wait but never make a client come back sooner than its own
// backoff, and a zero or past hint waits the backoff. A hint longer than
// MaxRetryAfter gives up at once (ErrWaitTooLong). A wait that would end at
// or after the context's deadline gives up (ErrDeadline), and so does one
// that would end more than MaxElapsed after the first attempt started
// (ErrTimeLimit).
func (p *Policy) schedule(d decision, o *outcome, now time.Time, u float64) decision {
	backoff := p.backoff(o.attempt)
	d.wait, d.source = p.Jitter.Spread(backoff, u), SourceBackoff
	bare := p.Jitter.Spread(backoff, 0) // the wait without the jitter's spread
	if o.header != nil {
		if hint, src, ok := serverHint(o.header, o.status, now); ok {
			if hint > p.MaxRetryAfter {
				return decision{verdict: Stop, rule: d.rule, cond: d.cond, wait: hint, source: src, reason: ErrWaitTooLong}
			}
			if w := min(hintWait(hint, u), p.MaxRetryAfter); w >= d.wait {
				d.wait, d.source = w, src
			}
			bare = max(bare, hint)
		}
	}
	// The time left before the deadline or MaxElapsed: a wait that fits
	// without its spread keeps it only as far as half of what is left after
	// it, so that the library's own spread never turns a wait that fits
	// into a give-up.
	left, reason := maxDuration, error(nil)
	if !o.deadline.IsZero() {
		left, reason = o.deadline.Sub(now), ErrDeadline
	}
	if p.MaxElapsed > 0 {
		if l := o.start.Add(p.MaxElapsed).Sub(now); l < left {
			left, reason = l, ErrTimeLimit
		}
	}
	switch {
	case reason == nil || d.wait < left:
	case bare < left:
		d.wait = bare + (left-bare)/2
	default:
		d.verdict, d.reason = Stop, reason
	}
	return d
}

// Server waits get a small upward spread so that clients told the same
// instant do not return together: at most this share of the wait, and
// never more than hintSpreadMax.
const (
	hintSpread    = 0.1
	hintSpreadMax = time.Second
)

func hintWait(hint time.Duration, u float64) time.Duration {
	spread := min(time.Duration(float64(hint)*hintSpread), hintSpreadMax)
	extra := FullJitter.Spread(spread, u)
	if hint > maxDuration-extra {
		return maxDuration
	}
	return hint + extra
}

// hasRetryAfter reports whether h carries a valid Retry-After.
func hasRetryAfter(h http.Header) bool {
	_, ok := ParseRetryAfter(firstValue(h, "Retry-After"), time.Time{})
	return ok
}

// failureOf turns an attempt's error class into what it means for a retry.
// Without a status (a transport error), an error not recognised counts as
// one that may have been applied. When a status line arrived, the status
// comes first: the status rules and the server's verdict decide, unless
// the error is permanent, or the body of a 2xx was cut short (truncated):
// the body is what the caller wanted, so that 2xx is a failure that may
// have been applied.
func failureOf(c errClass, status int, truncated bool) failure {
	if status != 0 {
		switch {
		case c == errPermanent:
			return failedPermanent
		case truncated && status >= 200 && status < 300:
			return failedMaybeSent
		}
		return noFailure
	}
	switch c {
	case errPermanent:
		return failedPermanent
	case errNotSent:
		return failedNotSent
	}
	return failedMaybeSent
}
