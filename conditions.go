package restyretry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"syscall"

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

// errClass says whether a failed attempt may have reached the server.
type errClass int

const (
	fatal     errClass = iota // not worth retrying: the same request fails the same way
	notSent                   // the connection was never established: safe for every method
	maybeSent                 // the server may have acted: safe for idempotent requests only
)

// classify sorts a transport or body-read error by its type, never by its
// message. Anything it does not recognise is fatal: unknown errors are not
// retried.
func classify(err error) errClass {
	if errors.Is(err, context.Canceled) {
		return fatal
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return fatal
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return fatal
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return fatal
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return fatal
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return fatal
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok {
		if dnsErr.IsTemporary || dnsErr.IsTimeout {
			return notSent
		}
		return fatal
	}
	opErr, isOp := errors.AsType[*net.OpError](err)
	dial := isOp && opErr.Op == "dial"
	if errors.Is(err, syscall.ECONNREFUSED) {
		return notSent
	}
	netErr, isNet := errors.AsType[net.Error](err)
	timeout := isNet && netErr.Timeout()
	if timeout || errors.Is(err, context.DeadlineExceeded) {
		if dial {
			return notSent
		}
		return maybeSent
	}
	switch {
	case dial && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)):
		return notSent
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF):
		return maybeSent
	}
	// A response cut or mangled in its header.
	if _, ok := errors.AsType[textproto.ProtocolError](err); ok {
		return maybeSent
	}
	return fatal
}

// idempotencyKeyHeader marks a request the server can deduplicate
// (draft-ietf-httpapi-idempotency-key-header), which makes it safe to retry.
const idempotencyKeyHeader = "Idempotency-Key"
