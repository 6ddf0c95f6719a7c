package restyv3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/restyretry/restyretry/core"
	"resty.dev/v3"
)

// The resty v3 adapter.
//
// One logical request is one call of resty's Request.Execute, whose retry
// loop calls back into the installation; each callback becomes an Outcome
// for the request's core.Execution, and the adapter applies the Decision
// it gets back. It decides nothing itself:
//
//	before     a request middleware, before every attempt: PhaseBefore
//	           (a Pace hold, an Idempotency-Key, a refusal that stands)
//	hide       a response middleware: a 429's or 503's Retry-After is
//	           moved aside, out of resty's own shortcut
//	condition  the one retry condition: PhaseFinished; a retried or
//	           given-up body is drained, bounded, and closed
//	delay      the delay strategy: the wait, or the give-up as its error
//	finish     resty's success, error, invalid and panic hooks: PhaseEnded
//
// A request's state lives in one table keyed by its *resty.Request, from
// its first attempt until Execute returns.

// Apply installs the Default policy on c and returns c.
func Apply(c *resty.Client) *resty.Client { return Default().Apply(c) }

// Apply installs p on c and returns c. It works through resty's own retry
// loop: it turns resty's default retry conditions off and allows retries of
// every method (the policy decides which), adds one retry condition, a
// delay strategy, a request middleware, a response middleware and the
// success, error, invalid and panic hooks, and raises the retry count so
// that the policy, not resty, ends a request. Apply c before making its
// requests: resty copies the retry settings into a request when R()
// creates it. Change those settings afterwards and the policy no longer
// holds.
//
// Applying again replaces the policy in place, safely while requests run;
// the retry budget is reset. A Clone of an applied client shares its
// original's policy, budget, test mode and observers until Apply, TestMode
// or Observe is called on the clone, which gives it its own copy.
//
// Hedging (resty's SetHedging) and retries do not stack: when c hedges,
// Apply leaves resty's retry count at the 0 SetHedging set, so requests
// are hedged and never retried, and it reports ErrHedging as a RuleDegraded
// event (and with slog). Hedging turned on after Apply does the same; it is
// reported at the first request.
func (p Policy) Apply(c *resty.Client) *resty.Client {
	in := adopt(c, true, nil)
	in.core.SetPolicy(core.Policy(p))
	return c
}

// TestMode switches the policy applied on c, and every per-request policy
// used with it, to test mode (see Policy.TestMode): waits are skipped and, if
// maxRetries ≥ 0, retries are capped at maxRetries. It does nothing to a
// client that has no policy applied.
func TestMode(c *resty.Client, maxRetries int) *resty.Client {
	if in := adopt(c, false, nil); in != nil {
		in.core.SetTestMode(maxRetries)
	}
	return c
}

// Observe adds observe to the observers of the policy applied on c: it
// receives every Event of every request made with c, after the policies'
// own OnDecision. It does nothing to a client that has no policy applied.
// observe must be safe for concurrent use.
func Observe(c *resty.Client, observe func(Event)) *resty.Client {
	if in := adopt(c, false, nil); in != nil {
		in.core.Observe(observe)
	}
	return c
}

// ErrHedging is the Err of the RuleDegraded event of a client that hedges:
// resty sends hedged copies of its requests and does not retry them.
var ErrHedging = errors.New("restyv3: the client hedges (resty SetHedging): its requests are hedged, not retried")

// loopCeiling is the retry count resty's loop is given; the policy stops
// it far earlier (core.MaxRetriesLimit).
const loopCeiling = core.MaxRetriesLimit + 1

// installation is the state Apply leaves on one client.
type installation struct {
	core    *core.Client
	hedging atomic.Bool // ErrHedging was reported
}

// The registry: installations by client, and by the *http.Client that a
// client shares with its clones (resty's Clone copies the hooks, which then
// serve the clone too). Both are weak, so that having been applied keeps
// no client alive.
var (
	byClient sync.Map // weak.Pointer[resty.Client] → *installation
	byHTTP   sync.Map // weak.Pointer[http.Client] → *installation
)

// inflight holds every request's state while its Execute runs.
var inflight sync.Map // *resty.Request → *state

func lookup(c *resty.Client) *installation {
	if v, ok := byClient.Load(weak.Make(c)); ok {
		return v.(*installation)
	}
	return nil
}

