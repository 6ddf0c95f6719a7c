package restyretry

import (
	"net/http"

	"github.com/go-resty/resty/v2"
)

// Verdict is a condition's answer about one failed or finished attempt.
type Verdict int

const (
	// Abstain passes the decision to the next condition, and finally to the
	// built-in rules. It is the zero Verdict.
	Abstain Verdict = iota
	// Retry asks for another attempt. Limits still apply: MaxRetries, the
	// retry budget, body safety, MaxRetryAfter and the time limits.
	Retry
	// Stop ends the request with the attempt's response and error.
	Stop
)

// String returns "abstain", "retry" or "stop".
func (v Verdict) String() string {
	switch v {
	case Retry:
		return "retry"
	case Stop:
		return "stop"
	case Abstain:
		return "abstain"
	}
	return "verdict(" + itoa(int(v)) + ")"
}

// Condition inspects the outcome of one attempt. resp is never nil when a
// Condition is called (errors raised before a request is sent are never
// retried and never reach conditions); err is the transport or body-read
// error, if any. Conditions run in the order given to Policy.With, before
// the built-in rules; the first Retry or Stop decides.
//
// A Condition that answers Retry overrides the status and method rules, so
// it may make a POST retryable: answer Retry only for outcomes you know are
// safe to repeat.
type Condition func(resp *resty.Response, err error) Verdict

// RetryOnStatus returns a Condition that answers Retry when the response
// status is one of codes, and Abstain otherwise.
func RetryOnStatus(codes ...int) Condition {
	return statusCondition(Retry, codes)
}

// StopOnStatus returns a Condition that answers Stop when the response
// status is one of codes, and Abstain otherwise. Use it to keep a status the
// built-in rules would retry, such as 500 from a service known to fail
// deterministically, from being retried.
func StopOnStatus(codes ...int) Condition {
	return statusCondition(Stop, codes)
}

func statusCondition(v Verdict, codes []int) Condition {
	codes = append([]int(nil), codes...)
	return func(resp *resty.Response, err error) Verdict {
		if err != nil || resp == nil || resp.RawResponse == nil {
			return Abstain
		}
		status := resp.StatusCode()
		for _, c := range codes {
			if c == status {
				return v
			}
		}
		return Abstain
	}
}

// Rule names, reported in Event.Rule, say which rule gave a verdict.
const (
	ruleCondition  = "condition"   // a custom Condition (Event.Rule adds its number)
	ruleNotSent    = "not-sent"    // raised before sending
	ruleSuccess    = "success"     // a 1xx, 2xx or 3xx response
	ruleStatus     = "status"      // the status rules
	ruleMethod     = "method"      // the method (idempotency) rules
	ruleNetwork    = "network"     // the transport error rules
	ruleCanceled   = "canceled"    // the caller's context is done
	ruleMaxRetries = "max-retries" // MaxRetries reached
	ruleBody       = "body"        // the retry's body differs from the first attempt's
)

// verdict runs the custom conditions, then the built-in rules, and returns
// the verdict with the name of the rule that gave it and, for a custom
// condition, its 1-based number.
func (p *Policy) verdict(resp *resty.Response, err error) (Verdict, string, int) {
	if resp == nil || resp.Request == nil {
		// Raised before sending (middleware, rate limiter, bad URL): never retried.
		return Stop, ruleNotSent, 0
	}
	if resp.Request.Context().Err() != nil {
		return Stop, ruleCanceled, 0
	}
	for i, c := range p.conditions {
		if v := c(resp, err); v == Retry || v == Stop {
			return v, ruleCondition, i + 1
		}
	}
	v, rule := p.builtin(resp, err)
	return v, rule, 0
}

// builtin is the status, method and network rules.
func (p *Policy) builtin(resp *resty.Response, err error) (Verdict, string) {
	if err != nil {
		switch class := classify(err); {
		case class == errUnknown && resp.RawResponse != nil:
			// Not a known transport failure, and a status arrived (a failed
			// CheckRedirect, middleware): the status rules decide.
		case class == errPermanent:
			return Stop, ruleNetwork
		case class == errNotSent:
			return Retry, ruleNetwork
		default: // errMaybeSent, or errUnknown without a response
			if p.idempotent(resp.Request) {
				return Retry, ruleNetwork
			}
			return Stop, ruleMethod
		}
	}
	if resp.RawResponse == nil {
		return Stop, ruleStatus
	}
	status := resp.StatusCode()
	if status < 400 {
		return Stop, ruleSuccess
	}
	if status == http.StatusForbidden && rateLimited(resp.Header()) {
		status = http.StatusTooManyRequests
	}
	if !retryableStatus(status) {
		return Stop, ruleStatus
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		// The server refused the request before acting on it.
		return Retry, ruleStatus
	}
	if p.idempotent(resp.Request) {
		return Retry, ruleStatus
	}
	return Stop, ruleMethod
}

// retryableStatus reports whether a status is worth another attempt: 408,
// 429 and 5xx except 501 Not Implemented and 505 HTTP Version Not Supported,
// which will not change on retry.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500 && status <= 599
}

// idempotent reports whether a request may be repeated after it may have
// been applied: the idempotent methods of RFC 9110 §9.2.2, any request
// carrying an Idempotency-Key, or any request if the policy retries all
// methods.
func (p *Policy) idempotent(r *resty.Request) bool {
	if p.RetryAllMethods {
		return true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get(idempotencyKeyHeader) != ""
}

// idempotencyKeyHeader marks a request the server can deduplicate
// (draft-ietf-httpapi-idempotency-key-header), which makes it safe to retry.
const idempotencyKeyHeader = "Idempotency-Key"
