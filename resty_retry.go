package restyretry

import (
	"context"
	"crypto/rand"
	"errors"
	"hash/maphash"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
)

// Policy holds the settings of smart retries. Start from a preset (Default,
// Interactive, Background, Contention) and change fields as needed; a Policy
// is a plain value, so copies never affect each other. Durations and counts
// that are zero or negative switch the feature off (MaxDelay: no cap;
// MaxElapsed: no limit), except MaxRetryAfter, where 0 means that no server
// wait is honoured: any positive one gives up.
type Policy struct {
	// MaxRetries is how many retries may follow the first attempt.
	MaxRetries int
	// BaseDelay is the backoff before retry 1; retry n waits
	// BaseDelay·Multiplier^(n−1), capped at MaxDelay, then jittered.
	BaseDelay time.Duration
	// Multiplier is the growth of the backoff per retry (at least 1).
	Multiplier float64
	// MaxDelay caps the computed backoff before jitter.
	MaxDelay time.Duration
	// Jitter spreads each backoff; see Jitter.
	Jitter Jitter
	// MaxRetryAfter is the longest server-requested wait (Retry-After and
	// rate-limit headers) that is honoured. A longer one gives up at once
	// with ErrWaitTooLong instead of sleeping or shortening it.
	MaxRetryAfter time.Duration
	// MaxElapsed limits the whole request, all attempts and waits, measured
	// from the start of the first attempt; a wait that would pass it gives up
	// with ErrTimeLimit.
	MaxElapsed time.Duration
	// RetryAllMethods retries POST, PATCH and other non-idempotent requests
	// on every retryable outcome, as if they carried an Idempotency-Key.
	RetryAllMethods bool
	// Budget caps retries to a share of the client's traffic; see Budget.
	Budget Budget
	// Rand returns a number in [0, 1) for jitter. It must be safe for
	// concurrent use. nil uses math/rand/v2.
	Rand func() float64
	// OnDecision, if set, receives an Event for every decision taken after
	// an attempt: success, retry, stop or give-up. It runs on the request's
	// goroutine and must be safe for concurrent use. A per-request policy
	// (WithPolicy) without one reports to its client's. See LogEvents.
	OnDecision func(Event)
	// ErrorOnExhausted makes a request whose last allowed attempt still
	// asked for a retry end with a *GiveUpError whose Reason is
	// ErrRetriesExhausted (and which carries the final status), instead of
	// resty's usual last response with a nil error.
	ErrorOnExhausted bool
	// AddIdempotencyKey gives every POST and PATCH request that has no
	// Idempotency-Key header a fresh random one, the same on every attempt,
	// so that a server that deduplicates by key can be retried safely.
	AddIdempotencyKey bool

	conditions []Condition
	instant    bool // test mode: decide as usual, skip the waits
}

// Default returns the policy Apply installs: at most 3 retries, waiting
// 1s + U(0, 0.5s), 2s + U(0, 1s), then 4s + U(0, 2s) (Proportional(0.5)),
// backoff capped at 30s, server waits honoured up to 30s, and a retry
// budget of 20% of requests with a reserve of 10 retries.
func Default() Policy {
	return Policy{
		MaxRetries:    3,
		BaseDelay:     time.Second,
		Multiplier:    2,
		MaxDelay:      30 * time.Second,
		Jitter:        Proportional(0.5),
		MaxRetryAfter: 30 * time.Second,
		Budget:        Budget{Ratio: defaultBudgetRatio, Reserve: defaultBudgetReserve},
	}
}

// Interactive returns a policy for calls a person is waiting on: 2 retries
// after 50–100ms and 100–200ms (EqualJitter), server waits honoured up to
// 2s, and the whole request, waits included, limited to 5s.
func Interactive() Policy {
	p := Default()
	p.MaxRetries = 2
	p.BaseDelay = 100 * time.Millisecond
	p.MaxDelay = time.Second
	p.Jitter = EqualJitter
	p.MaxRetryAfter = 2 * time.Second
	p.MaxElapsed = 5 * time.Second
	return p
}

