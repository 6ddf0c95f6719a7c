package otelretry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// flaky answers the first n requests it sees with 503, then 200.
func flaky(n int32) *httptest.Server {
	var calls atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
}

// examplePolicy retries up to 3 times after 1ms, 2ms, 4ms, without jitter,
// so that the waits the examples print are exact.
func examplePolicy() restyretry.Policy {
	return restyretry.Policy{
		MaxRetries:    3,
		BaseDelay:     time.Millisecond,
		Multiplier:    2,
		MaxDelay:      4 * time.Millisecond,
		Jitter:        restyretry.NoJitter,
		MaxRetryAfter: time.Second,
	}
}

// Instrument gives a client one span per attempt, a span event per retry
// on the caller's span and the retry metrics. Here a GET answered 503
// twice, then 200, is sent under a span "checkout"; the spans are read
// from the SDK's in-memory recorder and the metrics from a manual reader.
func ExampleInstrument() {
	srv := flaky(2)
	defer srv.Close()

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := examplePolicy().Apply(resty.New().SetTransport(tr)) // Apply, set the transport, then Instrument
	otelretry.Instrument(client, otelretry.WithTracerProvider(tp), otelretry.WithMeterProvider(mp))

	ctx, checkout := tp.Tracer("example").Start(context.Background(), "checkout")
	resp, err := client.R().SetContext(ctx).Get(srv.URL)
	checkout.End()
	fmt.Println("status", resp.StatusCode(), "error", err)

	// Spans in the order they ended: the three attempts, then the caller's.
	for _, s := range spans.Ended() {
		a := attribute.NewSet(s.Attributes()...)
		fmt.Printf("span %s (parent %s): status %s, resend_count %s\n", s.Name(), parentName(s, spans.Ended()),
			value(a, "http.response.status_code"), value(a, "http.request.resend_count"))
		for _, ev := range s.Events() {
			e := attribute.NewSet(ev.Attributes...)
			fmt.Printf("  event %s: attempt %s, rule %s, wait %ss (%s)\n", ev.Name,
				value(e, otelretry.AttemptKey), value(e, otelretry.RuleKey),
				value(e, otelretry.WaitDurationKey), value(e, otelretry.WaitSourceKey))
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				rule, _ := p.Attributes.Value(otelretry.RuleKey)
				fmt.Printf("metric %s: %d (rule %s)\n", m.Name, p.Value, rule.String())
			}
		case metricdata.Histogram[int64]:
			for _, p := range d.DataPoints {
				rule, _ := p.Attributes.Value(otelretry.RuleKey)
				fmt.Printf("metric %s: %d request, %d attempts (rule %s)\n", m.Name, p.Count, p.Sum, rule.String())
			}
		case metricdata.Histogram[float64]:
			if m.Name != otelretry.MetricWait {
				// Durations vary: print what they measured, by status.
				var counts []string
				for _, p := range d.DataPoints {
					status, _ := p.Attributes.Value("http.response.status_code")
					counts = append(counts, fmt.Sprintf("%d × %s", p.Count, status.String()))
				}
				sort.Strings(counts)
				fmt.Printf("metric %s (%s): %s\n", m.Name, m.Unit, strings.Join(counts, ", "))
				continue
			}
			for _, p := range d.DataPoints {
				fmt.Printf("metric %s: %d waits, %gs in all\n", m.Name, p.Count, p.Sum)
			}
		}
	}
	// Output:
	// status 200 error <nil>
	// span GET (parent checkout): status 503, resend_count -
	// span GET (parent checkout): status 503, resend_count 1
	// span GET (parent checkout): status 200, resend_count 2
	// span checkout (parent none): status -, resend_count -
	//   event restyretry.retry: attempt 1, rule status, wait 0.001s (backoff)
	//   event restyretry.retry: attempt 2, rule status, wait 0.002s (backoff)
	// metric restyretry.retries: 2 (rule status)
	// metric restyretry.retry.wait.duration: 2 waits, 0.003s in all
	// metric restyretry.attempts: 1 request, 3 attempts (rule success)
	// metric restyretry.request.duration (s): 1 × 200
	// metric http.client.request.duration (s): 1 × 200, 2 × 503
}

// value is the attribute k of set, "-" when it has none.
func value(set attribute.Set, k attribute.Key) string {
	if v, ok := set.Value(k); ok {
		return v.String()
	}
	return "-"
}

// parentName is the name of s's parent among spans, "none" for a root.
func parentName(s sdktrace.ReadOnlySpan, spans []sdktrace.ReadOnlySpan) string {
	for _, p := range spans {
		if p.SpanContext().SpanID() == s.Parent().SpanID() {
			return p.Name()
		}
	}
	return "none"
}

// With otelhttp's transport as the client's, otelhttp makes the attempt
// spans and Instrument adds none of its own; NewResendTransport, put under
// otelhttp's, gives those spans their http.request.resend_count. The span
// events and metrics are Instrument's, as without otelhttp.
func ExampleNewResendTransport() {
	srv := flaky(2)
	defer srv.Close()

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections() // otelhttp's transport does not pass it on
	client := examplePolicy().Apply(resty.New())
	client.SetTransport(otelhttp.NewTransport(otelretry.NewResendTransport(tr), otelhttp.WithTracerProvider(tp)))
	otelretry.Instrument(client, otelretry.WithTracerProvider(tp))

	ctx, checkout := tp.Tracer("example").Start(context.Background(), "checkout")
	resp, err := client.R().SetContext(ctx).Get(srv.URL)
	checkout.End()
	fmt.Println("status", resp.StatusCode(), "error", err)

	for _, s := range spans.Ended() {
		a := attribute.NewSet(s.Attributes()...)
		fmt.Printf("span %s by %s: resend_count %s, %d events\n",
			s.Name(), s.InstrumentationScope().Name, value(a, "http.request.resend_count"), len(s.Events()))
	}
	// Output:
	// status 200 error <nil>
	// span HTTP GET by go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp: resend_count -, 0 events
	// span HTTP GET by go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp: resend_count 1, 0 events
	// span HTTP GET by go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp: resend_count 2, 0 events
	// span checkout by example: resend_count -, 2 events
}
