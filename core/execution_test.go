package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// The Execution state machine on the fake clock: every decision, wait and
// event written out. Policy.Rand is fixed, so Default's Proportional(0.5)
// jitter at u = 0.5 waits 1.25× the backoff, and a server wait h gets
// u·min(h/10, 1s) on top.

// ev is what the tests compare of an Event.
type ev struct {
	Attempt int
	Verdict Verdict
	Rule    Rule
	Wait    time.Duration
	Source  string
	Reason  error // GiveUp's, nil without a give-up
}

func view(e Event) ev {
	v := ev{Attempt: e.Attempt, Verdict: e.Verdict, Rule: e.Rule, Wait: e.Wait, Source: e.WaitSource}
	if e.GiveUp != nil {
		v.Reason = e.GiveUp.Reason
	}
	return v
}

func views(evs []Event) []ev {
	out := make([]ev, len(evs))
	for i, e := range evs {
		out[i] = view(e)
	}
	return out
}

// checkEvents compares the events recorded with want, in order.
func checkEvents(t *testing.T, got []Event, want ...ev) {
	t.Helper()
	g := views(got)
	if len(g) != len(want) {
		t.Fatalf("%d events %+v, want %d %+v", len(g), g, len(want), want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, g[i], want[i])
		}
	}
}

// checkDecision compares d with the action, wait and give-up reason wanted
// (nil: no error).
func checkDecision(t *testing.T, what string, d Decision, action Action, wait time.Duration, reason error) {
	t.Helper()
	if d.Action != action || d.Wait != wait {
		t.Errorf("%s: decision %+v, want action %d, wait %v", what, d, action, wait)
	}
	switch {
	case reason == nil && d.Err != nil:
		t.Errorf("%s: err %v, want none", what, d.Err)
	case reason != nil && !errors.Is(d.Err, reason):
		t.Errorf("%s: err %v, want %v", what, d.Err, reason)
	case reason != nil && !errors.Is(d.Err, ErrGaveUp):
		t.Errorf("%s: err %v does not match ErrGaveUp", what, d.Err)
	}
}

// seeded is Default with Rand fixed at u and its events recorded in log.
func seeded(u float64, log *eventLog) Policy {
	p := Default()
	p.Rand = fixed(u)
	p.OnDecision = log.record
	return p
}

