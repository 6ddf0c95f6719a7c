package otelretry

import "context"

// RequestAttrs exposes requestAttrs to the external tests, which build the
// reference span (what the tracer allocates for an attempt span) with it.
var RequestAttrs = requestAttrs

// HasRecord reports whether ctx carries a live request record.
func HasRecord(ctx context.Context) bool { return requestOf(ctx) != nil }
