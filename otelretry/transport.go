package otelretry

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"

	"github.com/restyretry/restyretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// attemptTransport makes one client span per request it sends: per
// attempt, and per redirect within an attempt (net/http sends each hop
// through the transport).
//
// The span starts when the request is handed to the transport and ends
// when the response headers have arrived or the transport failed; reading
// the body is not part of it (a body that breaks off shows in the retry
// decision's span event and metrics, not in the attempt's span). Its
// parent is the span in the request's context: the caller's, since the
// library's request context wraps the caller's.
type attemptTransport struct {
	base      http.RoundTripper
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	startOpts []trace.SpanStartOption
	scratch   sync.Pool // *attemptScratch
}

func newAttemptTransport(base http.RoundTripper, tracer trace.Tracer, prop propagation.TextMapPropagator) *attemptTransport {
	return &attemptTransport{
		base:      base,
		tracer:    tracer,
		prop:      prop,
		startOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)},
		scratch:   sync.Pool{New: func() any { return new(attemptScratch) }},
	}
}

// attemptScratch is the per-attempt working memory, pooled so that an
// attempt allocates nothing of its own beyond what the tracer does for its
// span (and, when a propagator writes headers, the request copy that
// carries them).
type attemptScratch struct {
	attrs   [8]attribute.KeyValue
	carrier lazyCarrier
}

// RoundTrip sends req under a new client span.
func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := t.tracer.Start(req.Context(), spanName(req.Method), t.startOpts...)
	s := t.scratch.Get().(*attemptScratch)
	if span.IsRecording() {
		span.SetAttributes(requestAttrs(s.attrs[:0], req)...)
	}
	// Propagate the attempt's span. The request is copied (as the
	// RoundTripper contract requires) only if the propagator writes.
	s.carrier = lazyCarrier{orig: req, req: req, ctx: ctx}
	t.prop.Inject(ctx, &s.carrier)
	out := s.carrier.req
	s.carrier = lazyCarrier{}

	resp, err := t.base.RoundTrip(out)
	if span.IsRecording() {
		attrs := s.attrs[:0]
		switch {
		case err != nil:
			attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(err)))
			span.SetStatus(codes.Error, err.Error())
		case resp != nil:
			attrs = append(attrs, semconv.HTTPResponseStatusCode(resp.StatusCode))
			if resp.StatusCode >= 400 {
				// Client spans: 4xx and 5xx are errors, named by status.
				attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
				span.SetStatus(codes.Error, "")
			}
		}
		span.SetAttributes(attrs...)
	}
	clear(s.attrs[:])
	t.scratch.Put(s)
	span.End()
	return resp, err
}

// spanName is the HTTP conventions' span name: the method, "HTTP" for an
// unknown one.
func spanName(m string) string {
	if name, ok := methodOf(m); ok {
		return name
	}
	return "HTTP"
}

// requestAttrs appends the attempt's request attributes to attrs.
func requestAttrs(attrs []attribute.KeyValue, req *http.Request) []attribute.KeyValue {
	method, known := methodOf(req.Method)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method))
	if !known {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(req.Method))
	}
	if req.URL != nil {
		host, port := hostPort(req.URL.Scheme, req.URL.Host)
		attrs = append(attrs, semconv.ServerAddress(host), semconv.URLFull(fullURL(req.URL)))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if n := resendCount(req); n > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(n))
	}
	return attrs
}

// fullURL is url.full: the URL without user info, query or fragment (the
// query may hold credentials and its values are not redacted one by one).
func fullURL(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = nil, "", false, "", ""
	return v.String()
}

// resendCount is http.request.resend_count of req: the retries before the
// attempt in flight (restyretry.ResendCount) plus the redirects followed
// within it. Redirects followed inside earlier attempts are not counted.
func resendCount(req *http.Request) int {
	n := restyretry.ResendCount(req.Context())
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		n++
	}
	return n
}

// lazyCarrier is the propagator's carrier: the first write copies the
// request, with the span's context and its own header, and writes there.
type lazyCarrier struct {
	orig, req *http.Request
	ctx       context.Context
}

func (c *lazyCarrier) Get(key string) string { return c.req.Header.Get(key) }

func (c *lazyCarrier) Set(key, value string) {
	if c.req == c.orig {
		c.req = c.orig.WithContext(c.ctx)
		c.req.Header = c.orig.Header.Clone()
		if c.req.Header == nil {
			c.req.Header = make(http.Header)
		}
	}
	c.req.Header.Set(key, value)
}

func (c *lazyCarrier) Keys() []string {
	keys := make([]string, 0, len(c.req.Header))
	for k := range c.req.Header {
		keys = append(keys, k)
	}
	return keys
}

// isOtelHTTP reports whether rt is otelhttp's *Transport, which makes the
// attempt spans itself. It is recognised by its type's package and name,
// so that this package does not depend on otelhttp.
func isOtelHTTP(rt http.RoundTripper) bool {
	t := reflect.TypeOf(rt)
	if t == nil || t.Kind() != reflect.Pointer {
		return false
	}
	t = t.Elem()
	return t.Name() == "Transport" && t.PkgPath() == otelhttpPath
}

const otelhttpPath = "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

// resendTransport adds http.request.resend_count to the span in the
// context of every resend it carries; see NewResendTransport.
type resendTransport struct{ base http.RoundTripper }

// NewResendTransport returns a transport that sends every request through
// base and, when the request is a resend (a retry of a restyretry policy
// or a redirect), sets http.request.resend_count on the span in the
// request's context. It is for clients that make their attempt spans with
// otelhttp, whose transport does not set the attribute: put it under
// otelhttp's,
//
//	client.SetTransport(otelhttp.NewTransport(otelretry.NewResendTransport(http.DefaultTransport)))
//
// so that otelhttp's span is the one in the context it sees. A nil base is
// http.DefaultTransport.
func NewResendTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return resendTransport{base: base}
}

// RoundTrip sends req through the base transport.
func (t resendTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if n := resendCount(req); n > 0 {
		if span := trace.SpanFromContext(req.Context()); span.IsRecording() {
			span.SetAttributes(semconv.HTTPRequestResendCount(n))
		}
	}
	return t.base.RoundTrip(req)
}

// closeIdler is a transport that can close its idle connections.
type closeIdler interface{ CloseIdleConnections() }

// CloseIdleConnections closes the idle connections of the transport below,
// so that http.Client.CloseIdleConnections reaches it.
func (t *attemptTransport) CloseIdleConnections() {
	if c, ok := t.base.(closeIdler); ok {
		c.CloseIdleConnections()
	}
}

// CloseIdleConnections closes the idle connections of the transport below.
func (t resendTransport) CloseIdleConnections() {
	if c, ok := t.base.(closeIdler); ok {
		c.CloseIdleConnections()
	}
}
