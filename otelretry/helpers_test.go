package otelretry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// fastPolicy retries up to maxRetries times after 1ms, 2ms, 4ms (no
// jitter), honours server waits up to 1s and has no retry budget unless
// the test sets one.
func fastPolicy(maxRetries int) restyretry.Policy {
	return restyretry.Policy{
		MaxRetries:    maxRetries,
		BaseDelay:     time.Millisecond,
		Multiplier:    2,
		MaxDelay:      4 * time.Millisecond,
		Jitter:        restyretry.NoJitter,
		MaxRetryAfter: time.Second,
	}
}

// telemetry is an in-memory tracer and meter provider pair.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = tel.mp.Shutdown(context.Background())
	})
	return tel
}

func (tel *telemetry) options() []otelretry.Option {
	return []otelretry.Option{otelretry.WithTracerProvider(tel.tp), otelretry.WithMeterProvider(tel.mp)}
}

// collect reads every metric, by name.
func (tel *telemetry) collect(t testing.TB) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := make(map[string]metricdata.Metrics)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// key encodes an attribute set as sorted "k=v" pairs joined by commas.
func key(s attribute.Set) string {
	return s.Encoded(attribute.DefaultEncoder())
}

// sums returns the data points of an Int64 counter by attribute set.
func sums(t testing.TB, ms map[string]metricdata.Metrics, name string) map[string]int64 {
	t.Helper()
	out := make(map[string]int64)
	m, ok := ms[name]
	if !ok {
		return out
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: data is %T, not an int64 sum", name, m.Data)
	}
	for _, dp := range sum.DataPoints {
		out[key(dp.Attributes)] = dp.Value
	}
	return out
}

// histPoint is the part of a histogram data point the tests check.
type histPoint struct {
	count  uint64
	sum    float64
	counts []uint64
}

func hists[N int64 | float64](t testing.TB, ms map[string]metricdata.Metrics, name string) map[string]histPoint {
	t.Helper()
	out := make(map[string]histPoint)
	m, ok := ms[name]
	if !ok {
		return out
	}
	h, ok := m.Data.(metricdata.Histogram[N])
	if !ok {
		t.Fatalf("%s: data is %T", name, m.Data)
	}
	for _, dp := range h.DataPoints {
		out[key(dp.Attributes)] = histPoint{count: dp.Count, sum: float64(dp.Sum), counts: dp.BucketCounts}
	}
	return out
}

// script is a loopback server that answers each path with the statuses
// listed for it, in turn, then 200; it records the traceparent header of
// every request.
type script struct {
	*httptest.Server
	mu      sync.Mutex
	plan    func(path string, n int) int // the status of the nth request (1-based) to path
	counts  map[string]int
	parents []string
}

func newScript(t testing.TB, plan func(path string, n int) int) *script {
	t.Helper()
	s := &script{plan: plan, counts: make(map[string]int)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[r.URL.Path]++
		n := s.counts[r.URL.Path]
		s.parents = append(s.parents, r.Header.Get("Traceparent"))
		s.mu.Unlock()
		w.WriteHeader(s.plan(r.URL.Path, n))
	}))
	t.Cleanup(s.Close)
	return s
}

// failFirst answers 503 to the first k requests to every path.
func failFirst(k int) func(string, int) int {
	return func(_ string, n int) int {
		if n <= k {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
}

func (s *script) port(t testing.TB) int {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newClient returns a resty client with p applied, whose idle
// connections are closed in cleanup.
func newClient(t testing.TB, p restyretry.Policy) *resty.Client {
	t.Helper()
	c := p.Apply(resty.New())
	t.Cleanup(func() { c.GetClient().CloseIdleConnections() })
	return c
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// sortPairs sorts key, value pairs by key.
func sortPairs(kv []string) []string {
	type pair struct{ k, v string }
	ps := make([]pair, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, pair{kv[i], kv[i+1]})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].k < ps[j].k })
	out := make([]string, 0, len(kv))
	for _, p := range ps {
		out = append(out, p.k, p.v)
	}
	return out
}

// parentOf is the span among spans that is s's parent, nil if none.
func parentOf(s sdktrace.ReadOnlySpan, spans []sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	for _, p := range spans {
		if p.SpanContext().SpanID() == s.Parent().SpanID() {
			return p
		}
	}
	return nil
}

// clientSpans counts the client spans of all, by the physical request
// they were made for (their url.full and resend count).
func clientSpans(all []sdktrace.ReadOnlySpan) map[string]int {
	out := make(map[string]int)
	for _, s := range all {
		if s.SpanKind() != trace.SpanKindClient {
			continue
		}
		a := attrMap(s.Attributes())
		out[a["url.full"]+"#"+a["http.request.resend_count"]]++
	}
	return out
}

// children returns the spans of all whose parent is p, in order.
func children(p sdktrace.ReadOnlySpan, all []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range all {
		if s.Parent().SpanID() == p.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}
