package otelretry

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
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
// request's context back. Every decision's Event carries the request's
// context as the client's hooks left it (restyretry.Event.Context), so the
// observer finds the record there, and so does the transport in every
// attempt's context: it counts the physical sends (http.request.resend_count
// over retries and redirects together) and notes the attempt span, which
// the span events of the decisions name.
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

	// ended is set when the request ended: the record then hides itself
	// and its span, and its values are parent's, so that a context kept
	// from the request (or one the library wrapped around it) carries
	// nothing of otelretry's.
	ended atomic.Bool

	spareUsed bool
	spare     http.Request

	// Written by the transport and read by the observer of this request.
	mu       sync.Mutex
	sends    int               // physical sends so far
	attempt  int               // the attempt of the latest send (1-based)
	lastSpan trace.SpanContext // the latest attempt span
	reason   string            // the give-up reason, when the request gave up
	host     string            // server.address and server.port of the first send
	port     int
}

// reqKey finds the innermost live record of a context: any observer's
// (o nil), for the transports, or o's own, for its hooks and events.
type reqKey struct{ o *observer }

func (c *reqCtx) Value(key any) any {
	if c.ended.Load() {
		return c.parent.Value(key)
	}
	if k, ok := key.(reqKey); ok && (k.o == nil || k.o == c.o) {
		return c
	}
	return c.Context.Value(key)
}

// requestOf returns the record of the logical request ctx belongs to.
func requestOf(ctx context.Context) *reqCtx {
	rc, _ := ctx.Value(reqKey{}).(*reqCtx)
	return rc
}

// recordOf returns o's record of the logical request ctx belongs to.
func (o *observer) recordOf(ctx context.Context) *reqCtx {
	if ctx == nil {
		return nil
	}
	rc, _ := ctx.Value(reqKey{o: o}).(*reqCtx)
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
	if rc := o.recordOf(ctx); rc != nil && rc.req == r {
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
	rc := o.recordOf(r.Context())
	if rc == nil || rc.req != r {
		return
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
	rc.ended.Store(true)
	if r.Context() == context.Context(rc) {
		r.SetContext(rc.parent)
	}
	// Otherwise the request's context was derived from the record after
	// this hook ran: by the library, when its per-request state was made
	// before this hook (a policy with MaxElapsed), whose end keeps what
	// the hooks added with the caller's lifetime; or by a later hook. The
	// ended record then hides itself and its span there.
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

// link returns o's record of the request ev is about, nil when none is
// known (a client not instrumented by this observer; a pacing hold before
// the first attempt, reported before this package's hook ran).
//
// ev.Context is the request's context at the decision, with what the
// hooks added, this package's record included once its hook ran. A pacing
// event (Attempt 0, before any send) reported before that hook carries the
// caller's context, which holds another request's record only when the
// request was made with that request's context (from inside one of its
// hooks, say): a record that has sent already is not this request's.
func (o *observer) link(ev *restyretry.Event) *reqCtx {
	rc := o.recordOf(ev.Context)
	if rc == nil || ev.Attempt > 0 {
		return rc
	}
	rc.mu.Lock()
	sent := rc.sends > 0
	rc.mu.Unlock()
	if sent {
		return nil
	}
	return rc
}