func TestExecutionDefaultSchedule(t *testing.T) {
	for _, tc := range []struct {
		u     float64
		waits [3]time.Duration
	}{
		{0, [3]time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{0.5, [3]time.Duration{1250 * time.Millisecond, 2500 * time.Millisecond, 5 * time.Second}},
	} {
		var log eventLog
		e, _, clk := newExec(t, seeded(tc.u, &log), http.MethodGet)
		for i, w := range tc.waits {
			checkDecision(t, "503", step(e, clk, resp(i+1, 503)), ActionRetry, w, nil)
		}
		checkDecision(t, "fourth 503", step(e, clk, resp(4, 503)), ActionStop, 0, nil)
		checkEvents(t, log.all(),
			ev{1, Retry, RuleStatus, tc.waits[0], SourceBackoff, nil},
			ev{2, Retry, RuleStatus, tc.waits[1], SourceBackoff, nil},
			ev{3, Retry, RuleStatus, tc.waits[2], SourceBackoff, nil},
			ev{4, Stop, RuleMaxRetries, 0, "", nil})
		if got, want := clk.Since(), tc.waits[0]+tc.waits[1]+tc.waits[2]; got != want {
			t.Errorf("u=%v: slept %v, want %v", tc.u, got, want)
		}
	}
}

// TestExecutionFirstDecision: the decision on one first attempt, by
// status, headers, error and method, under Default at u = 0.5.
func TestExecutionFirstDecision(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	keyed := http.Header{IdempotencyKeyHeader: {"k-1"}}
	allMethods := func(p *Policy) { p.RetryAllMethods = true }
	redirected := func(o Outcome) Outcome { o.Redirected = true; return o }
	cases := []struct {
		name   string
		method string
		header http.Header
		policy func(*Policy)
		o      Outcome
		action Action
		wait   time.Duration // the decision's, and the event's
		rule   Rule
		source string
		reason error
	}{
		{"GET 503", "GET", nil, nil, resp(1, 503), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"GET 500", "GET", nil, nil, resp(1, 500), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"GET 408", "GET", nil, nil, resp(1, 408), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"GET 200", "GET", nil, nil, resp(1, 200), ActionStop, 0, RuleSuccess, "", nil},
		{"GET 404", "GET", nil, nil, resp(1, 404), ActionStop, 0, RuleStatus, "", nil},
		{"GET 501", "GET", nil, nil, resp(1, 501), ActionStop, 0, RuleStatus, "", nil},
		// Retry-After: a floor under the backoff, spread by u·min(h/10, 1s),
		// capped at MaxRetryAfter (30s); a longer one gives up at once.
		{"429 Retry-After 10", "GET", nil, nil, resp(1, 429, "Retry-After", "10"), ActionRetry, 10500 * time.Millisecond, RuleStatus, "Retry-After", nil},
		{"429 Retry-After 1", "GET", nil, nil, resp(1, 429, "Retry-After", "1"), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"429 Retry-After 0", "GET", nil, nil, resp(1, 429, "Retry-After", "0"), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"429 Retry-After 30 capped", "GET", nil, nil, resp(1, 429, "Retry-After", "30"), ActionRetry, 30 * time.Second, RuleStatus, "Retry-After", nil},
		{"429 Retry-After 31", "GET", nil, nil, resp(1, 429, "Retry-After", "31"), ActionStop, 0, RuleStatus, "Retry-After", ErrWaitTooLong},
		{"503 Retry-After 2", "GET", nil, nil, resp(1, 503, "Retry-After", "2"), ActionRetry, 2100 * time.Millisecond, RuleStatus, "Retry-After", nil},
		{"429 Retry-After 31, MaxRetryAfter 1m", "GET", nil, func(p *Policy) { p.MaxRetryAfter = time.Minute }, resp(1, 429, "Retry-After", "31"), ActionRetry, 31500 * time.Millisecond, RuleStatus, "Retry-After", nil},
		// The server's verdict, except on a 401.
		{"401", "GET", nil, nil, resp(1, 401), ActionStop, 0, RuleStatus, "", nil},
		{"401 X-Should-Retry true", "GET", nil, nil, resp(1, 401, "X-Should-Retry", "true"), ActionStop, 0, RuleStatus, "", nil},
		{"POST 401 X-Should-Retry true", "POST", nil, nil, resp(1, 401, "X-Should-Retry", "true"), ActionStop, 0, RuleStatus, "", nil},
		{"400 X-Should-Retry true", "GET", nil, nil, resp(1, 400, "X-Should-Retry", "true"), ActionRetry, 1250 * time.Millisecond, RuleServer, SourceBackoff, nil},
		{"POST 500 X-Should-Retry true", "POST", nil, nil, resp(1, 500, "X-Should-Retry", "true"), ActionRetry, 1250 * time.Millisecond, RuleServer, SourceBackoff, nil},
		{"503 X-Should-Retry false", "GET", nil, nil, resp(1, 503, "X-Should-Retry", "false"), ActionStop, 0, RuleServer, "", nil},
		// POST: repeated when the server refused it before acting (429, a
		// 503 with Retry-After; a bare 503 is no proof), when it never left
		// (a refused dial), or when a key makes it idempotent.
		{"POST 503", "POST", nil, nil, resp(1, 503), ActionStop, 0, RuleMethod, "", nil},
		{"POST 503 Retry-After", "POST", nil, nil, resp(1, 503, "Retry-After", "0"), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"POST 429", "POST", nil, nil, resp(1, 429), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"POST 500", "POST", nil, nil, resp(1, 500), ActionStop, 0, RuleMethod, "", nil},
		{"PATCH 502", "PATCH", nil, nil, resp(1, 502), ActionStop, 0, RuleMethod, "", nil},
		{"PUT 500", "PUT", nil, nil, resp(1, 500), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"POST 500 keyed", "POST", keyed, nil, resp(1, 500), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"POST 500 RetryAllMethods", "POST", nil, allMethods, resp(1, 500), ActionRetry, 1250 * time.Millisecond, RuleStatus, SourceBackoff, nil},
		{"POST 503 after a method-changing redirect", "POST", nil, nil, redirected(resp(1, 503)), ActionStop, 0, RuleMethod, "", nil},
		{"POST reset", "POST", nil, nil, failed(1, reset), ActionStop, 0, RuleMethod, "", nil},
		{"POST reset keyed", "POST", keyed, nil, failed(1, reset), ActionRetry, 1250 * time.Millisecond, RuleNetwork, SourceBackoff, nil},
		{"POST refused", "POST", nil, nil, failed(1, refused), ActionRetry, 1250 * time.Millisecond, RuleNetwork, SourceBackoff, nil},
		{"GET reset", "GET", nil, nil, failed(1, reset), ActionRetry, 1250 * time.Millisecond, RuleNetwork, SourceBackoff, nil},
		{"GET canceled", "GET", nil, nil, failed(1, context.Canceled), ActionStop, 0, RuleNetwork, "", nil},
		// A body that cannot be sent again.
		{"GET 503 one-shot body", "GET", nil, nil, func() Outcome { o := resp(1, 503); o.Replayable = false; return o }(), ActionStop, 0, RuleStatus, SourceBackoff, ErrBodyNotReplayable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log eventLog
			p := seeded(0.5, &log)
			if tc.policy != nil {
				tc.policy(&p)
			}
			c, _ := newCore(p)
			h := tc.header.Clone()
			if h == nil {
				h = http.Header{}
			}
			e := c.Start(context.Background(), nil, Request{Method: tc.method, Header: h})
			defer e.Close()
			d := e.Next(tc.o)
			checkDecision(t, tc.name, d, tc.action, tc.wait, tc.reason)
			verdict, evWait := Stop, time.Duration(0)
			switch {
			case tc.action == ActionRetry:
				verdict, evWait = Retry, tc.wait
			case tc.reason == ErrWaitTooLong:
				evWait = 31 * time.Second // the wait refused
			case tc.reason != nil:
				evWait = 1250 * time.Millisecond
			}
			checkEvents(t, log.all(), ev{1, verdict, tc.rule, evWait, tc.source, tc.reason})
		})
	}
}

