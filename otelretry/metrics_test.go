package otelretry_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// series formats an attribute set as the tests' key() encodes it.
func series(pairs ...string) string {
	s := ""
	for i := 0; i+1 < len(pairs); i += 2 {
		if s != "" {
			s += ","
		}
		s += pairs[i] + "=" + pairs[i+1]
	}
	return s
}

// TestMetricsBurst: 20 concurrent GETs, each to its own path and query,
// each answered 503 once and then 200: 20 retries, 20 waits of 1ms and 20
// requests of 2 attempts, each in one series (no path, no query in the
// attributes), and no give-up.
func TestMetricsBurst(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	c := otelretry.Instrument(newClient(t, fastPolicy(3)), tel.options()...)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			resp, err := c.R().Get(fmt.Sprintf("%s/orders/%d?user=%d", srv.URL, i, i))
			if err == nil && resp.StatusCode() != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	port := fmt.Sprint(srv.port(t))
	ms := tel.collect(t)

	wantRetries := map[string]int64{series(
		"http.request.method", "GET", "http.response.status_code", "503", "restyretry.rule", "status",
		"restyretry.wait.source", "backoff", "server.address", "127.0.0.1", "server.port", port): 20}
	if got := sums(t, ms, otelretry.MetricRetries); fmt.Sprint(got) != fmt.Sprint(wantRetries) {
		t.Errorf("retries\n got %v\nwant %v", got, wantRetries)
	}
	waits := hists[float64](t, ms, otelretry.MetricWait)
	wk := series("http.request.method", "GET", "restyretry.wait.source", "backoff", "server.address", "127.0.0.1", "server.port", port)
	if w := waits[wk]; len(waits) != 1 || w.count != 20 || w.sum < 0.0199 || w.sum > 0.0201 || w.counts[0] != 20 {
		t.Errorf("waits %v, want 20 of 1ms in %s", waits, wk)
	}
	att := hists[int64](t, ms, otelretry.MetricAttempts)
	ak := series("http.request.method", "GET", "restyretry.rule", "success", "server.address", "127.0.0.1", "server.port", port)
	if a := att[ak]; len(att) != 1 || a.count != 20 || a.sum != 40 || a.counts[1] != 20 {
		t.Errorf("attempts %v, want 20 requests of 2 attempts in %s", att, ak)
	}
	if g := sums(t, ms, otelretry.MetricGiveUps); len(g) != 0 {
		t.Errorf("give-ups %v, want none", g)
	}
	if r := sums(t, ms, otelretry.MetricRefusals); len(r) != 0 {
		t.Errorf("refusals %v, want none", r)
	}
}

// TestMetricsOutageBudget: a server that always answers 503 and a budget
// of 2 retries with no deposits: the first request retries twice and is
// refused its third retry; the 9 after it are refused their first. 2
// retries, 10 budget give-ups and refusals, 12 attempts for 10 requests.
func TestMetricsOutageBudget(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, func(string, int) int { return http.StatusServiceUnavailable })
	p := fastPolicy(3)
	p.Budget = restyretry.Budget{Reserve: 2}
	c := otelretry.Instrument(newClient(t, p), tel.options()...)
	for range 10 {
		if _, err := c.R().Get(srv.URL); !errorsIs(err, restyretry.ErrBudgetExhausted) {
			t.Fatalf("err %v, want ErrBudgetExhausted", err)
		}
	}
	port := fmt.Sprint(srv.port(t))
	ms := tel.collect(t)
	host := []string{"http.request.method", "GET", "server.address", "127.0.0.1", "server.port", port}
	with := func(extra ...string) string {
		return series(sortPairs(append(append([]string{}, host...), extra...))...)
	}

	checks := []struct {
		metric string
		want   map[string]int64
	}{
		{otelretry.MetricRetries, map[string]int64{with("http.response.status_code", "503", "restyretry.rule", "status", "restyretry.wait.source", "backoff"): 2}},
		{otelretry.MetricGiveUps, map[string]int64{with("restyretry.give_up.reason", "budget_exhausted", "restyretry.rule", "status"): 10}},
		{otelretry.MetricRefusals, map[string]int64{with("restyretry.refusal", "budget"): 10}},
	}
	for _, ch := range checks {
		if got := sums(t, ms, ch.metric); fmt.Sprint(got) != fmt.Sprint(ch.want) {
			t.Errorf("%s\n got %v\nwant %v", ch.metric, got, ch.want)
		}
	}
	att := hists[int64](t, ms, otelretry.MetricAttempts)
	if a := att[with("restyretry.rule", "status")]; len(att) != 1 || a.count != 10 || a.sum != 12 || a.counts[0] != 9 || a.counts[2] != 1 {
		t.Errorf("attempts %v, want 9 requests of 1 attempt and 1 of 3", att)
	}
}

