package core

import (
	"net/http"
	"testing"
	"time"
)

// TestDecide is the decision core's table: one outcome in, one decision out,
// every expected value written out. The policy is Default (1s base,
// doubling, Proportional(0.5), 3 retries, server waits up to 30s); u is 0.5,
// so the backoff before retry n is 2^(n−1)s × 1.25 and a server wait h gets
// h/20 (at most 0.5s) on top.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	start := now.Add(-3 * time.Second)
	h := func(kv ...string) http.Header {
		hh := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			hh.Set(kv[i], kv[i+1])
		}
		return hh
	}
	def := Default()
	exhausted := Default()
	exhausted.ErrorOnExhausted = true
	all := Default()
	all.RetryAllMethods = true
	elapsed := Default()
	elapsed.MaxElapsed = 4 * time.Second
	noHints := Default()
	noHints.MaxRetryAfter = 0
	key := h("Idempotency-Key", "k1")

	// o builds an outcome: a sent GET, attempt 1 of 3 allowed, no failure.
	o := func(f func(*outcome)) outcome {
		oc := outcome{method: http.MethodGet, sent: true, attempt: 1, maxRetries: 3, start: start}
		f(&oc)
		return oc
	}
	resp := func(status int, hdr http.Header) func(*outcome) {
		return func(oc *outcome) { oc.status, oc.header = status, hdr }
	}
	with := func(fs ...func(*outcome)) func(*outcome) {
		return func(oc *outcome) {
			for _, f := range fs {
				f(oc)
			}
		}
	}
	method := func(m string) func(*outcome) { return func(oc *outcome) { oc.method = m } }
	fail := func(f failure) func(*outcome) { return func(oc *outcome) { oc.failure = f } }

	cases := []struct {
		name string
		p    Policy
		o    outcome
		want decision
	}{
		// Not sent, canceled, custom conditions.
		{"not sent", def, o(func(oc *outcome) { oc.sent = false }), decision{verdict: Stop, rule: RuleNotSent}},
		{"canceled", def, o(with(resp(503, nil), func(oc *outcome) { oc.canceled = true })),
			decision{verdict: Stop, rule: RuleCanceled}},
		{"condition stop on 503", def, o(with(resp(503, nil), func(oc *outcome) { oc.custom, oc.cond = Stop, 2 })),
			decision{verdict: Stop, rule: RuleCondition, cond: 2}},
		{"condition retry POST 409", def, o(with(resp(409, nil), method("POST"), func(oc *outcome) { oc.custom, oc.cond = Retry, 1 })),
			decision{verdict: Retry, rule: RuleCondition, cond: 1, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"condition retry still capped", def, o(with(resp(409, nil), func(oc *outcome) { oc.custom, oc.cond, oc.attempt = Retry, 1, 4 })),
			decision{verdict: Stop, rule: RuleMaxRetries}},

		// Statuses.
		{"200", def, o(resp(200, nil)), decision{verdict: Stop, rule: RuleSuccess}},
		{"304", def, o(resp(304, nil)), decision{verdict: Stop, rule: RuleSuccess}},
		{"404", def, o(resp(404, nil)), decision{verdict: Stop, rule: RuleStatus}},
		{"401 with Retry-After", def, o(resp(401, h("Retry-After", "1"))), decision{verdict: Stop, rule: RuleStatus}},
		{"501", def, o(resp(501, nil)), decision{verdict: Stop, rule: RuleStatus}},
		{"503 GET", def, o(resp(503, nil)),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"503 GET retry 2", def, o(with(resp(503, nil), func(oc *outcome) { oc.attempt = 2 })),
			decision{verdict: Retry, rule: RuleStatus, wait: 2500 * time.Millisecond, source: SourceBackoff}},
		{"503 GET retry 3", def, o(with(resp(503, nil), func(oc *outcome) { oc.attempt = 3 })),
			decision{verdict: Retry, rule: RuleStatus, wait: 5 * time.Second, source: SourceBackoff}},
		{"503 GET attempt 4", def, o(with(resp(503, nil), func(oc *outcome) { oc.attempt = 4 })),
			decision{verdict: Stop, rule: RuleMaxRetries}},
		{"503 attempt 4 ErrorOnExhausted", exhausted, o(with(resp(503, nil), func(oc *outcome) { oc.attempt = 4 })),
			decision{verdict: Stop, rule: RuleMaxRetries, reason: ErrRetriesExhausted}},
		// A bare 503 is no proof that a POST was not applied (a gateway's);
		// with Retry-After the server says it refused before acting.
		{"503 POST", def, o(with(resp(503, nil), method("POST"))), decision{verdict: Stop, rule: RuleMethod}},
		{"503 POST Retry-After", def, o(with(resp(503, h("Retry-After", "0")), method("POST"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"503 POST X-Should-Retry true", def, o(with(resp(503, h("X-Should-Retry", "true")), method("POST"))),
			decision{verdict: Retry, rule: RuleServer, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"503 PATCH Idempotency-Key", def, o(with(resp(503, nil), method("PATCH"), func(oc *outcome) { oc.reqHeader = key })),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		// Status first: an error beside a status counts only when the body
		// of a 2xx was cut short, or when it is permanent.
		{"401 cut body", def, o(with(resp(401, nil), fail(failureOf(errMaybeSent, 401, true)))), decision{verdict: Stop, rule: RuleStatus}},
		{"200 cut body GET", def, o(with(resp(200, nil), fail(failureOf(errUnknown, 200, true)))),
			decision{verdict: Retry, rule: RuleNetwork, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"200 decode error GET", def, o(with(resp(200, nil), fail(failureOf(errMaybeSent, 200, false)))), decision{verdict: Stop, rule: RuleSuccess}},
		{"500 POST", def, o(with(resp(500, nil), method("POST"))), decision{verdict: Stop, rule: RuleMethod}},
		{"500 PUT", def, o(with(resp(500, nil), method("PUT"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"500 POST Idempotency-Key", def, o(with(resp(500, nil), method("POST"), func(oc *outcome) { oc.reqHeader = key })),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"500 PATCH RetryAllMethods", all, o(with(resp(500, nil), method("PATCH"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"403 quota spent POST", def, o(with(resp(403, h("X-RateLimit-Remaining", "0")), method("POST"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"403 quota left", def, o(resp(403, h("X-RateLimit-Remaining", "7"))), decision{verdict: Stop, rule: RuleStatus}},
		{"403 Retry-After quota left (GitHub's secondary limit)", def, o(resp(403, h("Retry-After", "2", "X-RateLimit-Remaining", "4000"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 2100 * time.Millisecond, source: "Retry-After"}},
		{"403 malformed Retry-After", def, o(resp(403, h("Retry-After", "soon"))), decision{verdict: Stop, rule: RuleStatus}},

		// The server's explicit verdict.
		{"503 X-Should-Retry false", def, o(resp(503, h("X-Should-Retry", "false"))), decision{verdict: Stop, rule: RuleServer}},
		{"429 Stripe-Should-Retry FALSE", def, o(resp(429, h("Stripe-Should-Retry", "FALSE"))), decision{verdict: Stop, rule: RuleServer}},
		{"POST 500 X-Should-Retry true", def, o(with(resp(500, h("X-Should-Retry", "true")), method("POST"))),
			decision{verdict: Retry, rule: RuleServer, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"409 X-Should-Retry true", def, o(resp(409, h("X-Should-Retry", "true"))),
			decision{verdict: Retry, rule: RuleServer, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"401 X-Should-Retry true", def, o(resp(401, h("X-Should-Retry", "true"))), decision{verdict: Stop, rule: RuleStatus}},
		{"200 X-Should-Retry true", def, o(resp(200, h("X-Should-Retry", "true"))), decision{verdict: Stop, rule: RuleSuccess}},
		{"503 X-Should-Retry maybe", def, o(resp(503, h("X-Should-Retry", "maybe"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"condition before X-Should-Retry", def, o(with(resp(503, h("X-Should-Retry", "false")), func(oc *outcome) { oc.custom, oc.cond = Retry, 1 })),
			decision{verdict: Retry, rule: RuleCondition, cond: 1, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"X-Should-Retry true still capped", def, o(with(resp(500, h("X-Should-Retry", "true")), func(oc *outcome) { oc.attempt = 4 })),
			decision{verdict: Stop, rule: RuleMaxRetries}},
		{"POST 303 GET 500 X-Should-Retry true", def, o(with(resp(500, h("X-Should-Retry", "true")), method("POST"), func(oc *outcome) { oc.redirected = true })),
			decision{verdict: Stop, rule: RuleMethod}},

		// Server hints are floors under the backoff.
		{"429 Retry-After 2", def, o(resp(429, h("Retry-After", "2"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 2100 * time.Millisecond, source: "Retry-After"}},
		{"429 Retry-After 0 waits the backoff", def, o(resp(429, h("Retry-After", "0"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"429 Retry-After 1 under a longer backoff", def, o(with(resp(429, h("Retry-After", "1")), func(oc *outcome) { oc.attempt = 2 })),
			decision{verdict: Retry, rule: RuleStatus, wait: 2500 * time.Millisecond, source: SourceBackoff}},
		{"429 Retry-After past date waits the backoff", def, o(resp(429, h("Retry-After", "Tue, 01 Dec 2026 11:00:00 GMT"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"429 Retry-After 20s", def, o(resp(429, h("Retry-After", "20"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 20500 * time.Millisecond, source: "Retry-After"}},
		{"503 Retry-After 29.9s capped at MaxRetryAfter", def, o(resp(503, h("Retry-After-Ms", "29900"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 30 * time.Second, source: "Retry-After-Ms"}},
		{"429 Retry-After 60 too long", def, o(resp(429, h("Retry-After", "60"))),
			decision{verdict: Stop, rule: RuleStatus, wait: time.Minute, source: "Retry-After", reason: ErrWaitTooLong}},
		{"429 Retry-After 1 with MaxRetryAfter 0", noHints, o(resp(429, h("Retry-After", "1"))),
			decision{verdict: Stop, rule: RuleStatus, wait: time.Second, source: "Retry-After", reason: ErrWaitTooLong}},
		{"429 malformed Retry-After", def, o(resp(429, h("Retry-After", "soon"))),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},

		// Time limits.
		{"deadline before the wait ends", def, o(with(resp(503, nil), func(oc *outcome) { oc.deadline = now.Add(time.Second) })),
			decision{verdict: Stop, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff, reason: ErrDeadline}},
		{"deadline after the wait ends", def, o(with(resp(503, nil), func(oc *outcome) { oc.deadline = now.Add(2 * time.Second) })),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"MaxElapsed passed by the wait", elapsed, o(resp(503, nil)),
			decision{verdict: Stop, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff, reason: ErrTimeLimit}},
		{"MaxElapsed not passed", elapsed, o(with(resp(503, nil), func(oc *outcome) { oc.start = now.Add(-2 * time.Second) })),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},

		// Redirects that turned a POST into a GET: the POST was applied.
		{"POST 303 GET 503", def, o(with(resp(503, nil), method("POST"), func(oc *outcome) { oc.redirected = true })),
			decision{verdict: Stop, rule: RuleMethod}},
		{"POST 303 GET 429", def, o(with(resp(429, nil), method("POST"), func(oc *outcome) { oc.redirected = true })),
			decision{verdict: Stop, rule: RuleMethod}},
		{"POST 303 GET 503 with key", def, o(with(resp(503, nil), method("POST"), func(oc *outcome) { oc.redirected, oc.reqHeader = true, key })),
			decision{verdict: Retry, rule: RuleStatus, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"POST 303 GET refused", def, o(with(method("POST"), fail(failedNotSent), func(oc *outcome) { oc.redirected = true })),
			decision{verdict: Stop, rule: RuleMethod}},
		{"POST 303 GET refused RetryAllMethods", all, o(with(method("POST"), fail(failedNotSent), func(oc *outcome) { oc.redirected = true })),
			decision{verdict: Retry, rule: RuleNetwork, wait: 1250 * time.Millisecond, source: SourceBackoff}},

		// Transport failures.
		{"refused POST", def, o(with(method("POST"), fail(failedNotSent))),
			decision{verdict: Retry, rule: RuleNetwork, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"reset GET", def, o(fail(failedMaybeSent)),
			decision{verdict: Retry, rule: RuleNetwork, wait: 1250 * time.Millisecond, source: SourceBackoff}},
		{"reset POST", def, o(with(method("POST"), fail(failedMaybeSent))), decision{verdict: Stop, rule: RuleMethod}},
		{"permanent GET", def, o(fail(failedPermanent)), decision{verdict: Stop, rule: RuleNetwork}},
		{"body-read failure after 200 GET", def, o(with(resp(200, nil), fail(failedMaybeSent))),
			decision{verdict: Retry, rule: RuleNetwork, wait: 1250 * time.Millisecond, source: SourceBackoff}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(&tc.p, &tc.o, now, 0.5)
			if got != tc.want {
				t.Errorf("decide = %+v\n          want %+v", got, tc.want)
			}
		})
	}
}
