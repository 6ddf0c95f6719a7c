// Package otelretry adds OpenTelemetry traces and metrics to resty clients
// that retry with github.com/restyretry/restyretry:
//
//	client := otelretry.Instrument(restyretry.Apply(resty.New()),
//		otelretry.WithTracerProvider(tp), otelretry.WithMeterProvider(mp))
//
// It is a module of its own, so that the library itself depends on resty
// only. It uses the OpenTelemetry API (otel, trace, metric); the SDK is the
// application's choice. Without options the global providers and
// propagator are used.
//
// # Spans
//
// Following the HTTP semantic conventions ("HTTP request retries and
// redirects"), every request sent over the wire is its own client span: each
// attempt, and each redirect hop within an attempt. The span is a child of
// the span in the request's context (the caller's: set it with
// req.SetContext(ctx)), is named by the method ("GET"; "HTTP" for a method
// outside RFC 9110) and carries
//
//	http.request.method        GET, POST, ... or _OTHER (then http.request.method_original)
//	server.address             the host
//	server.port                the port, explicit or the scheme's default
//	url.full                   scheme, host and path: no user info, query or fragment
//	http.request.resend_count  on every resend: 1 for the first, 2 for the second, ...
//	http.response.status_code  when a response arrived
//	error.type                 the status code for 4xx and 5xx, or the transport error's type
//
// with status Error for 4xx, 5xx and transport errors. The resend count is
// the number of retries before the attempt (restyretry.ResendCount) plus
// the redirects followed within it; redirects followed inside earlier
// attempts are not counted. The span ends when the response headers have
// arrived (or the transport failed): reading the body is not part of it.
// The propagator writes the span's context into the request's headers (on
// a copy of the request, as the RoundTripper contract requires).
//
// Instrument makes these spans by wrapping the client's transport. If the
// transport is already otelhttp's Transport
// (go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp), it makes
// none, so spans are not doubled: otelhttp's are the attempt spans. otelhttp
// does not set http.request.resend_count; put NewResendTransport under it to
// add it:
//
//	client.SetTransport(otelhttp.NewTransport(otelretry.NewResendTransport(http.DefaultTransport)))
//
// For any other transport that already makes a span per request, give
// WithoutAttemptSpans.
//
// # Span events
//
// The logical request's span (the span in the context the caller gave the
// request; none is made when there is no recording span there) gets one
// event per decision to retry, one per give-up and one per hold by pacing:
//
//	restyretry.retry    a retry: the attempt failed and another follows after the wait
//	restyretry.give_up  the request gave up retrying, or used up MaxRetries
//	restyretry.pace     pacing held the request before its first attempt
//
// with the attributes
//
//	restyretry.attempt         the attempt that just finished; 1 is the first
//	restyretry.rule            the rule that decided (restyretry.Rule)
//	restyretry.condition       the custom condition that decided, when the rule is "condition"
//	restyretry.wait            the wait before the next attempt, or the one refused, in seconds
//	restyretry.wait.source     "backoff" or the header that asked for the wait (Retry-After, ...)
//	restyretry.give_up.reason  on give-ups: see Metrics
//	http.response.status_code  when a response arrived
//	error.type                 when the attempt failed with a transport or body-read error
//
// # Metrics
//
// Every attribute value is bounded: no URLs, paths, query strings or header
// values are recorded, so the number of series does not grow with traffic,
// only with the hosts a client talks to. The instruments, with meter
// ScopeName:
//
//	restyretry.retries   counter, {retry}: retries decided
//	    http.request.method, server.address, server.port,
//	    http.response.status_code (when a response arrived), error.type (when the
//	    attempt failed with an error), restyretry.rule, restyretry.wait.source
//	restyretry.give_ups  counter, {request}: logical requests that gave up retrying
//	    http.request.method, server.address, server.port,
//	    restyretry.give_up.reason, restyretry.rule
//	restyretry.wait      histogram, s: waits before a retry
//	    http.request.method, server.address, server.port, restyretry.wait.source
//	restyretry.attempts  histogram, {attempt}: attempts per logical request, recorded when it ends
//	    http.request.method, server.address, server.port,
//	    restyretry.rule (of the final decision: success, status, max-retries, ...)
//	restyretry.refusals  counter, {request}: requests refused by the retry budget or by pacing
//	    http.request.method, server.address, server.port, restyretry.refusal (budget, pace)
//
// The values: http.request.method is one of the RFC 9110 methods or
// "_OTHER"; error.type is one of canceled, timeout, connection_refused,
// connection_reset, broken_pipe, unexpected_eof, else the Go type of the
// error (as the conventions' ErrorType gives it); restyretry.rule is a
// restyretry.Rule; restyretry.wait.source is "backoff" or the name of a
// header the library reads; restyretry.give_up.reason is budget_exhausted,
// wait_too_long, deadline, time_limit, body_not_replayable,
// retries_exhausted (MaxRetries reached, with or without ErrorOnExhausted)
// or _OTHER. A budget refusal is counted both as a give-up (reason
// budget_exhausted) and as a refusal. A request held by pacing (rule
// "pace") records its wait in restyretry.wait and, when pacing refuses it,
// a refusal and a give-up; it records no attempt.
//
// # Cost
//
// A request that succeeds at its first attempt allocates nothing in this
// package beyond what the tracer allocates for the attempt's span and its
// attribute values: the decision is recorded with attribute sets prepared
// once per series, and span events exist only for retries and give-ups.
// A propagator that writes headers costs the copy of the request that
// carries them. See TestSuccessPathAllocations and BenchmarkSuccess.
package otelretry