// Background returns a policy for batch and background work that may wait
// long: 8 retries from 1s doubling to a 2-minute cap (EqualJitter, so each
// wait keeps at least half the backoff), server waits honoured up to 5
// minutes, the whole request limited to 15 minutes.
func Background() Policy {
	p := Default()
	p.MaxRetries = 8
	p.MaxDelay = 2 * time.Minute
	p.Jitter = EqualJitter
	p.MaxRetryAfter = 5 * time.Minute
	p.MaxElapsed = 15 * time.Minute
	return p
}

// Contention returns a policy for many clients competing for one resource
// (optimistic locking, a hot key, a lease): 6 retries from 50ms doubling to
// a 5s cap with FullJitter, which spreads the clients out the most and so
// completes the contended work with the fewest calls.
func Contention() Policy {
	p := Default()
	p.MaxRetries = 6
	p.BaseDelay = 50 * time.Millisecond
	p.MaxDelay = 5 * time.Second
	p.Jitter = FullJitter
	return p
}

// With returns a copy of p whose custom conditions, conds appended to any p
// already has, are consulted in order before the built-in rules. p is not
// changed.
func (p Policy) With(conds ...Condition) Policy {
	all := make([]Condition, 0, len(p.conditions)+len(conds))
	all = append(all, p.conditions...)
	for _, c := range conds {
		if c != nil {
			all = append(all, c)
		}
	}
	p.conditions = all
	return p
}

// Apply installs the Default policy on c and returns c.
func Apply(c *resty.Client) *resty.Client {
	return Default().Apply(c)
}

// Apply installs p on c and returns c. It works through resty's own retry
// loop: it registers one retry condition that decides every outcome (so no
// other built-in rule can override "never retry 401"), a RetryAfter
// function that computes every wait, and a pre-request hook that keeps a
// changed body off the network. It sets resty's retry count and wait bounds
// so that the policy's attempts and waits pass through unchanged; change
// them afterwards and the policy no longer holds.
//
// Applying again, with the same or another policy, replaces the policy in
// place: rules never stack. Retry conditions you add to the client yourself
// are consulted by resty before or after this one (a true from any wins),
// so prefer Policy.With. The retry budget is reset on every Apply.
func (p Policy) Apply(c *resty.Client) *resty.Client {
	pp := p.normalized()
	in := installed(c)
	if in == nil {
		in = &installation{client: c}
		in.retryCap.Store(-1)
		c.AddRetryCondition(in.condition)
		c.OnBeforeRequest(in.beforeRequest)
		c.OnError(in.onError)
		if preRequestHookFree(c) {
			c.SetPreRequestHook(in.guardBody)
		}
	}
	in.bucket.Store(newBucket(pp.Budget))
	in.policy.Store(&pp)
	c.SetRetryAfter(in.retryAfter)
	c.SetRetryCount(loopCeiling)
	c.SetRetryWaitTime(0)
	c.SetRetryMaxWaitTime(maxDuration)
	return c
}

// loopCeiling is the retry count resty's loop is given; the policy stops
// it far earlier. MaxRetries is capped just below it.
const loopCeiling = 1 << 16

// normalized returns a copy of p with out-of-range values repaired.
func (p Policy) normalized() Policy {
	p.MaxRetries = min(max(p.MaxRetries, 0), loopCeiling-1)
	p.conditions = append([]Condition(nil), p.conditions...)
	return p
}

// WithPolicy returns a context that makes a request run under p instead of
// its client's policy: req.SetContext(restyretry.WithPolicy(ctx, p)). The
// client must have a policy applied; p's MaxRetries may be higher or lower
// than the client's. The client's retry budget still applies.
func WithPolicy(ctx context.Context, p Policy) context.Context {
	pp := p.normalized()
	return context.WithValue(ctx, policyKey{}, &pp)
}

