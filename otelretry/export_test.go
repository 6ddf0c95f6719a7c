package otelretry

// RequestAttrs exposes requestAttrs to the external tests, which build the
// reference span (what the tracer allocates for an attempt span) with it.
var RequestAttrs = requestAttrs
