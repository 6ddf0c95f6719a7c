// Package compare drives restyretry and its peers through the same
// real-server scenarios, in one process, and tabulates what each did.
//
// A scenario starts real servers on 127.0.0.1 (a counting handler, a
// go-chi/httprate limiter, an in-process toxiproxy), sends the same logical
// requests through one Client per library and reads the servers' own
// counts: how many requests succeeded, how many hits the server took, how
// long the scenario ran, how many retries came back before the Retry-After
// the server had sent for that request, and, for POST, how many orders
// were applied more than once.
//
// The libraries are restyretry (Default with its delays shortened to
// milliseconds, its budget as Default sets it), resty v2's own retry loop
// (3 retries and a condition retrying errors, 5xx and 429), go-retryablehttp
// (its default policy and backoff) and failsafe-go (failsafehttp's retry
// policy around an http.Client), and restyretry again with Policy.Pace on
// (restyretry+Pace). Every library gets 3 retries (the pace scenario: 10) on the same
// exponential schedule (Schedule), a fresh transport per scenario, and the
// same per-attempt timeout.
//
// Requests carry an X-Request-Id header, the same on every attempt of one
// logical request; the servers identify retries by it.
package compare
