package otelretry_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// spanningRT is a logging layer that starts an internal span for every
// request it passes on, from the request's context.
type spanningRT struct {
	tracer trace.Tracer
	next   http.RoundTripper
}

func (s spanningRT) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := s.tracer.Start(req.Context(), "log "+req.URL.Path)
	defer span.End()
	return s.next.RoundTrip(req.WithContext(ctx))
}

// authRT is a layer that keeps the next RoundTripper in an unexported
// field, as auth and logging wrappers do.
type authRT struct {
	next http.RoundTripper
}

func (a *authRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer t")
	return a.next.RoundTrip(r)
}

// funcRT is a func adapter: Instrument cannot look into its closure.
type funcRT func(*http.Request) (*http.Response, error)

func (f funcRT) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestSpansBelowAreChildren: with no propagator at all (the global
// default writes nothing), a span started below from the request's
// context is a child of the attempt span, for every attempt.
func TestSpansBelowAreChildren(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(2))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c := newClient(t, fastPolicy(3))
	c.SetTransport(spanningRT{tracer: tel.tp.Tracer("logger"), next: tr})
	otelretry.Instrument(c, append(tel.options(), otelretry.WithPropagators(propagation.NewCompositeTextMapPropagator()))...)

	resp, err := c.R().Get(srv.URL + "/x")
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("status %d, err %v", resp.StatusCode(), err)
	}
	all := tel.spans.Ended()
	logs := attemptSpans(tel, "logger")
	attempts := attemptSpans(tel, otelretry.ScopeName)
	if len(logs) != 3 || len(attempts) != 3 {
		t.Fatalf("%d logging spans and %d attempt spans, want 3 and 3", len(logs), len(attempts))
	}
	for i, l := range logs {
		p := parentOf(l, all)
		if p == nil || p.SpanContext().SpanID() != attempts[i].SpanContext().SpanID() {
			t.Errorf("logging span %d: parent %v, want attempt span %d (%v)", i, l.Parent().SpanID(), i, attempts[i].SpanContext().SpanID())
		}
	}
}

// TestOtelHTTPWrapped: otelhttp's transport inside another RoundTripper,
// under a pointer or two of unexported fields, is recognised: one client
// span per physical request (otelhttp's), none of otelretry's; with
// NewResendTransport under otelhttp, the resend counts and the attempt
// span IDs of the events are those spans'.
func TestOtelHTTPWrapped(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(2))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	inner := otelhttp.NewTransport(otelretry.NewResendTransport(tr), otelhttp.WithTracerProvider(tel.tp))
	c := newClient(t, fastPolicy(3))
	c.SetTransport(&authRT{next: spanningRT{tracer: tel.tp.Tracer("logger"), next: inner}})
	otelretry.Instrument(c, tel.options()...)

	ctx, caller := tel.tp.Tracer("caller").Start(context.Background(), "caller")
	resp, err := c.R().SetContext(ctx).Get(srv.URL + "/w")
	caller.End()
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("status %d, err %v", resp.StatusCode(), err)
	}
	if n := len(attemptSpans(tel, otelretry.ScopeName)); n != 0 {
		t.Errorf("%d spans of otelretry's, want 0: otelhttp below makes them", n)
	}
	want := map[string]int{srv.URL + "/w#": 1, srv.URL + "/w#1": 1, srv.URL + "/w#2": 1}
	if got := clientSpans(tel.spans.Ended()); len(got) != len(want) || got[srv.URL+"/w#"] != 1 || got[srv.URL+"/w#1"] != 1 || got[srv.URL+"/w#2"] != 1 {
		t.Errorf("client spans by request %v, want %v", got, want)
	}
	hs := attemptSpans(tel, otelhttp.ScopeName)
	events := attemptSpans(tel, "caller")[0].Events()
	if len(hs) != 3 || len(events) != 2 {
		t.Fatalf("%d otelhttp spans and %d events, want 3 and 2", len(hs), len(events))
	}
	for i, e := range events {
		if got, want := attrMap(e.Attributes)["restyretry.attempt_span_id"], hs[i].SpanContext().SpanID().String(); got != want {
			t.Errorf("event %d names attempt span %q, want otelhttp's %q", i, got, want)
		}
	}
}

// TestOtelHTTPBehindClosure: otelhttp behind a func adapter, which
// Instrument cannot look into, is found at the first physical request:
// the transport sees otelhttp's client span in the context of the request
// that reached the network, reports it once to the error handler and
// makes no attempt spans from then on. The first request's attempt is the
// only one with two client spans.
func TestOtelHTTPBehindClosure(t *testing.T) {
	tel := newTelemetry(t)
	srv := newScript(t, failFirst(0))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	inner := otelhttp.NewTransport(tr, otelhttp.WithTracerProvider(tel.tp))
	c := newClient(t, fastPolicy(3))
	c.SetTransport(funcRT(func(r *http.Request) (*http.Response, error) { return inner.RoundTrip(r) }))
	var mu sync.Mutex
	var notices []error
	otelretry.Instrument(c, append(tel.options(), otelretry.WithErrorHandler(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, err)
	}))...)
	for range 3 {
		resp, err := c.R().Get(srv.URL + "/c")
		if err != nil || resp.StatusCode() != http.StatusOK {
			t.Fatalf("status %d, err %v", resp.StatusCode(), err)
		}
		_ = resp
	}
	if n := len(attemptSpans(tel, otelretry.ScopeName)); n != 1 {
		t.Errorf("%d spans of otelretry's, want 1 (the first request's, before otelhttp was seen)", n)
	}
	if n := len(attemptSpans(tel, otelhttp.ScopeName)); n != 3 {
		t.Errorf("%d otelhttp spans, want 3", n)
	}
	if len(notices) != 1 || !strings.Contains(notices[0].Error(), "makes client spans of its own") {
		t.Errorf("notices %v, want one about the client spans below", notices)
	}
}
