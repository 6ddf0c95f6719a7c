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

// addSpanEvent adds the event name about ev to the span of the context the
// caller gave the request, if that span is recording.
func addSpanEvent(ev *restyretry.Event, name, reason string) {
	span := trace.SpanFromContext(ev.Context)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, AttemptKey.Int(ev.Attempt), RuleKey.String(string(ev.Rule)))
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
		attrs = append(attrs, WaitKey.Float64(ev.Wait.Seconds()), WaitSourceKey.String(ev.WaitSource))
	}
	if reason != "" {
		attrs = append(attrs, ReasonKey.String(reason))
	}
	span.AddEvent(name, trace.WithAttributes(attrs...))
}