// TestExecutionRetryAfterDate: an HTTP-date Retry-After is read against
// the client's clock.
func TestExecutionRetryAfterDate(t *testing.T) {
	var log eventLog
	e, _, clk := newExec(t, seeded(0, &log), http.MethodGet)
	date := clk.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	checkDecision(t, "429", e.Next(resp(1, 429, "Retry-After", date)), ActionRetry, 20*time.Second, nil)
	clk.Advance(time.Minute) // a date that has passed: the backoff
	checkDecision(t, "429 past", e.Next(resp(2, 429, "Retry-After", date)), ActionRetry, 2*time.Second, nil)
}

func TestExecutionErrorOnExhausted(t *testing.T) {
	var log eventLog
	p := seeded(0.5, &log)
	p.ErrorOnExhausted = true
	e, _, clk := newExec(t, p, http.MethodGet)
	for i := 1; i <= 3; i++ {
		step(e, clk, resp(i, 503))
	}
	d := step(e, clk, resp(4, 503))
	checkDecision(t, "fourth 503", d, ActionStop, 0, ErrRetriesExhausted)
	var gu *GiveUpError
	if !errors.As(d.Err, &gu) || gu.Attempt != 4 || gu.Status != 503 || gu.Wait != 0 {
		t.Errorf("give-up %+v, want attempt 4, status 503, no wait", gu)
	}
	if evs := log.all(); len(evs) != 4 || view(evs[3]) != (ev{4, Stop, RuleMaxRetries, 0, "", ErrRetriesExhausted}) {
		t.Errorf("events %+v, want the fourth a max-retries give-up", views(evs))
	}
	// A success or a stop is not exhausted.
	for _, status := range []int{200, 400} {
		e, _, _ := newExec(t, p, http.MethodGet)
		checkDecision(t, "final", e.Next(resp(1, status)), ActionStop, 0, nil)
	}
}

// TestGiveUpErrorsMatchErrGaveUp: every reason, and a GiveUpError of each,
// matches ErrGaveUp; ErrDeadline also matches context.DeadlineExceeded.
func TestGiveUpErrorsMatchErrGaveUp(t *testing.T) {
	for _, r := range []error{ErrWaitTooLong, ErrDeadline, ErrTimeLimit, ErrBudgetExhausted,
		ErrBodyNotReplayable, ErrRetriesExhausted} {
		gu := &GiveUpError{Reason: r, Attempt: 2, Status: 503, Err: syscall.ECONNRESET}
		if !errors.Is(r, ErrGaveUp) || !errors.Is(gu, ErrGaveUp) || !errors.Is(gu, r) || !errors.Is(gu, syscall.ECONNRESET) {
			t.Errorf("%v: does not match ErrGaveUp, its reason and its cause", r)
		}
		if errors.Is(r, context.DeadlineExceeded) != (r == ErrDeadline) {
			t.Errorf("%v: errors.Is(context.DeadlineExceeded) = %v", r, !(r == ErrDeadline))
		}
	}
	if err := fmt.Errorf("attempt: %w", context.DeadlineExceeded); errors.Is(err, ErrGaveUp) {
		t.Error("context.DeadlineExceeded matches ErrGaveUp")
	}
}

func TestExecutionRetriesOff(t *testing.T) {
	var log eventLog
	p := seeded(0.5, &log)
	p.MaxRetries = 0
	e, _, _ := newExec(t, p, http.MethodGet)
	checkDecision(t, "503", e.Next(resp(1, 503)), ActionStop, 0, nil)
	checkEvents(t, log.all(), ev{1, Stop, RuleRetriesOff, 0, "", nil})

	// The same through WithoutRetry, a per-request policy.
	log = eventLog{}
	c, _ := newCore(seeded(0.5, &log))
	e = c.Start(context.Background(), PolicyFrom(WithoutRetry(context.Background())), Request{Method: http.MethodGet})
	defer e.Close()
	checkDecision(t, "503 WithoutRetry", e.Next(resp(1, 503)), ActionStop, 0, nil)
	checkEvents(t, log.all(), ev{1, Stop, RuleRetriesOff, 0, "", nil})
}

// --- budget ---------------------------------------------------------------

// budgetExec is a client with Budget b at u = 0.5, and the tokens testURL's
// key can draw now (its own and the shared pool's), in thousandths.
func budgetExec(t *testing.T, b Budget) (*Client, *fakeClock, func() int64) {
	p := Default()
	p.Rand = fixed(0.5)
	p.Budget = b
	c, clk := newCore(p)
	return c, clk, func() int64 { return retriesLeft(t, c, testURL.String(), clk.Now()) }
}

