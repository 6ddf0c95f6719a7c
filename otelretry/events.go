package otelretry

import (
	"github.com/restyretry/restyretry"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Span event names.
const (
	// EventRetry is added to the logical request's span for every retry.
	EventRetry = "restyretry.retry"
	// EventGiveUp is added when the request gives up retrying (including
	// when MaxRetries is reached).
	EventGiveUp = "restyretry.give_up"
	// EventPace is added when pacing holds the request before its first
	// attempt (a refusal by pacing is an EventGiveUp).
	EventPace = "restyretry.pace"
)

// spanEventName is the span event for ev, "" for none (a success, or a
// stop that is not a give-up).
func spanEventName(ev *restyretry.Event, reason string) string {
	switch {
	case reason != "":
		return EventGiveUp
	case ev.Rule == restyretry.RulePace:
		if ev.Wait > 0 {
			return EventPace
		}
		return ""
	case ev.Verdict == restyretry.Retry:
		return EventRetry
	}
	return ""
}

// addSpanEvent adds the event name about ev to the logical request's span
// (WithRequestSpan) or else to the span of the context the caller gave the
// request, if that span is recording. rc is the request's record, nil if
// unknown.
func addSpanEvent(ev *restyretry.Event, rc *reqCtx, name, reason string) {
	span := trace.SpanFromContext(ev.Context)
	if rc != nil && rc.span != nil {
		span = rc.span
	}
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	method, known := methodOf(ev.Method)
	attrs = append(attrs, AttemptKey.Int(ev.Attempt), RuleKey.String(string(ev.Rule)),
		semconv.HTTPRequestMethodKey.String(method))
	if !known {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(ev.Method))
	}
	if host, port := eventHost(ev.URL); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if rc != nil {
		rc.mu.Lock()
		sc, attempt := rc.lastSpan, rc.attempt
		rc.mu.Unlock()
		if sc.IsValid() && attempt == ev.Attempt {
			attrs = append(attrs, AttemptSpanIDKey.String(sc.SpanID().String()))
		}
	}
	if ev.Condition != 0 {
		attrs = append(attrs, ConditionKey.Int(ev.Condition))
	}
	if ev.Status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(ev.Status))
	}
	if ev.Err != nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(ev.Err)))
	}
	if ev.WaitSource != "" {
		attrs = append(attrs, WaitDurationKey.Float64(ev.Wait.Seconds()), WaitSourceKey.String(ev.WaitSource))
	}
	if reason != "" {
		attrs = append(attrs, ReasonKey.String(reason))
	}
	span.AddEvent(name, trace.WithAttributes(attrs...))
}
