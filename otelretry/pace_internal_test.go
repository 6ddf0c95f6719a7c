package otelretry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/restyretry/restyretry"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestPaceEvents feeds the observer the events pacing reports (rule
// "pace"): a hold is a wait and a span event, a refusal is a refusal, a
// give-up and a give-up span event; neither counts as an attempt or a
// retry.
func TestPaceEvents(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	ins, err := newInstruments(mp.Meter(ScopeName))
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{ins: ins}
	ctx, span := tp.Tracer("caller").Start(context.Background(), "caller")
	base := restyretry.Event{Context: ctx, Attempt: 1, Method: "GET", URL: "https://api.example/v1/x", Rule: restyretry.RulePace}
	hold := base
	hold.Verdict, hold.Wait, hold.WaitSource = restyretry.Retry, 250*time.Millisecond, "RateLimit"
	refused := base
	refused.Verdict, refused.Wait, refused.WaitSource = restyretry.Stop, time.Hour, "RateLimit"
	refused.GiveUp = &restyretry.GiveUpError{Reason: restyretry.ErrWaitTooLong, Wait: time.Hour}
	o.observe(hold)
	o.observe(refused)
	span.End()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]string)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				got[m.Name] += fmt.Sprintf("%d{%s}", dp.Value, dp.Attributes.Encoded(attribute.DefaultEncoder()))
			}
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				got[m.Name] += fmt.Sprintf("%d/%v{%s}", dp.Count, dp.Sum, dp.Attributes.Encoded(attribute.DefaultEncoder()))
			}
		default:
			t.Errorf("unexpected metric %s: %T", m.Name, m.Data)
		}
	}
	host := "server.address=api.example,server.port=443"
	want := map[string]string{
		MetricWait:     "1/0.25{http.request.method=GET,restyretry.wait.source=RateLimit," + host + "}",
		MetricRefusals: "1{http.request.method=GET,restyretry.refusal=pace," + host + "}",
		MetricGiveUps:  "1{http.request.method=GET,restyretry.give_up.reason=wait_too_long,restyretry.rule=pace," + host + "}",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metrics\n got %v\nwant %v", got, want)
	}
	var names []string
	for _, e := range rec.Ended()[0].Events() {
		names = append(names, e.Name)
	}
	if fmt.Sprint(names) != fmt.Sprint([]string{EventPace, EventGiveUp}) {
		t.Errorf("span events %v, want [%s %s]", names, EventPace, EventGiveUp)
	}
}
