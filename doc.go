// Package restyretry gives clients built on github.com/go-resty/resty/v2
// smart, safe retries, through resty's own retry loop: you keep a plain
// *resty.Client and call
//
//	client := restyretry.Apply(resty.New())
//
// Apply installs the Default policy: at most 3 retries, after 1s + U(0, 0.5s),
// 2s + U(0, 1s) and 4s + U(0, 2s); 503 is retried with backoff; 429 honours
// the server's Retry-After, else backs off; 401 is never retried. A request
// that used up its retries returns its last response with a nil error, as
// resty does, unless Policy.ErrorOnExhausted is set.
//
// # How a decision is made
//
// This is the one description of the rules; the README summarises it. After
// every attempt, one retry condition that Apply registers with resty builds
// the attempt's outcome and hands it to a pure decision function (decide.go),
// which applies, in order:
//
//  1. Not sent, or cancelled: errors raised before the request was sent
//     (middleware, resty's rate limiter, an invalid URL) stop: resty asks
//     its conditions with no response, and the library answers no (custom
//     Conditions never see them); a request whose own context is done
//     stops, and resty does not even ask.
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
//     unsupported scheme, the caller's cancellation...) stops. When a
//     response with a status arrived, only a known transport or body-read
//     failure counts as an error: any other error came from middleware (an
//     OnAfterResponse hook that turns statuses into errors) and the status
//     rules decide.
//  5. Statuses (RuleStatus): 408, 429 and 5xx except 501 and 505 are
//     retryable; a 403 whose rate-limit headers say the quota is spent, or
//     that carries a Retry-After, counts as 429; 1xx–3xx are successes
//     (RuleSuccess) and every other status stops.
//  6. Methods (RuleMethod, RFC 9110 §9.2.2): GET, HEAD, OPTIONS, TRACE, PUT
//     and DELETE are retried on every retryable outcome. POST and PATCH only
//     when they were certainly not applied (the connection was never made,
//     or the server answered 429 or 503), or when they carry an
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
//     headers in the README's table) is a floor under it: the wait is the
//     longer of the two, so a zero or past hint waits the backoff, and a
//     hint gets a small upward spread (at most a tenth, at most 1s) so that
//     clients told the same instant do not return together. A hint longer
//     than MaxRetryAfter gives up at once (ErrWaitTooLong).
//  9. Time limits: a wait that would end at or after the context's deadline
//     gives up (ErrDeadline), and so does one that would end more than
//     MaxElapsed after the first attempt started (ErrTimeLimit); MaxElapsed
//     also ends an attempt still in flight.
//  10. Then the glue: the body must be replayable (ErrBodyNotReplayable) and
//     the host's retry Budget must pay for the retry (ErrBudgetExhausted).
//
// A give-up returns at once with an error that wraps ErrGaveUp, and the last
// response. resty clamps the wait it is given and treats 0 as "use your own
// backoff"; Apply opens the clamp and never returns 0, so the policy's waits
// pass through unchanged.
//
// # Safety
//
// The package never resends a truncated or changed body: reader bodies are
// replayed from the bytes resty buffered on the first attempt, multipart
// bodies from the first attempt's exact bytes, and a pre-request hook keeps
// any retry whose body differs from the first attempt's off the network
// (ErrBodyNotReplayable). Without that hook (when the client has its own),
// multipart requests are not retried. It never retries a non-idempotent
// request that may have been applied. It never sleeps when the wait cannot
// succeed. A per-host retry Budget keeps retry storms in check: during an
// outage a host gets Budget.Reserve retries per Budget.Window in all,
// instead of MaxRetries per call. Every give-up is an error for which
// errors.Is(err, ErrGaveUp) holds; see GiveUpError for where it appears.
//
// # Per-request state
//
// What the package keeps for a request lives from its first retry (or, with
// MaxElapsed or AddIdempotencyKey, its first attempt) until Execute returns,
// in a context wrapped around the caller's. When Execute returns, the
// caller's context is put back: resp.Request.Context() is the caller's own,
// a follow-up request made with it starts afresh, and a *resty.Request
// executed again counts its attempts from 1.
//
// # Testing
//
// Decisions are pure functions of the outcome, the time and a random
// number: Jitter.Spread and ParseRetryAfter take them as parameters, and
// Policy.Rand injects the random source. In the tests of code that uses a
// retrying client, Policy.TestMode and TestMode skip every wait (and can cap
// retries) while keeping every decision as in production: skipped waits
// advance a virtual clock, so deadlines and MaxElapsed give up at the same
// attempt as in production. Policy.OnDecision, Observe and LogEvents show
// each decision as it is made.
package restyretry
