package restyretry

import (
	"net/http"
	"strconv"

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
	return "verdict(" + strconv.Itoa(int(v)) + ")"
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

// idempotencyKeyHeader marks a request the server can deduplicate
// (draft-ietf-httpapi-idempotency-key-header), which makes it safe to retry.
const idempotencyKeyHeader = "Idempotency-Key"
