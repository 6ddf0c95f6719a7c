package restyretry

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/go-resty/resty/v2"
)

// Event describes one decision taken after an attempt. It never carries
// request headers, bodies, user info or the query string, which may hold
// credentials.
type Event struct {
	Attempt int    // the attempt that just finished; 1 is the first
	Method  string // the request method
	URL     string // scheme, host and path only
	Status  int    // the response status, 0 for a transport error
	Err     error  // the attempt's transport or body-read error, if any
	Verdict Verdict
	// Rule says what gave the verdict: "success", "status", "method",
	// "network", "canceled", "max-retries", "body" (a retry's body differed
	// from the first attempt's), or "condition N" for the Nth custom
	// condition.
	Rule string
	// Wait is the wait before the next attempt for a Retry, or the wait
	// that was refused for a give-up.
	Wait time.Duration
	// WaitSource is where Wait came from: "backoff" or the header that
	// asked for it ("Retry-After", "Retry-After-Ms", "RateLimit", ...).
	WaitSource string
	// GiveUp is set when the request ends early or with ErrorOnExhausted:
	// a *GiveUpError for errors.Is and errors.As.
	GiveUp error
}

// emit sends an event to the policy's OnDecision, if any. Nothing is built
// when there is no observer, so the success path stays free.
func (in *installation) emit(p *Policy, resp *resty.Response, err error, d decision) {
	observe := p.OnDecision
	if observe == nil {
		observe = in.policy.Load().OnDecision // a per-request policy reports to the client's
	}
	if observe == nil {
		return
	}
	r := resp.Request
	ev := Event{
		Attempt: r.Attempt,
		Method:  r.Method,
		URL:     safeURL(r),
		Status:  statusOf(resp),
		Err:     innerError(err),
		Verdict: d.verdict,
		Rule:    d.rule,
	}
	if d.cond > 0 {
		ev.Rule = ruleCondition + " " + itoa(d.cond)
	}
	if d.verdict == Retry || d.reason != nil {
		ev.Wait, ev.WaitSource = d.wait, d.source
	}
	if d.reason != nil {
		gu := giveUp(d, resp, ev.Err)
		gu.Response = nil // events carry no headers or bodies
		ev.GiveUp = gu
	}
	observe(ev)
}

// safeURL is the request URL without user info, query or fragment.
func safeURL(r *resty.Request) string {
	var u url.URL
	if r.RawRequest != nil && r.RawRequest.URL != nil {
		u = *r.RawRequest.URL
	} else if parsed, err := url.Parse(r.URL); err == nil {
		u = *parsed
	} else {
		return ""
	}
	return redact(u)
}

// redact drops user info, query and fragment from u.
func redact(u url.URL) string {
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// innerError drops the *url.Error wrapper, whose message repeats the full
// URL, query string included.
func innerError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
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
		case ev.Rule == ruleMaxRetries:
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
			slog.String("rule", ev.Rule))
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
