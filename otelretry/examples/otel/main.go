// Command otel shows what otelretry records. It starts a flaky HTTP server
// on 127.0.0.1, sends four requests to it with an instrumented restyretry
// client (WithRequestSpan: one span per logical request), and prints a
// summary: the tree of spans with their span events, then one line per
// metric. With -json it prints the raw export instead, with
// OpenTelemetry's stdout exporters (spans, then metrics):
//
//	go run ./examples/otel          (in the otelretry module)
//	go run ./examples/otel -json
//
// The requests: a GET that fails twice with 503 and then succeeds; a GET
// rate-limited once with Retry-After-Ms; a GET to a service that is down,
// which uses up its retries; and a POST answered 503 with a Retry-After of
// an hour, which gives up at once. The first three run under a span of the
// caller's; the POST has none, so its request span is the root of its
// trace. The policy's random source is fixed, so that only IDs, the port
// and durations change from run to run. It needs no network beyond
// loopback and takes well under a second.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

func main() {
	raw := flag.Bool("json", false, "print the raw export (stdouttrace and stdoutmetric JSON) instead of the summary")
	flag.Parse()
	res, err := run(os.Stdout, policy())
	if err == nil {
		if *raw {
			err = res.writeJSON(os.Stdout)
		} else {
			res.writeSummary(os.Stdout)
		}
	}
	if err != nil {
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
		// A budget of 100 pool tokens, which the example spends little
		// of: its gauges show each route's tokens and the pool's.
		Budget: restyretry.Budget{Ratio: 0.2, Reserve: 100},
	}
}

// request is one request of the example and the outcome it must have.
type request struct {
	span, method, path, about string // span "" for none
	status                    int    // the final status
	err                       error  // the reason of the give-up, if any
}

var requests = []request{
	{"checkout", http.MethodGet, "/inventory", "fails twice with 503, then succeeds", http.StatusOK, nil},
	{"quote", http.MethodGet, "/rates", "429 with Retry-After-Ms: 25, then succeeds", http.StatusOK, nil},
	{"report", http.MethodGet, "/down", "always 503: uses up its 2 retries", http.StatusServiceUnavailable, nil},
	{"", http.MethodPost, "/upload", "503 with Retry-After: 3600: gives up at once; no caller span", http.StatusServiceUnavailable, restyretry.ErrWaitTooLong},
}

// result is what the example recorded.
type result struct {
	spans   []sdktrace.ReadOnlySpan
	metrics metricdata.ResourceMetrics
	port    string
}

// run plays the example; notes about the requests go to w. It returns an
// error if a request ends otherwise than planned.
func run(w io.Writer, p restyretry.Policy) (*result, error) {
	srv := httptest.NewServer(newFlakyServer())
	defer srv.Close()

	res := resource.NewSchemaless(semconv.ServiceName("otelretry-example"))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithResource(res))
	defer tp.Shutdown(context.Background())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
	defer mp.Shutdown(context.Background())

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := p.Apply(resty.New().SetTransport(tr))
	otelretry.Instrument(client, otelretry.WithTracerProvider(tp), otelretry.WithMeterProvider(mp),
		otelretry.WithPropagators(propagation.TraceContext{}), otelretry.WithRequestSpan())
	tracer := tp.Tracer("example")

	for i, rq := range requests {
		ctx := context.Background()
		end := func() {}
		if rq.span != "" {
			var span trace.Span
			ctx, span = tracer.Start(ctx, rq.span)
			end = func() { span.End() }
		}
		resp, err := client.R().SetContext(ctx).Execute(rq.method, srv.URL+rq.path)
		end()
		status := 0
		if resp != nil {
			status = resp.StatusCode()
		}
		if status != rq.status || !errors.Is(err, rq.err) || (rq.err == nil && err != nil) {
			return nil, fmt.Errorf("request %d: status %d, error %v; want %d, %v", i+1, status, err, rq.status, rq.err)
		}
		fmt.Fprintf(w, "request %d: %s %s: %s: status %d\n", i+1, rq.method, rq.path, rq.about, status)
	}
	r := &result{spans: spans.Ended(), port: srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]}
	return r, reader.Collect(context.Background(), &r.metrics)
}

