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
	tp      trace.TracerProvider
	mp      metric.MeterProvider
	prop    propagation.TextMapPropagator
	noSpans bool
	onError func(error)
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
// no attempt spans, only span events and metrics. Use it when something
// below resty other than otelhttp's Transport (which Instrument
// recognises) already makes a span per request.
func WithoutAttemptSpans() Option {
	return func(c *config) { c.noSpans = true }
}

// WithErrorHandler sets the function that receives the error of creating
// the instruments, otel.Handle by default. Instrument then goes on without
// metrics.
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
//     redirects"): Instrument wraps c's transport, unless it is already
//     otelhttp's Transport, which then makes the spans (see
//     NewResendTransport for their resend count), or WithoutAttemptSpans
//     is given;
//   - every retry and every give-up is a span event on the logical
//     request's span, the span in the context the caller gave the request
//     (none when it has no recording span);
//   - every decision is counted in the metrics listed in the package doc.
//
// Spans and span events are made with the tracer and the span in the
// request's context; metrics with the meter of WithMeterProvider.
//
// Call Instrument once per client, after Apply and after setting its
// transport: a client with no policy applied gets attempt spans (with no
// resend count) and no metrics, a transport set afterwards replaces the
// one that makes the attempt spans, and a second call on one client counts
// every decision twice. The policy may be
// applied again afterwards. A Clone of an instrumented client is
// instrumented too: it shares its original's observers, and keeps them when
// it gets its own policy, and it shares the transport, since resty's Clone
// shares the *http.Client. Do not instrument a clone again: its decisions
// would be counted twice.
func Instrument(c *resty.Client, opts ...Option) *resty.Client {
	if c == nil {
		return nil
	}
	cfg := config{onError: otel.Handle}
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
	if !cfg.noSpans {
		wrapTransport(c, &cfg)
	}
	ins, err := newInstruments(cfg.mp.Meter(ScopeName))
	if err != nil {
		cfg.onError(err)
		ins = nil
	}
	o := &observer{ins: ins}
	restyretry.Observe(c, o.observe)
	return c
}

// wrapTransport puts an attemptTransport over c's transport, unless one
// already makes attempt spans.
func wrapTransport(c *resty.Client, cfg *config) {
	hc := c.GetClient()
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if _, ours := base.(*attemptTransport); ours || isOtelHTTP(base) {
		return
	}
	c.SetTransport(newAttemptTransport(base, cfg.tp.Tracer(ScopeName), cfg.prop))
}

// observer receives the client's events.
type observer struct {
	ins *instruments // nil when the instruments could not be made
}

func (o *observer) observe(ev restyretry.Event) {
	reason := reasonOf(&ev)
	if o.ins != nil {
		o.ins.record(&ev, reason)
	}
	if name := spanEventName(&ev, reason); name != "" {
		addSpanEvent(&ev, name, reason)
	}
}