// TestExecutionBudgetWithdrawRefund: with Budget{Reserve: 3} (Ratio 0) the
// pool starts at 3 tokens and the key holds none. A first retry takes one
// token and reserves up to 2 more for the request's next retries (Default:
// min(MaxRetries, 3) = 3); a retry that succeeds gives its token back to the
// key, and the end of the request gives back what it still reserved.
func TestExecutionBudgetWithdrawRefund(t *testing.T) {
	c, clk, left := budgetExec(t, Budget{Reserve: 3})
	// Spend one for good: two retries, the first failed (stays paid), the
	// second succeeded (given back). A refund too many would show.
	e := start(t, c, context.Background(), http.MethodGet)
	if got := left(); got != 3000 {
		t.Fatalf("fresh: %d left, want 3000 (the pool)", got)
	}
	step(e, clk, resp(1, 503))
	if got, res := left(), e.bud.reserved; got != 0 || res != 2000 {
		t.Fatalf("after a retry decided: %d left, %d reserved; want 0 and 2000 (one paid, two reserved)", got, res)
	}
	step(e, clk, resp(2, 503))
	if got, res := left(), e.bud.reserved; got != 0 || res != 1000 {
		t.Fatalf("after a second retry decided: %d left, %d reserved; want 0 and 1000", got, res)
	}
	checkDecision(t, "200", step(e, clk, resp(3, 200)), ActionStop, 0, nil)
	if got, res := left(), e.bud.reserved; got != 2000 || res != 0 {
		t.Fatalf("after the retry succeeded: %d left, %d reserved; want 2000 (its token and the reservation back) and 0", got, res)
	}
	e.Next(ended(3, nil))
	if got := left(); got != 2000 {
		t.Fatalf("after the end: %d left, want 2000", got)
	}

	t.Run("ended before the paid retry was sent", func(t *testing.T) {
		e := start(t, c, context.Background(), http.MethodGet)
		step(e, clk, resp(1, 503))
		if got, res := left(), e.bud.reserved; got != 0 || res != 1000 {
			t.Fatalf("paid: %d left, %d reserved; want 0 and 1000 (the 2 tokens there were)", got, res)
		}
		checkDecision(t, "ended", e.Next(ended(1, errors.New("hook failed"))), ActionStop, 0, nil)
		if got := left(); got != 2000 {
			t.Fatalf("ended: %d left, want 2000 (refunded)", got)
		}
		e.Next(ended(1, nil)) // once only
		if got := left(); got != 2000 {
			t.Fatalf("ended twice: %d left, want 2000", got)
		}
	})
	t.Run("a retry that failed stays paid at the end", func(t *testing.T) {
		c, clk, left := budgetExec(t, Budget{Reserve: 3})
		e := start(t, c, context.Background(), http.MethodGet)
		step(e, clk, resp(1, 503))
		step(e, clk, resp(2, 404)) // the host answered: given back
		if got := left(); got != 3000 {
			t.Fatalf("retry answered 404: %d left, want 3000", got)
		}
		e = start(t, c, context.Background(), http.MethodGet)
		step(e, clk, resp(1, 503))
		step(e, clk, resp(2, 500))
		step(e, clk, resp(3, 500))
		e.Next(resp(4, 500)) // max retries: three paid, all failed
		e.Next(ended(4, nil))
		if got, res := left(), e.bud.reserved; got != 0 || res != 0 {
			t.Fatalf("three failed retries: %d left, %d reserved; want 0 and 0", got, res)
		}
	})
	t.Run("body changed", func(t *testing.T) {
		var log eventLog
		p := *c.Policy()
		p.OnDecision = log.record
		e := c.Start(context.Background(), &p, Request{Method: http.MethodPut, Header: http.Header{}})
		defer e.Close()
		first := resp(1, 503)
		first.Response = "first response"
		checkDecision(t, "503", step(e, clk, first), ActionRetry, 1250*time.Millisecond, nil)
		if got, res := left(), e.bud.reserved; got != 0 || res != 1000 {
			t.Fatalf("paid: %d left, %d reserved; want 0 and 1000", got, res)
		}
		checkDecision(t, "before 2", e.Next(before(2)), ActionSend, 0, nil)
		o := sending(2)
		o.BodyChanged = true
		d := e.Next(o)
		checkDecision(t, "sending a changed body", d, ActionStop, 0, ErrBodyNotReplayable)
		if got := left(); got != 2000 {
			t.Errorf("refused retry: %d left, want 2000 (refunded)", got)
		}
		var gu *GiveUpError
		if !errors.As(d.Err, &gu) || gu.Attempt != 1 || gu.Response != "first response" {
			t.Errorf("give-up %+v, want attempt 1 (the last sent) with its response", gu)
		}
		// The refusal stands, and nothing is refunded twice.
		checkDecision(t, "before again", e.Next(before(2)), ActionStop, 0, ErrBodyNotReplayable)
		checkDecision(t, "sending again", e.Next(sending(2)), ActionStop, 0, ErrBodyNotReplayable)
		e.Next(ended(2, d.Err))
		if got := left(); got != 2000 {
			t.Errorf("after the end: %d left, want 2000", got)
		}
		checkEvents(t, log.all(),
			ev{1, Retry, RuleStatus, 1250 * time.Millisecond, SourceBackoff, nil},
			ev{1, Stop, RuleBody, 0, "", ErrBodyNotReplayable})
		// An unchanged body is sent.
		e2 := start(t, c, context.Background(), http.MethodPut)
		step(e2, clk, resp(1, 503))
		checkDecision(t, "unchanged", e2.Next(sending(2)), ActionSend, 0, nil)
		e2.Next(ended(2, nil))
	})
	t.Run("a give-up during the wait", func(t *testing.T) {
		c, clk, left := budgetExec(t, Budget{Reserve: 3})
		ctx, cancel := context.WithCancel(context.Background())
		e := start(t, c, ctx, http.MethodGet)
		checkDecision(t, "503", step(e, clk, resp(1, 503)), ActionRetry, 1250*time.Millisecond, nil)
		cancel() // the caller gives up while the retry waits
		e.Next(ended(1, context.Canceled))
		if got, res := left(), e.bud.reserved; got != 3000 || res != 0 {
			t.Fatalf("gave up in the wait: %d left, %d reserved; want 3000 (the unsent retry and the reservation back)", got, res)
		}
		e.Next(ended(1, context.Canceled)) // once only
		if got := left(); got != 3000 {
			t.Fatalf("ended twice: %d left, want 3000", got)
		}
	})
}