// adopt returns c's installation, creating it when create is set or when c
// is a clone of an applied client; nil otherwise. clock is for tests.
func adopt(c *resty.Client, create bool, clock core.Clock) *installation {
	if in := lookup(c); in != nil {
		return in
	}
	var from *installation
	if v, ok := byHTTP.Load(weak.Make(c.Client())); ok {
		from = v.(*installation)
	}
	if from == nil && !create {
		return nil
	}
	in := &installation{}
	if from != nil {
		in.core = from.core.Copy() // a clone: the original's hooks serve it
	} else {
		in.core = core.NewClient(core.Default(), core.Options{Clock: clock})
		c.SetRetryDefaultConditions(false)
		c.SetRetryAllowNonIdempotent(true)
		c.AddRetryConditions(in.condition)
		c.SetRetryDelayStrategy(in.delay)
		c.AddRequestMiddleware(in.before)
		c.AddResponseMiddleware(in.hide)
		c.OnSuccess(in.onSuccess)
		c.OnError(in.onError)
		c.OnInvalid(in.onError)
		c.OnPanic(in.onError)
		if c.Hedging() != nil {
			in.hedging.Store(true)
			in.core.Degraded(ErrHedging)
		} else {
			c.SetRetryCount(loopCeiling)
		}
		byHTTP.LoadOrStore(weak.Make(c.Client()), in)
	}
	key := weak.Make(c)
	byClient.Store(key, in)
	runtime.AddCleanup(c, func(k weak.Pointer[resty.Client]) { byClient.Delete(k) }, key)
	return in
}

// resolve is the installation that serves c's requests: its own, else in
// (whose hooks c inherited through Clone).
func (in *installation) resolve(c *resty.Client) *installation {
	if c != nil {
		if own := lookup(c); own != nil {
			return own
		}
	}
	return in
}

// state is what the adapter keeps for one Execute of one request.
type state struct {
	exec       *core.Execution
	req        *resty.Request
	parent     context.Context // the context the caller gave the request
	base       int             // req.Attempt before this Execute's first attempt
	replayable bool            // the body can be sent again as it was
	held       bool            // a Pace hold was cancelled: nothing was sent

	next        core.Decision // made by condition, applied by delay
	nextAttempt int           // the req.Attempt next belongs to; 0 when none

	hidden     []string // the Retry-After values moved aside
	hiddenFrom *resty.Response
	gaveUp     bool
}

func (st *state) attempt() int { return st.req.Attempt - st.base }

func stateOf(r *resty.Request) *state {
	if r == nil {
		return nil
	}
	if v, ok := inflight.Load(r); ok {
		return v.(*state)
	}
	return nil
}

// before is a request middleware (resty's AddRequestMiddleware puts it
// ahead of the one that builds the *http.Request): PhaseBefore. The first
// attempt starts the execution, whose context (the caller's, bounded by
// MaxElapsed) the attempts then carry.
func (in *installation) before(c *resty.Client, r *resty.Request) error {
	in = in.resolve(c)
	st := stateOf(r)
	if st == nil {
		if c.Hedging() != nil && in.hedging.CompareAndSwap(false, true) {
			in.core.Degraded(ErrHedging)
		}
		p := core.PolicyFrom(r.Context())
		e := in.core.Start(r.Context(), p, core.Request{Method: r.Method, Header: r.Header,
			DefaultKey: c.Header().Get(core.IdempotencyKeyHeader) != ""})
		st = &state{exec: e, req: r, parent: r.Context(), base: r.Attempt - 1, replayable: replayableBody(r.Body)}
		inflight.Store(r, st)
		if e.Context() != r.Context() {
			r.SetContext(e.Context())
		}
	}
	o := core.Outcome{Phase: core.PhaseBefore, Attempt: st.attempt()}
	if p := st.exec.Policy(); p.Pace && o.Attempt == 1 {
		o.URL = core.TargetURL(r.URL, c.BaseURL())
	}
	for {
		d := st.exec.Next(o)
		if d.Key != "" {
			r.Header.Set(core.IdempotencyKeyHeader, d.Key)
		}
		switch d.Action {
		case core.ActionHold:
			if err := st.exec.Sleep(d.Wait); err != nil {
				st.held = true
				return err
			}
		case core.ActionStop:
			st.gaveUp = true
			return d.Err
		default:
			return nil
		}
	}
}

