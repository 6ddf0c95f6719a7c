package restyv3

import (
	"context"
	"log/slog"
	"time"

	"github.com/restyretry/restyretry/core"
	"resty.dev/v3"
)

// The names of the core (github.com/restyretry/restyretry/core), where every
// decision is made, as the resty v2 adapter (the root package) names them, so that users of both read the same. Policy is a type of this
// package so that it can carry Apply; the rest are aliases.

// Policy holds the settings of smart retries; see core.Policy for every
// field. Start from a preset (Default, Interactive, Background,
// Contention) and change fields as needed; a Policy is a plain value, so
// copies never affect each other.
type Policy core.Policy

// Aliases of the core's types.
type (
	// Jitter spreads a backoff delay; see core.Jitter.
	Jitter = core.Jitter
	// Budget caps retries per host and route; see core.Budget.
	Budget = core.Budget
	// Verdict is a condition's answer: Abstain, Retry or Stop.
	Verdict = core.Verdict
	// Rule names the rule that gave a decision.
	Rule = core.Rule
	// Event describes one decision; see core.Event.
	Event = core.Event
	// GiveUpError describes an early stop; see core.GiveUpError. Its
	// Response is a *resty.Response.
	GiveUpError = core.GiveUpError
)

// The verdicts.
const (
	Abstain = core.Abstain
	Retry   = core.Retry
	Stop    = core.Stop
)

// The rules; see core.Rule.
const (
	RuleNotSent    = core.RuleNotSent
	RuleCanceled   = core.RuleCanceled
	RuleCondition  = core.RuleCondition
	RuleServer     = core.RuleServer
	RuleNetwork    = core.RuleNetwork
	RuleSuccess    = core.RuleSuccess
	RuleStatus     = core.RuleStatus
	RuleMethod     = core.RuleMethod
	RuleMaxRetries = core.RuleMaxRetries
	RuleMaxElapsed = core.RuleMaxElapsed
	RuleBody       = core.RuleBody
	RulePace       = core.RulePace
	RuleRetriesOff = core.RuleRetriesOff
	RuleDegraded   = core.RuleDegraded
)

// Wait sources and budget defaults; see the core.
const (
	SourceBackoff        = core.SourceBackoff
	SourcePace           = core.SourcePace
	DefaultBudgetRatio   = core.DefaultBudgetRatio
	DefaultBudgetReserve = core.DefaultBudgetReserve
	DefaultBudgetWindow  = core.DefaultBudgetWindow
)

// The give-up reasons; each wraps ErrGaveUp. See the core.
var (
	ErrGaveUp            = core.ErrGaveUp
	ErrWaitTooLong       = core.ErrWaitTooLong
	ErrDeadline          = core.ErrDeadline
	ErrTimeLimit         = core.ErrTimeLimit
	ErrBudgetExhausted   = core.ErrBudgetExhausted
	ErrBodyNotReplayable = core.ErrBodyNotReplayable
	ErrRetriesExhausted  = core.ErrRetriesExhausted
)

// The jitters; see core.Jitter.
var (
	NoJitter    = core.NoJitter
	FullJitter  = core.FullJitter
	EqualJitter = core.EqualJitter
)

// Default returns the policy Apply installs; see core.Default.
func Default() Policy { return Policy(core.Default()) }

// Interactive returns the preset for calls a person waits on; see
// core.Interactive.
func Interactive() Policy { return Policy(core.Interactive()) }

// Background returns the preset for batch work; see core.Background.
func Background() Policy { return Policy(core.Background()) }

// Contention returns the preset for clients competing for one resource;
// see core.Contention.
func Contention() Policy { return Policy(core.Contention()) }

// Proportional returns a Jitter that waits d + U(0, f·d).
func Proportional(f float64) Jitter { return core.Proportional(f) }

// ParseRetryAfter parses one Retry-After value; see core.ParseRetryAfter.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	return core.ParseRetryAfter(value, now)
}

// LogEvents returns an OnDecision function that logs every event to l; see
// core.LogEvents.
func LogEvents(l *slog.Logger) func(Event) { return core.LogEvents(l) }

// WithPolicy returns a context that makes a request run under p instead of
// its client's policy: req.SetContext(restyv3.WithPolicy(ctx, p)). The
// client must have a policy applied. The client's retry budget still
// applies, and its policy's OnDecision is still called unless p sets
// ReplaceOnDecision.
func WithPolicy(ctx context.Context, p Policy) context.Context {
	return core.WithPolicy(ctx, core.Policy(p))
}

// WithoutRetry returns a context that makes a request on an applied client
// run once, with no retry.
func WithoutRetry(ctx context.Context) context.Context { return core.WithoutRetry(ctx) }

// WithRoute returns a context that makes a request count under route in
// its host's retry budget instead of its path's first segment; see
// core.WithRoute.
func WithRoute(ctx context.Context, route string) context.Context {
	return core.WithRoute(ctx, route)
}

// With returns a copy of p whose custom conditions, conds appended to any p
// already has, are consulted in order before the built-in rules.
func (p Policy) With(conds ...Condition) Policy {
	cc := make([]core.Condition, 0, len(conds))
	for _, c := range conds {
		if c != nil {
			cc = append(cc, c.core())
		}
	}
	return Policy(core.Policy(p).With(cc...))
}

// TestMode returns a copy of p for tests: every decision as in production,
// every wait skipped; see core.Policy.TestMode.
func (p Policy) TestMode(maxRetries int) Policy {
	return Policy(core.Policy(p).TestMode(maxRetries))
}

// Delay returns the backoff wait before retry n (1-based), jitter
// included, ignoring server hints.
func (p Policy) Delay(retry int) time.Duration { return core.Policy(p).Delay(retry) }

// Condition inspects the outcome of one attempt that was sent: resp is
// never nil, and err is the transport, body-read or middleware error, if
// any. Conditions run in the order given to Policy.With, before the
// built-in rules; the first Retry or Stop decides.
//
// A Condition that answers Retry overrides the status and method rules, so
// it may make a POST retryable: answer Retry only for outcomes you know are
// safe to repeat.
type Condition func(resp *resty.Response, err error) Verdict

// core is c over the core's view of an attempt.
func (c Condition) core() core.Condition {
	return func(r core.Result) Verdict {
		resp, _ := r.Response.(*resty.Response)
		return c(resp, r.Err)
	}
}

// RetryOnStatus returns a Condition that answers Retry when the response
// status is one of codes, and Abstain otherwise.
func RetryOnStatus(codes ...int) Condition { return statusCondition(core.RetryOnStatus(codes...)) }

// StopOnStatus returns a Condition that answers Stop when the response
// status is one of codes, and Abstain otherwise.
func StopOnStatus(codes ...int) Condition { return statusCondition(core.StopOnStatus(codes...)) }

func statusCondition(c core.Condition) Condition {
	return func(resp *resty.Response, err error) Verdict {
		r := core.Result{Err: err, Response: resp}
		if resp != nil && resp.RawResponse != nil {
			r.Status, r.Header = resp.StatusCode(), resp.Header()
		}
		return c(r)
	}
}
