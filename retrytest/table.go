// Package retrytest holds the behaviour every restyretry adapter shares: a
// fake clock, a recording loopback server and THE behaviour table, run
// against an adapter with Run. It imports the core only, never a resty
// version, so that the adapter of resty v2 (the root package) and the one
// of resty v3 (restyv3) run the very same cases.
package retrytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restyretry/restyretry/core"
)

// Config is what an adapter builds a client from.
type Config struct {
	Policy  core.Policy // to apply on the client
	BaseURL string      // every Request.Path is relative to it
	// Clock is a fake clock the adapter may hand to its core.Client; an
	// adapter that cannot take one uses the system clock, and every case
	// passes either way.
	Clock core.Clock
	// TestMode, when set, asks the adapter to call its TestMode(c,
	// TestModeRetries) after applying the policy.
	TestMode        bool
	TestModeRetries int
	// Observe must be attached with the adapter's Observe.
	Observe func(core.Event)
}

// Request is one request a case makes.
type Request struct {
	Method string
	Path   string // with a query string if any
	Header http.Header
	Body   any // given to the request's SetBody when non-nil
	// NewBody, if set, makes a fresh body for every run (a reader is used
	// up by one), given to SetBody instead of Body.
	NewBody func() any
	// Context is the request's context (WithPolicy, WithoutRetry); nil is
	// context.Background. The harness bounds it so that a wait the policy
	// should have refused fails the case instead of hanging.
	Context context.Context
}

// Result is what a request returned.
type Result struct {
	Status int // 0 without a response
	Err    error
}

// Adapter is what a test supplies to Run: how to build a client of its
// resty version for a Config, and how to run one request on it.
type Adapter struct {
	Name string
	// Client applies cfg on a new client and returns the function that
	// runs one request on it.
	Client func(t testing.TB, cfg Config) func(Request) Result
}

// WantEvent is an expected Event. Wait is exact, or a range up to WaitMax
// when WaitMax is set; GiveUp, when set, is the reason errors.Is must find
// in Event.GiveUp (nil: the event has none).
type WantEvent struct {
	Attempt int
	Verdict core.Verdict
	Rule    core.Rule
	Wait    time.Duration
	WaitMax time.Duration
	Source  string
	GiveUp  error
}

// Want is what one step must give.
type Want struct {
	Status   int
	Err      []error // each must hold with errors.Is; none: no error
	Attempts int     // requests the server received in the step
	Events   []WantEvent
}

// Step is one request of a case and what it must give.
type Step struct {
	Req  Request
	Want Want
}

// Case is one behaviour: a policy, a server script, the steps, and an
// optional check of what the server received.
type Case struct {
	Name   string
	Policy core.Policy
	// TestMode applies the adapter's TestMode(c, TestModeRetries).
	TestMode        bool
	TestModeRetries int
	// Script is the server's replies by path; ScriptAt, if set, builds
	// more from the time the case starts (HTTP dates).
	Script   map[string][]Reply
	ScriptAt func(now time.Time) map[string][]Reply
	// Dead points the client at a closed loopback port.
	Dead  bool
	Steps []Step
	// Check runs after the steps.
	Check func(t *testing.T, c *Trial)
	// Note says where an adapter may differ and why; the assertions then
	// accept either outcome.
	Note string
}

// Trial is a case in progress, for Check.
type Trial struct {
	Adapter string
	Server  *Server
	Clock   *Clock
	Results []Result
	Events  [][]core.Event
	Elapsed time.Duration // wall time of all steps
}

// rand0 and rand5 are fixed jitter sources.
func rand0() float64 { return 0 }
func rand5() float64 { return 0.5 }

// base is Default with a fixed jitter source.
func base() core.Policy {
	p := core.Default()
	p.Rand = rand0
	return p
}

// fast is base in test mode.
func fast() core.Policy { return base().TestMode(-1) }

func with(p core.Policy, f func(*core.Policy)) core.Policy {
	f(&p)
	return p
}

func ra(v string) http.Header { return http.Header{"Retry-After": {v}} }

// oneShot is a reader that cannot be read again or rewound.
type oneShot struct{ r io.Reader }

func (o *oneShot) Read(p []byte) (int, error) { return o.r.Read(p) }