// writeJSON writes the raw export: every span as stdouttrace prints it,
// then the metrics as stdoutmetric does.
func (r *result) writeJSON(w io.Writer) error {
	se, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint(), stdouttrace.WithoutTimestamps())
	if err != nil {
		return err
	}
	if err := se.ExportSpans(context.Background(), r.spans); err != nil {
		return err
	}
	me, err := stdoutmetric.New(stdoutmetric.WithWriter(w), stdoutmetric.WithPrettyPrint(), stdoutmetric.WithoutTimestamps())
	if err != nil {
		return err
	}
	return me.Export(context.Background(), &r.metrics)
}

// writeSummary writes the tree of spans, each with its kind, its main
// attributes and its events, and one line per metric.
func (r *result) writeSummary(w io.Writer) {
	fmt.Fprintf(w, "\nspans (server on 127.0.0.1:%s; span IDs shortened to 4 hex digits)\n", r.port)
	byParent := make(map[string][]sdktrace.ReadOnlySpan)
	ids := make(map[string]bool)
	for _, s := range r.spans {
		ids[s.SpanContext().SpanID().String()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range r.spans {
		if p := s.Parent().SpanID().String(); s.Parent().IsValid() && ids[p] {
			byParent[p] = append(byParent[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) }
	slices.SortFunc(roots, byStart)
	var walk func(s sdktrace.ReadOnlySpan, prefix string, last bool, root bool)
	walk = func(s sdktrace.ReadOnlySpan, prefix string, last, root bool) {
		branch, next := "├─ ", "│  "
		if last {
			branch, next = "└─ ", "   "
		}
		if root {
			branch, next = "", ""
		}
		fmt.Fprintf(w, "%s%s%s\n", prefix, branch, spanLine(s, r.port))
		kids := byParent[s.SpanContext().SpanID().String()]
		slices.SortFunc(kids, byStart)
		lines := len(kids) + len(s.Events())
		for i, e := range s.Events() {
			mark := "├─ "
			if i == lines-1 {
				mark = "└─ "
			}
			fmt.Fprintf(w, "%s%s%s· %s\n", prefix, next, mark, eventLine(e))
		}
		for i, k := range kids {
			walk(k, prefix+next, i == len(kids)-1, false)
		}
	}
	for _, s := range roots {
		walk(s, "", true, true)
	}
	fmt.Fprintln(w, "\nmetrics (one line each: kind, unit, what was recorded)")
	for _, sm := range r.metrics.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Fprintln(w, metricLine(m))
		}
	}
}

func short(id string) string { return id[:4] }

// labelled is an attribute and the short name the summary gives it.
type labelled struct {
	key   attribute.Key
	label string
}

var spanLabels = []labelled{
	{"http.response.status_code", "status"}, {"error.type", "error"}, {"http.request.resend_count", "resend"},
	{otelretry.AttemptsKey, "attempts"}, {otelretry.ReasonKey, "reason"}, {"url.full", "url"},
}

var eventLabels = []labelled{
	{otelretry.AttemptKey, "attempt"}, {otelretry.RuleKey, "rule"}, {"http.response.status_code", "status"},
	{otelretry.WaitDurationKey, "wait"}, {otelretry.WaitSourceKey, "source"}, {otelretry.ReasonKey, "reason"},
	{otelretry.AttemptSpanIDKey, "attempt_span"},
}

// spanLine is a span in a few words: name, kind, status, the attributes
// that tell attempts apart.
func spanLine(s sdktrace.ReadOnlySpan, port string) string {
	a := attribute.NewSet(s.Attributes()...)
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s %s]", s.Name(), s.SpanKind(), short(s.SpanContext().SpanID().String()))
	if s.Status().Code.String() == "Error" {
		b.WriteString(" ERROR")
	}
	for _, k := range spanLabels {
		if v, ok := a.Value(k.key); ok {
			val := v.String()
			if k.key == "url.full" {
				val = strings.Replace(val, "127.0.0.1:"+port, "…", 1)
			}
			fmt.Fprintf(&b, " %s=%s", k.label, val)
		}
	}
	return b.String()
}

// eventLine is a span event in a few words.
func eventLine(e sdktrace.Event) string {
	a := attribute.NewSet(e.Attributes...)
	var b strings.Builder
	b.WriteString(e.Name)
	for _, k := range eventLabels {
		if v, ok := a.Value(k.key); ok {
			val := v.String()
			switch k.key {
			case otelretry.WaitDurationKey:
				val += "s"
			case otelretry.AttemptSpanIDKey:
				val = short(val)
			}
			fmt.Fprintf(&b, " %s=%s", k.label, val)
		}
	}
	return b.String()
}

// metricLine is one metric in a line: its name, kind and unit, and its
// values by the attribute that matters most for it.
func metricLine(m metricdata.Metrics) string {
	keys := map[string][]attribute.Key{
		otelretry.MetricRetries:         {"http.request.method", "http.response.status_code"},
		otelretry.MetricGiveUps:         {otelretry.ReasonKey},
		otelretry.MetricRefusals:        {otelretry.RefusalKey},
		otelretry.MetricWait:            {otelretry.WaitSourceKey},
		otelretry.MetricAttempts:        {"http.request.method", otelretry.RuleKey},
		otelretry.MetricRequestDuration: {"http.request.method", "http.response.status_code"},
		otelretry.MetricClientDuration:  {"http.request.method", "http.response.status_code"},
		otelretry.MetricBudgetTokens:    {otelretry.RouteKey},
		otelretry.MetricBudgetFailing:   {otelretry.RouteKey},
		otelretry.MetricPacingHeld:      {"server.address"},
		otelretry.MetricPacingRate:      {"server.address"},
	}[m.Name]
	var names []string
	for _, k := range keys {
		names = append(names, string(k))
	}
	by := strings.Join(names, "+")
	label := func(s attribute.Set) string {
		var vals []string
		for _, k := range keys {
			v, ok := s.Value(k)
			if !ok {
				vals = append(vals, "-")
				continue
			}
			vals = append(vals, v.String())
		}
		return strings.Join(vals, "+")
	}
	var parts []string
	kind := ""
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		kind = "counter"
		var total int64
		for _, p := range d.DataPoints {
			total += p.Value
			parts = append(parts, fmt.Sprintf("%s:%d", label(p.Attributes), p.Value))
		}
		return fmt.Sprintf("%-34s %-9s %-9s total %d; by %s %s", m.Name, kind, m.Unit, total, by, strings.Join(sorted(parts), " "))
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			parts = append(parts, fmt.Sprintf("%s:%d/%d", label(p.Attributes), p.Count, p.Sum))
		}
		return fmt.Sprintf("%-34s %-9s %-9s count/sum by %s %s", m.Name, "histogram", m.Unit, by, strings.Join(sorted(parts), " "))
	case metricdata.Histogram[float64]:
		exemplars := 0
		for _, p := range d.DataPoints {
			exemplars += len(p.Exemplars)
			parts = append(parts, fmt.Sprintf("%s:%d/%s", label(p.Attributes), p.Count, seconds(p.Sum, m.Name == otelretry.MetricWait)))
		}
		return fmt.Sprintf("%-34s %-9s %-9s count/sum by %s %s; %d exemplars", m.Name, "histogram", m.Unit, by, strings.Join(sorted(parts), " "), exemplars)
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			v := fmt.Sprintf("%g", p.Value)
			if m.Unit == "s" && p.Value > 0 {
				v = ">0" // a failure episode still running: its length varies
			}
			if len(keys) > 0 {
				v = label(p.Attributes) + "=" + v
			}
			parts = append(parts, v)
		}
		return gaugeLine(m, by, parts)
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			parts = append(parts, fmt.Sprintf("%s=%d", label(p.Attributes), p.Value))
		}
		return gaugeLine(m, by, parts)
	}
	return fmt.Sprintf("%-34s %T", m.Name, m.Data)
}

func gaugeLine(m metricdata.Metrics, by string, parts []string) string {
	if by == "" {
		return fmt.Sprintf("%-34s %-9s %-9s %s", m.Name, "gauge", m.Unit, strings.Join(sorted(parts), " "))
	}
	return fmt.Sprintf("%-34s %-9s %-9s by %s %s", m.Name, "gauge", m.Unit, by, strings.Join(sorted(parts), " "))
}

// seconds prints a sum of seconds: exactly for the waits, which the fixed
// policy makes exact, else in milliseconds.
func seconds(v float64, exact bool) string {
	if exact {
		return fmt.Sprintf("%gs", v)
	}
	return fmt.Sprintf("%.1fms", v*1000)
}

func sorted(s []string) []string {
	slices.SortFunc(s, func(a, b string) int { return cmp.Compare(a, b) })
	return s
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
