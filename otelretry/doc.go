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
// the span in the request's context (the caller's, set with
// req.SetContext(ctx), or the logical request span of WithRequestSpan), is
// named by the method ("GET"; "HTTP" for a method outside RFC 9110) and
// carries
//
//	http.request.method        GET, POST, ... or _OTHER (then http.request.method_original)
//	server.address             the host
//	server.port                the port, explicit or the scheme's default
//	url.scheme                 http or https
//	url.full                   the URL without fragment; user info as REDACTED:REDACTED, the values
//	                           of SensitiveQueryParams as REDACTED (WithoutURLQuery: no query)
//	http.request.resend_count  on every resend: 1, 2, 3, ... over the whole logical request,
//	                           retries and redirects together
//	http.response.status_code  when a response arrived
//	network.protocol.version   1.1, 2, ... when a response arrived
//	error.type                 the status code for 4xx and 5xx, or the transport error's type
//
// with status Error for 4xx, 5xx and transport errors. The span ends when
// the response headers have arrived (or the transport failed): reading the
// body is not part of it. The request handed to the transport below
// carries the span in its context whatever the propagator, so that spans
// made below (otelhttp's, a logging layer's) are its children; the
// propagator writes the span's context into a copy of the headers.
//
// Instrument makes these spans by wrapping the client's transport, unless
// otelhttp's Transport
// (go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp) is
// anywhere in it: as the transport, or held by another RoundTripper (in a
// field, exported or not, through pointers and interfaces). otelhttp's
// spans are then the attempt spans. otelhttp does not set
// http.request.resend_count; put NewResendTransport under it to add it
// (and to give the span events the attempt span IDs):
//
//	client.SetTransport(otelhttp.NewTransport(otelretry.NewResendTransport(http.DefaultTransport)))
//
// A transport that cannot be looked into (a func adapter) and makes client
// spans is found at the first physical request: the span in the context of
// the request that reached the network is a client span other than the
// attempt span. Instrument's transport then makes no more spans, and says
// so once to the error handler; only that first request has two. For any
// other transport that makes a span per request, give WithoutAttemptSpans.
//
// With WithRequestSpan, every logical request (one Execute) also gets an
// internal span, named by the method, parent of its attempt spans: a
// request sent with no span in its context then still has its attempts in
// one trace.
//
// # Span events
//
// The logical request's span (WithRequestSpan) or else the caller's (the
// span in the context the caller gave the request; nothing is recorded when
// it has no recording span) gets one event per decision to retry, one per
// give-up and one per hold by pacing:
//
//	restyretry.retry    a retry: the attempt failed and another follows after the wait
//	restyretry.give_up  the request gave up retrying, or used up MaxRetries
//	restyretry.pace     pacing held the request before its first attempt
//
// with the attributes
//
//	restyretry.attempt          the attempt that just finished; 1 is the first
//	restyretry.attempt_span_id  that attempt's span ID, when otelretry or otelhttp (with NewResendTransport) made it
//	restyretry.rule             the rule that decided (restyretry.Rule)
//	restyretry.condition        the custom condition that decided, when the rule is "condition"
//	restyretry.wait.duration    the wait before the next attempt, or the one refused, in seconds
//	restyretry.wait.source      "backoff" or the header that asked for the wait (Retry-After, ...)
//	restyretry.give_up.reason   on give-ups: see Metrics
//	http.request.method, server.address, server.port
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
//	http.client.request.duration  histogram, s: one per attempt span otelretry makes (none with otelhttp below)
//	    http.request.method, server.address, server.port, url.scheme,
//	    http.response.status_code, error.type, network.protocol.version;
//	    the conventions' buckets 5ms ... 10s
//	restyretry.request.duration   histogram, s: logical requests, attempts and waits, buckets 5ms ... 300s
//	    http.request.method, server.address, server.port,
//	    http.response.status_code and error.type (final), restyretry.give_up.reason
//	restyretry.retries   counter, {retry}: retries decided
//	    http.request.method, server.address, server.port,
//	    http.response.status_code (when a response arrived), error.type (when the
//	    attempt failed with an error), restyretry.rule, restyretry.wait.source
//	restyretry.give_ups  counter, {request}: logical requests that gave up retrying
//	    http.request.method, server.address, server.port,
//	    restyretry.give_up.reason, restyretry.rule
//	restyretry.retry.wait.duration  histogram, s: waits before a retry, buckets 1ms ... 300s
//	    http.request.method, server.address, server.port, restyretry.wait.source
//	restyretry.attempts  histogram, {attempt}: attempts per logical request, recorded when it ends
//	    http.request.method, server.address, server.port,
//	    restyretry.rule (of the final decision: success, status, max-retries, ...)
//	restyretry.refusals  counter, {request}: requests refused by the retry budget or by pacing
//	    http.request.method, server.address, server.port, restyretry.refusal (budget, pace)
//
// Observable gauges, read from restyretry.Hosts at each collection, with
// server.address, server.port and url.scheme, at most WithGaugeHosts
// series (20 by default) and server.address "other" for the rest:
//
//	restyretry.budget.tokens            gauge, {token}: a budget key's own tokens, with restyretry.budget.route
//	restyretry.budget.failing.duration  gauge, s: its failure episode so far, with restyretry.budget.route
//	restyretry.budget.pool.tokens       gauge, {token}: the shared pool (no attributes)
//	restyretry.pacing.held              gauge, {host}: 1 while pacing holds the host
//	restyretry.pacing.rate              gauge, {request}/s: the rate pacing allows the host
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
// "pace") records its wait in restyretry.retry.wait.duration and, when
// pacing refuses it, a refusal and a give-up; it records no attempt.
//
// Measurements are made in the context of the attempt span (client
// duration), of the logical request span or the caller's (the others), so
// that an SDK with the trace-based exemplar filter (its default) attaches
// exemplars that lead to those spans.
//
// # Cost
//
// A request that succeeds at its first attempt allocates, in this package,
// what the tracer allocates for the attempt's span and its attribute
// values, and one object more: the request's record, which holds the copy
// of the request that carries the attempt span down (the RoundTripper
// contract forbids changing the caller's) and the request's start. The
// decision and both durations are recorded with attribute sets prepared
// once per series, and span events exist only for retries and give-ups. A
// propagator that writes headers costs the copy of the header that carries
// them. Under a policy whose state the library makes before this
// package's hook (MaxElapsed), the library's wrapper of the request's
// context at the end costs one more, as for any hook that adds a value.
// See TestSuccessPathAllocations and BenchmarkSuccess.
package otelretry