// hide is a response middleware. resty's loop takes a 429's or 503's
// Retry-After as the wait, as it is, without asking the delay strategy:
// the policy's floor, cap and ErrWaitTooLong would not hold. The header is
// moved aside while resty's loop runs (its retry conditions and hooks do
// not see it); the policy's conditions see it, and it is back on the
// response when Execute returns.
func (in *installation) hide(_ *resty.Client, res *resty.Response) error {
	st := stateOf(res.Request)
	if st == nil || res.RawResponse == nil {
		return nil
	}
	if s := res.RawResponse.StatusCode; s != http.StatusTooManyRequests && s != http.StatusServiceUnavailable {
		return nil
	}
	h := res.RawResponse.Header
	if vs, ok := h[retryAfter]; ok {
		st.hidden, st.hiddenFrom = vs, res
		delete(h, retryAfter)
	}
	return nil
}

const retryAfter = "Retry-After"

// restore puts a hidden Retry-After back on res; it reports whether it did.
func (st *state) restore(res *resty.Response) bool {
	if st.hidden == nil || st.hiddenFrom != res {
		return false
	}
	res.RawResponse.Header[retryAfter] = st.hidden
	st.hidden, st.hiddenFrom = nil, nil
	return true
}

// condition is the one retry condition: PhaseFinished. true hands the
// decision, a wait or a give-up, to delay.
func (in *installation) condition(res *resty.Response, err error) bool {
	if res == nil {
		return false
	}
	r := res.Request
	st := stateOf(r)
	if st == nil {
		return false
	}
	hidden := st.restore(res) // the policy sees the header the server sent
	d := st.exec.Next(outcomeOf(res, err, st.attempt(), st.replayable && !isMultipart(r)))
	if hidden {
		in.hide(nil, res) // and resty's loop still does not
	}
	if d.Action != core.ActionRetry && d.Err == nil {
		return false
	}
	st.next, st.nextAttempt = d, r.Attempt
	discard(res)
	return true
}

// delay is the delay strategy, called after a condition said true: the
// wait, or the give-up, which resty's loop returns wrapped around the
// attempt's own error.
func (in *installation) delay(res *resty.Response, err error) (time.Duration, error) {
	r := res.Request
	st := stateOf(r)
	if st == nil {
		return 0, nil
	}
	var d core.Decision
	if st.nextAttempt == r.Attempt {
		d = st.next
		st.nextAttempt = 0
	} else {
		// A condition of the caller's said true before ours was asked, or
		// over our stop: the limits still hold.
		hidden := st.restore(res)
		o := outcomeOf(res, err, st.attempt(), st.replayable && !isMultipart(r))
		o.Phase = core.PhaseOverruled
		d = st.exec.Next(o)
		if hidden {
			in.hide(nil, res)
		}
	}
	if d.Err != nil {
		st.gaveUp = true
		st.restore(res)
		return 0, d.Err
	}
	return d.Wait, nil
}

// discard drains (a few KiB, for a short time) and closes the body of a
// response that is retried or given up, once the condition said so and
// before resty's own drainBody, which reads it to its end without a bound:
// a streamed body (SetResponseDoNotParse) that stalls or trickles would
// hold the request. A longer or slower body costs its connection instead.
// A body resty read already is closed, and closing it again does nothing.
// (Not a retry hook: resty allocates the list of hooks per request when
// the client has any.)
func discard(res *resty.Response) {
	if res != nil && res.RawResponse != nil {
		core.Drain(res.RawResponse.Body)
	}
}

// outcomeOf is PhaseFinished for the attempt that gave res and err.
func outcomeOf(res *resty.Response, err error, attempt int, replayable bool) core.Outcome {
	r := res.Request
	o := core.Outcome{Phase: core.PhaseFinished, Attempt: attempt, Err: err, Response: res, Replayable: replayable}
	if raw := res.RawResponse; raw != nil {
		o.Status, o.Header = raw.StatusCode, raw.Header
		if raw.Request != nil {
			o.URL = raw.Request.URL // the host that answered, after redirects
			o.Redirected = raw.Request.Method != r.Method
		}
	}
	if o.URL == nil && r.RawRequest != nil {
		o.URL = r.RawRequest.URL
	}
	if truncated(res, err) {
		o.Truncated = true
		if o.Err == nil {
			o.Err = io.ErrUnexpectedEOF // resty's readAll drops it
		}
	}
	if err != nil && res.RawResponse == nil && r.RawRequest != nil {
		if u, ok := core.RedirectTarget(err, r.RawRequest.URL); ok {
			o.Redirected, o.URL = true, u // the original may have been applied; the target failed
		}
	}
	return o
}

