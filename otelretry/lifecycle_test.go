package otelretry_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// TestReapply: applying a policy again after Instrument keeps the
// instrumentation (the root package keeps observers across Apply).
func TestReapply(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	c := otelretry.Instrument(newClient(t, fastPolicy(3)), tel.options()...)
	fastPolicy(2).Apply(c)
	if _, err := c.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if n := total(sums(t, tel.collect(t), otelretry.MetricRetries)); n != 1 {
		t.Errorf("%d retries counted after a re-Apply, want 1", n)
	}
	if n := len(attemptSpans(tel, otelretry.ScopeName)); n != 2 {
		t.Errorf("%d spans, want 2", n)
	}
}

// TestCloneApplied: a clone of an instrumented client that gets its own
// policy keeps the shared transport's spans and, since an adopted clone
// keeps its original's observers, stays instrumented: its decisions are
// counted once, without instrumenting it again.
func TestCloneApplied(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	orig := otelretry.Instrument(newClient(t, fastPolicy(3)), tel.options()...)
	clone := fastPolicy(3).Apply(orig.Clone())
	if _, err := clone.R().Get(srv.URL + "/a"); err != nil {
		t.Fatal(err)
	}
	if n := len(attemptSpans(tel, otelretry.ScopeName)); n != 2 {
		t.Errorf("%d spans through the shared transport, want 2", n)
	}
	if n := total(sums(t, tel.collect(t), otelretry.MetricRetries)); n != 1 {
		t.Errorf("%d retries counted for a clone with its own policy, want 1 (the observer is kept)", n)
	}
	if _, err := clone.R().Get(srv.URL + "/b"); err != nil {
		t.Fatal(err)
	}
	if n := len(attemptSpans(tel, otelretry.ScopeName)); n != 4 {
		t.Errorf("%d spans, want 4 (no doubling)", n)
	}
	if n := total(sums(t, tel.collect(t), otelretry.MetricRetries)); n != 2 {
		t.Errorf("%d retries counted, want 2", n)
	}
}

// failingMeter cannot make counters.
type failingMeter struct{ noop.Meter }

var errNoCounter = errors.New("no counters here")

func (failingMeter) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return nil, errNoCounter
}

type failingProvider struct{ noop.MeterProvider }

func (failingProvider) Meter(string, ...metric.MeterOption) metric.Meter { return failingMeter{} }

// TestInstrumentError: when the instruments cannot be made, the error
// goes to the handler and the client still works, with its spans and span
// events.
func TestInstrumentError(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	var got []error
	c := otelretry.Instrument(newClient(t, fastPolicy(3)), otelretry.WithTracerProvider(tel.tp),
		otelretry.WithMeterProvider(failingProvider{}), otelretry.WithErrorHandler(func(err error) { got = append(got, err) }))
	if len(got) != 1 || !errors.Is(got[0], errNoCounter) {
		t.Errorf("handler got %v, want [%v]", got, errNoCounter)
	}
	resp, err := c.R().Get(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("status %d, err %v", resp.StatusCode(), err)
	}
	if n := len(attemptSpans(tel, otelretry.ScopeName)); n != 2 {
		t.Errorf("%d spans, want 2", n)
	}
}

// TestNotApplied: a client with no policy applied gets attempt spans
// (one per request: resty alone does not retry) and the two durations,
// but no decision metrics.
func TestNotApplied(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	c := resty.New()
	t.Cleanup(func() { c.GetClient().CloseIdleConnections() })
	otelretry.Instrument(c, tel.options()...)
	resp, err := c.R().Get(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("status %d, err %v", resp.StatusCode(), err)
	}
	spans := attemptSpans(tel, otelretry.ScopeName)
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	checkAttrs(t, "the span", attrMap(spans[0].Attributes()), map[string]string{"http.response.status_code": "503"},
		"http.request.resend_count")
	for name := range tel.collect(t) {
		if name != otelretry.MetricClientDuration && name != otelretry.MetricRequestDuration {
			t.Errorf("metric %s recorded for a client with no policy", name)
		}
	}
	if n := len(hists[float64](t, tel.collect(t), otelretry.MetricClientDuration)); n != 1 {
		t.Errorf("%d series of %s, want 1", n, otelretry.MetricClientDuration)
	}
}

// TestNilClient: Instrument(nil) returns nil instead of panicking.
func TestNilClient(t *testing.T) {
	if c := otelretry.Instrument(nil); c != nil {
		t.Errorf("Instrument(nil) = %v", c)
	}
}
