package restyretry

import (
	"reflect"
	"sync/atomic"

	"github.com/go-resty/resty/v2"
)

// resty's retry loop logs every failed attempt at Warn and the final error
// at Error, through the request's logger, and both messages carry the full
// URL with its query string (where API keys live). A client without retries
// logs neither. The glue wraps the request's logger for the length of one
// Execute in a quietLogger that drops exactly those two calls, recognised by
// resty's format strings (resty_fields_test.go fails if a resty release
// changes them); everything else passes through. Events (OnDecision,
// LogEvents) are the library's log channel.

// The format strings of resty v2's retry loop (request.go, Execute).
const (
	restyAttemptFormat = "%v, Attempt %v" // Warnf, after each failed attempt
	restyFinalFormat   = "%v"             // Errorf, the error Execute returns
)

// quietCache holds the wrapper of the last logger wrapped, so that the
// common case (every request with the client's logger) allocates nothing.
type quietCache struct{ atomic.Pointer[quietLogger] }

// quietLogger passes every call to inner except resty's retry-loop logs.
type quietLogger struct{ inner resty.Logger }

func (q *quietLogger) Errorf(format string, v ...any) {
	if format == restyFinalFormat && len(v) == 1 {
		if _, isErr := v[0].(error); isErr {
			return
		}
	}
	q.inner.Errorf(format, v...)
}

func (q *quietLogger) Warnf(format string, v ...any) {
	if format == restyAttemptFormat {
		return
	}
	q.inner.Warnf(format, v...)
}

func (q *quietLogger) Debugf(format string, v ...any) { q.inner.Debugf(format, v...) }

// quiet wraps r's logger, unless it is wrapped already; finish unwraps
// it. The wrapper of the client's logger is cached, so the common case
// allocates nothing.
func (c *quietCache) quiet(r *resty.Request) {
	l, ok := requestLogger(r)
	if !ok || l == nil {
		return
	}
	if _, ours := l.(*quietLogger); ours {
		return
	}
	q := c.Load()
	if q == nil || !sameLogger(q.inner, l) {
		q = &quietLogger{inner: l}
		c.Store(q)
	}
	r.SetLogger(q)
}

// sameLogger compares two loggers without panicking on a dynamic type that
// is not comparable.
func sameLogger(a, b resty.Logger) bool {
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta != nil && ta.Comparable() && a == b
}