// TestMetricsOutageRefused: a port nobody listens on: every attempt fails
// with connection_refused; MaxRetries 2 gives up 5 requests after 3
// attempts each.
func TestMetricsOutageRefused(t *testing.T) {
	tel := newTelemetry(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	c := otelretry.Instrument(newClient(t, fastPolicy(2)), tel.options()...)
	for range 5 {
		if _, err := c.R().Get(fmt.Sprintf("http://127.0.0.1:%d/", addr.Port)); err == nil {
			t.Fatal("no error from a closed port")
		}
	}
	port := fmt.Sprint(addr.Port)
	ms := tel.collect(t)
	wantRetries := map[string]int64{series("error.type", "connection_refused", "http.request.method", "GET",
		"restyretry.rule", "network", "restyretry.wait.source", "backoff", "server.address", "127.0.0.1", "server.port", port): 10}
	if got := sums(t, ms, otelretry.MetricRetries); fmt.Sprint(got) != fmt.Sprint(wantRetries) {
		t.Errorf("retries\n got %v\nwant %v", got, wantRetries)
	}
	wantGiveUps := map[string]int64{series("http.request.method", "GET", "restyretry.give_up.reason", "retries_exhausted",
		"restyretry.rule", "max-retries", "server.address", "127.0.0.1", "server.port", port): 5}
	if got := sums(t, ms, otelretry.MetricGiveUps); fmt.Sprint(got) != fmt.Sprint(wantGiveUps) {
		t.Errorf("give-ups\n got %v\nwant %v", got, wantGiveUps)
	}
	att := hists[int64](t, ms, otelretry.MetricAttempts)
	for k, a := range att {
		if len(att) != 1 || a.count != 5 || a.sum != 15 || a.counts[2] != 5 {
			t.Errorf("attempts %s: %+v, want 5 requests of 3 attempts", k, a)
		}
	}
	waits := hists[float64](t, ms, otelretry.MetricWait)
	for k, w := range waits {
		// 5 × (1ms + 2ms)
		if len(waits) != 1 || w.count != 10 || w.sum < 0.0149 || w.sum > 0.0151 {
			t.Errorf("waits %s: %+v, want 10 waits summing to 15ms", k, w)
		}
	}
}

// TestNotInstrumented: a client that was not instrumented, sending to the
// same server with the same providers around, makes no span and no
// measurement; the instrumented one next to it does.
func TestNotInstrumented(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	plain := newClient(t, fastPolicy(3))
	for i := range 5 {
		if _, err := plain.R().Get(fmt.Sprintf("%s/plain/%d", srv.URL, i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(tel.spans.Ended()); n != 0 {
		t.Errorf("%d spans from a client not instrumented", n)
	}
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		if len(sm.Metrics) != 0 {
			t.Errorf("metrics from a client not instrumented: %v", sm.Metrics)
		}
	}
	instrumented := otelretry.Instrument(newClient(t, fastPolicy(3)), tel.options()...)
	if _, err := instrumented.R().Get(srv.URL + "/instrumented"); err != nil {
		t.Fatal(err)
	}
	if n := len(tel.spans.Ended()); n != 2 {
		t.Errorf("%d spans from the instrumented client, want 2", n)
	}
	if n := total(sums(t, tel.collect(t), otelretry.MetricRetries)); n != 1 {
		t.Errorf("%d retries counted, want 1", n)
	}
}

// TestClone: a clone of an instrumented client is instrumented too: it
// shares the original's transport (one span per attempt, not two) and its
// observers, and its decisions are counted once, beside the original's.
func TestClone(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	orig := otelretry.Instrument(newClient(t, fastPolicy(3)), tel.options()...)
	clone := orig.Clone()
	if _, err := clone.R().Get(srv.URL + "/clone"); err != nil {
		t.Fatal(err)
	}
	if n := len(tel.spans.Ended()); n != 2 {
		t.Errorf("%d spans for 2 attempts of the clone, want 2", n)
	}
	if n := total(sums(t, tel.collect(t), otelretry.MetricRetries)); n != 1 {
		t.Errorf("%d retries counted for the clone's 1, want 1", n)
	}
	if _, err := orig.R().Get(srv.URL + "/orig"); err != nil {
		t.Fatal(err)
	}
	if n := total(sums(t, tel.collect(t), otelretry.MetricRetries)); n != 2 {
		t.Errorf("%d retries counted after the original's, want 2", n)
	}
}

// TestGlobalProviders: without options, Instrument uses the global tracer
// and meter providers. (It sets the globals, so it is not parallel; it
// puts them back.)
func TestGlobalProviders(t *testing.T) {
	tel := newTelemetry(t)
	oldTP, oldMP := otel.GetTracerProvider(), otel.GetMeterProvider()
	otel.SetTracerProvider(tel.tp)
	otel.SetMeterProvider(tel.mp)
	t.Cleanup(func() {
		otel.SetTracerProvider(oldTP)
		otel.SetMeterProvider(oldMP)
	})
	srv := newScript(t, failFirst(1))
	c := otelretry.Instrument(newClient(t, fastPolicy(3)))
	if _, err := c.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if n := len(attemptSpans(tel, otelretry.ScopeName)); n != 2 {
		t.Errorf("%d spans through the global provider, want 2", n)
	}
	if n := total(sums(t, tel.collect(t), otelretry.MetricRetries)); n != 1 {
		t.Errorf("%d retries through the global meter, want 1", n)
	}
}
