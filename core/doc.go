// Package core makes every decision of restyretry, for any HTTP client: it
// imports no resty version. Adapters (the root package for resty v2, the
// restyv3 module for resty v3) translate their client's callbacks into
// Outcomes and apply the Decisions they get back; see Execution.
//
// A Policy is configuration: a plain value, presets returning fresh ones. A
// Client is what one HTTP client shares between its requests: the policy,
// the observers, the per-host retry budgets and pacing holds. An Execution
// is one request, and its Next is the one decision function. Time comes
// from a Clock, randomness from Policy.Rand, so every decision can be
// tested on a fake clock.
//
// # How a decision is made
//
// This is the one description of the rules; the README summarises it. After
// every attempt, Execution.Next builds the attempt's outcome and hands it to
// a pure decision function (decide.go), which applies, in order:
//
//  1. Not sent, or cancelled: errors raised before the request was sent
//     (middleware, a client-side rate limiter, an invalid URL) stop, and
//     custom Conditions never see them; a request whose own context is done
//     stops.
//  2. Custom conditions (Policy.With), in order: the first Retry or Stop
//     decides (RuleCondition); Abstain passes on.
//  3. The server's verdict (RuleServer), on a response of status 400 or
//     more: X-Should-Retry or Stripe-Should-Retry "false" stops, even a 503
//     or a 429; "true" makes the response retryable whatever its status and
//     method, except 401.
//  4. Errors (RuleNetwork), classified by type, never by message (the
//     classes are described in errclass.go): an error that certainly never
//     reached the server is retried for every method; a transport error
//     that may have reached it, known or not, is retried for idempotent
//     requests only; a known-permanent one (TLS and certificate errors, an
//     unsupported scheme, a proxy refusing CONNECT, the caller's
//     cancellation...) stops. The status comes first: when a status line
//     arrived, the status rules and the server's verdict decide, and an
//     error beside it counts only when it is permanent or when the body of
//     a 2xx was cut short (the adapter's Outcome.Truncated, judged by the
//     bytes against the framing, not by the error's type); an error from
//     decoding or middleware never turns a 401 or a 200 into a retry.
//  5. Statuses (RuleStatus): 408, 429 and 5xx except 501 and 505 are
//     retryable; a 403 whose rate-limit headers say the quota is spent, or
//     that carries a Retry-After, counts as 429; 1xx–3xx are successes
//     (RuleSuccess) and every other status stops.
//  6. Methods (RuleMethod, RFC 9110 §9.2.2): GET, HEAD, OPTIONS, TRACE, PUT
//     and DELETE are retried on every retryable outcome. POST and PATCH only
//     when they were certainly not applied (the connection was never made,
//     the server answered 429, or 503 with a Retry-After; a bare 503 is no
//     proof, as gateways answer it while the upstream may still apply the
//     request), or when they carry an
//     Idempotency-Key, or with RetryAllMethods. A redirect that turned the
//     request into a GET (301, 302, 303 after a POST) means the server
//     applied the original: the final response then judges the redirected
//     request, and the original is repeated only if it is idempotent by
//     this rule. After 307 and 308, which resend the same method and body,
//     the final response judges the resent request as usual.
//  7. MaxRetries (RuleMaxRetries): after MaxRetries retries the request
//     ends without a last sleep.
//  8. The wait: the backoff BaseDelay·Multiplier^(n−1), capped at MaxDelay,
//     spread by the Jitter; a server hint (Retry-After and the rate-limit
//     headers of docs/hints.md) is a floor under it: the wait is the
//     longer of the two, so a zero or past hint waits the backoff, and a
//     hint gets a small upward spread (at most a tenth, at most 1s) so that
//     clients told the same instant do not return together. A hint longer
//     than MaxRetryAfter gives up at once (ErrWaitTooLong).
//  9. Time limits: a wait that would end at or after the context's deadline
//     gives up (ErrDeadline), and so does one that would end more than
//     MaxElapsed after the first attempt started (ErrTimeLimit); when the
//     bare wait fits, its spread and jitter are clipped to half of what is
//     left instead. MaxElapsed also ends an attempt still in flight
//     (Execution.Context).
//  10. Then the limits outside the rules: the body must be replayable
//     (ErrBodyNotReplayable) and the budget of the host that answered must
//     pay for the retry (ErrBudgetExhausted).
//
// A give-up returns at once with an error that wraps ErrGaveUp.
package core
