package core

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	_ "time/tzdata" // so TZ=Asia/Tokyo loads on any machine

	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hintNow is the fixed clock of these tests: Saturday 2026-11-28 12:00 UTC.
var hintNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// hintZones are the zones now is also given in: the same instant, read in a
// different zone, must give the same waits.
var hintZones = []*time.Location{
	time.UTC,
	time.FixedZone("EST", -5*3600),
	time.FixedZone("LINT", 14*3600),
}

var parseRetryAfterTests = []struct {
	in   string
	want time.Duration
	ok   bool
}{
	// delay-seconds
	{"0", 0, true},
	{"120", 120 * time.Second, true},
	{"007", 7 * time.Second, true},
	{" \t120\t ", 120 * time.Second, true},
	{"9223372036", 9223372036 * time.Second, true}, // largest that fits
	{"9223372037", maxDuration, true},
	{"9223372036854775807", maxDuration, true},
	{"9223372036854775808", maxDuration, true}, // just past math.MaxInt64
	{"12345678901234567890", maxDuration, true},
	{"1" + strings.Repeat("0", 30), maxDuration, true},

	// IMF-fixdate and tolerated variants
	{"Sat, 28 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
	{"  Sat, 28 Nov 2026 12:00:30 GMT\t", 30 * time.Second, true},
	{"Sat,  28 Nov 2026  12:00:30   GMT", 30 * time.Second, true},
	{"Sat, 28 Nov 2026 12:01:00 UTC", time.Minute, true},
	{"Sat, 28 Nov 2026 12:01:00 +0000", time.Minute, true},
	{"Sun, 6 Dec 2026 12:00:00 GMT", 8 * 24 * time.Hour, true},
	{"Sun, 06 Dec 2026 12:00:00 GMT", 8 * 24 * time.Hour, true},
	{"Sat, 28 Nov 2026 12:00:00 GMT", 0, true}, // now: retry now
	{"Sun, 06 Nov 1994 08:49:37 GMT", 0, true}, // past: retry now
	{"Fri, 31 Dec 9999 23:59:59 GMT", maxDuration, true},
	{"SAT, 28 NOV 2026 12:00:30 GMT", 30 * time.Second, true}, // names in any case
	{"Mon, 28 Nov 2026 12:00:30 GMT", 30 * time.Second, true}, // weekday not checked, as time.Parse
	{"Sat, 28 Nov 2026 12:00:30.5 GMT", 30500 * time.Millisecond, true},
	{"Sat, 28 Nov 2026 12:00:30,25 GMT", 30250 * time.Millisecond, true},
	{"Sat, 28 Nov 2026 12:00:30.1234567891 GMT", 30123456789, true},
	{"Sun, 29 Nov 2026 1:00:00 GMT", 13 * time.Hour, true},
	{"Tue, 29 Feb 2028 00:00:00 GMT", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC).Sub(hintNow), true},

	// RFC 850, with the two-digit year in (now−50, now+50]
	{"Saturday, 28-Nov-26 12:00:30 GMT", 30 * time.Second, true},
	{"Sunday, 6-Dec-26 12:00:00 UTC", 8 * 24 * time.Hour, true},
	{"Sunday, 06-Nov-94 08:49:37 GMT", 0, true},
	{"Wednesday, 01-Jan-76 00:00:00 GMT", time.Date(2076, 1, 1, 0, 0, 0, 0, time.UTC).Sub(hintNow), true},
	{"Saturday, 01-Jan-77 00:00:00 GMT", 0, true}, // 1977, not 2077

	// asctime
	{"Sat Nov 28 12:00:30 2026", 30 * time.Second, true},
	{"Sun Dec  6 12:00:00 2026", 8 * 24 * time.Hour, true},
	{"Sun Dec 6 12:00:00 2026", 8 * 24 * time.Hour, true},
	{"Sun Nov  6 08:49:37 1994", 0, true},
	{"sat nov 28 12:00:30.5 2026", 30500 * time.Millisecond, true},
	{"Sun Dec 6 2:00:00 2026", 7*24*time.Hour + 14*time.Hour, true}, // one-digit day and hour: 22 bytes
	{"Sat, 28 Nov 2026 12:00:30 gmt", 30 * time.Second, true},       // the zone in any case
	{"Saturday, 28-Nov-26 12:00:30 utc", 30 * time.Second, true},

	// rejected
	{"", 0, false},
	{" \t ", 0, false},
	{"-1", 0, false},
	{"+1", 0, false},
	{"1.0", 0, false},
	{"1e3", 0, false},
	{"0x10", 0, false},
	{"1 2", 0, false},
	{" 1 2", 0, false},
	{"١٢", 0, false}, // non-ASCII digits
	{"soon", 0, false},
	{"Sun, 06 Nov 1994", 0, false},
	{"Sun, 06 Nov 1994 08:49:37", 0, false},
	{"Sun, 06 Nov 1994 08:49:37 PST", 0, false},
	{"Sun, 06 Nov 1994 08:49:37 GMT junk", 0, false},
	{"Sun, 31 Feb 2026 08:49:37 GMT", 0, false},
	{"Sun, 06 Nov 1994 24:49:37 GMT", 0, false},
	{"Sunday, 06-Nov-1994 08:49:37 GMT", 0, false},
	{"Sun Nov  6 08:49:37 1994 GMT", 0, false},
	{"Sun, 06 Nov 1994 08:49:37 gmt", 0, true}, // the zone in any case
	{"Sat, 28 Nov 2026 12:0:30 GMT", 0, false},
	{"Sat, 28 Nov 2026 12:00:3 GMT", 0, false},
	{"Sat, 28 Nov 26 12:00:30 GMT", 0, false},
	{"Sat, 28 Nov 2026 12:00:30. GMT", 0, false},
	{"Sat,28 Nov 2026 12:00:30 GMT", 0, false},
	{"Sat, 28 Nov 2026\t12:00:30 GMT", 0, false},
	{"Wed, 29 Feb 2027 00:00:00 GMT", 0, false},
	{"Sat, 28 Nov 2026 12:00:30 UTC+1", 0, false},
	{"Saturday, 28-Nov-+6 12:00:30 GMT", 0, false}, // time.Parse reads 2006
	{"Saturday, 28-Nov-26 12:00:30", 0, false},
	{"Sat Nov 28 12:00:30 26", 0, false},
}