// TestExecutionBudgetExhausted: with Budget{Reserve: 1} the pool pays the
// first retry and has nothing to reserve, so the second is refused.
func TestExecutionBudgetExhausted(t *testing.T) {
	var log eventLog
	p := seeded(0.5, &log)
	p.Budget = Budget{Reserve: 1}
	e, _, clk := newExec(t, p, http.MethodGet)
	checkDecision(t, "first 503", step(e, clk, resp(1, 503)), ActionRetry, 1250*time.Millisecond, nil)
	d := step(e, clk, resp(2, 503))
	checkDecision(t, "second 503", d, ActionStop, 0, ErrBudgetExhausted)
	var gu *GiveUpError
	if !errors.As(d.Err, &gu) || *gu != (GiveUpError{Reason: ErrBudgetExhausted, Attempt: 2, Status: 503, Wait: 2500 * time.Millisecond}) {
		t.Errorf("give-up %+v, want attempt 2, status 503, wait 2.5s", gu)
	}
	checkEvents(t, log.all(),
		ev{1, Retry, RuleStatus, 1250 * time.Millisecond, SourceBackoff, nil},
		ev{2, Stop, RuleStatus, 2500 * time.Millisecond, SourceBackoff, ErrBudgetExhausted})
	if got := clk.Since(); got != 1250*time.Millisecond {
		t.Errorf("slept %v, want only the first wait", got)
	}
}

// TestExecutionBudgetDeposits: successes deposit Ratio of a token into
// their key, which pays the next episode's retries. Budget{Reserve: 1,
// Ratio: 0.5}: the first request spends the pool's one token; two
// successes deposit 2 × 0.5 = 1 token, which pays exactly one retry.
func TestExecutionBudgetDeposits(t *testing.T) {
	c, clk, left := budgetExec(t, Budget{Reserve: 1, Ratio: 0.5})
	e := start(t, c, context.Background(), http.MethodGet)
	checkDecision(t, "503 paid by the pool", step(e, clk, resp(1, 503)), ActionRetry, 1250*time.Millisecond, nil)
	checkDecision(t, "503 again, pool empty", e.Next(resp(2, 503)), ActionStop, 0, ErrBudgetExhausted)
	e.Next(ended(2, nil))
	if got := left(); got != 0 {
		t.Fatalf("after the pool's token: %d left, want 0", got)
	}
	for range 2 {
		start(t, c, context.Background(), http.MethodGet).Next(resp(1, 200))
	}
	if got := left(); got != 1000 {
		t.Fatalf("after two successes: %d left, want 1000", got)
	}
	e = start(t, c, context.Background(), http.MethodGet)
	checkDecision(t, "503 paid by the deposits", step(e, clk, resp(1, 503)), ActionRetry, 1250*time.Millisecond, nil)
	checkDecision(t, "503 again", e.Next(resp(2, 503)), ActionStop, 0, ErrBudgetExhausted)
	if got := left(); got != 0 {
		t.Fatalf("after the deposits paid: %d left, want 0", got)
	}
}

// --- Pace -------------------------------------------------------------------

// paced is Default with Pace on at u = 0.5, its events in log.
func paced(log *eventLog) Policy {
	p := seeded(0.5, log)
	p.Pace = true
	return p
}

