package otelretry_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// attrMap is a span's or event's attributes by key, values as strings.
func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// attemptSpans returns the ended spans of the given instrumentation scope
// in the order they started.
func attemptSpans(tel *telemetry, scope string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if s.InstrumentationScope().Name == scope {
			out = append(out, s)
		}
	}
	return out
}

// checkAttrs fails unless every key of want has that value in got, and
// every key of absent is missing.
func checkAttrs(t *testing.T, what string, got map[string]string, want map[string]string, absent ...string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
	for _, k := range absent {
		if v, ok := got[k]; ok {
			t.Errorf("%s: %s = %q, want it absent", what, k, v)
		}
	}
}

// TestSpanTreeFailTwiceThenSucceed: a GET that gets 503, 503, 200 makes
// three client spans, children of the caller's span, with resend counts
// none, 1 and 2; each propagates its own span to the server; the caller's
// span has one retry event per retry.
func TestSpanTreeFailTwiceThenSucceed(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(2))
	c := otelretry.Instrument(newClient(t, fastPolicy(3)),
		append(tel.options(), otelretry.WithPropagators(propagation.TraceContext{}))...)

	ctx, caller := tel.tp.Tracer("caller").Start(context.Background(), "caller")
	resp, err := c.R().SetContext(ctx).Get(srv.URL + "/items/7?token=abc&sig=secret#frag")
	caller.End()
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("status %d, err %v", resp.StatusCode(), err)
	}

	spans := attemptSpans(tel, otelretry.ScopeName)
	if len(spans) != 3 {
		t.Fatalf("%d attempt spans, want 3", len(spans))
	}
	port := fmt.Sprint(srv.port(t))
	statuses := []string{"503", "503", "200"}
	for i, s := range spans {
		what := fmt.Sprintf("attempt %d", i+1)
		if s.Parent().SpanID() != caller.SpanContext().SpanID() || s.SpanContext().TraceID() != caller.SpanContext().TraceID() {
			t.Errorf("%s: parent %v in trace %v, want the caller's span %v", what, s.Parent().SpanID(), s.SpanContext().TraceID(), caller.SpanContext().SpanID())
		}
		if s.SpanKind() != trace.SpanKindClient || s.Name() != "GET" {
			t.Errorf("%s: kind %v name %q, want client GET", what, s.SpanKind(), s.Name())
		}
		want := map[string]string{
			"http.request.method":       "GET",
			"server.address":            "127.0.0.1",
			"server.port":               port,
			"url.full":                  srv.URL + "/items/7?token=abc&sig=REDACTED",
			"url.scheme":                "http",
			"network.protocol.version":  "1.1",
			"http.response.status_code": statuses[i],
		}
		absent := []string{}
		if i == 0 {
			absent = append(absent, "http.request.resend_count")
		} else {
			want["http.request.resend_count"] = fmt.Sprint(i)
		}
		if i < 2 {
			want["error.type"] = "503"
			if s.Status().Code != codes.Error {
				t.Errorf("%s: status %v, want Error", what, s.Status())
			}
		} else {
			absent = append(absent, "error.type")
			if s.Status().Code != codes.Unset {
				t.Errorf("%s: status %v, want Unset", what, s.Status())
			}
		}
		checkAttrs(t, what, attrMap(s.Attributes()), want, absent...)
		// The server saw this attempt's own span as the parent.
		if got, wantID := srv.parents[i], s.SpanContext().SpanID().String(); !strings.Contains(got, wantID) {
			t.Errorf("%s: server saw traceparent %q, want span %s", what, got, wantID)
		}
	}

	var callerSpan sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if s.SpanContext().SpanID() == caller.SpanContext().SpanID() {
			callerSpan = s
		}
	}
	if callerSpan == nil {
		t.Fatal("the caller's span was not recorded")
	}
	events := callerSpan.Events()
	if len(events) != 2 {
		t.Fatalf("caller span has %d events, want 2: %v", len(events), events)
	}
	waits := []string{"0.001", "0.002"}
	for i, e := range events {
		if e.Name != otelretry.EventRetry {
			t.Errorf("event %d is %q, want %q", i, e.Name, otelretry.EventRetry)
		}
		checkAttrs(t, fmt.Sprintf("event %d", i), attrMap(e.Attributes), map[string]string{
			"restyretry.attempt":         fmt.Sprint(i + 1),
			"restyretry.rule":            "status",
			"restyretry.wait.duration":   waits[i],
			"restyretry.wait.source":     "backoff",
			"http.response.status_code":  "503",
			"http.request.method":        "GET",
			"server.address":             "127.0.0.1",
			"server.port":                port,
			"restyretry.attempt_span_id": spans[i].SpanContext().SpanID().String(),
		}, "restyretry.give_up.reason", "error.type", "restyretry.wait")
	}
}

