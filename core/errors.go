package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrGaveUp is wrapped by every error the policy adds to a request: every
// early stop (the policy decided that another attempt could not succeed or
// must not be sent) and ErrRetriesExhausted (Policy.ErrorOnExhausted). The
// specific reasons below wrap it, so test with errors.Is(err, ErrGaveUp) for
// any of them, or with a reason for one kind. Where the HTTP client returns
// an error of its own instead (see GiveUpError), the reason is in
// Event.GiveUp.
var ErrGaveUp error = &reasonError{msg: "restyretry: gave up"}

// Reasons for giving up. Each wraps ErrGaveUp.
var (
	// ErrWaitTooLong: the server asked for a wait longer than MaxRetryAfter.
	ErrWaitTooLong = giveUpReason("server asked to wait longer than MaxRetryAfter")
	// ErrDeadline: the wait would end after the request context's deadline.
	// It also matches context.DeadlineExceeded.
	ErrDeadline = giveUpReason("wait would pass the context deadline", context.DeadlineExceeded)
	// ErrTimeLimit: the request would pass the policy's MaxElapsed, in a wait or
	// during an attempt.
	ErrTimeLimit = giveUpReason("request would pass MaxElapsed")
	// ErrBudgetExhausted: the client's retry budget refused the retry.
	ErrBudgetExhausted = giveUpReason("retry budget exhausted")
	// ErrBodyNotReplayable: the request body cannot be sent again exactly as
	// the first attempt sent it (a one-shot reader, or a body that changed).
	ErrBodyNotReplayable = giveUpReason("request body cannot be replayed")
)

// ErrRetriesExhausted is the reason of a GiveUpError returned when every
// attempt allowed by MaxRetries was used and the last one still asked for a
// retry (Policy.ErrorOnExhausted). It wraps ErrGaveUp like every other
// reason, so errors.Is(err, ErrGaveUp) holds for every error the policy
// adds.
var ErrRetriesExhausted = giveUpReason("retries exhausted")

// reasonError is a sentinel that wraps other sentinels.
type reasonError struct {
	msg   string
	wraps []error
}

func giveUpReason(msg string, also ...error) error {
	return &reasonError{msg: msg, wraps: append([]error{ErrGaveUp}, also...)}
}

func (e *reasonError) Error() string   { return e.msg }
func (e *reasonError) Unwrap() []error { return e.wraps }

// GiveUpError describes an early stop. It unwraps to its Reason (and so to
// ErrGaveUp) and to Err, the attempt's own transport error if there was one.
//
// For a response (any status), resty returns it as the request's error next
// to the last response. For a transport error, resty returns the transport
// error itself: when sending failed, that is a *url.Error, and the package
// places a GiveUpError inside it, so errors.Is(err, ErrGaveUp) and
// errors.Is(err, syscall.ECONNREFUSED) both hold. When the status line
// arrived but reading the body failed, resty returns the read error as it
// is (often the shared io.ErrUnexpectedEOF, which cannot carry anything),
// and when an OnAfterResponse hook returned an error, resty returns that
// error: the request still stops at once, and the reason is reported in
// Event.GiveUp, but errors.Is(err, ErrGaveUp) does not hold.
type GiveUpError struct {
	Reason  error         // one of the Err... reasons above
	Attempt int           // the attempt that failed last (1 is the first)
	Status  int           // its HTTP status, 0 for a transport error
	Wait    time.Duration // the wait that was refused, if any
	Err     error         // the attempt's transport error, if any
	// Response is the last response received, as the adapter's own type
	// (a *resty.Response of the resty version in use): the one resty also
	// returns, except when a changed body was kept off the network, when
	// resty returns no response and this is the only way to reach it. It
	// is nil in Event.GiveUp.
	Response any
}

// Error describes the give-up: the attempt, its status, the reason, the
// refused wait and the transport error.
func (e *GiveUpError) Error() string {
	if e == nil {
		return "restyretry: <nil GiveUpError>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "restyretry: gave up after attempt %d", e.Attempt)
	if e.Status != 0 {
		b.WriteString(" (status " + strconv.Itoa(e.Status) + ")")
	}
	b.WriteString(": " + e.Reason.Error())
	if e.Wait > 0 {
		b.WriteString(" (wait " + e.Wait.String() + ")")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the reason and the transport error.
func (e *GiveUpError) Unwrap() []error {
	if e == nil {
		return nil
	}
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// asType is errors.As with the target as a result (errors.AsType before
// Go 1.26).
func asType[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