func TestExecutionPaceHold(t *testing.T) {
	var log eventLog
	c, clk := newCore(paced(&log))
	a := start(t, c, context.Background(), http.MethodGet)
	checkDecision(t, "429", a.Next(resp(1, 429, "Retry-After", "10")), ActionRetry, 10500*time.Millisecond, nil)

	// The next request waits for the instant plus u·min(10s/10, 1s).
	b := start(t, c, context.Background(), http.MethodGet)
	checkDecision(t, "b before", step(b, clk, before(1)), ActionHold, 10500*time.Millisecond, nil)
	checkDecision(t, "b before after the hold", b.Next(before(1)), ActionSend, 0, nil)
	checkDecision(t, "b sending", b.Next(sending(1)), ActionSend, 0, nil)
	checkEvents(t, log.all(),
		ev{1, Retry, RuleStatus, 10500 * time.Millisecond, "Retry-After", nil},
		ev{0, Retry, RulePace, 10500 * time.Millisecond, SourcePace, nil})
	log = eventLog{}

	// Another host is not held; retries are not held.
	o := before(1)
	o.URL = mustURL("https://other.example.com/")
	checkDecision(t, "other host", start(t, c, context.Background(), http.MethodGet).Next(o), ActionSend, 0, nil)
	// The host is held again for 5s.
	start(t, c, context.Background(), http.MethodGet).Next(resp(1, 503, "Retry-After", "5"))
	checkDecision(t, "a's retry", a.Next(before(2)), ActionSend, 0, nil)
	checkDecision(t, "a's retry sending", a.Next(sending(2)), ActionSend, 0, nil)

	// Held at PhaseSending too, the last look before the network.
	s := start(t, c, context.Background(), http.MethodGet)
	checkDecision(t, "sending while held", s.Next(sending(1)), ActionHold, 5250*time.Millisecond, nil)
	checkEvents(t, log.all(),
		ev{1, Retry, RuleStatus, 5250 * time.Millisecond, "Retry-After", nil},
		ev{0, Retry, RulePace, 5250 * time.Millisecond, SourcePace, nil})
}

func TestExecutionPaceGiveUps(t *testing.T) {
	cases := []struct {
		name       string
		retryAfter string
		deadline   time.Duration // from now, 0 for none
		maxElapsed time.Duration
		wait       time.Duration // the event's
		reason     error
	}{
		{"longer than MaxRetryAfter", "60", 0, 0, 60 * time.Second, ErrWaitTooLong},
		{"past the deadline", "10", 5 * time.Second, 0, 10500 * time.Millisecond, ErrDeadline},
		{"at the deadline", "10", 10500 * time.Millisecond, 0, 10500 * time.Millisecond, ErrDeadline},
		{"past MaxElapsed", "10", 0, 10 * time.Second, 10500 * time.Millisecond, ErrTimeLimit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log eventLog
			p := paced(&log)
			p.MaxElapsed = tc.maxElapsed
			c, clk := newCore(p)
			start(t, c, context.Background(), http.MethodGet).Next(resp(1, 429, "Retry-After", tc.retryAfter))
			log = eventLog{}
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.Now().Add(tc.deadline))
				defer cancel()
			}
			b := start(t, c, ctx, http.MethodGet)
			d := b.Next(before(1))
			checkDecision(t, "before", d, ActionStop, 0, tc.reason)
			var gu *GiveUpError
			if !errors.As(d.Err, &gu) || gu.Attempt != 0 || gu.Wait != tc.wait || gu.Status != 0 {
				t.Errorf("give-up %+v, want attempt 0, wait %v", gu, tc.wait)
			}
			checkEvents(t, log.all(), ev{0, Stop, RulePace, tc.wait, SourcePace, tc.reason})
			// The refusal stands.
			checkDecision(t, "sending", b.Next(sending(1)), ActionStop, 0, tc.reason)
			if clk.Since() != 0 {
				t.Errorf("slept %v", clk.Since())
			}
		})
	}
}

// TestExecutionPaceHoldsAddUp: all holds of a request together must fit in
// MaxRetryAfter.
func TestExecutionPaceHoldsAddUp(t *testing.T) {
	var log eventLog
	p := paced(&log)
	p.MaxRetryAfter = 15 * time.Second
	c, clk := newCore(p)
	start(t, c, context.Background(), http.MethodGet).Next(resp(1, 429, "Retry-After", "10"))
	b := start(t, c, context.Background(), http.MethodGet)
	checkDecision(t, "first hold", step(b, clk, before(1)), ActionHold, 10500*time.Millisecond, nil)
	// Meanwhile the host was told to wait 10s more: 10.5s + 10s > 15s.
	start(t, c, context.Background(), http.MethodGet).Next(resp(1, 429, "Retry-After", "10"))
	checkDecision(t, "second hold", b.Next(before(1)), ActionStop, 0, ErrWaitTooLong)
}

// --- test mode, time limits, cancellation -----------------------------------

func TestExecutionTestMode(t *testing.T) {
	var log eventLog
	e, _, clk := newExec(t, seeded(0.5, &log).TestMode(-1), http.MethodGet)
	for i := 1; i <= 3; i++ {
		checkDecision(t, "503", step(e, clk, resp(i, 503)), ActionRetry, 0, nil)
	}
	checkDecision(t, "fourth 503", step(e, clk, resp(4, 503)), ActionStop, 0, nil)
	checkEvents(t, log.all(),
		ev{1, Retry, RuleStatus, 1250 * time.Millisecond, SourceBackoff, nil},
		ev{2, Retry, RuleStatus, 2500 * time.Millisecond, SourceBackoff, nil},
		ev{3, Retry, RuleStatus, 5 * time.Second, SourceBackoff, nil},
		ev{4, Stop, RuleMaxRetries, 0, "", nil})
	if clk.Since() != 0 {
		t.Errorf("test mode slept %v", clk.Since())
	}

	// The client's test mode caps MaxRetries.
	c, clk := newCore(seeded(0.5, &log))
	c.SetTestMode(1)
	e = start(t, c, context.Background(), http.MethodGet)
	checkDecision(t, "capped 503", step(e, clk, resp(1, 503)), ActionRetry, 0, nil)
	checkDecision(t, "capped second 503", step(e, clk, resp(2, 503)), ActionStop, 0, nil)
}

