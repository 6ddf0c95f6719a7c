// Package restyretry gives clients built on github.com/go-resty/resty/v2
// smart, safe retries, through resty's own retry loop: you keep a plain
// *resty.Client and call
//
//	client := restyretry.Apply(resty.New())
//
// Apply installs the Default policy: at most 3 retries, after 1s + U(0, 0.5s),
// 2s + U(0, 1s) and 4s + U(0, 2s); 503 is retried with backoff; 429 honours
// the server's Retry-After, else backs off; 401 is never retried.
//
// # How a decision is made
//
// After every attempt, one retry condition that Apply registers with resty
// decides, in this order:
//
//  1. Errors raised before the request was sent (middleware, rate limiter,
//     invalid URL) and the caller's own cancelled context: stop.
//  2. Custom conditions (Policy.With), in order: the first Retry or Stop
//     decides; Abstain passes on.
//  3. Status rules: 408, 429 and 5xx except 501 and 505 are retryable; a 403
//     with X-RateLimit-Remaining: 0 counts as 429; every other status stops.
//     Transport errors are retryable when they are refused or failed
//     connections, resets, unexpected EOF or timeouts, and never for TLS
//     certificate errors, redirect loops, unsupported schemes or anything
//     unrecognised; errors are classified by type, never by message.
//  4. Method rules (RFC 9110 §9.2.2): GET, HEAD, OPTIONS, TRACE, PUT and
//     DELETE are retried on every retryable outcome. POST and PATCH are
//     retried only when the request was certainly not applied (the
//     connection was never established, or the server answered 429 or 503),
//     or when they carry an Idempotency-Key, or with RetryAllMethods.
//  5. MaxRetries: after MaxRetries retries the request ends, without a last
//     sleep.
//  6. Hints and backoff: a server hint (see Retry-After below) gives the
//     wait; otherwise BaseDelay·Multiplier^(n−1), capped at MaxDelay.
//  7. Jitter spreads the backoff (Jitter); server waits get a small upward
//     jitter only.
//  8. Limits: the body must be replayable, the wait must end before the
//     context deadline and within MaxElapsed, and the retry budget must
//     allow it. Otherwise the request gives up at once, with an error that
//     wraps ErrGaveUp, and the last response.
//
// resty clamps the wait it is given and treats 0 as "use your own backoff";
// Apply opens the clamp and never returns 0, so the policy's waits pass
// through unchanged.
//
// # Retry-After
//
// Retry-After (RFC 9110 §10.2.3) is honoured on every retryable response, in
// both forms: delay-seconds and HTTP-date (IMF-fixdate, RFC 850 and asctime,
// tolerant of whitespace, single-digit days and a "UTC" zone). It, then
// Retry-After-Ms and X-Ms-Retry-After-Ms (milliseconds), are the server's
// explicit request and win whenever present and valid.
//
// Without them, the rate-limit headers real APIs send are read, each in its
// own unit: the IETF RateLimit fields in all three shapes (RateLimit:
// "name";r=0;t=5 from draft 08, the draft-07 dictionary RateLimit:
// limit=10, remaining=0, reset=5, and RateLimit-Remaining/-Reset from drafts
// 05–06), X-RateLimit-Remaining/-Reset (GitHub and many others), OpenAI's
// x-ratelimit-{remaining,reset}-{requests,tokens} (durations such as "6m0s")
// and Anthropic's anthropic-ratelimit-*-{remaining,reset} (RFC 3339
// instants). These headers come on every response, so a reset is a wait only
// when its quota is spent: its remaining count is 0 or below, or the status
// is 429 and no count is given. A reset with quota left is no hint; the
// backoff decides. Integer resets are read by magnitude: below 10^9 seconds
// from now, below 10^12 Unix seconds, else Unix milliseconds. When several
// spent quotas give a reset, the longest wins, since the server refuses the
// next request until every one has reset.
//
// A server hint is a floor under the policy's own jittered backoff: the wait
// is the longer of the hint (plus a small upward spread, so that clients told
// the same instant do not return together) and the backoff; a zero or past
// hint therefore waits the backoff. A wait longer than MaxRetryAfter gives
// up at once with ErrWaitTooLong rather than sleeping or silently shortening
// it. Malformed values fall back to the backoff; huge values mean "very
// long", never overflow. X-Should-Retry and Stripe-Should-Retry (true or
// false) are read as the server's verdict, not as a wait.
//
// # Safety
//
// The package never resends a truncated or changed body: reader bodies are
// replayed from the bytes resty buffered on the first attempt, multipart
// bodies from the first attempt's exact bytes, and a pre-request hook keeps
// any retry whose body differs from the first attempt's off the network
// (ErrBodyNotReplayable). Without that hook (when the client has its own),
// multipart requests are not retried. It never retries a non-idempotent
// request that may have been applied. It never sleeps when the wait cannot succeed: too
// long a server wait, a context deadline or MaxElapsed that the wait would
// pass. A per-host retry Budget keeps retry storms in check: during an
// outage a host gets Budget.Reserve retries per Budget.Window in all,
// instead of MaxRetries per call. Every give-up is an error for which
// errors.Is(err, ErrGaveUp) holds; see GiveUpError for where it appears.
//
// # Testing
//
// Decisions are pure functions of the outcome, the time and a random
// number: Jitter.Spread and ParseRetryAfter take them as parameters, and
// Policy.Rand injects the random source. In the tests of code that uses a
// retrying client, Policy.TestMode and TestMode skip every wait (and can cap
// retries) while keeping every decision as in production. Policy.OnDecision
// and LogEvents show each decision as it is made.
package restyretry
