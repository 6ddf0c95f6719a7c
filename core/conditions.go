package core

import (
	"net/http"
	"strconv"
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
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Result is what a Condition sees of one finished attempt.
type Result struct {
	Attempt int         // 1 is the first attempt
	Method  string      // the request method
	Status  int         // the response status, 0 when no response arrived
	Header  http.Header // the response headers, nil when none arrived
	Err     error       // the transport, body-read or middleware error, if any
	// Response is the adapter's own response: a *resty.Response of the
	// resty version in use. Adapters offer typed wrappers
	// (restyretry.ConditionFunc).
	Response any
}

// Condition inspects the outcome of one attempt that was sent (errors
// raised before a request is sent are never retried and never reach
// conditions). Conditions run in the order given to Policy.With, before
// the built-in rules; the first Retry or Stop decides.
//
// A Condition that answers Retry overrides the status and method rules, so
// it may make a POST retryable: answer Retry only for outcomes you know are
// safe to repeat.
type Condition func(Result) Verdict

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
	return func(r Result) Verdict {
		if r.Err != nil || r.Status == 0 {
			return Abstain
		}
		for _, c := range codes {
			if c == r.Status {
				return v
			}
		}
		return Abstain
	}
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

// IdempotencyKeyHeader marks a request the server can deduplicate
// (draft-ietf-httpapi-idempotency-key-header), which makes it safe to retry.
const IdempotencyKeyHeader = "Idempotency-Key"
