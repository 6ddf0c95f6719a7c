package otelretry

import (
	"net/http"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/restyretry/restyretry/otelretry"

// Option configures Instrument.
type Option func(*config)

type config struct {
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	prop        propagation.TextMapPropagator
	noSpans     bool
	requestSpan bool
	dropQuery   bool
	onError     func(error)
	gaugeHosts  int
}

// WithTracerProvider sets the provider of the attempt spans' tracer; the
// global provider (otel.GetTracerProvider) by default.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithMeterProvider sets the provider of the meter; the global provider
// (otel.GetMeterProvider) by default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// WithPropagators sets the propagator that writes each attempt's span
// context into the request headers; the global one
// (otel.GetTextMapPropagator) by default.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) {
		if p != nil {
			c.prop = p
		}
	}
}

// WithoutAttemptSpans makes Instrument leave the client's transport alone:
// no attempt spans and no http.client.request.duration, only span events
// and the other metrics. Use it when something below resty other than
// otelhttp's Transport (which Instrument recognises) already makes a span
// per request.
func WithoutAttemptSpans() Option {
	return func(c *config) { c.noSpans = true }
}

// WithRequestSpan makes a span for every logical request: one Execute,
// with all its attempts, redirects and waits. It is the parent of the
// attempt spans and a child of the caller's span, if any, so that a
// request sent with no span in its context still has all its attempts in
// one trace. It is an internal span named by the method, with
// http.request.method, server.address, server.port, the final
// http.response.status_code and error.type, restyretry.attempt_count
// and, when the request gave up, restyretry.give_up.reason; the span
// events of the decisions go on it rather than on the caller's span.
func WithRequestSpan() Option {
	return func(c *config) { c.requestSpan = true }
}

// WithoutURLQuery makes url.full leave out the query string altogether,
// as otelretry did before it followed the conventions (which keep the
// query and redact the values of SensitiveQueryParams only).
func WithoutURLQuery() Option {
	return func(c *config) { c.dropQuery = true }
}

// WithErrorHandler sets the function that receives the error of creating
// the instruments (Instrument then goes on without metrics) and the notice
// that a transport below makes client spans of its own; otel.Handle by
// default.
func WithErrorHandler(f func(error)) Option {
	return func(c *config) {
		if f != nil {
			c.onError = f
		}
	}
}

// Instrument adds OpenTelemetry tracing and metrics to c, a client with a
// restyretry policy applied, and returns c:
//
//   - every attempt sent over the wire gets its own client span, child of
//     the span in the request's context, with http.request.resend_count on
//     every resend (the HTTP semantic conventions' "retries and
//     redirects"), and the request handed down carries it in its context:
//     Instrument wraps c's transport, unless otelhttp's Transport is in it
//     (then otelhttp makes the spans; see NewResendTransport for their
//     resend count), or WithoutAttemptSpans is given;
//   - every retry and every give-up is a span event on the logical
//     request's span (WithRequestSpan) or the caller's;
//   - every decision is counted, and every attempt and logical request
//     measured, in the metrics listed in the package doc.
//
// It registers request hooks on c (OnBeforeRequest, OnSuccess, OnError,
// OnPanic) that keep each logical request's record in its context while
// it runs, and put the caller's context back at the end (under a policy
// whose state the library made first, MaxElapsed, the library's wrapper
// of it stays, with the caller's lifetime and nothing of otelretry's). It
// also adds c to the budget and pacing gauges of the meter provider.
//
// Call Instrument once per client, after Apply and after setting its
// transport: a client with no policy applied gets attempt spans and
// durations (no decision metrics), a transport set afterwards replaces the
// one that makes the attempt spans, and a second call on one client counts
// every decision twice. The policy may be applied again afterwards. A
// Clone of an instrumented client is instrumented too: it shares its
// original's observers and hooks, and keeps them when it gets its own
// policy, and it shares the transport, since resty's Clone shares the
// *http.Client. Do not instrument a clone again: its decisions would be
// counted twice.
func Instrument(c *resty.Client, opts ...Option) *resty.Client {
	if c == nil {
		return nil
	}
	cfg := config{onError: otel.Handle, gaugeHosts: DefaultGaugeHosts}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	if cfg.prop == nil {
		cfg.prop = otel.GetTextMapPropagator()
	}
	meter := cfg.mp.Meter(ScopeName)
	ins, err := newInstruments(meter)
	if err != nil {
		cfg.onError(err)
		ins = nil
	} else if err := observeState(c, cfg.mp, meter, cfg.gaugeHosts); err != nil {
		cfg.onError(err)
	}
	tracer := cfg.tp.Tracer(ScopeName)
	if !cfg.noSpans {
		wrapTransport(c, &cfg, tracer, ins)
	}
	o := &observer{ins: ins, cfg: cfg, tracer: tracer,
		requestSpanOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}}
	c.OnBeforeRequest(o.before)
	c.OnSuccess(o.onSuccess)
	c.OnError(o.onError)
	c.OnPanic(o.onError)
	restyretry.Observe(c, o.observe)
	return c
}

// wrapTransport puts an attemptTransport over c's transport, unless one
// already makes attempt spans.
func wrapTransport(c *resty.Client, cfg *config, tracer trace.Tracer, ins *instruments) {
	hc := c.GetClient()
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if makesSpans(base) {
		return
	}
	c.SetTransport(newAttemptTransport(base, tracer, cfg, ins))
}

// observer receives the client's events and runs its request hooks.
type observer struct {
	ins             *instruments // nil when the instruments could not be made
	cfg             config
	tracer          trace.Tracer
	requestSpanOpts []trace.SpanStartOption
}

func (o *observer) observe(ev restyretry.Event) {
	reason := reasonOf(&ev)
	name := spanEventName(&ev, reason)
	var rc *reqCtx
	if name != "" || reason != "" {
		// Not on the success path: only decisions that are recorded as
		// span events, or that end the request in a give-up, look for
		// the request's record.
		rc = o.link(&ev)
		if rc != nil && reason != "" {
			rc.mu.Lock()
			rc.reason = reason
			rc.mu.Unlock()
		}
	}
	if o.ins != nil {
		ctx := ev.Context
		if rc != nil {
			ctx = rc
		}
		o.ins.record(ctx, &ev, reason)
	}
	if name != "" {
		addSpanEvent(&ev, rc, name, reason)
	}
}