// WithoutRetry returns a context that makes a request on an applied client
// run once, with no retry.
func WithoutRetry(ctx context.Context) context.Context {
	return WithPolicy(ctx, Policy{})
}

// TestMode returns a copy of p for tests: every decision is made exactly as
// in production, but every wait is skipped; if maxRetries ≥ 0 it also caps
// MaxRetries. Production code paths are unchanged: only the sleep is gone.
// Decisions still see the wait they skip, so a wait that would pass the
// context deadline or MaxElapsed still gives up, as it would in production.
func (p Policy) TestMode(maxRetries int) Policy {
	p.instant = true
	if maxRetries >= 0 {
		p.MaxRetries = min(p.MaxRetries, maxRetries)
	}
	return p
}

// TestMode switches the policy applied on c, and every per-request policy
// used with it, to test mode (see Policy.TestMode): waits are skipped and, if
// maxRetries ≥ 0, retries are capped at maxRetries. It does nothing to a
// client that has no policy applied. Use it in tests of code that builds
// its own client.
func TestMode(c *resty.Client, maxRetries int) *resty.Client {
	if in := installed(c); in != nil {
		in.instant.Store(true)
		in.retryCap.Store(int64(maxRetries))
	}
	return c
}

// installation is the state Apply leaves on one client.
type installation struct {
	client   *resty.Client
	policy   atomic.Pointer[Policy]
	bucket   atomic.Pointer[bucket]
	instant  atomic.Bool  // TestMode: skip waits
	retryCap atomic.Int64 // TestMode: cap on MaxRetries, −1 for none
}

// maxRetries is p.MaxRetries under the client's test-mode cap.
func (in *installation) maxRetries(p *Policy) int {
	if c := in.retryCap.Load(); c >= 0 && int64(p.MaxRetries) > c {
		return int(c)
	}
	return p.MaxRetries
}

// onError reports, as a "canceled" event, the end of a request whose own
// context ended it: resty's loop stops then without consulting the
// condition, so no other decision reports it.
func (in *installation) onError(r *resty.Request, err error) {
	ctx := r.Context()
	if ctx.Err() == nil || !(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return
	}
	in.emit(in.policyFor(r, stateOf(r)), &resty.Response{Request: r}, err, decision{verdict: Stop, rule: ruleCanceled})
}

// beforeRequest gives POST and PATCH requests an Idempotency-Key when the
// policy asks for one. It runs before every attempt; the header set on the
// first stays for the others.
func (in *installation) beforeRequest(c *resty.Client, r *resty.Request) error {
	if r.Attempt > 1 || (r.Method != http.MethodPost && r.Method != http.MethodPatch) {
		return nil
	}
	p := in.policyFor(r, nil) // the first attempt has no state yet
	if p.AddIdempotencyKey && r.Header.Get(idempotencyKeyHeader) == "" && c.Header.Get(idempotencyKeyHeader) == "" {
		r.Header.Set(idempotencyKeyHeader, rand.Text())
	}
	return nil
}

// probe finds the installation already on a client: the condition recognises
// it and writes its installation into it.
type probe struct{ in *installation }

func (*probe) Error() string { return "restyretry: probe" }

// installed returns the installation on c, or nil.
func installed(c *resty.Client) *installation {
	ours := reflect.ValueOf((&installation{}).condition).Pointer()
	for _, cond := range c.RetryConditions {
		if cond == nil || reflect.ValueOf(cond).Pointer() != ours {
			continue
		}
		var pr probe
		cond(nil, &pr)
		if pr.in != nil {
			return pr.in
		}
	}
	return nil
}

// preRequestHookFree reports whether c has no pre-request hook, so that
// installing one replaces nothing of the user's.
func preRequestHookFree(c *resty.Client) bool {
	hook, ok := preRequestHook(c)
	return ok && hook.IsNil()
}

type (
	policyKey struct{}
	stateKey  struct{}
)

