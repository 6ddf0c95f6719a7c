package otelretry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/restyretry/restyretry"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Attribute keys of the library, next to the semantic conventions' own
// (http.request.method, server.address, server.port,
// http.response.status_code, error.type).
const (
	// RuleKey is the rule that gave a decision (restyretry.Rule).
	RuleKey = attribute.Key("restyretry.rule")
	// WaitSourceKey is where a wait came from: "backoff" or the name of
	// the response header that asked for it.
	WaitSourceKey = attribute.Key("restyretry.wait.source")
	// WaitDurationKey is the wait of a span event, in seconds: the wait
	// before the next attempt of a retry, or the wait that was refused by
	// a give-up. (It was restyretry.wait, which was also the namespace of
	// restyretry.wait.source.)
	WaitDurationKey = attribute.Key("restyretry.wait.duration")
	// ReasonKey is why a request gave up (see the package doc for values).
	ReasonKey = attribute.Key("restyretry.give_up.reason")
	// RefusalKey says what refused a request: "budget" or "pace".
	RefusalKey = attribute.Key("restyretry.refusal")
	// AttemptKey is the attempt a span event is about; 1 is the first.
	AttemptKey = attribute.Key("restyretry.attempt")
	// AttemptSpanIDKey is the span ID (16 hex digits) of the attempt span
	// a span event is about, when otelretry or otelhttp made it.
	AttemptSpanIDKey = attribute.Key("restyretry.attempt_span_id")
	// AttemptsKey is the number of attempts of a logical request, on its
	// span (WithRequestSpan).
	AttemptsKey = attribute.Key("restyretry.attempt_count")
	// ConditionKey is the 1-based index of the custom condition that
	// decided, on span events whose rule is "condition".
	ConditionKey = attribute.Key("restyretry.condition")
)

// Give-up reasons, the values of ReasonKey.
const (
	ReasonBudget            = "budget_exhausted"    // restyretry.ErrBudgetExhausted
	ReasonWaitTooLong       = "wait_too_long"       // restyretry.ErrWaitTooLong
	ReasonDeadline          = "deadline"            // restyretry.ErrDeadline
	ReasonTimeLimit         = "time_limit"          // restyretry.ErrTimeLimit
	ReasonBodyNotReplayable = "body_not_replayable" // restyretry.ErrBodyNotReplayable
	ReasonRetriesExhausted  = "retries_exhausted"   // MaxRetries reached, with or without ErrorOnExhausted
	ReasonOther             = "_OTHER"              // a reason this package does not know
)

// Refusals, the values of RefusalKey.
const (
	RefusalBudget = "budget" // the retry budget refused a retry
	RefusalPace   = "pace"   // pacing refused the request before its first attempt
)

// reasonOf names the give-up of ev, "" when ev is not one. Reaching
// MaxRetries is a give-up whether or not the policy returns an error for it.
func reasonOf(ev *restyretry.Event) string {
	if ev.GiveUp == nil {
		if ev.Rule == restyretry.RuleMaxRetries {
			return ReasonRetriesExhausted
		}
		return ""
	}
	switch ev.GiveUp.Reason {
	case restyretry.ErrBudgetExhausted:
		return ReasonBudget
	case restyretry.ErrWaitTooLong:
		return ReasonWaitTooLong
	case restyretry.ErrDeadline:
		return ReasonDeadline
	case restyretry.ErrTimeLimit:
		return ReasonTimeLimit
	case restyretry.ErrBodyNotReplayable:
		return ReasonBodyNotReplayable
	case restyretry.ErrRetriesExhausted:
		return ReasonRetriesExhausted
	}
	return ReasonOther
}

// methodOf is the method as the HTTP conventions record it: one of the
// known methods, else "_OTHER" (ok false), so that the attribute stays
// bounded whatever methods callers invent.
func methodOf(m string) (string, bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect:
		return m, true
	case "":
		return http.MethodGet, true // net/http's reading of an empty method
	}
	return "_OTHER", false
}

// hostPort splits the host of a URL into server.address and server.port;
// the port is the scheme's default when the URL names none, 0 if unknown.
// The strings returned are parts of hp: nothing is allocated.
func hostPort(scheme, hp string) (string, int) {
	u := url.URL{Host: hp}
	host, port := u.Hostname(), u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 1<<16 {
			return host, n
		}
		return host, 0
	}
	switch scheme {
	case "http":
		return host, 80
	case "https":
		return host, 443
	}
	return host, 0
}

// eventHost is the server.address and server.port of an Event's URL
// (scheme, host and path), without allocating.
func eventHost(raw string) (string, int) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", 0
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return hostPort(scheme, rest)
}

// errorType is the error.type of a transport or body-read error: a few
// common failures by name, others by the Go type of the error, as the
// conventions' ErrorType does. The values are bounded by the error types
// in the program, never by messages.
func errorType(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken_pipe"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected_eof"
	}
	return semconv.ErrorType(err).Value.AsString()
}

// SensitiveQueryParams are the query parameters whose values url.full
// shows as REDACTED: the semantic conventions' list (v1.43.0: X-Amz-Signature,
// X-Amz-Credential, X-Amz-Security-Token, sig, X-Goog-Signature) and the
// list before it (AWSAccessKeyId, Signature: AWS query authentication
// version 2). Keys are matched case-sensitively, as the conventions ask.
var SensitiveQueryParams = []string{
	"AWSAccessKeyId", "Signature", "X-Amz-Signature", "X-Amz-Credential",
	"X-Amz-Security-Token", "sig", "X-Goog-Signature",
}

const redacted = "REDACTED"

var redactedUser = url.UserPassword(redacted, redacted)

// fullURL is url.full: the URL without its fragment, user info as
// REDACTED:REDACTED, and the values of the sensitive query parameters as
// REDACTED (the other parameters as they are); with dropQuery, without
// its query.
func fullURL(u *url.URL, dropQuery bool) string {
	v := *u
	v.Fragment, v.RawFragment = "", ""
	if v.User != nil {
		v.User = redactedUser
	}
	if dropQuery {
		v.RawQuery, v.ForceQuery = "", false
	} else {
		v.RawQuery = redactQuery(v.RawQuery)
	}
	return v.String()
}

// redactQuery replaces the values of the sensitive parameters of the raw
// query q with REDACTED, keeping their keys and everything else as it is.
// A query with none returns unchanged, without allocating.
func redactQuery(q string) string {
	if q == "" || !mayHoldSensitive(q) {
		return q
	}
	var b strings.Builder
	b.Grow(len(q))
	for i, part := range strings.Split(q, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		k, _, hasValue := strings.Cut(part, "=")
		if hasValue && isSensitive(k) {
			b.WriteString(k)
			b.WriteString("=" + redacted)
			continue
		}
		b.WriteString(part)
	}
	return b.String()
}

// mayHoldSensitive reports whether q contains a sensitive key or an
// escape (which may hide one).
func mayHoldSensitive(q string) bool {
	if strings.ContainsAny(q, "%+") {
		return true
	}
	for _, k := range SensitiveQueryParams {
		if strings.Contains(q, k) {
			return true
		}
	}
	return false
}

// isSensitive reports whether the raw query key k, unescaped, is one of
// SensitiveQueryParams.
func isSensitive(k string) bool {
	if strings.ContainsAny(k, "%+") {
		if u, err := url.QueryUnescape(k); err == nil {
			k = u
		}
	}
	return slices.Contains(SensitiveQueryParams, k)
}
