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
// Every decision is made in the resty-free package core
// (github.com/restyretry/restyretry/core), whose documentation is the one
// description of the rules; this package is the resty v2 adapter that feeds
// it resty's callbacks (see docs/architecture.md). After every attempt, one
// retry condition that Apply registers with resty reports the attempt's
// outcome to the request's core.Execution and applies its decision: true
// or false, then the wait or the give-up error. resty clamps the wait it is
// given and treats 0 as "use your own backoff"; Apply opens the clamp and
// never returns 0, so the core's waits pass through unchanged.
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
// succeed. A retry Budget per host and route keeps retry storms in check:
// once a failure episode outlasts its tolerance, a request gets at most one
// retry, paid by Budget.Ratio of the recent traffic (or one probe per
// Budget.Window), instead of MaxRetries per call; see core.Budget. Every give-up is an error for which
// errors.Is(err, ErrGaveUp) holds; see GiveUpError for where it appears.
//
// # Per-request state
//
// What the package keeps for a request lives from its first retry (or from
// its first attempt, under MaxElapsed, for a POST or PATCH that
// AddIdempotencyKey gives a key, or under Pace for a host the pacer holds
// or spreads) until Execute returns, carried in the request's context by a
// wrapper that adds only a value (Done, Deadline and Err are the caller's,
// or MaxElapsed's bound of it). When Execute returns, the caller's context
// is put back: resp.Request.Context() is the caller's own, a follow-up
// request made with it starts afresh, and a *resty.Request executed again
// counts its attempts from 1.
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