// requestState is kept for one logical request from its first failure on,
// in the request's context.
type requestState struct {
	policy *Policy
	start  time.Time

	next        decision // made by the condition, committed by retryAfter
	nextErr     error    // the error of the attempt next is about
	nextAttempt int      // the attempt next belongs to; 0 when none

	fingerprint bodyPrint // of the first attempt's body, once a retry is made
	seed        maphash.Seed
	printed     bool
	firstBody   func() (io.ReadCloser, error) // attempt 1's body, kept by resty
	firstType   string                        // attempt 1's Content-Type
	lastResp    *resty.Response               // the response of the last attempt retried
	attempts    int                           // attempts finished when the last retry was committed
}

func stateOf(r *resty.Request) *requestState {
	st, _ := r.Context().Value(stateKey{}).(*requestState)
	return st
}

// policyFor returns the policy for a request: the one fixed in its state st
// once it has failed, else the one its context carries (WithPolicy), else
// the client's.
func (in *installation) policyFor(r *resty.Request, st *requestState) *Policy {
	if st != nil {
		return st.policy
	}
	if p, ok := r.Context().Value(policyKey{}).(*Policy); ok {
		return p
	}
	return in.policy.Load()
}

// ensureState returns the request's state, creating it on first need. The
// start of the whole request is the start of attempt 1; resty stamps each
// attempt's start in Request.Time.
func (in *installation) ensureState(r *resty.Request) *requestState {
	if st := stateOf(r); st != nil {
		return st
	}
	sc := &stateCtx{Context: r.Context()}
	st := &sc.st
	st.policy, st.start = in.policyFor(r, nil), r.Time
	if r.Attempt > 1 || st.start.IsZero() {
		st.start = time.Now()
	}
	r.SetContext(sc)
	return st
}

// stateCtx is the request's context with its state: one allocation instead
// of context.WithValue's and the state's.
type stateCtx struct {
	context.Context
	st requestState
}

func (c *stateCtx) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return &c.st
	}
	return c.Context.Value(key)
}

// decision is the outcome of one retry decision.
type decision struct {
	verdict Verdict
	rule    string
	wait    time.Duration
	source  string // "backoff" or the header that gave the wait
	reason  error  // a give-up reason (wraps ErrGaveUp), nil otherwise
	cond    int    // 1-based index of the custom condition that decided, if any
}

const sourceBackoff = "backoff"

// condition is the one resty retry condition. It decides every outcome:
// false ends the request as it is; true hands over to retryAfter, which
// sleeps or returns the give-up error.
func (in *installation) condition(resp *resty.Response, err error) bool {
	if pr, ok := err.(*probe); ok && resp == nil {
		pr.in = in
		return false
	}
	if resp == nil || resp.Request == nil {
		return false // raised before sending: never retried
	}
	r := resp.Request
	st := stateOf(r)
	if st == nil && r.Attempt <= 1 {
		in.bucket.Load().onRequest()
	}
	p := in.policyFor(r, st)
	v, rule, cond := p.verdict(resp, err)
	if v != Retry {
		in.emit(p, resp, err, decision{verdict: Stop, rule: rule, cond: cond})
		return false
	}
	var d decision
	if r.Attempt > in.maxRetries(p) {
		d = decision{verdict: Stop, rule: ruleMaxRetries}
		if !p.ErrorOnExhausted {
			in.emit(p, resp, err, d)
			return false
		}
		d.reason = ErrRetriesExhausted
		st = in.ensureState(r)
	} else {
		st = in.ensureState(r)
		d = in.limits(p, st, resp, time.Now(), p.random())
		d.rule, d.cond = rule, cond
	}
	if d.reason != nil && err != nil {
		d.verdict = Stop
		in.emit(p, resp, err, d)
		// resty returns a transport error as it is, not retryAfter's
		// error: carry the reason inside it when it can.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.Err = giveUp(d, resp, ue.Err)
		}
		return false
	}
	st.next, st.nextErr, st.nextAttempt = d, err, r.Attempt
	return true
}

