// Command otel shows what otelretry records. It starts a flaky HTTP server
// on 127.0.0.1, sends four requests to it with an instrumented restyretry
// client, each under a span of its own, and prints the spans as they end
// and then the metrics, with OpenTelemetry's stdout exporters:
//
//	go run ./examples/otel    (in the otelretry module)
//
// The requests: a GET that fails twice with 503 and then succeeds; a GET
// rate-limited once with Retry-After-Ms; a GET to a service that is down,
// which uses up its retries; and a POST answered 503 with a Retry-After of
// an hour, which gives up at once. Timestamps are left out of the output
// and the policy's random source is fixed, so that only the trace and span
// IDs and the server's port change from run to run. It takes well under a
// second.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

func main() {
	if err := run(os.Stdout, os.Stdout, os.Stdout, policy()); err != nil {
		fmt.Fprintln(os.Stderr, "example failed:", err)
		os.Exit(1)
	}
}

// policy retries twice, after 10ms and 20ms, and honours server waits of
// up to one second. Its random source is fixed at 0.5, so that the spread
// added to a server's wait is always half the largest.
func policy() restyretry.Policy {
	return restyretry.Policy{
		MaxRetries:    2,
		BaseDelay:     10 * time.Millisecond,
		Multiplier:    2,
		MaxDelay:      time.Second,
		Jitter:        restyretry.NoJitter,
		MaxRetryAfter: time.Second,
		Rand:          func() float64 { return 0.5 },
	}
}

// request is one request of the example and the outcome it must have.
type request struct {
	span, method, path, about string
	status                    int   // the final status
	err                       error // the reason of the give-up, if any
}

var requests = []request{
	{"checkout", http.MethodGet, "/inventory", "fails twice with 503, then succeeds", http.StatusOK, nil},
	{"quote", http.MethodGet, "/rates", "429 with Retry-After-Ms: 25, then succeeds", http.StatusOK, nil},
	{"report", http.MethodGet, "/down", "always 503: uses up its 2 retries", http.StatusServiceUnavailable, nil},
	{"import", http.MethodPost, "/upload", "503 with Retry-After: 3600: gives up at once", http.StatusServiceUnavailable, restyretry.ErrWaitTooLong},
}

// run plays the example: notes go to w, spans to spans, metrics to
// metrics. It returns an error if a request ends otherwise than planned.
func run(w, spans, metrics io.Writer, p restyretry.Policy) error {
	srv := httptest.NewServer(newFlakyServer())
	defer srv.Close()

	res := resource.NewSchemaless(semconv.ServiceName("otelretry-example"))
	spanExp, err := stdouttrace.New(stdouttrace.WithWriter(spans), stdouttrace.WithPrettyPrint(), stdouttrace.WithoutTimestamps())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanExp), sdktrace.WithResource(res))
	defer tp.Shutdown(context.Background())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
	defer mp.Shutdown(context.Background())

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := p.Apply(resty.New().SetTransport(tr))
	otelretry.Instrument(client, otelretry.WithTracerProvider(tp), otelretry.WithMeterProvider(mp),
		otelretry.WithPropagators(propagation.TraceContext{}))
	tracer := tp.Tracer("example")

	fmt.Fprintln(w, "otelretry example: a flaky server is running on 127.0.0.1")
	for i, rq := range requests {
		fmt.Fprintf(w, "\n=== request %d: %s %s under span %q: %s\n", i+1, rq.method, rq.path, rq.span, rq.about)
		ctx, span := tracer.Start(context.Background(), rq.span)
		resp, err := client.R().SetContext(ctx).Execute(rq.method, srv.URL+rq.path)
		span.End() // the attempt spans were printed as they ended; this one follows
		status := 0
		if resp != nil {
			status = resp.StatusCode()
		}
		if status != rq.status || !errors.Is(err, rq.err) || (rq.err == nil && err != nil) {
			return fmt.Errorf("request %d: status %d, error %v; want %d, %v", i+1, status, err, rq.status, rq.err)
		}
		fmt.Fprintf(w, "--- request %d ended: status %d, error %v\n", i+1, status, err)
	}

	fmt.Fprintln(w, "\n=== metrics")
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		return err
	}
	metricExp, err := stdoutmetric.New(stdoutmetric.WithWriter(metrics), stdoutmetric.WithPrettyPrint(), stdoutmetric.WithoutTimestamps())
	if err != nil {
		return err
	}
	return metricExp.Export(context.Background(), &rm)
}

// newFlakyServer answers /inventory 503 twice, then 200; /rates 429 with
// Retry-After-Ms: 25 once, then 200; /down always 503; /upload 503 with
// Retry-After: 3600.
func newFlakyServer() http.Handler {
	var mu sync.Mutex
	seen := make(map[string]int)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		n := seen[r.URL.Path]
		mu.Unlock()
		switch {
		case r.URL.Path == "/inventory" && n <= 2, r.URL.Path == "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/rates" && n == 1:
			w.Header().Set("Retry-After-Ms", "25")
			w.WriteHeader(http.StatusTooManyRequests)
		case r.URL.Path == "/upload":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ok")
		}
	})
}