// TestGiveUpSpanEvents: a give-up is one event on the caller's span with
// its reason and the refused wait, for an early stop (a Retry-After longer
// than MaxRetryAfter) and for MaxRetries reached.
func TestGiveUpSpanEvents(t *testing.T) {
	cases := []struct {
		name       string
		retryAfter string
		events     []string
		last       map[string]string
		spans      int
	}{
		{"wait too long", "3600", []string{otelretry.EventGiveUp}, map[string]string{
			"restyretry.attempt":        "1",
			"restyretry.rule":           "status",
			"restyretry.give_up.reason": "wait_too_long",
			"restyretry.wait.duration":  "3600",
			"restyretry.wait.source":    "Retry-After",
			"http.response.status_code": "503",
		}, 1},
		{"retries exhausted", "", []string{otelretry.EventRetry, otelretry.EventRetry, otelretry.EventGiveUp}, map[string]string{
			"restyretry.attempt":        "3",
			"restyretry.rule":           "max-retries",
			"restyretry.give_up.reason": "retries_exhausted",
			"http.response.status_code": "503",
		}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tel := newTelemetry(t)
			srv := newScript(t, func(string, int) int { return http.StatusServiceUnavailable })
			if tc.retryAfter != "" {
				srv.Config.Handler = retryAfter(srv.Config.Handler, tc.retryAfter)
			}
			c := otelretry.Instrument(newClient(t, fastPolicy(2)), tel.options()...)
			ctx, caller := tel.tp.Tracer("caller").Start(context.Background(), "caller")
			_, _ = c.R().SetContext(ctx).Get(srv.URL)
			caller.End()
			if n := len(attemptSpans(tel, otelretry.ScopeName)); n != tc.spans {
				t.Errorf("%d attempt spans, want %d", n, tc.spans)
			}
			callerSpan := attemptSpans(tel, "caller")[0]
			events := callerSpan.Events()
			var names []string
			for _, e := range events {
				names = append(names, e.Name)
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.events) {
				t.Fatalf("events %v, want %v", names, tc.events)
			}
			checkAttrs(t, "give-up event", attrMap(events[len(events)-1].Attributes), tc.last)
		})
	}
}

// retryAfter sets a Retry-After header on every response of h.
func retryAfter(h http.Handler, v string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", v)
		h.ServeHTTP(w, r)
	})
}

// TestNoCallerSpan: without a span in the request's context every attempt
// span is the root of its own trace, and no span events are recorded
// anywhere.
func TestNoCallerSpan(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(1))
	c := otelretry.Instrument(newClient(t, fastPolicy(3)), tel.options()...)
	if _, err := c.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	spans := tel.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	if spans[0].Parent().IsValid() || spans[1].Parent().IsValid() || spans[0].SpanContext().TraceID() == spans[1].SpanContext().TraceID() {
		t.Errorf("attempt spans should be roots of two traces: parents %v %v", spans[0].Parent(), spans[1].Parent())
	}
	for _, s := range spans {
		if len(s.Events()) != 0 {
			t.Errorf("span %s has events %v", s.Name(), s.Events())
		}
	}
	if got := attrMap(spans[1].Attributes())["http.request.resend_count"]; got != "1" {
		t.Errorf("resend count of the retry %q, want 1", got)
	}
}