// limits completes a Retry verdict: it checks the body can be replayed,
// computes the wait (a server hint, else the jittered backoff) and gives up
// when the wait is too long, would pass the deadline or MaxElapsed, or the
// budget refuses. now and u (a random number in [0, 1)) are parameters so
// that the outcome is exact under test.
func (in *installation) limits(p *Policy, st *requestState, resp *resty.Response, now time.Time, u float64) decision {
	d := decision{verdict: Retry, source: sourceBackoff}
	r := resp.Request
	if !in.replayable(r) {
		d.reason = ErrBodyNotReplayable
		return d
	}
	d.wait = p.Jitter.Spread(p.backoff(r.Attempt), u)
	if resp.RawResponse != nil {
		if hint, src, ok := serverHint(resp.Header(), resp.StatusCode(), now); ok {
			d.source = src
			if hint > p.MaxRetryAfter {
				d.wait, d.reason = hint, ErrWaitTooLong
				return d
			}
			d.wait = min(hintWait(hint, u), p.MaxRetryAfter) // never below hint
		}
	}
	end := now.Add(d.wait)
	if dl, ok := r.Context().Deadline(); ok && !end.Before(dl) {
		d.reason = ErrDeadline
		return d
	}
	if p.MaxElapsed > 0 && end.Sub(st.start) > p.MaxElapsed {
		d.reason = ErrTimeLimit
		return d
	}
	if !in.bucket.Load().withdraw() {
		d.reason = ErrBudgetExhausted
		return d
	}
	return d
}

// Server waits are floors: at most this share of the wait, and never more
// than hintSpreadMax, is added on top so that clients told the same instant
// do not return together.
const (
	hintSpread    = 0.1
	hintSpreadMax = time.Second
)

func hintWait(hint time.Duration, u float64) time.Duration {
	spread := min(time.Duration(float64(hint)*hintSpread), hintSpreadMax)
	extra := FullJitter.Spread(spread, u)
	if hint > maxDuration-extra {
		return maxDuration
	}
	return hint + extra
}

// giveUp builds the error for a give-up decision.
func giveUp(d decision, resp *resty.Response, cause error) *GiveUpError {
	return &GiveUpError{Reason: d.reason, Attempt: resp.Request.Attempt, Status: statusOf(resp),
		Wait: d.wait, Err: cause, Response: resp}
}

// retryAfter is resty's RetryAfter: it is called after the condition said
// true, and returns the wait or the give-up error. It never returns 0,
// which resty reads as "use your own backoff".
func (in *installation) retryAfter(_ *resty.Client, resp *resty.Response) (time.Duration, error) {
	r := resp.Request
	st := stateOf(r)
	var d decision
	var err error
	if st != nil && st.nextAttempt == r.Attempt {
		d, err = st.next, st.nextErr
		st.nextAttempt, st.nextErr = 0, nil
	} else {
		// Another condition said true before ours was asked. The limits
		// still hold.
		st = in.ensureState(r)
		if r.Attempt > in.maxRetries(st.policy) {
			d = decision{verdict: Stop, rule: ruleMaxRetries, reason: ErrRetriesExhausted}
		} else {
			d = in.limits(st.policy, st, resp, time.Now(), st.policy.random())
			d.rule = ruleCondition
		}
	}
	p := st.policy
	if d.reason == nil {
		st.attempts, st.lastResp = r.Attempt, resp
		if err := in.prepareReplay(r, st); err != nil {
			d.reason = ErrBodyNotReplayable
		}
	}
	if d.reason != nil {
		d.verdict = Stop
		in.emit(p, resp, err, d)
		return 0, giveUp(d, resp, nil)
	}
	in.emit(p, resp, err, d)
	if p.instant || in.instant.Load() {
		return time.Nanosecond, nil
	}
	return max(d.wait, time.Nanosecond), nil
}

func statusOf(resp *resty.Response) int {
	if resp == nil || resp.RawResponse == nil {
		return 0
	}
	return resp.StatusCode()
}
