package otelretry_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestInstrumentKinds: every instrument has the kind, unit and bucket
// boundaries the package doc lists (the HTTP conventions' for
// http.client.request.duration).
func TestInstrumentKinds(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	p := fastPolicy(1)
	c := otelretry.Instrument(newClient(t, p), tel.options()...)
	_, _ = c.R().Get(srv.URL + "/ok")        // a retry, then success
	_, _ = c.R().Get(srv.URL + "/ok?second") // success at once
	// Always 503: one retry, then MaxRetries gives up (a policy with no
	// retry at all would not: nobody asked for one).
	down := newScript(t, func(string, int) int { return http.StatusServiceUnavailable })
	_, _ = otelretry.Instrument(newClient(t, fastPolicy(1)), tel.options()...).R().Get(down.URL + "/gives-up")

	semconvBuckets := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	cases := []struct {
		name, unit, kind string
		buckets          []float64
	}{
		{otelretry.MetricRetries, "{retry}", "Sum[int64]", nil},
		{otelretry.MetricGiveUps, "{request}", "Sum[int64]", nil},
		{otelretry.MetricAttempts, "{attempt}", "Histogram[int64]", []float64{1, 2, 3, 4, 5, 6, 8, 10, 16}},
		{otelretry.MetricWait, "s", "Histogram[float64]", []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}},
		{otelretry.MetricClientDuration, "s", "Histogram[float64]", semconvBuckets},
		{otelretry.MetricRequestDuration, "s", "Histogram[float64]", append(slices.Clone(semconvBuckets), 30, 60, 120, 300)},
	}
	ms := tel.collect(t)
	for _, tc := range cases {
		m, ok := ms[tc.name]
		if !ok {
			t.Errorf("%s not recorded", tc.name)
			continue
		}
		if m.Unit != tc.unit {
			t.Errorf("%s: unit %q, want %q", tc.name, m.Unit, tc.unit)
		}
		var kind string
		var bounds []float64
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			kind = "Sum[int64]"
			if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
				t.Errorf("%s: monotonic %v, temporality %v; want a monotonic cumulative counter", tc.name, d.IsMonotonic, d.Temporality)
			}
		case metricdata.Histogram[int64]:
			kind, bounds = "Histogram[int64]", d.DataPoints[0].Bounds
		case metricdata.Histogram[float64]:
			kind, bounds = "Histogram[float64]", d.DataPoints[0].Bounds
		default:
			kind = fmt.Sprintf("%T", m.Data)
		}
		if kind != tc.kind {
			t.Errorf("%s: %s, want %s", tc.name, kind, tc.kind)
		}
		if fmt.Sprint(bounds) != fmt.Sprint(tc.buckets) {
			t.Errorf("%s: buckets %v, want %v", tc.name, bounds, tc.buckets)
		}
	}
}

// TestClientDuration: http.client.request.duration has one measurement
// per attempt, with the conventions' attributes, and each data point
// carries exemplars from the attempt spans (the SDK's default exemplar
// filter is trace based: a sampled span in the measurement's context).
func TestClientDuration(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(2))
	c := otelretry.Instrument(newClient(t, fastPolicy(3)), tel.options()...)
	ctx, caller := tel.tp.Tracer("caller").Start(context.Background(), "caller")
	resp, err := c.R().SetContext(ctx).Get(srv.URL + "/d?x=1")
	caller.End()
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("status %d, err %v", resp.StatusCode(), err)
	}
	port := fmt.Sprint(srv.port(t))
	ms := tel.collect(t)
	h := ms[otelretry.MetricClientDuration].Data.(metricdata.Histogram[float64])
	got := make(map[string]uint64)
	attemptIDs := make(map[string]bool)
	for _, s := range attemptSpans(tel, otelretry.ScopeName) {
		attemptIDs[s.SpanContext().SpanID().String()] = true
	}
	for _, dp := range h.DataPoints {
		got[key(dp.Attributes)] = dp.Count
		if len(dp.Exemplars) == 0 {
			t.Errorf("%s: no exemplar", key(dp.Attributes))
		}
		for _, ex := range dp.Exemplars {
			id := fmt.Sprintf("%x", ex.SpanID)
			if !attemptIDs[id] || fmt.Sprintf("%x", ex.TraceID) != caller.SpanContext().TraceID().String() {
				t.Errorf("exemplar span %s trace %x: want an attempt span of the caller's trace", id, ex.TraceID)
			}
		}
	}
	base := []string{"http.request.method", "GET", "network.protocol.version", "1.1", "server.address", "127.0.0.1",
		"server.port", port, "url.scheme", "http"}
	want := map[string]uint64{
		series(sortPairs(append(slices.Clone(base), "http.response.status_code", "503", "error.type", "503"))...): 2,
		series(sortPairs(append(slices.Clone(base), "http.response.status_code", "200"))...):                      1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("client durations\n got %v\nwant %v", got, want)
	}
}