// Cases is the behaviour table.
var Cases = []Case{
	{
		Name: "seed schedule: Default waits 1s+, 2s+, 4s+ then stops after 3 retries",
		Policy: with(core.Default(), func(p *core.Policy) {
			p.Rand = rand5
			*p = p.TestMode(-1)
		}),
		Script: map[string][]Reply{"/s": {{Status: 503}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/s"}, Want: Want{Status: 503, Attempts: 4, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: 1250 * time.Millisecond, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Retry, Rule: core.RuleStatus, Wait: 2500 * time.Millisecond, Source: core.SourceBackoff},
			{Attempt: 3, Verdict: core.Retry, Rule: core.RuleStatus, Wait: 5 * time.Second, Source: core.SourceBackoff},
			{Attempt: 4, Verdict: core.Stop, Rule: core.RuleMaxRetries},
		}}}},
	},
	{
		Name:   "503 backs off, then the success ends it",
		Policy: fast(),
		Script: map[string][]Reply{"/u": {{Status: 503}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/u"}, Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
	},
	{
		Name:   "429 honours Retry-After in seconds",
		Policy: fast(),
		Script: map[string][]Reply{"/r": {{Status: 429, Header: ra("7")}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/r"}, Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: 7 * time.Second, Source: "Retry-After"},
			{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
	},
	{
		Name:   "429 honours Retry-After as an HTTP date",
		Policy: fast(),
		ScriptAt: func(now time.Time) map[string][]Reply {
			date := now.Add(10 * time.Second).UTC().Format(http.TimeFormat)
			return map[string][]Reply{"/d": {{Status: 429, Header: ra(date)}, {Status: 200}}}
		},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/d"}, Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: 8 * time.Second, WaitMax: 10 * time.Second,
				Source: "Retry-After"},
			{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
	},
	{
		Name:   "429 without Retry-After backs off",
		Policy: fast(),
		Script: map[string][]Reply{"/n": {{Status: 429}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/n"}, Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
	},
	{
		Name: "Retry-After is a floor: 503 with Retry-After 0 waits the backoff, for real",
		Policy: with(base(), func(p *core.Policy) {
			p.BaseDelay = 200 * time.Millisecond
		}),
		Script: map[string][]Reply{"/f": {{Status: 503, Header: ra("0")}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/f"}, Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: 200 * time.Millisecond, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
		Check: func(t *testing.T, r *Trial) {
			got := r.Server.Received("/f")
			if gap := got[1].At.Sub(got[0].At); gap < 190*time.Millisecond {
				t.Errorf("the retry came %v after the first attempt, want the 200ms backoff", gap)
			}
		},
	},
	{
		Name:   "429 with Retry-After above MaxRetryAfter gives up with ErrWaitTooLong",
		Policy: base(), // not test mode: nothing may sleep the refused wait
		Script: map[string][]Reply{"/l": {{Status: 429, Header: ra("120")}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/l"}, Want: Want{Status: 429, Attempts: 1,
			Err: []error{core.ErrGaveUp, core.ErrWaitTooLong}, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Stop, Rule: core.RuleStatus, Wait: 120 * time.Second, Source: "Retry-After",
					GiveUp: core.ErrWaitTooLong},
			}}}},
	},
	{
		Name:   "503 with Retry-After above MaxRetryAfter gives up with ErrWaitTooLong",
		Policy: base(),
		Script: map[string][]Reply{"/l5": {{Status: 503, Header: ra("31")}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/l5"}, Want: Want{Status: 503, Attempts: 1,
			Err: []error{core.ErrGaveUp, core.ErrWaitTooLong}, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Stop, Rule: core.RuleStatus, Wait: 31 * time.Second, Source: "Retry-After",
					GiveUp: core.ErrWaitTooLong},
			}}}},
	},
	{
		Name:   "401 is never retried, even when the server says it may be",
		Policy: fast(),
		Script: map[string][]Reply{"/a": {{Status: 401, Header: http.Header{"X-Should-Retry": {"true"}}}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/a"}, Want: Want{Status: 401, Attempts: 1, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Stop, Rule: core.RuleStatus},
		}}}},
	},
	{
		Name:   "POST: 500 is not retried",
		Policy: fast(),
		Script: map[string][]Reply{"/p": {{Status: 500}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "POST", Path: "/p", Body: "x"}, Want: Want{Status: 500, Attempts: 1,
			Events: []WantEvent{{Attempt: 1, Verdict: core.Stop, Rule: core.RuleMethod}}}}},
	},
	{
		Name:   "POST: 500 with an Idempotency-Key is retried",
		Policy: fast(),
		Script: map[string][]Reply{"/k": {{Status: 500}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "POST", Path: "/k", Body: "x",
			Header: http.Header{"Idempotency-Key": {"k-1"}}}, Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
		Check: func(t *testing.T, r *Trial) {
			for i, got := range r.Server.Received("/k") {
				if k := got.Header.Get("Idempotency-Key"); k != "k-1" || string(got.Body) != "x" {
					t.Errorf("attempt %d: key %q, body %q; want k-1 and x", i+1, k, got.Body)
				}
			}
		},
	},
	{
		Name:   "POST: 429 is retried (refused before acting)",
		Policy: fast(),
		Script: map[string][]Reply{"/q": {{Status: 429}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "POST", Path: "/q", Body: "x"}, Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
	},
	{
		Name:   "POST: AddIdempotencyKey sends one key on every attempt, and the retry",
		Policy: with(fast(), func(p *core.Policy) { p.AddIdempotencyKey = true }),
		Script: map[string][]Reply{"/ak": {{Status: 500}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "POST", Path: "/ak", Body: "x"}, Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
		Check: func(t *testing.T, r *Trial) {
			got := r.Server.Received("/ak")
			k1, k2 := got[0].Header.Get("Idempotency-Key"), got[1].Header.Get("Idempotency-Key")
			if k1 == "" || k1 != k2 {
				t.Errorf("keys %q and %q; want one non-empty key on both attempts", k1, k2)
			}
		},
	},
	{
		Name: "budget: once the reserve is spent, retries give up with ErrBudgetExhausted",
		Policy: with(fast(), func(p *core.Policy) {
			p.Budget = core.Budget{Reserve: 1, Ratio: 0, Window: time.Hour}
		}),
		Script: map[string][]Reply{"/b": {{Status: 503}}},
		Steps: []Step{
			{Req: Request{Method: "GET", Path: "/b"}, Want: Want{Status: 503, Attempts: 2,
				Err: []error{core.ErrGaveUp, core.ErrBudgetExhausted}, Events: []WantEvent{
					{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
					{Attempt: 2, Verdict: core.Stop, Rule: core.RuleStatus, Wait: 2 * time.Second, Source: core.SourceBackoff,
						GiveUp: core.ErrBudgetExhausted},
				}}},
			{Req: Request{Method: "GET", Path: "/b"}, Want: Want{Status: 503, Attempts: 1,
				Err: []error{core.ErrGaveUp, core.ErrBudgetExhausted}, Events: []WantEvent{
					{Attempt: 1, Verdict: core.Stop, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff,
						GiveUp: core.ErrBudgetExhausted},
				}}},
		},
	},
	{
		Name: "Pace in test mode: the next request to the host reports its hold and skips it",
		Policy: with(fast(), func(p *core.Policy) {
			p.Pace = true
			p.MaxRetries = 0
		}),
		Script: map[string][]Reply{"/limited": {{Status: 429, Header: ra("5")}}},
		Steps: []Step{
			{Req: Request{Method: "GET", Path: "/limited"}, Want: Want{Status: 429, Attempts: 1, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Stop, Rule: core.RuleRetriesOff},
			}}},
			{Req: Request{Method: "GET", Path: "/other"}, Want: Want{Status: 200, Attempts: 1, Events: []WantEvent{
				{Attempt: 0, Verdict: core.Retry, Rule: core.RulePace, Wait: 4 * time.Second, WaitMax: 6 * time.Second,
					Source: core.SourcePace},
				{Attempt: 1, Verdict: core.Stop, Rule: core.RuleSuccess},
			}}},
		},
		Check: func(t *testing.T, r *Trial) {
			if r.Elapsed > 2*time.Second {
				t.Errorf("the steps took %v: test mode must not hold", r.Elapsed)
			}
		},
	},
	{
		Name: "Pace: a 429 with Retry-After holds the next request to that host",
		Policy: with(base(), func(p *core.Policy) {
			p.Pace = true
			p.MaxRetries = 0
		}),
		Script: map[string][]Reply{"/limited": {{Status: 429, Header: ra("1")}}},
		Steps: []Step{
			{Req: Request{Method: "GET", Path: "/limited"}, Want: Want{Status: 429, Attempts: 1, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Stop, Rule: core.RuleRetriesOff},
			}}},
			{Req: Request{Method: "GET", Path: "/other"}, Want: Want{Status: 200, Attempts: 1, Events: []WantEvent{
				{Attempt: 0, Verdict: core.Retry, Rule: core.RulePace, Wait: 500 * time.Millisecond, WaitMax: 1200 * time.Millisecond,
					Source: core.SourcePace},
				{Attempt: 1, Verdict: core.Stop, Rule: core.RuleSuccess},
			}}},
		},
		Check: func(t *testing.T, r *Trial) {
			// With the fake clock the hold is slept on it; without, for real.
			held := r.Clock.Slept()
			if held == 0 {
				got := r.Server.Received()
				held = got[1].At.Sub(got[0].At)
			}
			if held < 500*time.Millisecond {
				t.Errorf("the second request was held %v, want about 1s", held)
			}
		},
	},
	{
		Name:   "events: attempt numbers, method and a URL without its query",
		Policy: fast(),
		Script: map[string][]Reply{"/e": {{Status: 502}, {Status: 503}, {Status: 204}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/e?token=secret"}, Want: Want{Status: 204, Attempts: 3, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Retry, Rule: core.RuleStatus, Wait: 2 * time.Second, Source: core.SourceBackoff},
			{Attempt: 3, Verdict: core.Stop, Rule: core.RuleSuccess},
		}}}},
		Check: func(t *testing.T, r *Trial) {
			for _, ev := range r.Events[0] {
				if ev.Method != "GET" || ev.URL != r.Server.URL+"/e" || strings.Contains(ev.URL, "secret") {
					t.Errorf("event %d: method %q, URL %q; want GET and %s/e", ev.Attempt, ev.Method, ev.URL, r.Server.URL)
				}
				if ev.Status == 0 || ev.Context == nil {
					t.Errorf("event %d: status %d, context %v", ev.Attempt, ev.Status, ev.Context)
				}
			}
		},
	},
	{
		Name:            "test mode on the client: no real sleep, the waits in the events, retries capped",
		Policy:          base(),
		TestMode:        true,
		TestModeRetries: 2,
		Script:          map[string][]Reply{"/t": {{Status: 503}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/t"}, Want: Want{Status: 503, Attempts: 3, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
			{Attempt: 2, Verdict: core.Retry, Rule: core.RuleStatus, Wait: 2 * time.Second, Source: core.SourceBackoff},
			{Attempt: 3, Verdict: core.Stop, Rule: core.RuleMaxRetries},
		}}}},
		Check: func(t *testing.T, r *Trial) {
			if r.Elapsed > 900*time.Millisecond {
				t.Errorf("took %v: test mode must not sleep", r.Elapsed)
			}
		},
	},
	{
		Name:   "ErrorOnExhausted: the last retryable outcome is ErrRetriesExhausted",
		Policy: with(fast(), func(p *core.Policy) { p.MaxRetries, p.ErrorOnExhausted = 1, true }),
		Script: map[string][]Reply{"/x": {{Status: 503}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/x"}, Want: Want{Status: 503, Attempts: 2,
			Err: []error{core.ErrGaveUp, core.ErrRetriesExhausted}, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
				{Attempt: 2, Verdict: core.Stop, Rule: core.RuleMaxRetries, GiveUp: core.ErrRetriesExhausted},
			}}}},
	},
	{
		Name:   "a transport error's give-up is both ErrGaveUp and the transport error",
		Policy: with(fast(), func(p *core.Policy) { p.MaxRetries, p.ErrorOnExhausted = 1, true }),
		Dead:   true,
		Steps: []Step{{Req: Request{Method: "GET", Path: "/dead"}, Want: Want{Status: 0, Attempts: 0,
			Err: []error{core.ErrGaveUp, core.ErrRetriesExhausted, syscall.ECONNREFUSED}, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Retry, Rule: core.RuleNetwork, Wait: time.Second, Source: core.SourceBackoff},
				{Attempt: 2, Verdict: core.Stop, Rule: core.RuleMaxRetries, GiveUp: core.ErrRetriesExhausted},
			}}}},
	},
	{
		Name:   "WithoutRetry: one attempt, reported as retries-off",
		Policy: fast(),
		Script: map[string][]Reply{"/w": {{Status: 503}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/w", Context: core.WithoutRetry(context.Background())},
			Want: Want{Status: 503, Attempts: 1, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Stop, Rule: core.RuleRetriesOff},
			}}}},
	},
	{
		Name:   "WithPolicy: a request runs under its own policy",
		Policy: fast(),
		Script: map[string][]Reply{"/wp": {{Status: 503}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/wp",
			Context: core.WithPolicy(context.Background(), with(fast(), func(p *core.Policy) { p.MaxRetries = 1 }))},
			Want: Want{Status: 503, Attempts: 2, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
				{Attempt: 2, Verdict: core.Stop, Rule: core.RuleMaxRetries},
			}}}},
	},
	{
		Name:   "a custom condition decides before the built-in rules",
		Policy: fast().With(core.StopOnStatus(503)),
		Script: map[string][]Reply{"/c": {{Status: 503}}},
		Steps: []Step{{Req: Request{Method: "GET", Path: "/c"}, Want: Want{Status: 503, Attempts: 1, Events: []WantEvent{
			{Attempt: 1, Verdict: core.Stop, Rule: core.RuleCondition},
		}}}},
	},
	{
		Name:   "a seekable reader body is sent whole on every attempt",
		Policy: fast(),
		Script: map[string][]Reply{"/sb": {{Status: 503}, {Status: 200}}},
		Steps: []Step{{Req: Request{Method: "PUT", Path: "/sb", NewBody: func() any { return strings.NewReader("payload") }},
			Want: Want{Status: 200, Attempts: 2, Events: []WantEvent{
				{Attempt: 1, Verdict: core.Retry, Rule: core.RuleStatus, Wait: time.Second, Source: core.SourceBackoff},
				{Attempt: 2, Verdict: core.Stop, Rule: core.RuleSuccess},
			}}}},
		Check: func(t *testing.T, r *Trial) {
			for i, got := range r.Server.Received("/sb") {
				if string(got.Body) != "payload" {
					t.Errorf("attempt %d sent %q, want payload", i+1, got.Body)
				}
			}
		},
	},
	{
		Name:   "a one-shot reader body is never resent truncated",
		Policy: fast(),
		Note: "resty v2 buffers a reader body and the v2 adapter replays those bytes (retried, 200); " +
			"resty v3 sends the reader as it is and can only seek it, so the v3 adapter refuses the retry " +
			"(ErrBodyNotReplayable after one attempt). Either is right; a truncated body is not.",
		Script: map[string][]Reply{"/ob": {{Status: 503}, {Status: 200}}},
		Steps:  []Step{{Req: Request{Method: "PUT", Path: "/ob", NewBody: func() any { return &oneShot{strings.NewReader("payload")} }}}},
		Check: func(t *testing.T, r *Trial) {
			got := r.Server.Received("/ob")
			for i, g := range got {
				if string(g.Body) != "payload" {
					t.Errorf("attempt %d sent %q, want payload", i+1, g.Body)
				}
			}
			res := r.Results[0]
			switch {
			case len(got) == 2 && res.Status == 200 && res.Err == nil:
				t.Logf("%s: replayed", r.Adapter)
			case len(got) == 1 && errors.Is(res.Err, core.ErrBodyNotReplayable) && errors.Is(res.Err, core.ErrGaveUp):
				t.Logf("%s: refused with ErrBodyNotReplayable", r.Adapter)
			default:
				t.Errorf("%d attempts, status %d, error %v; want a replay or ErrBodyNotReplayable", len(got), res.Status, res.Err)
			}
		},
	},
}