// TestExecutionTimeLimitsSameInTestMode: a deadline 3s away, or MaxElapsed
// 3s: 1.25s fits, 1.25s + 2.5s does not, so the request gives up at attempt
// 2, in production (the waits slept on the fake clock) and in test mode
// (the virtual clock).
func TestExecutionTimeLimitsSameInTestMode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  func(*Policy, *fakeClock) context.Context
		reason error
	}{
		{"deadline", func(_ *Policy, clk *fakeClock) context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(3*time.Second))
			t.Cleanup(cancel)
			return ctx
		}, ErrDeadline},
		{"MaxElapsed", func(p *Policy, _ *fakeClock) context.Context {
			p.MaxElapsed = 3 * time.Second
			return context.Background()
		}, ErrTimeLimit},
	} {
		for _, testMode := range []bool{false, true} {
			var log eventLog
			p := seeded(0.5, &log)
			clk := newFakeClock()
			ctx := tc.limit(&p, clk)
			if testMode {
				p = p.TestMode(-1)
			}
			c := NewClient(p, Options{Clock: clk})
			e := start(t, c, ctx, http.MethodGet)
			first := 1250 * time.Millisecond
			if testMode {
				first = 0
			}
			checkDecision(t, tc.name, step(e, clk, resp(1, 503)), ActionRetry, first, nil)
			d := step(e, clk, resp(2, 503))
			checkDecision(t, tc.name, d, ActionStop, 0, tc.reason)
			var gu *GiveUpError
			if !errors.As(d.Err, &gu) || gu.Attempt != 2 || gu.Wait != 2500*time.Millisecond {
				t.Errorf("%s, test mode %v: give-up %+v, want attempt 2, wait 2.5s", tc.name, testMode, gu)
			}
			checkEvents(t, log.all(),
				ev{1, Retry, RuleStatus, 1250 * time.Millisecond, SourceBackoff, nil},
				ev{2, Stop, RuleStatus, 2500 * time.Millisecond, SourceBackoff, tc.reason})
		}
	}
}

func TestExecutionCanceled(t *testing.T) {
	var log eventLog
	c, clk, left := budgetExec(t, Budget{Reserve: 2})
	c.Observe(log.record)
	ctx, cancel := context.WithCancel(context.Background())
	e := start(t, c, ctx, http.MethodGet)
	step(e, clk, resp(1, 503))
	cancel() // during the wait
	checkDecision(t, "ended", e.Next(ended(1, context.Canceled)), ActionStop, 0, nil)
	if got := left(); got != 2000 {
		t.Errorf("%d left, want 2000: the unsent retry is refunded", got)
	}
	checkEvents(t, log.all(),
		ev{1, Retry, RuleStatus, 1250 * time.Millisecond, SourceBackoff, nil},
		ev{1, Stop, RuleCanceled, 0, "", nil})

	// An attempt that finishes after the cancel is not retried.
	log = eventLog{}
	e = start(t, c, ctx, http.MethodGet)
	checkDecision(t, "503 after cancel", e.Next(resp(1, 503)), ActionStop, 0, nil)
	checkEvents(t, log.all(), ev{1, Stop, RuleCanceled, 0, "", nil})

	// A context of somebody else's ending is not reported.
	log = eventLog{}
	e = start(t, c, context.Background(), http.MethodGet)
	checkDecision(t, "foreign", e.Next(ended(1, context.Canceled)), ActionStop, 0, nil)
	checkEvents(t, log.all())
}

// --- events -------------------------------------------------------------------

func TestExecutionEventFields(t *testing.T) {
	var log eventLog
	p := seeded(0.5, &log)
	e, _, clk := newExec(t, p, http.MethodPut)
	o := resp(1, 503, "Retry-After", "3")
	o.URL = mustURL("https://user:pw@api.example.com/v1/items?token=secret#frag")
	step(e, clk, o)
	evs := log.all()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	got := evs[0]
	if got.Method != http.MethodPut || got.URL != "https://api.example.com/v1/items" || got.Status != 503 ||
		got.Attempt != 1 || got.Verdict != Retry || got.Rule != RuleStatus ||
		got.Wait != 3150*time.Millisecond || got.WaitSource != "Retry-After" || got.Context != context.Background() {
		t.Errorf("event %+v", got)
	}
}

