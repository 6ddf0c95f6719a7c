package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restyretry/restyretry"
)

// fast returns p with millisecond backoff, so that only the server's
// Retry-After: 1 costs real time.
func fast(p restyretry.Policy) restyretry.Policy {
	p.BaseDelay = 5 * time.Millisecond
	return p
}

// traceLines returns the attempt and summary lines of the demo's output.
func traceLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "attempt ") || strings.HasPrefix(l, "=> ") {
			lines = append(lines, l)
		}
	}
	return lines
}

const secs = `(\d+\.\d\d)s`

// want is the demo's trace, one pattern per line, in order.
var want = []string{
	`^attempt 1: GET /flaky -> 503 Service Unavailable; retrying in ` + secs + ` \(backoff\)$`,
	`^attempt 2: GET /flaky -> 503 Service Unavailable; retrying in ` + secs + ` \(backoff\)$`,
	`^attempt 3: GET /flaky -> 200 OK; done$`,
	`^=> 200 OK after 3 attempts in ` + secs + `$`,

	`^attempt 1: GET /limited -> 429 Too Many Requests; retrying in ` + secs + ` \(Retry-After\)$`,
	`^attempt 2: GET /limited -> 200 OK; done$`,
	`^=> 200 OK after 2 attempts in ` + secs + `$`,

	`^attempt 1: GET /secret -> 401 Unauthorized; not retried \(status rule\)$`,
	`^=> 401 Unauthorized after 1 attempt in ` + secs + `$`,

	`^attempt 1: POST /orders -> 500 Internal Server Error; not retried \(method rule\)$`,
	`^=> 500 Internal Server Error after 1 attempt in ` + secs + `$`,

	`^attempt 1: POST /orders -> 500 Internal Server Error; retrying in ` + secs + ` \(backoff\)$`,
	`^attempt 2: POST /orders -> 201 Created; done$`,
	`^=> 201 Created after 2 attempts in ` + secs + `$`,

	`^attempt 1: GET /maintenance -> 503 Service Unavailable; giving up: ` +
		`server asked to wait longer than MaxRetryAfter \(Retry-After: 2m0s\)$`,
	`^=> 503 Service Unavailable after 1 attempt in ` + secs + `; error: restyretry: gave up after attempt 1 \(status 503\): ` +
		`server asked to wait longer than MaxRetryAfter \(wait 2m0s\)$`,
}

// matchTrace checks the trace against want and returns the seconds captured
// on each line (nil where none).
func matchTrace(t *testing.T, out string) [][]float64 {
	t.Helper()
	lines := traceLines(out)
	if len(lines) != len(want) {
		t.Fatalf("got %d trace lines, want %d; output:\n%s", len(lines), len(want), out)
	}
	got := make([][]float64, len(lines))
	for i, l := range lines {
		m := regexp.MustCompile(want[i]).FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %d = %q, want match for %q", i+1, l, want[i])
			continue
		}
		for _, s := range m[1:] {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = append(got[i], f)
		}
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", out)
	}
	return got
}

func between(t *testing.T, what string, got, lo, hi float64) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %.2fs, want in [%.2fs, %.2fs]", what, got, lo, hi)
	}
}

// TestRunFast plays the demo with millisecond backoff and checks every
// attempt, verdict and wait it prints.
func TestRunFast(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, fast(restyretry.Default()), fast(restyretry.Interactive())); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	s := matchTrace(t, out.String())
	// Default jitter is Proportional(0.5): 5–7.5ms, then 10–15ms, which
	// print as 0.01s or 0.02s once rounded to 10ms.
	between(t, "/flaky wait 1", s[0][0], 0, 0.01)
	between(t, "/flaky wait 2", s[1][0], 0.01, 0.02)
	// Retry-After: 1 is a floor with at most 10% added.
	between(t, "/limited wait", s[4][0], 1.00, 1.10)
	if s[6][0] < s[4][0]-0.01 {
		t.Errorf("/limited took %.2fs, less than its %.2fs wait", s[6][0], s[4][0])
	}
	// Interactive with a 5ms base and EqualJitter waits 2.5–5ms.
	between(t, "/orders wait", s[11][0], 0, 0.01)
}

// TestRunDefaultSchedule plays the demo with the presets as `go run` uses
// them, in test mode: every decision as in production, the waits skipped,
// so the trace shows the documented Default schedule as decided. (CI's
// `go run ./examples/basic` step plays it with the real waits.)
func TestRunDefaultSchedule(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, restyretry.Default().TestMode(-1), restyretry.Interactive().TestMode(-1)); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	s := matchTrace(t, out.String())
	between(t, "/flaky wait 1", s[0][0], 1.00, 1.50)
	between(t, "/flaky wait 2", s[1][0], 2.00, 3.00)
	between(t, "/limited wait", s[4][0], 1.00, 1.10)
	// Interactive waits 50–100ms before its first retry.
	between(t, "/orders wait", s[11][0], 0.05, 0.10)
	if total := s[3][0]; total >= s[0][0]+s[1][0] {
		t.Errorf("/flaky took %.2fs, not less than its waits %.2fs + %.2fs: test mode slept", total, s[0][0], s[1][0])
	}
}

// TestRunReportsMismatch checks that run fails when an outcome differs from
// what the demo explains: a policy that retries every POST makes the order
// without Idempotency-Key succeed on its second attempt.
func TestRunReportsMismatch(t *testing.T) {
	quick := fast(restyretry.Interactive())
	quick.RetryAllMethods = true
	var out bytes.Buffer
	err := run(&out, fast(restyretry.Default()), quick)
	if err == nil {
		t.Fatalf("run succeeded with RetryAllMethods; output:\n%s", out.String())
	}
	if !strings.Contains(err.Error(), "POST /orders: got status 201 after 2 attempts, want 500 after 1") {
		t.Errorf("run error = %v", err)
	}
}