func TestParseRetryAfter(t *testing.T) {
	for _, tt := range parseRetryAfterTests {
		for _, loc := range hintZones {
			got, ok := ParseRetryAfter(tt.in, hintNow.In(loc))
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseRetryAfter(%q, now in %v) = %v, %t; want %v, %t",
					tt.in, loc, got, ok, tt.want, tt.ok)
			}
		}
	}
}

// TestParseRetryAfterRFC850Century checks the 50-year rule near a century
// boundary, where a two-digit year moves forward past 2099.
func TestParseRetryAfterRFC850Century(t *testing.T) {
	now := time.Date(2060, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"Monday, 01-Mar-00 00:00:00 GMT", time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC).Sub(now), true},
		{"Wednesday, 01-Jan-10 00:00:00 GMT", time.Date(2110, 1, 1, 0, 0, 0, 0, time.UTC).Sub(now), true},
		{"Saturday, 01-Jan-11 00:00:00 GMT", 0, true}, // 2011
		{"Tuesday, 29-Feb-00 00:00:00 GMT", 0, false}, // 2100 is no leap year
	}
	for _, tt := range tests {
		if got, ok := ParseRetryAfter(tt.in, now); got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q, %v) = %v, %t; want %v, %t", tt.in, now, got, ok, tt.want, tt.ok)
		}
	}
}

