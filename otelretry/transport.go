package otelretry

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

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
// parent is the span in the request's context: the logical request span
// (WithRequestSpan) or the caller's. The request handed down carries the
// span in its context, whatever the propagator, so that spans made below
// are its children.
type attemptTransport struct {
	base      http.RoundTripper
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	ins       *instruments // nil without metrics
	dropQuery bool
	onError   func(error)
	startOpts []trace.SpanStartOption
	scratch   sync.Pool // *attemptScratch

	// below is set once a client span made below this transport was
	// seen: spans are then left to that layer.
	below atomic.Bool
}

func newAttemptTransport(base http.RoundTripper, tracer trace.Tracer, cfg *config, ins *instruments) *attemptTransport {
	return &attemptTransport{
		base:      base,
		tracer:    tracer,
		prop:      cfg.prop,
		ins:       ins,
		dropQuery: cfg.dropQuery,
		onError:   cfg.onError,
		startOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)},
		scratch:   sync.Pool{New: func() any { return new(attemptScratch) }},
	}
}

// attemptScratch is the per-attempt working memory, pooled so that an
// attempt allocates nothing of its own beyond what the tracer does for its
// span (and, when a propagator writes headers, the header copy that
// carries them).
type attemptScratch struct {
	attrs   [10]attribute.KeyValue
	carrier lazyCarrier
}

// RoundTrip sends req under a new client span.
func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.below.Load() {
		return t.base.RoundTrip(req)
	}
	rc := requestOf(req.Context())
	start := time.Now()
	ctx, span := t.tracer.Start(req.Context(), spanName(req.Method), t.startOpts...)
	n := 0
	if rc != nil {
		n = rc.send(span.SpanContext(), req)
	} else {
		n = resendCount(req)
	}
	s := t.scratch.Get().(*attemptScratch)
	if span.IsRecording() {
		span.SetAttributes(requestAttrs(s.attrs[:0], req, n, t.dropQuery)...)
	}
	// The request handed down carries the span in its context (a copy, as
	// the RoundTripper contract requires); its header is copied only if the
	// propagator writes.
	out := rc.carry(req, ctx)
	s.carrier = lazyCarrier{orig: req, req: out}
	t.prop.Inject(ctx, &s.carrier)
	s.carrier = lazyCarrier{}

	resp, err := t.base.RoundTrip(out)
	elapsed := time.Since(start)
	if resp != nil && resp.Request != nil && resp.Request != out {
		t.checkBelow(resp.Request, span)
	}
	if span.IsRecording() {
		attrs := s.attrs[:0]
		switch {
		case err != nil:
			attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(err)))
			span.SetStatus(codes.Error, err.Error())
		case resp != nil:
			attrs = append(attrs, semconv.HTTPResponseStatusCode(resp.StatusCode))
			if v := protoVersion(resp); v != "" {
				attrs = append(attrs, semconv.NetworkProtocolVersion(v))
			}
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
	if t.ins != nil {
		t.ins.recordAttempt(ctx, req, resp, err, elapsed)
	}
	span.End()
	return resp, err
}

// checkBelow looks at the request the transport below answered, as it was
// just above the network (net/http's transport puts it in the response):
// if the span in its context is a client span other than the attempt's,
// a layer below makes client spans of its own (otelhttp inside another
// RoundTripper, where Instrument cannot see it). This transport then stops
// making spans, so that each physical request has one, and says so once.
func (t *attemptTransport) checkBelow(bottom *http.Request, span trace.Span) {
	s := trace.SpanFromContext(bottom.Context())
	if s == span || !s.SpanContext().IsValid() || s.SpanContext().SpanID() == span.SpanContext().SpanID() {
		return
	}
	k, ok := s.(interface{ SpanKind() trace.SpanKind })
	if !ok || k.SpanKind() != trace.SpanKindClient {
		return
	}
	if t.below.CompareAndSwap(false, true) {
		t.onError(fmt.Errorf("otelretry: the transport below %T makes client spans of its own; "+
			"otelretry makes no more attempt spans on this client (give WithoutAttemptSpans to say so from the start)", t.base))
	}
}

// protoVersion is network.protocol.version of resp: "1.1", "2", ...
func protoVersion(resp *http.Response) string {
	switch {
	case resp.ProtoMajor == 1 && resp.ProtoMinor == 1:
		return "1.1"
	case resp.ProtoMajor == 1 && resp.ProtoMinor == 0:
		return "1.0"
	case resp.ProtoMajor == 2:
		return "2"
	case resp.ProtoMajor == 3:
		return "3"
	}
	return ""
}

// spanName is the HTTP conventions' span name: the method, "HTTP" for an
// unknown one.
func spanName(m string) string {
	if name, ok := methodOf(m); ok {
		return name
	}
	return "HTTP"
}