// Run runs every case of the table against a, each as a parallel subtest.
func Run(t *testing.T, a Adapter) {
	t.Helper()
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			runCase(t, a, c)
		})
	}
}

func runCase(t *testing.T, a Adapter, c Case) {
	srv := NewServer(t)
	clock := NewClock(time.Now())
	for path, replies := range c.Script {
		srv.Script(path, replies...)
	}
	if c.ScriptAt != nil {
		for path, replies := range c.ScriptAt(clock.Now()) {
			srv.Script(path, replies...)
		}
	}
	baseURL := srv.URL
	if c.Dead {
		baseURL = deadURL(t)
	}
	var mu sync.Mutex
	var events []core.Event
	cfg := Config{Policy: c.Policy, BaseURL: baseURL, Clock: clock, TestMode: c.TestMode,
		TestModeRetries: c.TestModeRetries, Observe: func(ev core.Event) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}}
	do := a.Client(t, cfg)
	r := &Trial{Adapter: a.Name, Server: srv, Clock: clock}
	start := time.Now()
	for i, s := range c.Steps {
		mu.Lock()
		from := len(events)
		mu.Unlock()
		seen := len(srv.Received())
		req := s.Req
		parent := req.Context
		if parent == nil {
			parent = context.Background()
		}
		ctx, cancel := context.WithTimeout(parent, 20*time.Second)
		req.Context = ctx
		if req.NewBody != nil {
			req.Body, req.NewBody = req.NewBody(), nil
		}
		res := do(req)
		cancel()
		mu.Lock()
		evs := append([]core.Event(nil), events[from:]...)
		mu.Unlock()
		r.Results = append(r.Results, res)
		r.Events = append(r.Events, evs)
		if s.Want.Status == 0 && s.Want.Attempts == 0 && s.Want.Events == nil && s.Want.Err == nil {
			continue // the case's Check judges this step
		}
		check(t, fmt.Sprintf("step %d", i+1), s.Want, res, len(srv.Received())-seen, evs)
	}
	r.Elapsed = time.Since(start)
	if c.Check != nil {
		c.Check(t, r)
	}
}