// TestParseRetryAfterLocalZone runs TestParseRetryAfter in a child process
// whose time.Local is Asia/Tokyo, since time.Local cannot safely be changed
// while other tests run. A parser that read dates in the local zone would be
// nine hours off there.
func TestParseRetryAfterLocalZone(t *testing.T) {
	if os.Getenv("RESTYRETRY_LOCAL_ZONE_CHILD") != "" {
		if _, off := hintNow.Local().Zone(); off != 9*3600 {
			t.Fatalf("TZ=%s not in effect (offset %d)", os.Getenv("TZ"), off)
		}
		TestParseRetryAfter(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestParseRetryAfterLocalZone$", "-test.v")
	cmd.Env = append(os.Environ(), "RESTYRETRY_LOCAL_ZONE_CHILD=1", "TZ=Asia/Tokyo") // tzdata is embedded below
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("child: %v\n%s", err, out)
	case !strings.Contains(string(out), "--- PASS: TestParseRetryAfterLocalZone"):
		t.Fatalf("child did not run the test:\n%s", out)
	}
}

// hintHeader builds a header with Add, so that keys get net/http's
// canonical spelling ("X-Ratelimit-Reset") as on a real response.
func hintHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// hintEpoch is now + d as decimal Unix seconds.
func hintEpoch(d time.Duration) string {
	return strconv.FormatInt(hintNow.Add(d).Unix(), 10)
}

// serverHintTests are cases of serverHint: the precedence of Retry-After
// and its millisecond forms over the rate-limit families, and the status
// rule of those families. The families themselves are tested in
// ratelimit_test.go.
var serverHintTests = []struct {
	name   string
	status int
	h      http.Header
	want   time.Duration
	source string
}{
	{"none", 429, hintHeader(), 0, ""},
	{"unrelated", 429, hintHeader("Content-Type", "text/plain"), 0, ""},

	{"Retry-After seconds", 429, hintHeader("Retry-After", "120"), 120 * time.Second, "Retry-After"},
	{"Retry-After on 503", 503, hintHeader("Retry-After", "120"), 120 * time.Second, "Retry-After"},
	{"Retry-After on 500", 500, hintHeader("Retry-After", "7"), 7 * time.Second, "Retry-After"},
	{"Retry-After date", 429, hintHeader("Retry-After", "Sat, 28 Nov 2026 12:00:30 GMT"), 30 * time.Second, "Retry-After"},
	{"Retry-After past", 429, hintHeader("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"), 0, "Retry-After"},
	{"Retry-After zero", 429, hintHeader("Retry-After", "0"), 0, "Retry-After"},
	{"Retry-After huge", 429, hintHeader("Retry-After", "99999999999999999999"), maxDuration, "Retry-After"},
	{"Retry-After first value", 429, hintHeader("Retry-After", "120", "Retry-After", "5"), 120 * time.Second, "Retry-After"},
	{"Retry-After first value malformed", 429, hintHeader("Retry-After", "soon", "Retry-After", "5"), 0, ""},
	{"Retry-After beats ms", 429, hintHeader("Retry-After-Ms", "100", "Retry-After", "5"), 5 * time.Second, "Retry-After"},
	{"Retry-After malformed falls through", 429, hintHeader("Retry-After", "soon", "Retry-After-Ms", "1500"), 1500 * time.Millisecond, "Retry-After-Ms"},
	{"Retry-After empty falls through", 429, hintHeader("Retry-After", "", "Retry-After-Ms", "1500"), 1500 * time.Millisecond, "Retry-After-Ms"},
	{"Retry-After beats a longer spent reset", 429, hintHeader("Retry-After", "5", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "60"), 5 * time.Second, "Retry-After"},
	{"Retry-After zero beats a spent reset", 429, hintHeader("Retry-After", "0", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "60"), 0, "Retry-After"},

	{"ms", 503, hintHeader("retry-after-ms", " 1500 "), 1500 * time.Millisecond, "Retry-After-Ms"},
	{"ms huge", 429, hintHeader("Retry-After-Ms", "99999999999999999999"), maxDuration, "Retry-After-Ms"},
	{"ms max int64", 429, hintHeader("Retry-After-Ms", "9223372036854775807"), maxDuration, "Retry-After-Ms"},
	{"ms past max int64", 429, hintHeader("Retry-After-Ms", "9223372036854775808"), maxDuration, "Retry-After-Ms"},
	{"ms beats azure", 429, hintHeader("X-Ms-Retry-After-Ms", "250", "Retry-After-Ms", "100"), 100 * time.Millisecond, "Retry-After-Ms"},
	{"ms malformed falls through", 429, hintHeader("Retry-After-Ms", "1.5", "X-Ms-Retry-After-Ms", "250"), 250 * time.Millisecond, "X-Ms-Retry-After-Ms"},
	{"azure", 503, hintHeader("x-ms-retry-after-ms", "250"), 250 * time.Millisecond, "X-Ms-Retry-After-Ms"},
	{"azure negative", 429, hintHeader("X-Ms-Retry-After-Ms", "-250"), 0, ""},
	{"azure beats RateLimit", 429, hintHeader("RateLimit", `"a";r=0;t=30`, "X-Ms-Retry-After-Ms", "250"), 250 * time.Millisecond, "X-Ms-Retry-After-Ms"},
	{"azure beats OpenAI", 429, hintHeader("X-Ms-Retry-After-Ms", "250", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "6m0s"), 250 * time.Millisecond, "X-Ms-Retry-After-Ms"},

	// The rate-limit families after them, under the spent-quota rule.
	{"RateLimit spent", 503, hintHeader("RateLimit", `"default";r=0;t=30`), 30 * time.Second, "RateLimit"},
	{"RateLimit quota left", 429, hintHeader("RateLimit", `"default";r=10;t=30`), 0, ""},
	{"RateLimit-Reset quota left", 429, hintHeader("RateLimit-Reset", "20", "RateLimit-Remaining", "5"), 0, ""},
	{"RateLimit-Reset no count on 429", 429, hintHeader("RateLimit-Reset", "20"), 20 * time.Second, "RateLimit-Reset"},
	{"RateLimit-Reset no count on 503", 503, hintHeader("RateLimit-Reset", "20"), 0, ""},
	{"GitHub quota left on 503", 503, hintHeader("X-RateLimit-Remaining", "4999", "X-RateLimit-Reset", hintEpoch(40*time.Minute)), 0, ""},
	{"GitHub quota left on 429", 429, hintHeader("X-RateLimit-Remaining", "4999", "X-RateLimit-Reset", hintEpoch(40*time.Minute)), 0, ""},
	{"GitHub spent on 403", 403, hintHeader("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", hintEpoch(40*time.Minute)), 40 * time.Minute, "X-RateLimit-Reset"},
	{"X- no count on 429", 429, hintHeader("X-RateLimit-Reset", "60"), 60 * time.Second, "X-RateLimit-Reset"},
	{"X- no count on 503", 503, hintHeader("X-RateLimit-Reset", "60"), 0, ""},
	{"malformed Retry-After falls through to a spent reset", 503, hintHeader("Retry-After", "soon", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "60"), 60 * time.Second, "X-RateLimit-Reset"},

	{"all present", 429, hintHeader(
		"X-RateLimit-Reset", "1",
		"RateLimit-Reset", "2",
		"RateLimit", `"a";r=0;t=3`,
		"X-Ms-Retry-After-Ms", "4000",
		"Retry-After-Ms", "5000",
		"Retry-After", "6",
	), 6 * time.Second, "Retry-After"},
	{"all malformed", 429, hintHeader(
		"X-RateLimit-Reset", "x",
		"RateLimit-Reset", "x",
		"RateLimit", `"a";r=1;t=3`,
		"X-Ms-Retry-After-Ms", "x",
		"Retry-After-Ms", "x",
		"Retry-After", "x",
		"X-Ratelimit-Reset-Tokens", "x",
		"Anthropic-Ratelimit-Tokens-Reset", "x",
	), 0, ""},
}

func TestServerHint(t *testing.T) {
	for _, tt := range serverHintTests {
		for _, loc := range hintZones {
			wait, source, ok := serverHint(tt.h, tt.status, hintNow.In(loc))
			if wait != tt.want || source != tt.source || ok != (tt.source != "") {
				t.Errorf("%s: serverHint(%v, %d, now in %v) = %v, %q, %t; want %v, %q, %t",
					tt.name, tt.h, tt.status, loc, wait, source, ok, tt.want, tt.source, tt.source != "")
			}
		}
	}
}

func TestServerVerdict(t *testing.T) {
	tests := []struct {
		h         http.Header
		retry, ok bool
	}{
		{hintHeader(), false, false},
		{hintHeader("X-Should-Retry", "true"), true, true},
		{hintHeader("x-should-retry", "false"), false, true},
		{hintHeader("X-Should-Retry", "TRUE"), true, true},
		{hintHeader("X-Should-Retry", "False"), false, true},
		{hintHeader("X-Should-Retry", " true\t"), true, true},
		{hintHeader("Stripe-Should-Retry", "true"), true, true},
		{hintHeader("Stripe-Should-Retry", "false"), false, true},
		{hintHeader("stripe-should-retry", "fAlSe"), false, true},
		{hintHeader("X-Should-Retry", "true", "Stripe-Should-Retry", "false"), false, true},
		{hintHeader("X-Should-Retry", "false", "Stripe-Should-Retry", "true"), false, true},
		{hintHeader("X-Should-Retry", "true", "Stripe-Should-Retry", "true"), true, true},
		{hintHeader("X-Should-Retry", "maybe", "Stripe-Should-Retry", "true"), true, true},
		{hintHeader("X-Should-Retry", "true", "X-Should-Retry", "false"), true, true}, // first value
		{hintHeader("X-Should-Retry", "1"), false, false},
		{hintHeader("X-Should-Retry", "yes"), false, false},
		{hintHeader("X-Should-Retry", "truee"), false, false},
		{hintHeader("X-Should-Retry", "tru"), false, false},
		{hintHeader("X-Should-Retry", "t\x00ue"), false, false},
		{hintHeader("X-Should-Retry", "\"true\""), false, false},
		{hintHeader("X-Should-Retry", "ſalse"), false, false}, // not ASCII
		{hintHeader("X-Should-Retry", "TRUE;q=1"), false, false},
		{hintHeader("X-Should-Retry", ""), false, false},
		{hintHeader("Should-Retry", "false"), false, false},
	}
	for _, tt := range tests {
		if retry, ok := serverVerdict(tt.h); retry != tt.retry || ok != tt.ok {
			t.Errorf("serverVerdict(%q) = %t, %t; want %t, %t", tt.h, retry, ok, tt.retry, tt.ok)
		}
	}
}

// Hostile servers: whatever a 429 or 503 carries in its wait headers, the
// caller must come back promptly — a huge valid wait gives up at once with
// ErrWaitTooLong (or ErrDeadline), a malformed one falls back to the
// millisecond backoff — and never sleep for the server's number.

type hostileHintKind int

var hostileHints = []struct {
	name   string
	header string
	value  string
	kind   hostileHintKind
}{
	{"ra-huge-int", "Retry-After", "99999999999999999999", hintTooLong},
	{"ra-hour", "Retry-After", "3600", hintTooLong},
	{"ra-one-second", "Retry-After", "1", hintTooLong},
	{"ra-date-9999", "Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT", hintTooLong},
	{"ra-ms-huge-int", "Retry-After-Ms", "99999999999999999999", hintTooLong},
	{"ra-ms-day", "Retry-After-Ms", "86400000", hintTooLong},
	{"x-ms-ra-ms-day", "X-Ms-Retry-After-Ms", "86400000", hintTooLong},
	{"ratelimit-huge-t", "RateLimit", `"default";r=0;t=99999999`, hintTooLong},
	{"ratelimit-reset-huge", "RateLimit-Reset", "99999999", hintTooLong},
	{"x-ratelimit-reset-year-3000", "X-RateLimit-Reset", "32503680000", hintTooLong},
	{"x-ratelimit-reset-huge-int", "X-RateLimit-Reset", "99999999999999999999", hintTooLong},

	{"ra-zero", "Retry-After", "0", hintFallback},
	{"ra-negative", "Retry-After", "-5", hintFallback},
	{"ra-fraction", "Retry-After", "1.5", hintFallback},
	{"ra-junk", "Retry-After", "soon", hintFallback},
	{"ra-nan", "Retry-After", "NaN", hintFallback},
	{"ra-hex", "Retry-After", "0x10", hintFallback},
	{"ra-bad-date", "Retry-After", "Mon, 99 Foo 2024 25:61:61 GMT", hintFallback},
	{"ra-date-past", "Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT", hintFallback},
	{"ra-ms-negative", "Retry-After-Ms", "-100", hintFallback},
	{"ra-ms-float-huge", "Retry-After-Ms", "1e30", hintFallback},
	{"ra-ms-junk", "Retry-After-Ms", "abc", hintFallback},
	{"x-ms-ra-ms-negative", "X-Ms-Retry-After-Ms", "-1", hintFallback},
	{"ratelimit-float-t", "RateLimit", `"x";r=0;t=1e30`, hintFallback},
	{"ratelimit-negative-t", "RateLimit", `"x";r=0;t=-5`, hintFallback},
	{"ratelimit-garbage", "RateLimit", `;;;=,"`, hintFallback},
	{"ratelimit-remaining", "RateLimit", `"x";r=5;t=99999999`, hintFallback},
	{"ratelimit-reset-negative", "RateLimit-Reset", "-5", hintFallback},
	{"ratelimit-reset-junk", "RateLimit-Reset", "later", hintFallback},
	{"x-ratelimit-reset-negative", "X-RateLimit-Reset", "-5", hintFallback},
	{"x-ratelimit-reset-junk", "X-RateLimit-Reset", "tomorrow", hintFallback},
	{"x-ratelimit-reset-past-epoch", "X-RateLimit-Reset", "1000000000", hintFallback},
}

// hintServer answers every request with status and one hint header
// (and, for a reset, a remaining count of 0).
func hintServer(t testing.TB, status int, header, value string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header()[header] = []string{value} // as sent, not canonicalised
		// A reset is a wait only for a spent quota (on a 503 too).
		switch header {
		case "RateLimit-Reset":
			w.Header().Set("RateLimit-Remaining", "0")
		case "X-RateLimit-Reset":
			w.Header().Set("X-RateLimit-Remaining", "0")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestFaultsHostileHints: MaxRetryAfter 300ms, no context deadline.
func TestFaultsHostileHints(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		for _, h := range hostileHints {
			t.Run(strconv.Itoa(status)+"/"+h.name, func(t *testing.T) {
				t.Parallel()
				srv, hits := hintServer(t, status, h.header, h.value)
				p := Default()
				p.BaseDelay, p.MaxDelay = 5*time.Millisecond, 50*time.Millisecond
				p.MaxRetryAfter = 300 * time.Millisecond
				c, clk := newCore(p)
				res := doHTTP(c, dialHTTP(t, nil, 0), httpReq{url: srv.URL})
				err, elapsed := res.err, clk.Since()
				t.Logf("%s: %q → hits=%d waited=%v err=%v", h.header, h.value, hits.Load(), elapsed, err)

				// The fake clock moves by the waits slept: the backoff
				// schedule (5+10+20ms, jittered by up to half), or a
				// server wait capped at MaxRetryAfter.
				if elapsed > 3*p.MaxRetryAfter {
					t.Errorf("waited %v; the server's wait must not be slept", elapsed)
				}
				if res.status != status {
					t.Fatalf("status %d, want the %d response kept", res.status, status)
				}
				switch h.kind {
				case hintTooLong:
					if !errors.Is(err, ErrWaitTooLong) {
						t.Errorf("err = %v, want ErrWaitTooLong", err)
					}
					if n := hits.Load(); n != 1 {
						t.Errorf("server hit %d times, want 1 (give up at once)", n)
					}
				case hintFallback:
					if err != nil {
						t.Errorf("err = %v, want none (retries used up on backoff)", err)
					}
					if n := hits.Load(); n != 4 {
						t.Errorf("server hit %d times, want 4 (backoff retries)", n)
					}
				}
			})
		}
	}
}

// TestFaultsHostileHintsDeadline: a policy that honours any server wait,
// with a context deadline: a huge wait must end at once with a
// give-up (ErrDeadline, or ErrWaitTooLong where the wait saturates the
// duration range) — never wrap around into an immediate retry, never sleep.
func TestFaultsHostileHintsDeadline(t *testing.T) {
	for _, h := range hostileHints {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			srv, hits := hintServer(t, http.StatusServiceUnavailable, h.header, h.value)
			p := Default()
			p.BaseDelay, p.MaxDelay = 5*time.Millisecond, 50*time.Millisecond
			p.MaxRetryAfter = time.Duration(math.MaxInt64)
			c, clk := newCore(p)
			// The fake clock reads the real time at first, so that the
			// context's deadline, 400ms on, means the same to both; then it
			// moves only by the waits slept.
			clk.Set(time.Now())
			start := clk.Now()
			ctx, cancel := context.WithDeadline(context.Background(), start.Add(400*time.Millisecond))
			defer cancel()
			res := doHTTP(c, dialHTTP(t, nil, 0), httpReq{ctx: ctx, url: srv.URL})
			err, elapsed := res.err, clk.Now().Sub(start)
			t.Logf("%s: %q → hits=%d waited=%v err=%v", h.header, h.value, hits.Load(), elapsed, err)

			if elapsed > 400*time.Millisecond {
				t.Errorf("waited %v; a huge wait must not be slept", elapsed)
			}
			if res.status != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want the 503 kept", res.status)
			}
			switch h.kind {
			case hintTooLong:
				if !errors.Is(err, ErrDeadline) && !errors.Is(err, ErrWaitTooLong) {
					t.Errorf("err = %v, want ErrDeadline (or ErrWaitTooLong)", err)
				}
				if errors.Is(err, ErrDeadline) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v: ErrDeadline must match context.DeadlineExceeded", err)
				}
				if n := hits.Load(); n != 1 {
					t.Errorf("server hit %d times, want 1", n)
				}
			case hintFallback:
				if err != nil {
					t.Errorf("err = %v, want none", err)
				}
				if n := hits.Load(); n != 4 {
					t.Errorf("server hit %d times, want 4", n)
				}
			}
		})
	}
}
