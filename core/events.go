package core

import (
	"context"
	"log/slog"
	"net/url"
	"time"
)

// Event describes one decision taken after an attempt. It never carries
// request headers, bodies, user info or the query string, which may hold
// credentials.
type Event struct {
	// Context is the request's context at the decision: the one the
	// caller gave, with the values the client's hooks added since (a trace
	// span, for instance), for observers that attach the event to it.
	Context context.Context
	Attempt int    // the attempt that just finished; 1 is the first
	Method  string // the request method
	URL     string // scheme, host and path only
	Status  int    // the response status, 0 for a transport error
	Err     error  // the attempt's error, if any: transport, body-read or middleware
	// Verdict is Retry when another attempt follows, Stop otherwise (a
	// give-up is a Stop with GiveUp set).
	Verdict Verdict
	// Rule says which rule gave the verdict.
	Rule Rule
	// Condition is the 1-based index of the custom condition that decided,
	// when Rule is RuleCondition; 0 otherwise.
	Condition int
	// Wait is the wait before the next attempt for a Retry, or the wait
	// that was refused for a give-up.
	Wait time.Duration
	// WaitSource is where Wait came from: SourceBackoff or the header that
	// asked for it ("Retry-After", "Retry-After-Ms", "RateLimit", ...).
	WaitSource string
	// PaceRate, under Policy.Pace, is the rate in requests per second
	// that Pace allows to the event's host when the event is reported:
	// from the quota the host states, or its adaptive rate
	// (Policy.AdaptivePace); 0 when Pace does not spread the host's
	// requests.
	PaceRate float64
	// GiveUp is set when the request ends early or with ErrorOnExhausted,
	// and nil otherwise: test it against nil (a nil *GiveUpError passed
	// to errors.As as an error still matches). Its Response is nil: events
	// carry no headers or bodies.
	GiveUp *GiveUpError
}

// redact is u without user info, query or fragment, which may hold
// credentials.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// innerError drops the *url.Error wrapper, whose message repeats the full
// URL, query string included.
func innerError(err error) error {
	if err == nil {
		return nil
	}
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	if ue, ok := asType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// LogEvents returns an OnDecision function that logs every event to l:
// retries at Info, give-ups and exhausted retries at Warn, and the rest
// (successes, statuses that are not retried) at Debug. Attach it with
// p.OnDecision = restyretry.LogEvents(logger).
func LogEvents(l *slog.Logger) func(Event) {
	return func(ev Event) {
		level, msg := slog.LevelDebug, "request finished"
		switch {
		case ev.Verdict == Retry:
			level, msg = slog.LevelInfo, "retrying request"
		case ev.Rule == RuleRetriesOff && ev.GiveUp == nil:
			// nobody asked for a retry: Debug, as a success
		case ev.Rule == RuleMaxRetries:
			level, msg = slog.LevelWarn, "retries exhausted"
		case ev.GiveUp != nil:
			level, msg = slog.LevelWarn, "gave up retrying"
		}
		if !l.Enabled(context.Background(), level) {
			return
		}
		attrs := make([]slog.Attr, 0, 10)
		attrs = append(attrs,
			slog.Int("attempt", ev.Attempt),
			slog.String("method", ev.Method),
			slog.String("url", ev.URL),
			slog.String("verdict", ev.Verdict.String()),
			slog.String("rule", string(ev.Rule)))
		if ev.Condition != 0 {
			attrs = append(attrs, slog.Int("condition", ev.Condition))
		}
		if ev.Status != 0 {
			attrs = append(attrs, slog.Int("status", ev.Status))
		}
		if ev.Err != nil {
			attrs = append(attrs, slog.String("error", ev.Err.Error()))
		}
		if ev.WaitSource != "" {
			attrs = append(attrs, slog.Duration("wait", ev.Wait), slog.String("wait_source", ev.WaitSource))
		}
		if ev.GiveUp != nil {
			attrs = append(attrs, slog.String("give_up", ev.GiveUp.Error()))
		}
		l.LogAttrs(context.Background(), level, msg, attrs...)
	}
}
