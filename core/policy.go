package core

import (
	"context"
	"net/http"
	"time"
)

// Policy holds the settings of smart retries. Start from a preset (Default,
// Interactive, Background, Contention) and change fields as needed; a Policy
// is a plain value, so copies never affect each other. Durations and counts
// that are zero or negative switch the feature off (MaxDelay: no cap;
// MaxElapsed: no limit), except MaxRetryAfter, where 0 means that no server
// wait is honoured: any positive one gives up.
type Policy struct {
	// MaxRetries is how many retries may follow the first attempt, at most
	// 999.
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
	// from the start of the first attempt: a wait that would pass it gives up
	// at once, and an attempt still in flight when it passes is ended; both
	// with an error for which errors.Is(err, ErrTimeLimit) holds. The
	// caller's own context and deadline keep their meaning (a deadline that
	// comes first still ends the request with context.DeadlineExceeded).
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
	// goroutine and must be safe for concurrent use. A per-request policy's
	// OnDecision (WithPolicy) is called in addition to its client's, unless
	// ReplaceOnDecision is set. See LogEvents and Observe.
	OnDecision func(Event)
	// ReplaceOnDecision, on a per-request policy, makes its OnDecision
	// replace the client policy's instead of adding to it. Observers added
	// with Observe are always called.
	ReplaceOnDecision bool
	// ErrorOnExhausted makes a request whose last allowed attempt still
	// asked for a retry end with a *GiveUpError whose Reason is
	// ErrRetriesExhausted (and which carries the final status), instead of
	// resty's usual last response with a nil error.
	ErrorOnExhausted bool
	// Pace holds requests to a host whose server said that the client's
	// quota there is spent until an instant (a 429 or 503 with a usable
	// hint, or rate-limit headers with nothing remaining, on any status):
	// their first attempt waits for that instant, plus a spread of up to a
	// tenth of the hold (at most 1s) so that they do not all arrive
	// together, instead of being sent only to be refused. Once the host
	// states its quota (RateLimit, RateLimit-Policy, X-RateLimit-*,
	// OpenAI's and Anthropic's families), Pace also spreads its first
	// attempts and retries over the time to the reset, within what is
	// left: R requests left for D leave D/(R+1) apart, in order. Other
	// hosts are not held. A hold longer than MaxRetryAfter fails at once
	// with ErrWaitTooLong, one that would pass the context's deadline with
	// ErrDeadline, neither sending anything; the caller's cancellation ends
	// a hold. A block longer than the MaxRetryAfter of the request that
	// met it is probed: after that long, one request is sent, and its
	// response lifts or renews the block; a hint more than a year ahead is
	// ignored. Each hold is reported as an Event with RulePace. Test mode
	// skips the hold but keeps those give-ups. See docs/pacing.md.
	Pace bool
	// AdaptivePace, with Pace, paces hosts that state no quota by a rate
	// of their own, found from their 429s: a 429 cuts the host's rate to
	// 0.7 times the rate its responses arrived at (at most once a second,
	// so that a burst's 429s count once), and each success
	// raises it by one request per second per second (AWS SDKs' adaptive
	// retry mode, simplified). Requests to the host then leave 1/rate
	// apart. Event.PaceRate shows the rate. Off, only stated quotas and
	// spent-quota hints pace.
	AdaptivePace bool
	// AddIdempotencyKey gives every POST and PATCH request that has no
	// Idempotency-Key header a fresh random one, the same on every attempt,
	// so that a server that deduplicates by key can be retried safely.
	AddIdempotencyKey bool

	conditions []Condition
	instant    bool // test mode: decide as usual, skip the waits
}

