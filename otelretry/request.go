package otelretry

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// reqCtx is the context of one logical request (one Execute, all its
// attempts, redirects and waits) while it runs: Instrument's
// OnBeforeRequest hook wraps the request's context with it before the first
// attempt, and its OnSuccess, OnError and OnPanic hooks end it and put the
// request's context back. The transport finds it in every attempt's
// context: it counts the physical sends (http.request.resend_count over
// retries and redirects together) and notes the attempt span, which the
// span events of the decisions name.
//
// It is the one allocation otelretry makes for a request that succeeds at
// once: spare is the copy of the first attempt's *http.Request that
// carries the attempt span down to the transport below.
type reqCtx struct {
	context.Context                 // parent, or the logical span's context with WithRequestSpan
	parent          context.Context // the request's context before the hook
	o               *observer
	req             *resty.Request
	start           time.Time
	span            trace.Span // the logical request span, nil without WithRequestSpan
	key             context.Context
	next            *reqCtx // in the registry's chain for key

	spareUsed bool
	spare     http.Request

	// Written by the transport and the observer of this request, read
	// by the observer of another when it looks for its record among
	// requests sharing a context.
	mu       sync.Mutex
	sends    int               // physical sends so far
	attempt  int               // the attempt of the latest send (1-based)
	lastSpan trace.SpanContext // the latest attempt span
	linked   int               // the latest attempt an event was linked to
	reason   string            // the give-up reason, when the request gave up
	host     string            // server.address, server.port and path of the first send
	port     int
	path     string
}

type reqKey struct{}

func (c *reqCtx) Value(key any) any {
	if _, ok := key.(reqKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// requestOf returns the record of the logical request ctx belongs to.
func requestOf(ctx context.Context) *reqCtx {
	rc, _ := ctx.Value(reqKey{}).(*reqCtx)
	return rc
}

// send notes a physical send of the request under the span sc and returns
// its resend count: 0 for the first, then 1, 2, ... over retries and
// redirects together.
func (c *reqCtx) send(sc trace.SpanContext, req *http.Request) int {
	c.mu.Lock()
	n := c.sends
	c.sends++
	c.attempt = restyretry.ResendCount(req.Context()) + 1
	c.lastSpan = sc
	if n == 0 && req.URL != nil {
		c.host, c.port = hostPort(req.URL.Scheme, req.URL.Host)
		c.path = req.URL.Path
	}
	c.mu.Unlock()
	return n
}

// carry returns req with ctx: on the first send, a copy into the spare
// request, which costs nothing; then a copy of its own.
func (c *reqCtx) carry(req *http.Request, ctx context.Context) *http.Request {
	if c == nil || c.spareUsed {
		return req.WithContext(ctx)
	}
	c.spareUsed = true
	c.spare = *req.WithContext(ctx)
	return &c.spare
}

// before runs before every attempt: before the first, it wraps the
// request's context with the request's record.
func (o *observer) before(_ *resty.Client, r *resty.Request) error {
	ctx := r.Context()
	if rc := requestOf(ctx); rc != nil && rc.o == o && rc.req == r {
		return nil // a later attempt
	}
	rc := &reqCtx{Context: ctx, parent: ctx, o: o, req: r, start: time.Now()}
	if o.cfg.requestSpan {
		sctx, span := o.tracer.Start(ctx, spanName(r.Method), o.requestSpanOpts...)
		if span.IsRecording() {
			method, known := methodOf(r.Method)
			span.SetAttributes(semconv.HTTPRequestMethodKey.String(method))
			if !known {
				span.SetAttributes(semconv.HTTPRequestMethodOriginal(r.Method))
			}
		}
		rc.Context, rc.span = sctx, span
	}
	if inner, ok := rootInner(ctx); ok && hashable(inner) {
		// The library wrapped the caller's context before this hook ran:
		// its events will carry the caller's, not this record.
		o.reg.add(inner, rc)
	}
	r.SetContext(rc)
	return nil
}

// onSuccess and onError end the request (resty calls one of them, or
// onError as its panic hook, once per Execute).
func (o *observer) onSuccess(_ *resty.Client, resp *resty.Response) {
	if resp != nil && resp.Request != nil {
		o.end(resp.Request, resp, nil)
	}
}

func (o *observer) onError(r *resty.Request, err error) {
	var resp *resty.Response
	if re, ok := errors.AsType[*resty.ResponseError](err); ok {
		resp, err = re.Response, re.Err
	}
	o.end(r, resp, err)
}

// end records the logical request's duration, ends its span and puts the
// request's context back.
func (o *observer) end(r *resty.Request, resp *resty.Response, err error) {
	rc := requestOf(r.Context())
	if rc == nil || rc.o != o || rc.req != r {
		return
	}
	if rc.key != nil {
		o.reg.remove(rc)
	}
	status := 0
	if resp != nil && resp.RawResponse != nil {
		status = resp.RawResponse.StatusCode
	}
	rc.mu.Lock()
	reason, attempt, host, port := rc.reason, rc.attempt, rc.host, rc.port
	rc.mu.Unlock()
	errType := finalErrorType(status, err)
	if o.ins != nil {
		method, _ := methodOf(r.Method)
		k := seriesKey{metric: kRequest, method: method, host: host, port: port, status: status, errType: errType, reason: reason}
		o.ins.request.Record(rc, time.Since(rc.start).Seconds(), o.ins.series.get(k).rec...)
	}
	if rc.span != nil {
		if rc.span.IsRecording() {
			attrs := make([]attribute.KeyValue, 0, 6)
			attrs = append(attrs, AttemptsKey.Int(attempt))
			if host != "" {
				attrs = append(attrs, semconv.ServerAddress(host))
			}
			if port > 0 {
				attrs = append(attrs, semconv.ServerPort(port))
			}
			if status != 0 {
				attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
			}
			if errType != "" {
				attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				rc.span.SetStatus(codes.Error, msg)
			}
			if reason != "" {
				attrs = append(attrs, ReasonKey.String(reason))
			}
			rc.span.SetAttributes(attrs...)
		}
		rc.span.End()
	}
	if r.Context() == context.Context(rc) {
		parent := rc.parent
		if inner, ok := rootInner(parent); ok {
			parent = inner // what the library would have put back, had this hook not wrapped it
		}
		r.SetContext(parent)
	}
}

// finalErrorType is the error.type of a logical request that ended with
// status (0 for none) and err: the status for 4xx and 5xx, else the type of
// the error that ended it.
func finalErrorType(status int, err error) string {
	if status >= 400 {
		return strconv.Itoa(status)
	}
	if err == nil {
		return ""
	}
	if gu, ok := errors.AsType[*restyretry.GiveUpError](err); ok {
		if gu.Status >= 400 {
			return strconv.Itoa(gu.Status)
		}
		if gu.Err != nil {
			err = gu.Err
		}
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return errorType(err)
}

// rootPath is the package of the library, whose wrappers of the caller's
// context (per-request state, a hidden state) rootInner sees through.
const rootPath = "github.com/restyretry/restyretry"

// rootInner returns the context a wrapper of the library's embeds, when
// ctx is one: a struct (or a pointer to one) of package restyretry that
// embeds context.Context.
func rootInner(ctx context.Context) (context.Context, bool) {
	v := reflect.ValueOf(ctx)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type().PkgPath() != rootPath {
		return nil, false
	}
	f := v.FieldByName("Context")
	if !f.IsValid() || f.Type() != contextType || f.IsNil() {
		return nil, false
	}
	inner, ok := f.Interface().(context.Context)
	return inner, ok
}

var contextType = reflect.TypeFor[context.Context]()

// hashable reports whether ctx can be a map key without panicking: a
// pointer, or a zero-size value such as context.Background().
func hashable(ctx context.Context) bool {
	t := reflect.TypeOf(ctx)
	return t != nil && (t.Kind() == reflect.Pointer || (t.Kind() == reflect.Struct && t.Size() == 0))
}

// registry holds the records of requests whose events will carry the
// caller's context rather than their record, by that context. Requests
// sharing a context share a chain.
type registry struct {
	mu sync.Mutex
	m  map[context.Context]*reqCtx
}

func (g *registry) add(key context.Context, rc *reqCtx) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[context.Context]*reqCtx)
	}
	rc.key, rc.next = key, g.m[key]
	g.m[key] = rc
	g.mu.Unlock()
}