func check(t *testing.T, step string, w Want, res Result, attempts int, evs []core.Event) {
	t.Helper()
	if res.Status != w.Status {
		t.Errorf("%s: status %d, want %d", step, res.Status, w.Status)
	}
	if len(w.Err) == 0 && res.Err != nil {
		t.Errorf("%s: error %v, want none", step, res.Err)
	}
	for _, want := range w.Err {
		if !errors.Is(res.Err, want) {
			t.Errorf("%s: error %v, want errors.Is %v", step, res.Err, want)
		}
	}
	if attempts != w.Attempts {
		t.Errorf("%s: the server received %d requests, want %d", step, attempts, w.Attempts)
	}
	if len(evs) != len(w.Events) {
		t.Errorf("%s: %d events, want %d:\n%s", step, len(evs), len(w.Events), describe(evs))
		return
	}
	for i, want := range w.Events {
		ev := evs[i]
		bad := ev.Attempt != want.Attempt || ev.Verdict != want.Verdict || ev.Rule != want.Rule ||
			ev.WaitSource != want.Source
		if want.WaitMax > 0 {
			bad = bad || ev.Wait < want.Wait || ev.Wait > want.WaitMax
		} else {
			bad = bad || ev.Wait != want.Wait
		}
		switch {
		case want.GiveUp == nil:
			bad = bad || ev.GiveUp != nil
		default:
			bad = bad || ev.GiveUp == nil || !errors.Is(ev.GiveUp, want.GiveUp) || !errors.Is(ev.GiveUp, core.ErrGaveUp)
		}
		if bad {
			t.Errorf("%s: event %d is\n\t%s\nwant\n\t%+v", step, i+1, describe(evs[i:i+1]), want)
		}
	}
}

func describe(evs []core.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "attempt=%d verdict=%v rule=%s wait=%v source=%q status=%d err=%v giveup=%v\n",
			ev.Attempt, ev.Verdict, ev.Rule, ev.Wait, ev.WaitSource, ev.Status, ev.Err, ev.GiveUp)
	}
	return b.String()
}

// deadURL is a loopback URL nothing listens on.
func deadURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}