// TestRedirectResendCount: every physical send of a logical request
// counts, retries and redirects together: a redirect followed within an
// attempt is a resend, and so is every hop of a later attempt.
func TestRedirectResendCount(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, func(path string, n int) int {
		if path == "/b" && n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	srv.Config.Handler = redirect("/a", "/b", srv.Config.Handler)
	c := otelretry.Instrument(newClient(t, fastPolicy(3)), tel.options()...)
	if _, err := c.R().Get(srv.URL + "/a"); err != nil {
		t.Fatal(err)
	}
	// Attempt 1: /a (302), /b (503). Attempt 2: /a (302), /b (200).
	spans := attemptSpans(tel, otelretry.ScopeName)
	var got []string
	for _, s := range spans {
		a := attrMap(s.Attributes())
		got = append(got, a["url.full"][len(srv.URL):]+" "+a["http.response.status_code"]+" "+a["http.request.resend_count"])
	}
	want := []string{"/a 302 ", "/b 503 1", "/a 302 2", "/b 200 3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("spans (path status resend) %q, want %q", got, want)
	}
}

// redirect answers requests to from with 302 to to, the rest with h.
func redirect(from, to string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == from {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// TestTransportErrorSpans: attempts that fail to connect are error spans
// named by the error's type, with no status code.
func TestTransportErrorSpans(t *testing.T) {
	tel := newTelemetry(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "http://" + l.Addr().String() + "/x"
	l.Close()
	c := otelretry.Instrument(newClient(t, fastPolicy(1)), tel.options()...)
	if _, err := c.R().Get(target); err == nil {
		t.Fatal("no error from a closed port")
	}
	spans := attemptSpans(tel, otelretry.ScopeName)
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	for i, s := range spans {
		want := map[string]string{"error.type": "connection_refused", "url.full": target}
		absent := []string{"http.response.status_code"}
		if i == 1 {
			want["http.request.resend_count"] = "1"
		} else {
			absent = append(absent, "http.request.resend_count")
		}
		checkAttrs(t, fmt.Sprintf("attempt %d", i+1), attrMap(s.Attributes()), want, absent...)
		if s.Status().Code != codes.Error || s.Status().Description == "" {
			t.Errorf("attempt %d: status %v, want Error with the message", i+1, s.Status())
		}
	}
}

// TestUnknownMethod: a method outside RFC 9110 is "_OTHER" in spans and
// metrics (its name only in http.request.method_original), so callers'
// methods cannot grow the number of series.
func TestUnknownMethod(t *testing.T) {
	tel := newTelemetry(t)
	// A 429 is retried for any method (the server did not act on it); a
	// bare 503 only for the idempotent ones.
	srv := newScript(t, func(_ string, n int) int {
		if n == 1 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	c := otelretry.Instrument(newClient(t, fastPolicy(2)), tel.options()...)
	resp, err := c.R().Execute("PURGE", srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("status %d, err %v", resp.StatusCode(), err)
	}
	spans := attemptSpans(tel, otelretry.ScopeName)
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2 (429 is retried for any method)", len(spans))
	}
	if spans[0].Name() != "HTTP" {
		t.Errorf("span name %q, want HTTP", spans[0].Name())
	}
	checkAttrs(t, "span", attrMap(spans[0].Attributes()), map[string]string{
		"http.request.method": "_OTHER", "http.request.method_original": "PURGE"})
	retries := sums(t, tel.collect(t), otelretry.MetricRetries)
	if len(retries) != 1 {
		t.Errorf("retries %v, want one series", retries)
	}
	for k := range retries {
		if !strings.Contains(k, "http.request.method=_OTHER") {
			t.Errorf("retries series %s, want method _OTHER", k)
		}
	}
}

// TestURLFullOptions: url.full keeps the query with its sensitive values
// redacted and shows user info as REDACTED:REDACTED; WithoutURLQuery drops
// the query, as before.
func TestURLFullOptions(t *testing.T) {
	for _, drop := range []bool{false, true} {
		tel := newTelemetry(t)
		srv := newScript(t, failFirst(0))
		opts := tel.options()
		if drop {
			opts = append(opts, otelretry.WithoutURLQuery())
		}
		c := otelretry.Instrument(newClient(t, fastPolicy(0)), opts...)
		target := strings.Replace(srv.URL, "http://", "http://alice:pw@", 1) + "/f?page=2&sig=abc"
		if _, err := c.R().Get(target); err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(srv.URL, "http://", "http://REDACTED:REDACTED@", 1) + "/f?page=2&sig=REDACTED"
		if drop {
			want = strings.Replace(srv.URL, "http://", "http://REDACTED:REDACTED@", 1) + "/f"
		}
		spans := attemptSpans(tel, otelretry.ScopeName)
		if len(spans) != 1 {
			t.Fatalf("%d spans, want 1", len(spans))
		}
		if got := attrMap(spans[0].Attributes())["url.full"]; got != want {
			t.Errorf("WithoutURLQuery %v: url.full %q, want %q", drop, got, want)
		}
	}
}
