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
// tolerant of whitespace, single-digit days and a "UTC" zone). When it is
// absent, Retry-After-Ms and X-Ms-Retry-After-Ms (milliseconds), the IETF
// RateLimit fields (RateLimit with r=0;t=N, and RateLimit-Reset) and
// X-RateLimit-Reset (Unix epoch seconds when at least 10^9, else delta
// seconds) are read in that order. The server's wait is a floor: the client
// never comes back earlier, and adds at most 10% (and at most 1s) so that
// clients told the same instant do not return together. A wait longer than
// MaxRetryAfter gives up at once with ErrWaitTooLong rather than sleeping
// or silently shortening it. Malformed values fall back to the backoff;
// huge values mean "very long", never overflow.
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
