package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// jsonSpan is the part of stdouttrace's output the test reads.
type jsonSpan struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ SpanID string }
	Attributes  []jsonAttr
	Events      []struct {
		Name       string
		Attributes []jsonAttr
	}
	InstrumentationScope struct{ Name string }
}

type jsonAttr struct {
	Key   string
	Value struct{ Value any }
}

func attr(attrs []jsonAttr, key string) string {
	for _, a := range attrs {
		if a.Key == key {
			return fmt.Sprint(a.Value.Value)
		}
	}
	return ""
}

// TestRun plays the example and reads what the stdout exporters printed:
// the attempt spans of each request, children of its span, with their
// resend counts, the span events on it, and the retry and give-up counts.
func TestRun(t *testing.T) {
	var notes, spans, metrics bytes.Buffer
	if err := run(&notes, &spans, &metrics, policy()); err != nil {
		t.Fatalf("%v\n%s", err, notes.String())
	}
	var all []jsonSpan
	dec := json.NewDecoder(&spans)
	for {
		var s jsonSpan
		if err := dec.Decode(&s); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
	}
	// Per request span: the resend counts of its attempts, then its events.
	got := make(map[string]string)
	for _, caller := range all {
		if caller.InstrumentationScope.Name != "example" {
			continue
		}
		var resends, events []string
		for _, s := range all {
			if s.Parent.SpanID == caller.SpanContext.SpanID {
				resends = append(resends, s.Name+"#"+attr(s.Attributes, "http.request.resend_count"))
			}
		}
		for _, e := range caller.Events {
			events = append(events, e.Name+"("+attr(e.Attributes, "restyretry.wait")+" "+
				attr(e.Attributes, "restyretry.wait.source")+" "+attr(e.Attributes, "restyretry.give_up.reason")+")")
		}
		got[caller.Name] = fmt.Sprint(resends, events)
	}
	want := map[string]string{
		"checkout": "[GET# GET#1 GET#2] [restyretry.retry(0.01 backoff ) restyretry.retry(0.02 backoff )]",
		// 25ms and half of the spread of 10%
		"quote":  "[GET# GET#1] [restyretry.retry(0.02625 Retry-After-Ms )]",
		"report": "[GET# GET#1 GET#2] [restyretry.retry(0.01 backoff ) restyretry.retry(0.02 backoff ) restyretry.give_up(  retries_exhausted)]",
		"import": "[POST#] [restyretry.give_up(3600 Retry-After wait_too_long)]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("spans\n got %v\nwant %v", got, want)
	}
	if len(all) != 13 {
		t.Errorf("%d spans printed, want 9 attempts and 4 requests", len(all))
	}

	var rm struct {
		ScopeMetrics []struct {
			Metrics []struct {
				Name string
				Data struct {
					DataPoints []struct {
						Value float64
						Count uint64
						Sum   float64
					}
				}
			}
		}
	}
	if err := json.Unmarshal(metrics.Bytes(), &rm); err != nil {
		t.Fatal(err)
	}
	totals := make(map[string]float64)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.DataPoints {
				totals[m.Name] += dp.Value + float64(dp.Count)
			}
		}
	}
	wantTotals := map[string]float64{
		"restyretry.retries":  5, // 2 + 1 + 2
		"restyretry.give_ups": 2,
		"restyretry.wait":     5, // a count
		"restyretry.attempts": 4, // a count: one per request
	}
	if fmt.Sprint(totals) != fmt.Sprint(wantTotals) {
		t.Errorf("metrics %v, want %v", totals, wantTotals)
	}
}
