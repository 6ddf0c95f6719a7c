package otelretry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkSuccess measures the success path (one attempt, no retry) of
// a restyretry client against a loopback server: plain, observed by a
// no-op observer, instrumented by otelretry, instrumented by otelhttp's
// transport only, and both. The tracer is the SDK's, sampling every span,
// with no span processor; the meter is the SDK's with a manual reader.
// "span" is the tracer alone: one Start and End with the attributes an
// attempt span carries, the reference for "what the tracer allocates".
func BenchmarkSuccess(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())
	tc := propagation.TraceContext{}
	none := propagation.NewCompositeTextMapPropagator()

	base := func() (*resty.Client, *http.Transport) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		return fastPolicy(2).Apply(resty.New().SetTransport(tr)), tr
	}
	viaOtelhttp := func(prop propagation.TextMapPropagator) (*resty.Client, *http.Transport) {
		c, tr := base()
		c.SetTransport(otelhttp.NewTransport(tr, otelhttp.WithTracerProvider(tp),
			otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(prop)))
		return c, tr
	}
	cases := []struct {
		name string
		make func() (*resty.Client, *http.Transport)
	}{
		{"plain", base},
		{"observed", func() (*resty.Client, *http.Transport) {
			c, tr := base()
			return restyretry.Observe(c, func(restyretry.Event) {}), tr
		}},
		{"otelretry", func() (*resty.Client, *http.Transport) {
			c, tr := base()
			return otelretry.Instrument(c, otelretry.WithTracerProvider(tp), otelretry.WithMeterProvider(mp),
				otelretry.WithPropagators(none)), tr
		}},
		{"otelhttp", func() (*resty.Client, *http.Transport) { return viaOtelhttp(none) }},
		{"otelhttp+otelretry", func() (*resty.Client, *http.Transport) {
			c, tr := viaOtelhttp(none)
			return otelretry.Instrument(c, otelretry.WithTracerProvider(tp), otelretry.WithMeterProvider(mp)), tr
		}},
		{"otelretry/tracecontext", func() (*resty.Client, *http.Transport) {
			c, tr := base()
			return otelretry.Instrument(c, otelretry.WithTracerProvider(tp), otelretry.WithMeterProvider(mp),
				otelretry.WithPropagators(tc)), tr
		}},
		{"otelhttp/tracecontext", func() (*resty.Client, *http.Transport) { return viaOtelhttp(tc) }},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			c, tr := bc.make()
			defer tr.CloseIdleConnections()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.R().SetContext(ctx).Get(srv.URL + "/x")
				if err != nil || resp.StatusCode() != http.StatusOK {
					b.Fatalf("status %d, err %v", resp.StatusCode(), err)
				}
			}
		})
	}
	b.Run("span", func(b *testing.B) {
		tracer := tp.Tracer("bench")
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
		if err != nil {
			b.Fatal(err)
		}
		var buf [8]attribute.KeyValue
		b.ReportAllocs()
		for b.Loop() {
			referenceSpan(tracer, req, http.StatusOK, &buf)
		}
	})
}

// referenceSpan makes the span an attempt of req makes, with the same
// calls: Start, the request attributes, the status, End. Its allocations
// are the tracer's (the span, its attribute storage) and the attribute
// values' (url.full); buf is reused, as the transport reuses its own.
func referenceSpan(tracer trace.Tracer, req *http.Request, status int, buf *[8]attribute.KeyValue) {
	_, span := tracer.Start(req.Context(), "GET", spanStart...)
	span.SetAttributes(otelretry.RequestAttrs(buf[:0], req, 0, false)...)
	span.SetAttributes(append(buf[:0], semconv.HTTPResponseStatusCode(status))...)
	span.End()
}

var spanStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