// TestExecutionOnDecisionPerRequest: a per-request policy's OnDecision is
// called as well as the client policy's, unless ReplaceOnDecision; the
// observers always.
func TestExecutionOnDecisionPerRequest(t *testing.T) {
	for _, tc := range []struct {
		name           string
		own, replace   bool
		client, perReq int
	}{
		{"own and client's", true, false, 1, 1},
		{"own replaces client's", true, true, 0, 1},
		{"no own", false, false, 1, 0},
		{"no own, replace", false, true, 0, 0},
	} {
		var client, own, observed eventLog
		cp := Default()
		cp.OnDecision = client.record
		c, _ := newCore(cp)
		c.Observe(observed.record)
		rp := Default()
		rp.MaxRetries = 0
		rp.ReplaceOnDecision = tc.replace
		if tc.own {
			rp.OnDecision = own.record
		}
		e := c.Start(context.Background(), PolicyFrom(WithPolicy(context.Background(), rp)), Request{Method: http.MethodGet})
		e.Next(resp(1, 503))
		e.Close()
		if len(client.all()) != tc.client || len(own.all()) != tc.perReq || len(observed.all()) != 1 {
			t.Errorf("%s: client %d, per-request %d, observer %d events; want %d, %d, 1", tc.name,
				len(client.all()), len(own.all()), len(observed.all()), tc.client, tc.perReq)
		}
		if evs := observed.all(); len(evs) == 1 && evs[0].Rule != RuleRetriesOff {
			t.Errorf("%s: rule %q, want the per-request policy's %q", tc.name, evs[0].Rule, RuleRetriesOff)
		}
	}
}

// --- Idempotency-Key ------------------------------------------------------------

func TestExecutionIdempotencyKey(t *testing.T) {
	p := Default()
	p.Rand = fixed(0.5)
	p.AddIdempotencyKey = true
	c, clk := newCore(p)
	for _, tc := range []struct {
		name       string
		method     string
		header     http.Header
		defaultKey bool
		want       bool
	}{
		{"POST", http.MethodPost, nil, false, true},
		{"PATCH", http.MethodPatch, nil, false, true},
		{"GET", http.MethodGet, nil, false, false},
		{"PUT", http.MethodPut, nil, false, false},
		{"POST with a key", http.MethodPost, http.Header{IdempotencyKeyHeader: {"mine"}}, false, false},
		{"POST, the client adds one", http.MethodPost, nil, true, false},
	} {
		h := tc.header.Clone()
		if h == nil {
			h = http.Header{}
		}
		e := c.Start(context.Background(), nil, Request{Method: tc.method, Header: h, DefaultKey: tc.defaultKey})
		d := e.Next(before(1))
		if got := d.Key != ""; got != tc.want || d.Action != ActionSend {
			t.Errorf("%s: decision %+v, want a key: %v", tc.name, d, tc.want)
		}
		if d.Key != e.Key() {
			t.Errorf("%s: decision key %q, Execution.Key %q", tc.name, d.Key, e.Key())
		}
		if tc.want && len(d.Key) != 26 {
			t.Errorf("%s: key %q, want 26 base32 characters (128 bits)", tc.name, d.Key)
		}
		if d := e.Next(before(1)); d.Key != "" {
			t.Errorf("%s: a second first PhaseBefore added key %q", tc.name, d.Key)
		}
		e.Close()
	}

	// The key makes a POST's 500 retryable, once the adapter has set it;
	// later attempts get no new key.
	h := http.Header{}
	e := c.Start(context.Background(), nil, Request{Method: http.MethodPost, Header: h})
	defer e.Close()
	d := e.Next(before(1))
	h.Set(IdempotencyKeyHeader, d.Key)
	checkDecision(t, "keyed POST 500", step(e, clk, resp(1, 500)), ActionRetry, 1250*time.Millisecond, nil)
	if d := e.Next(before(2)); d.Key != "" || d.Action != ActionSend {
		t.Errorf("retry: decision %+v, want send without a new key", d)
	}
	if k := newKey(); k == d.Key || newKey() == k {
		t.Error("keys repeat")
	}
}

// TestExecutionMaxElapsedInFlight: an attempt in flight when MaxElapsed
// passes ends with ErrTimeLimit (the execution's context ends, with that
// cause); the request here started a minute ago, so its 1s is spent.
func TestExecutionMaxElapsedInFlight(t *testing.T) {
	var log eventLog
	p := seeded(0.5, &log)
	p.MaxElapsed = time.Second
	c, clk := newCore(p)
	e := c.Start(context.Background(), nil, Request{Method: http.MethodGet, Start: clk.Now().Add(-time.Minute)})
	defer e.Close()
	<-e.Context().Done()
	if cause := context.Cause(e.Context()); !errors.Is(cause, ErrTimeLimit) || !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("cause %v, want ErrTimeLimit and context.DeadlineExceeded", cause)
	}
	if e.Parent().Err() != nil {
		t.Error("the caller's context ended")
	}
	d := e.Next(ended(1, context.DeadlineExceeded))
	checkDecision(t, "ended", d, ActionStop, 0, ErrTimeLimit)
	checkEvents(t, log.all(), ev{1, Stop, RuleMaxElapsed, 0, "", ErrTimeLimit})
}