// TestRequestDuration: restyretry.request.duration measures the whole
// logical request, waits included: a request that waits 20ms and 40ms
// between its attempts takes at least 60ms; the attempts alone take less.
// Its exemplar is the caller's span.
func TestRequestDuration(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(2))
	p := fastPolicy(3)
	p.BaseDelay, p.MaxDelay = 20*time.Millisecond, time.Second
	c := otelretry.Instrument(newClient(t, p), tel.options()...)
	ctx, caller := tel.tp.Tracer("caller").Start(context.Background(), "caller")
	if _, err := c.R().SetContext(ctx).Get(srv.URL + "/slow"); err != nil {
		t.Fatal(err)
	}
	caller.End()
	ms := tel.collect(t)
	req := ms[otelretry.MetricRequestDuration].Data.(metricdata.Histogram[float64])
	if len(req.DataPoints) != 1 {
		t.Fatalf("%d request series, want 1", len(req.DataPoints))
	}
	dp := req.DataPoints[0]
	if dp.Count != 1 || dp.Sum < 0.060 || dp.Sum > 5 {
		t.Errorf("request duration count %d sum %v, want 1 of at least 60ms", dp.Count, dp.Sum)
	}
	if v, _ := dp.Attributes.Value("http.response.status_code"); v.AsInt64() != 200 {
		t.Errorf("request duration attributes %s, want the final status 200", key(dp.Attributes))
	}
	if len(dp.Exemplars) != 1 || fmt.Sprintf("%x", dp.Exemplars[0].SpanID) != caller.SpanContext().SpanID().String() {
		t.Errorf("exemplars %+v, want one of the caller's span", dp.Exemplars)
	}
	var attempts float64
	for _, p := range ms[otelretry.MetricClientDuration].Data.(metricdata.Histogram[float64]).DataPoints {
		attempts += p.Sum
	}
	if attempts >= dp.Sum {
		t.Errorf("the attempts took %vs, the request %vs: the waits are missing", attempts, dp.Sum)
	}
}

// TestRequestDurationGiveUp: a request that gives up is measured with its
// final status, error.type and the reason.
func TestRequestDurationGiveUp(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, func(string, int) int { return http.StatusServiceUnavailable })
	c := otelretry.Instrument(newClient(t, fastPolicy(1)), tel.options()...)
	_, _ = c.R().Get(srv.URL)
	ms := tel.collect(t)
	got := hists[float64](t, ms, otelretry.MetricRequestDuration)
	port := fmt.Sprint(srv.port(t))
	want := series(sortPairs([]string{"error.type", "503", "http.request.method", "GET", "http.response.status_code", "503",
		"restyretry.give_up.reason", "retries_exhausted", "server.address", "127.0.0.1", "server.port", port})...)
	if h, ok := got[want]; len(got) != 1 || !ok || h.count != 1 {
		t.Errorf("request durations %v, want one in %s", got, want)
	}
}
