package otelretry_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// TestOtelHTTPTransport: a client whose transport is otelhttp's keeps
// otelhttp's spans, one per attempt, and gets none of its own; with
// NewResendTransport under otelhttp's, those spans carry the resend
// count. The span events and metrics are the same either way.
func TestOtelHTTPTransport(t *testing.T) {
	cases := []struct {
		name    string
		resends bool
		want    []string // each attempt span's resend count, "" for none
	}{
		{"with NewResendTransport", true, []string{"", "1", "2"}},
		{"otelhttp alone", false, []string{"", "", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tel := newTelemetry(t)
			srv := newScript(t, failFirst(2))
			tr := http.DefaultTransport.(*http.Transport).Clone()
			t.Cleanup(tr.CloseIdleConnections) // otelhttp's transport does not pass it on
			var base http.RoundTripper = tr
			if tc.resends {
				base = otelretry.NewResendTransport(tr)
			}
			c := newClient(t, fastPolicy(3))
			c.SetTransport(otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tel.tp)))
			otelretry.Instrument(c, tel.options()...)

			ctx, caller := tel.tp.Tracer("caller").Start(context.Background(), "caller")
			resp, err := c.R().SetContext(ctx).Get(srv.URL)
			caller.End()
			if err != nil || resp.StatusCode() != http.StatusOK {
				t.Fatalf("status %d, err %v", resp.StatusCode(), err)
			}
			if n := len(attemptSpans(tel, otelretry.ScopeName)); n != 0 {
				t.Errorf("%d spans of otelretry's own, want 0 (otelhttp makes them)", n)
			}
			spans := attemptSpans(tel, otelhttp.ScopeName)
			if len(spans) != 3 {
				t.Fatalf("%d otelhttp spans, want 3", len(spans))
			}
			var got []string
			for _, s := range spans {
				got = append(got, attrMap(s.Attributes())["http.request.resend_count"])
				if s.Parent().SpanID() != caller.SpanContext().SpanID() {
					t.Errorf("span %s: parent %v, want the caller's", s.Name(), s.Parent().SpanID())
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("resend counts %q, want %q", got, tc.want)
			}
			if n := len(attemptSpans(tel, "caller")[0].Events()); n != 2 {
				t.Errorf("caller span has %d events, want 2", n)
			}
			retries := sums(t, tel.collect(t), otelretry.MetricRetries)
			if total(retries) != 2 {
				t.Errorf("retries %v, want 2 in all", retries)
			}
		})
	}
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
