package otelretry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestRequestSpan: with WithRequestSpan and no span in the caller's
// context, a request's attempts are children of one internal span, in one
// trace; the retry events are on it and name each attempt's span.
// Without the option, each attempt is a trace of its own
// (TestNoCallerSpan). With a MaxElapsed, the library makes the request's
// state before otelretry's hook runs, and its events carry the request's
// context with the hook's record all the same.
func TestRequestSpan(t *testing.T) {
	for _, maxElapsed := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("MaxElapsed ", maxElapsed), func(t *testing.T) {
			tel := newTelemetry(t)
			srv := newScript(t, failFirst(2))
			p := fastPolicy(3)
			p.MaxElapsed = maxElapsed
			c := otelretry.Instrument(newClient(t, p), append(tel.options(), otelretry.WithRequestSpan())...)
			resp, err := c.R().Get(srv.URL + "/r")
			if err != nil || resp.StatusCode() != http.StatusOK {
				t.Fatalf("status %d, err %v", resp.StatusCode(), err)
			}
			all := tel.spans.Ended()
			if len(all) != 4 {
				t.Fatalf("%d spans, want 3 attempts and the request's", len(all))
			}
			root := all[3]
			if root.SpanKind() != trace.SpanKindInternal || root.Name() != "GET" || root.Parent().IsValid() {
				t.Errorf("request span: %s %v, parent %v; want an internal root GET", root.Name(), root.SpanKind(), root.Parent())
			}
			kids := children(root, all)
			if len(kids) != 3 {
				t.Fatalf("the request span has %d children, want the 3 attempts", len(kids))
			}
			for _, k := range kids {
				if k.SpanContext().TraceID() != root.SpanContext().TraceID() || k.SpanKind() != trace.SpanKindClient {
					t.Errorf("attempt %v: not a client span of the request's trace", k.SpanContext().SpanID())
				}
			}
			checkAttrs(t, "request span", attrMap(root.Attributes()), map[string]string{
				"http.request.method": "GET", "server.address": "127.0.0.1", "server.port": fmt.Sprint(srv.port(t)),
				"http.response.status_code": "200", "restyretry.attempt_count": "3",
			}, "error.type", "restyretry.give_up.reason")
			events := root.Events()
			if len(events) != 2 {
				t.Fatalf("%d events on the request span, want 2", len(events))
			}
			for i, e := range events {
				if got, want := attrMap(e.Attributes)["restyretry.attempt_span_id"], kids[i].SpanContext().SpanID().String(); got != want {
					t.Errorf("event %d names span %q, want attempt %d's %q", i, got, i+1, want)
				}
			}
			checkEndedContext(t, resp.Request.Context(), maxElapsed == 0)
		})
	}
}

// TestRequestSpanGiveUp: a request that gives up ends its span in error,
// with the reason, and the give-up event on it.
func TestRequestSpanGiveUp(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, func(string, int) int { return http.StatusServiceUnavailable })
	srv.Config.Handler = retryAfter(srv.Config.Handler, "3600")
	c := otelretry.Instrument(newClient(t, fastPolicy(2)), append(tel.options(), otelretry.WithRequestSpan())...)
	ctx, caller := tel.tp.Tracer("caller").Start(context.Background(), "caller")
	_, _ = c.R().SetContext(ctx).Get(srv.URL)
	caller.End()
	var root sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if s.SpanKind() == trace.SpanKindInternal && s.InstrumentationScope().Name == otelretry.ScopeName {
			root = s
		}
	}
	if root == nil {
		t.Fatal("no request span")
	}
	if root.Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("request span's parent %v, want the caller's", root.Parent().SpanID())
	}
	if root.Status().Code != codes.Error {
		t.Errorf("request span status %v, want Error", root.Status())
	}
	checkAttrs(t, "request span", attrMap(root.Attributes()), map[string]string{
		"error.type": "503", "restyretry.give_up.reason": "wait_too_long", "restyretry.attempt_count": "1"})
	if n := len(attemptSpans(tel, "caller")[0].Events()); n != 0 {
		t.Errorf("the caller's span has %d events, want none: they are on the request span", n)
	}
	if len(root.Events()) != 1 || root.Events()[0].Name != otelretry.EventGiveUp {
		t.Errorf("request span events %v, want one give-up", root.Events())
	}
}

// TestRequestSpanConcurrent: 20 requests at once, all GET of the same URL
// with the same (span-less) caller's context and a policy whose state the
// library makes before otelretry's hook: every request span has its own 2
// attempts and 1 retry event naming the first of them. The events carry
// each request's own context, record included, so nothing is matched.
func TestRequestSpanConcurrent(t *testing.T) {
	tel := newTelemetry(t)
	// Every request's first attempt gets a 503, answered only once all 20
	// have arrived, so that the 20 requests are in flight together; they
	// differ in nothing otelretry sees (method, URL, caller's context),
	// only in a header the server reads.
	var arrived sync.WaitGroup
	arrived.Add(20)
	var once sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, again := once.LoadOrStore(r.Header.Get("X-Request"), true); !again {
			arrived.Done()
			arrived.Wait()
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	p := fastPolicy(3)
	p.MaxElapsed = time.Minute
	c := otelretry.Instrument(newClient(t, p), append(tel.options(), otelretry.WithRequestSpan())...)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := c.R().SetHeader("X-Request", fmt.Sprint(i)).Get(srv.URL + "/c"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	all := tel.spans.Ended()
	roots := 0
	for _, s := range all {
		if s.SpanKind() != trace.SpanKindInternal {
			continue
		}
		roots++
		kids := children(s, all)
		if len(kids) != 2 || len(s.Events()) != 1 {
			t.Errorf("request span %v: %d attempts and %d events, want 2 and 1", s.SpanContext().SpanID(), len(kids), len(s.Events()))
			continue
		}
		if got := attrMap(s.Events()[0].Attributes)["restyretry.attempt_span_id"]; got != kids[0].SpanContext().SpanID().String() {
			t.Errorf("request span %v: the retry event names %q, not its first attempt %v", s.SpanContext().SpanID(), got, kids[0].SpanContext().SpanID())
		}
	}
	if roots != 20 {
		t.Errorf("%d request spans, want 20", roots)
	}
}

// checkEndedContext: after Execute, the request's context carries nothing
// of otelretry's (no record, no request span) and has the caller's
// lifetime. It is the caller's own context (identical) when the library
// had made no state before otelretry's hook; else the library keeps what
// the hooks added in a wrapper of its own (with the caller's deadline and
// cancellation), in which otelretry's ended record hides itself.
func checkEndedContext(t *testing.T, ctx context.Context, identical bool) {
	t.Helper()
	if identical && ctx != context.Background() {
		t.Errorf("the request's context after Execute is %T, want the caller's (context.Background())", ctx)
	}
	if s := trace.SpanFromContext(ctx); s.SpanContext().IsValid() {
		t.Errorf("the request's context after Execute carries span %v", s.SpanContext().SpanID())
	}
	if otelretry.HasRecord(ctx) {
		t.Error("the request's context after Execute carries otelretry's record")
	}
	if ctx.Err() != nil || ctx.Done() != nil {
		t.Errorf("the request's context after Execute: Err %v, Done %v; want the caller's (none)", ctx.Err(), ctx.Done())
	}
	if _, ok := ctx.Deadline(); ok {
		t.Error("the request's context after Execute has a deadline; the caller's has none")
	}
}