func (g *registry) remove(rc *reqCtx) {
	g.mu.Lock()
	defer g.mu.Unlock()
	head := g.m[rc.key]
	if head == rc {
		if rc.next == nil {
			delete(g.m, rc.key)
		} else {
			g.m[rc.key] = rc.next
		}
		return
	}
	for p := head; p != nil; p = p.next {
		if p.next == rc {
			p.next = rc.next
			return
		}
	}
}

// find returns the record of the request ev is about, among those sharing
// ev's context: the one whose latest send was ev's attempt and that has
// no event for it yet, of the same method, host and path. Two requests
// alike in all of these are told apart by arrival only.
func (g *registry) find(ev *restyretry.Event) *reqCtx {
	if !hashable(ev.Context) {
		return nil
	}
	host, port := eventHost(ev.URL)
	path := ""
	if u, err := url.Parse(ev.URL); err == nil {
		path = u.Path
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for rc := g.m[ev.Context]; rc != nil; rc = rc.next {
		if rc.req.Method != ev.Method {
			continue
		}
		rc.mu.Lock()
		ok := rc.attempt == ev.Attempt && rc.linked < ev.Attempt && rc.host == host && rc.port == port && rc.path == path
		rc.mu.Unlock()
		if ok {
			return rc
		}
	}
	return nil
}

// link returns the record of the request ev is about, nil when none is
// known (a client not instrumented by this observer, a pacing hold before
// the first attempt), and notes that ev was linked to it.
func (o *observer) link(ev *restyretry.Event) *reqCtx {
	rc := requestOf(ev.Context)
	if rc == nil || rc.o != o {
		rc = o.reg.find(ev)
	}
	if rc != nil {
		rc.mu.Lock()
		rc.linked = max(rc.linked, ev.Attempt)
		rc.mu.Unlock()
	}
	return rc
}