// Default returns the policy Apply installs: at most 3 retries, waiting
// 1s + U(0, 0.5s), 2s + U(0, 1s), then 4s + U(0, 2s) (Proportional(0.5)),
// backoff capped at 30s, server waits honoured up to 30s, and the default
// retry budget per host and route (see Budget): 1,500 tokens per key and a
// pool of 1,500 shared by the keys, a tolerance of 10.5s per failure
// episode, then one retry per request paid by a fifth of the recent
// traffic; a retry that succeeds is refunded.
func Default() Policy {
	return Policy{
		MaxRetries:    3,
		BaseDelay:     time.Second,
		Multiplier:    2,
		MaxDelay:      30 * time.Second,
		Jitter:        Proportional(0.5),
		MaxRetryAfter: 30 * time.Second,
		Budget:        defaultBudget(),
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
// minutes, the whole request limited to 15 minutes, and Pace on: batch work
// sends many requests to one API, and holding them while its quota is spent
// costs nothing but refused calls. The other presets leave Pace off: an
// interactive call would rather fail fast than wait for another request's
// quota, and Default makes no request wait for an answer it did not get.
func Background() Policy {
	p := Default()
	p.MaxRetries = 8
	p.MaxDelay = 2 * time.Minute
	p.Jitter = EqualJitter
	p.MaxRetryAfter = 5 * time.Minute
	p.MaxElapsed = 15 * time.Minute
	p.Pace = true
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

// MaxRetriesLimit is the highest MaxRetries a policy keeps; a higher one is
// lowered to it. Adapters give their HTTP client's loop more room than this,
// so that the policy, not the loop, ends a request.
const MaxRetriesLimit = 999

// normalized returns a copy of p with out-of-range values repaired.
func (p Policy) normalized() Policy {
	p.MaxRetries = min(max(p.MaxRetries, 0), MaxRetriesLimit)
	p.conditions = append([]Condition(nil), p.conditions...)
	return p
}

// AddsKey reports whether the policy gives a request of method an
// Idempotency-Key of its own (AddIdempotencyKey, for POST and PATCH) when
// it has none: an adapter that starts executions lazily starts such a
// request's at its first attempt, where the key is added.
func (p *Policy) AddsKey(method string) bool {
	return p.AddIdempotencyKey && (method == http.MethodPost || method == http.MethodPatch)
}

type policyKey struct{}

// WithPolicy returns a context that makes a request run under p instead of
// its client's policy: req.SetContext(restyretry.WithPolicy(ctx, p)). The
// client must have a policy applied; p's MaxRetries may be higher or lower
// than the client's. The client's retry budget still applies.
func WithPolicy(ctx context.Context, p Policy) context.Context {
	pp := p.normalized()
	return context.WithValue(ctx, policyKey{}, &pp)
}

// WithoutRetry returns a context that makes a request on an applied client
// run once, with no retry. Its events carry RuleRetriesOff.
func WithoutRetry(ctx context.Context) context.Context {
	return WithPolicy(ctx, Policy{})
}

type routeKey struct{}

// WithRoute returns a context that makes a request count under route in its
// host's retry budget, instead of its path's first segment: requests to
// one host whose failures are independent (an API gateway's backends)
// then do not spend each other's retries. See Budget.
func WithRoute(ctx context.Context, route string) context.Context {
	return context.WithValue(ctx, routeKey{}, route)
}

// RouteFrom returns the route a context carries (WithRoute), "" if none.
func RouteFrom(ctx context.Context) string {
	r, _ := ctx.Value(routeKey{}).(string)
	return r
}

// PolicyFrom returns the policy a context carries (WithPolicy), nil if
// none.
func PolicyFrom(ctx context.Context) *Policy {
	p, _ := ctx.Value(policyKey{}).(*Policy)
	return p
}

// TestMode returns a copy of p for tests: every decision is made exactly as
// in production, but every wait is skipped; if maxRetries ≥ 0 it also caps
// MaxRetries. Production code paths are unchanged: only the sleep is gone.
// Skipped waits advance a virtual clock that every later decision of the
// request reads, so a request that would give up with ErrDeadline or
// ErrTimeLimit in production gives up at the same attempt in test mode.
func (p Policy) TestMode(maxRetries int) Policy {
	p.instant = true
	if maxRetries >= 0 {
		p.MaxRetries = min(p.MaxRetries, maxRetries)
	}
	return p
}