// requestAttrs appends the attempt's request attributes to attrs; resends
// is its http.request.resend_count, set when it is not 0.
func requestAttrs(attrs []attribute.KeyValue, req *http.Request, resends int, dropQuery bool) []attribute.KeyValue {
	method, known := methodOf(req.Method)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method))
	if !known {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(req.Method))
	}
	if req.URL != nil {
		host, port := hostPort(req.URL.Scheme, req.URL.Host)
		attrs = append(attrs, semconv.ServerAddress(host), semconv.URLFull(fullURL(req.URL, dropQuery)))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
		if req.URL.Scheme != "" {
			attrs = append(attrs, semconv.URLScheme(req.URL.Scheme))
		}
	}
	if resends > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(resends))
	}
	return attrs
}

// resendCount is http.request.resend_count of req when it is not sent by
// an instrumented client: the retries before the attempt in flight
// (restyretry.ResendCount) plus the redirects followed within it.
func resendCount(req *http.Request) int {
	n := restyretry.ResendCount(req.Context())
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		n++
	}
	return n
}

// lazyCarrier is the propagator's carrier: the first write gives the
// request handed down a header of its own, and writes there.
type lazyCarrier struct {
	orig, req *http.Request
}

func (c *lazyCarrier) Get(key string) string { return c.req.Header.Get(key) }

func (c *lazyCarrier) Set(key, value string) {
	if c.orig != nil {
		c.req.Header = c.orig.Header.Clone()
		if c.req.Header == nil {
			c.req.Header = make(http.Header)
		}
		c.orig = nil
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

// isOtelHTTPType reports whether t is otelhttp's *Transport, which makes
// the attempt spans itself. It is recognised by its type's package and
// name, so that this package does not depend on otelhttp.
func isOtelHTTPType(t reflect.Type) bool {
	if t == nil || t.Kind() != reflect.Pointer {
		return false
	}
	t = t.Elem()
	return t.Name() == "Transport" && t.PkgPath() == otelhttpPath
}

var roundTripperType = reflect.TypeFor[http.RoundTripper]()

// makesSpans reports whether rt, or a RoundTripper it holds, is otelhttp's
// *Transport or an attempt transport of this package: it follows the
// fields (exported or not, embedded or not, in slices and arrays too) that
// hold a RoundTripper, through pointers and interfaces, as deep as the
// chain goes. A RoundTripper it cannot look into (a func adapter's
// closure) is the transport's run-time check's to find (checkBelow).
func makesSpans(rt http.RoundTripper) bool {
	seen := make(map[uintptr]bool)
	var walk func(v reflect.Value, depth int) bool
	walk = func(v reflect.Value, depth int) bool {
		if depth > 32 || !v.IsValid() {
			return false
		}
		switch v.Kind() {
		case reflect.Interface:
			if v.IsNil() {
				return false
			}
			return walk(v.Elem(), depth+1)
		case reflect.Pointer:
			if v.IsNil() {
				return false
			}
			if isOtelHTTPType(v.Type()) || v.Type() == attemptTransportType {
				return true
			}
			if seen[v.Pointer()] {
				return false
			}
			seen[v.Pointer()] = true
			return walk(v.Elem(), depth+1)
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Field(i)
				if holdsRoundTripper(f.Type()) && walk(f, depth+1) {
					return true
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				if walk(v.Index(i), depth+1) {
					return true
				}
			}
		}
		return false
	}
	return walk(reflect.ValueOf(rt), 0)
}

var attemptTransportType = reflect.TypeFor[*attemptTransport]()

// holdsRoundTripper reports whether a field of type t may hold a
// RoundTripper: an interface a RoundTripper satisfies, a type that is one,
// or a slice or array of those.
func holdsRoundTripper(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return roundTripperType.Implements(t) || t.Implements(roundTripperType)
	case reflect.Slice, reflect.Array:
		return holdsRoundTripper(t.Elem())
	case reflect.Pointer, reflect.Struct:
		return t.Implements(roundTripperType) || reflect.PointerTo(t).Implements(roundTripperType)
	}
	return false
}

const otelhttpPath = "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

// resendTransport adds http.request.resend_count to the span in the
// context of every resend it carries; see NewResendTransport.
type resendTransport struct{ base http.RoundTripper }

// NewResendTransport returns a transport that sends every request through
// base and, when the request is a resend (a retry of a restyretry policy
// or a redirect), sets http.request.resend_count on the span in the
// request's context: 1, 2, 3, ... over the whole logical request of an
// instrumented client. It also notes that span as the attempt's, for the
// restyretry.attempt_span_id of the span events. It is for clients that
// make their attempt spans with otelhttp, whose transport does not set the
// attribute: put it under otelhttp's,
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
	span := trace.SpanFromContext(req.Context())
	n := 0
	if rc := requestOf(req.Context()); rc != nil {
		rc.mu.Lock()
		counted := rc.sends > 0 && rc.lastSpan.SpanID() == span.SpanContext().SpanID()
		rc.mu.Unlock()
		if counted {
			return t.base.RoundTrip(req) // an attempt span of this package's: counted already
		}
		n = rc.send(span.SpanContext(), req)
	} else {
		n = resendCount(req)
	}
	if n > 0 && span.IsRecording() {
		span.SetAttributes(semconv.HTTPRequestResendCount(n))
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