func (in *installation) onSuccess(_ *resty.Client, res *resty.Response) {
	if res != nil {
		finish(res.Request, res, nil)
	}
}

func (in *installation) onError(r *resty.Request, err error) {
	var res *resty.Response
	var re *resty.ResponseError
	if errors.As(err, &re) {
		res, err = re.Response, re.Err
	}
	finish(r, res, err)
}

// finish ends an Execute: PhaseEnded. It gives the response its
// Retry-After back, removes the Idempotency-Key it added from the
// request's headers and puts the caller's context back, so a request
// executed again starts afresh.
func finish(r *resty.Request, res *resty.Response, err error) {
	st := stateOf(r)
	if st == nil {
		return
	}
	inflight.Delete(r)
	if res != nil {
		st.restore(res)
	}
	attempt := st.attempt()
	if st.held {
		attempt = 0
	}
	u := (*url.URL)(nil)
	if r.RawRequest != nil {
		u = r.RawRequest.URL
	}
	if d := st.exec.Next(core.Outcome{Phase: core.PhaseEnded, Attempt: attempt, URL: u, Err: err}); d.Err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.Err = d.Err // the MaxElapsed give-up inside the *url.Error resty returns
		}
	}
	if k := st.exec.Key(); k != "" && r.Header.Get(core.IdempotencyKeyHeader) == k {
		r.Header.Del(core.IdempotencyKeyHeader)
	}
	if r.Context() != st.parent {
		r.SetContext(st.parent)
	}
	if res != nil && res.Body != nil && r.IsResponseDoNotParse && !st.gaveUp && st.exec.Context() != st.parent {
		// A streamed body under MaxElapsed: closing it ends the execution,
		// whose deadline bounds the stream until then.
		res.Body = &closeExec{ReadCloser: res.Body, exec: st.exec}
		return
	}
	st.exec.Close()
}

type closeExec struct {
	io.ReadCloser
	exec *core.Execution
}

func (b *closeExec) Close() error {
	err := b.ReadCloser.Close()
	b.exec.Close()
	return err
}

// truncated reports a success whose body, as resty read it, ended before
// its Content-Length: resty v3's readAll turns the read's
// io.ErrUnexpectedEOF into nil, and a decoder's error says nothing of the
// framing. A body resty left unread (no decoder used, read on String or
// Bytes) is read here, as those would, to know. Not judged: a streamed or
// saved body (the caller reads it), a compressed one (its size is the
// decoded one) and a chunked one (no length to compare); a decoded body
// only when its decoder ran out of input (it may stop before the end, or
// at bad syntax, short of the length).
func truncated(res *resty.Response, err error) bool {
	raw, r := res.RawResponse, res.Request
	if raw == nil || raw.ContentLength <= 0 || raw.StatusCode < 200 || raw.StatusCode > 299 ||
		r.IsResponseDoNotParse || r.IsResponseSaveToFile || len(raw.Header["Content-Encoding"]) > 0 {
		return false
	}
	n := res.Size() // reads a body still unread
	switch {
	case n >= raw.ContentLength:
		return false
	case int64(len(res.Bytes())) == n:
		return true // read whole: readAll dropped the error
	}
	return errors.Is(err, io.ErrUnexpectedEOF) // a decoder ran out of body, not into bad syntax
}

// replayableBody reports whether resty v3 sends body again as it was. It
// rebuilds strings, byte slices, encoded values and forms on every attempt,
// but sends an io.Reader as it is and, on a retry, can only seek it to its
// start: exact for a *bytes.Buffer (resty reads it through a *bytes.Reader
// of its unread bytes) and a *bytes.Reader or *strings.Reader not yet read
// from; any other reader may be one-shot, closed by the transport or not
// at its start, so its retry is refused (ErrBodyNotReplayable) rather than
// risking a truncated or different body.
func replayableBody(body any) bool {
	switch b := body.(type) {
	case nil, *bytes.Buffer:
		return true
	case *bytes.Reader:
		return int64(b.Len()) == b.Size()
	case *strings.Reader:
		return int64(b.Len()) == b.Size()
	case io.Reader:
		return false
	}
	return true
}

// isMultipart reports a multipart request. resty v3 rebuilds its parts on a
// retry and seeks (or fails on) their readers, which the adapter cannot
// see: such a retry is refused.
func isMultipart(r *resty.Request) bool {
	return core.IsMultipart(r.Header.Get("Content-Type"))
}
