package otelretry_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
)

// stubTransport answers every request with 200 "ok" without a network,
// so that allocation counts are exact.
type stubTransport struct{}

func (stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), ContentLength: 2, Request: req}, nil
}

// TestSuccessPathAllocations: on a request that succeeds at once, an
// instrumented client allocates exactly what a client with a no-op
// observer allocates, plus the reference span (the tracer's span and its
// attribute values), plus one: the request's record, which holds the
// copy of the *http.Request that carries the attempt span down (the
// RoundTripper contract forbids changing the caller's) and the start of
// the logical request. The span events, the metrics (both durations
// included) and the observer add nothing. With and without a sampled
// caller span (which makes the SDK keep exemplars).
// requestRecord is what an instrumented request allocates beyond the
// reference span: its record (see TestSuccessPathAllocations).
const requestRecord = 1

func TestSuccessPathAllocations(t *testing.T) {
	tel := newTelemetry(t)
	none := propagation.NewCompositeTextMapPropagator()
	observed := restyretry.Observe(fastPolicy(2).Apply(resty.New().SetTransport(stubTransport{})), func(restyretry.Event) {})
	instrumented := otelretry.Instrument(fastPolicy(2).Apply(resty.New().SetTransport(stubTransport{})),
		append(tel.options(), otelretry.WithPropagators(none))...)
	const target = "http://127.0.0.1:9/items/1"
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	tracer := tel.tp.Tracer("reference")
	var buf [8]attribute.KeyValue
	ref := testing.AllocsPerRun(100, func() { referenceSpan(tracer, req, http.StatusOK, &buf) })
	if ref < 1 {
		t.Fatalf("the reference span allocates %v times: the SDK tracer is not recording", ref)
	}

	caller, span := tel.tp.Tracer("caller").Start(context.Background(), "caller")
	defer span.End()
	for _, ctx := range []context.Context{context.Background(), caller} {
		get := func(c *resty.Client) func() {
			return func() {
				resp, err := c.R().SetContext(ctx).Get(target)
				if err != nil || resp.StatusCode() != http.StatusOK {
					t.Fatalf("status %d, err %v", resp.StatusCode(), err)
				}
			}
		}
		base := testing.AllocsPerRun(100, get(observed))
		got := testing.AllocsPerRun(100, get(instrumented))
		if got != base+ref+requestRecord {
			t.Errorf("caller span %v: instrumented %v allocations, observed %v + reference span %v + the request record %v = %v",
				ctx != context.Background(), got, base, ref, requestRecord, base+ref+requestRecord)
		}
		t.Logf("caller span %v: observed %v, reference span %v, instrumented %v", ctx != context.Background(), base, ref, got)
	}
	// The instrumented requests were measured and traced: 2 × 101 (each
	// AllocsPerRun makes one warm-up run), every one with one attempt.
	att := hists[int64](t, tel.collect(t), otelretry.MetricAttempts)
	if len(att) != 1 {
		t.Fatalf("attempts: %d series, want 1: %v", len(att), att)
	}
	for k, h := range att {
		if h.count != 202 || h.sum != 202 {
			t.Errorf("attempts %s: count %d sum %v, want 202 and 202", k, h.count, h.sum)
		}
	}
	for _, name := range []string{otelretry.MetricRequestDuration, otelretry.MetricClientDuration} {
		for k, h := range hists[float64](t, tel.collect(t), name) {
			if h.count != 202 {
				t.Errorf("%s %s: count %d, want 202", name, k, h.count)
			}
		}
	}
	if n := len(tel.spans.Ended()); n != 202+101 {
		t.Errorf("%d spans ended, want 202 attempt spans and 101 reference spans", n)
	}
}

// TestSuccessPathAllocationsWithState: with a MaxElapsed (as Default has),
// the library makes the request's state before otelretry's hook runs, and
// when Execute returns it keeps what the hooks added to the request's
// context in a wrapper of its own with the caller's lifetime: one more
// allocation, which any hook that adds a value to the request's context
// costs (the deriving client below). The success path costs the reference
// span, the record and that wrapper: exactly what a client whose hook adds
// one value costs, plus the reference span.
func TestSuccessPathAllocationsWithState(t *testing.T) {
	tel := newTelemetry(t)
	p := fastPolicy(2)
	p.MaxElapsed = time.Minute
	none := propagation.NewCompositeTextMapPropagator()
	observed := restyretry.Observe(p.Apply(resty.New().SetTransport(stubTransport{})), func(restyretry.Event) {})
	type hookKey struct{}
	deriving := restyretry.Observe(p.Apply(resty.New().SetTransport(stubTransport{})), func(restyretry.Event) {})
	deriving.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
		if r.Context().Value(hookKey{}) == nil {
			r.SetContext(context.WithValue(r.Context(), hookKey{}, true))
		}
		return nil
	})
	instrumented := otelretry.Instrument(p.Apply(resty.New().SetTransport(stubTransport{})),
		append(tel.options(), otelretry.WithPropagators(none))...)
	const target = "http://127.0.0.1:9/items/1"
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf [8]attribute.KeyValue
	tracer := tel.tp.Tracer("reference")
	ref := testing.AllocsPerRun(100, func() { referenceSpan(tracer, req, http.StatusOK, &buf) })
	get := func(c *resty.Client) func() {
		return func() {
			if resp, err := c.R().Get(target); err != nil || resp.StatusCode() != http.StatusOK {
				t.Fatalf("status %d, err %v", resp.StatusCode(), err)
			}
		}
	}
	base := testing.AllocsPerRun(200, get(observed))
	hook := testing.AllocsPerRun(200, get(deriving))
	got := testing.AllocsPerRun(200, get(instrumented))
	if hook != base+requestRecord+endedWrapper {
		t.Errorf("a hook adding one value: %v allocations, want observed %v + the value %v + the library's wrapper %v",
			hook, base, requestRecord, endedWrapper)
	}
	if got != hook+ref {
		t.Errorf("instrumented %v allocations, want %v: observed %v + reference span %v + the request record %v + the library's wrapper %v",
			got, hook+ref, base, ref, requestRecord, endedWrapper)
	}
	t.Logf("observed %v, with a value-adding hook %v, reference span %v, instrumented %v", base, hook, ref, got)
}

// endedWrapper is the library's wrapper of a request context its hooks
// derived from the one carrying its state, when Execute returns.
const endedWrapper = 1
