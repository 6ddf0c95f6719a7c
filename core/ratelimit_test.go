package core

import (
	"net/http"
	"testing"
	"time"
)

// hintNow is Unix 1795867200 s; the literal epochs below are relative to it.

var rateLimitResetTests = []struct {
	name   string
	status int
	h      http.Header
	want   time.Duration
	source string
}{
	{"none", 429, hintHeader(), 0, ""},
	{"Retry-After is not a family", 429, hintHeader("Retry-After", "5", "Retry-After-Ms", "5"), 0, ""},

	// X-RateLimit-*: GitHub, go-chi/httprate and ulule/limiter send Unix
	// seconds; the spent-quota rule decides.
	{"GitHub quota left", 503, hintHeader("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4999", "X-RateLimit-Reset", "1795869600", "X-RateLimit-Used", "1", "X-RateLimit-Resource", "core"), 0, ""},
	{"GitHub spent on 403", 403, hintHeader("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795869600"), 40 * time.Minute, "X-RateLimit-Reset"},
	{"GitHub spent on 200", 200, hintHeader("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795869600"), 40 * time.Minute, "X-RateLimit-Reset"},
	{"httprate 429", 429, hintHeader("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795867201"), time.Second, "X-RateLimit-Reset"},
	{"httprate negative remaining", 503, hintHeader("X-RateLimit-Remaining", "-2", "X-RateLimit-Reset", "1795867201"), time.Second, "X-RateLimit-Reset"},
	{"ulule truncated reset in the past", 429, hintHeader("X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795867199"), 0, "X-RateLimit-Reset"},
	{"X- reset now", 429, hintHeader("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795867200"), 0, "X-RateLimit-Reset"},
	{"X- quota left on 429", 429, hintHeader("X-RateLimit-Remaining", "3", "X-RateLimit-Reset", "60"), 0, ""},
	{"X- no count on 429", 429, hintHeader("X-RateLimit-Reset", "60"), 60 * time.Second, "X-RateLimit-Reset"},
	{"X- no count on 503", 503, hintHeader("X-RateLimit-Reset", "60"), 0, ""},
	{"X- malformed count on 429", 429, hintHeader("X-RateLimit-Remaining", "none", "X-RateLimit-Reset", "60"), 60 * time.Second, "X-RateLimit-Reset"},
	{"X- malformed count on 503", 503, hintHeader("X-RateLimit-Remaining", "none", "X-RateLimit-Reset", "60"), 0, ""},
	{"X- first count", 503, hintHeader("X-RateLimit-Remaining", "0", "X-RateLimit-Remaining", "9", "X-RateLimit-Reset", "60"), 60 * time.Second, "X-RateLimit-Reset"},
	{"X- spaced", 503, hintHeader("X-RateLimit-Remaining", " 0\t", "X-RateLimit-Reset", "\t60 "), 60 * time.Second, "X-RateLimit-Reset"},
	{"X- largest delta", 429, hintHeader("X-RateLimit-Reset", "999999999"), 999999999 * time.Second, "X-RateLimit-Reset"},
	{"X- smallest epoch seconds", 429, hintHeader("X-RateLimit-Reset", "1000000000"), 0, "X-RateLimit-Reset"},
	{"X- epoch seconds future", 429, hintHeader("X-RateLimit-Reset", "1795867290"), 90 * time.Second, "X-RateLimit-Reset"},
	{"X- largest epoch seconds", 429, hintHeader("X-RateLimit-Reset", "999999999999"), maxDuration, "X-RateLimit-Reset"},
	{"X- smallest epoch ms", 429, hintHeader("X-RateLimit-Reset", "1000000000000"), 0, "X-RateLimit-Reset"},
	{"X- epoch ms future", 429, hintHeader("X-RateLimit-Reset", "1795867290500"), 90500 * time.Millisecond, "X-RateLimit-Reset"},
	{"X- epoch ms past", 429, hintHeader("X-RateLimit-Reset", "1795867199999"), 0, "X-RateLimit-Reset"},
	{"X- epoch ms max int64", 429, hintHeader("X-RateLimit-Reset", "9223372036854775807"), maxDuration, "X-RateLimit-Reset"},
	{"X- huge", 429, hintHeader("X-RateLimit-Reset", "99999999999999999999"), maxDuration, "X-RateLimit-Reset"},
	{"X- negative", 429, hintHeader("X-RateLimit-Reset", "-60"), 0, ""},
	{"X- fraction", 429, hintHeader("X-RateLimit-Reset", "1795867290.5"), 0, ""},
	{"X- empty", 429, hintHeader("X-RateLimit-Reset", ""), 0, ""},

	// IETF drafts 05–06: separate fields, seconds.
	{"RateLimit-Reset spent", 503, hintHeader("RateLimit-Limit", "10", "RateLimit-Remaining", "0", "RateLimit-Reset", "20"), 20 * time.Second, "RateLimit-Reset"},
	{"RateLimit-Reset quota left", 429, hintHeader("RateLimit-Limit", "10", "RateLimit-Remaining", "5", "RateLimit-Reset", "20"), 0, ""},
	{"RateLimit-Reset no count on 429", 429, hintHeader("RateLimit-Reset", "20"), 20 * time.Second, "RateLimit-Reset"},
	{"RateLimit-Reset no count on 503", 503, hintHeader("RateLimit-Reset", "20"), 0, ""},
	{"RateLimit-Reset X- count does not count", 503, hintHeader("X-RateLimit-Remaining", "0", "RateLimit-Reset", "20"), 0, ""},
	{"RateLimit-Reset epoch", 429, hintHeader("RateLimit-Reset", "1795867230"), 30 * time.Second, "RateLimit-Reset"},
	{"RateLimit-Reset fraction", 429, hintHeader("RateLimit-Reset", "2.5"), 0, ""},

	// IETF draft 07: one dictionary.
	{"dict spent", 503, hintHeader("RateLimit", "limit=10, remaining=0, reset=5"), 5 * time.Second, "RateLimit"},
	{"dict quota left", 429, hintHeader("RateLimit", "limit=10, remaining=3, reset=5"), 0, ""},
	{"dict no count on 429", 429, hintHeader("RateLimit", "limit=10, reset=5"), 5 * time.Second, "RateLimit"},
	{"dict no count on 503", 503, hintHeader("RateLimit", "limit=10, reset=5"), 0, ""},
	{"dict any order, spaces", 503, hintHeader("RateLimit", " reset = 7 ,remaining= 0\t, limit=10"), 7 * time.Second, "RateLimit"},
	{"dict over two lines", 503, hintHeader("RateLimit", "limit=10, remaining=0", "RateLimit", "reset=9"), 9 * time.Second, "RateLimit"},
	{"dict last duplicate wins", 503, hintHeader("RateLimit", "remaining=0, reset=5, remaining=4"), 0, ""},
	{"dict member parameters", 503, hintHeader("RateLimit", "remaining=0;w=60, reset=5;x"), 5 * time.Second, "RateLimit"},
	{"dict no reset", 429, hintHeader("RateLimit", "limit=10, remaining=0"), 0, ""},
	{"dict negative reset", 429, hintHeader("RateLimit", "remaining=0, reset=-5"), 0, ""},
	{"dict quoted key is a name", 503, hintHeader("RateLimit", `"remaining=0", reset=5`), 0, ""},

	// IETF draft 08 and later: a list of policies.
	{"Cloudflare quota left", 429, hintHeader("Ratelimit", `"default";r=50;t=30`, "Ratelimit-Policy", `"default";q=1200;w=300`), 0, ""},
	{"list spent", 503, hintHeader("RateLimit", `"default";r=0;t=30`), 30 * time.Second, "RateLimit"},
	{"list token name", 503, hintHeader("RateLimit", `default;r=0;t=7`), 7 * time.Second, "RateLimit"},
	{"list one spent", 503, hintHeader("RateLimit", `"burst";r=0;t=5, "daily";r=100;t=3600`), 5 * time.Second, "RateLimit"},
	{"list longest spent", 503, hintHeader("RateLimit", `"burst";r=0;t=5, "daily";r=0;t=3600`), 3600 * time.Second, "RateLimit"},
	{"list two lines", 503, hintHeader("RateLimit", `"a";r=0;t=8`, "RateLimit", `"b";r=0;t=5`), 8 * time.Second, "RateLimit"},
	{"list spacing", 503, hintHeader("RateLimit", " \"burst\" ; r = 0 ;t= 5 ,\"daily\";r=0 ; t=60\t,"), 60 * time.Second, "RateLimit"},
	{"list quoted separators", 503, hintHeader("RateLimit", `"a,b;r=1;t=99";r=0;t=9`), 9 * time.Second, "RateLimit"},
	{"list escaped quote", 503, hintHeader("RateLimit", `"a\",r=1";r=0;t=9`), 9 * time.Second, "RateLimit"},
	{"list unterminated quote", 503, hintHeader("RateLimit", `"x";r=0;t=5;a="b,c`), 5 * time.Second, "RateLimit"},
	{"list trailing backslash", 503, hintHeader("RateLimit", `"x";r=0;t=5;a="\`), 5 * time.Second, "RateLimit"},
	{"list unknown and bare params", 503, hintHeader("RateLimit", `"x";q;r=0;pk=:AAA=:;foo="b;a,r";t=12;z`), 12 * time.Second, "RateLimit"},
	{"list last duplicate wins", 503, hintHeader("RateLimit", `"x";r=1;r=0;t=3;t=4`), 4 * time.Second, "RateLimit"},
	{"list last duplicate wins even if malformed", 503, hintHeader("RateLimit", `"x";r=0;t=5;t=6=7`), 0, ""},
	{"list params stay in their member", 503, hintHeader("RateLimit", `"a";r=0;t=5, "b";t=60, "c";r=0`), 5 * time.Second, "RateLimit"},
	{"list no count on 429", 429, hintHeader("RateLimit", `"a";r=0;t=5, "b";t=60, "c";r=0`), 60 * time.Second, "RateLimit"},
	{"list huge t", 503, hintHeader("RateLimit", `"x";r=0;t=99999999999999999999`), maxDuration, "RateLimit"},
	{"list quota left", 429, hintHeader("RateLimit", `"default";r=10;t=30`), 0, ""},
	{"list no t", 429, hintHeader("RateLimit", `"default";r=0`), 0, ""},
	{"list r without value on 503", 503, hintHeader("RateLimit", `"default";r;t=30`), 0, ""},
	{"list r without value on 429", 429, hintHeader("RateLimit", `"default";r;t=30`), 30 * time.Second, "RateLimit"},
	{"list negative t", 429, hintHeader("RateLimit", `"default";r=0;t=-5`), 0, ""},
	{"list name only", 429, hintHeader("RateLimit", `"r=0;t=5"`), 0, ""},
	{"list garbage", 429, hintHeader("RateLimit", `;;,,=,"`), 0, ""},
	{"list and dict together", 503, hintHeader("RateLimit", `"a";r=0;t=5, remaining=0, reset=8`), 8 * time.Second, "RateLimit"},

	// OpenAI: Go-like durations, the longest among spent quotas.
	{"OpenAI quota left", 200, hintHeader(
		"x-ratelimit-limit-requests", "60", "x-ratelimit-limit-tokens", "150000",
		"x-ratelimit-remaining-requests", "59", "x-ratelimit-remaining-tokens", "149984",
		"x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s"), 0, ""},
	{"OpenAI tokens spent", 429, hintHeader(
		"x-ratelimit-remaining-requests", "59", "x-ratelimit-remaining-tokens", "0",
		"x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s"), 6 * time.Minute, "x-ratelimit-reset-tokens"},
	{"OpenAI requests spent", 429, hintHeader(
		"x-ratelimit-remaining-requests", "0", "x-ratelimit-remaining-tokens", "149984",
		"x-ratelimit-reset-requests", "20ms", "x-ratelimit-reset-tokens", "6m0s"), 20 * time.Millisecond, "x-ratelimit-reset-requests"},
	{"OpenAI both spent", 429, hintHeader(
		"x-ratelimit-remaining-requests", "0", "x-ratelimit-remaining-tokens", "0",
		"x-ratelimit-reset-requests", "1h2m3.5s", "x-ratelimit-reset-tokens", "6m0s"), time.Hour + 2*time.Minute + 3500*time.Millisecond, "x-ratelimit-reset-requests"},
	{"OpenAI no counts on 429", 429, hintHeader("x-ratelimit-reset-requests", "2m59.56s", "x-ratelimit-reset-tokens", "7.66s"), 2*time.Minute + 59560*time.Millisecond, "x-ratelimit-reset-requests"},
	{"OpenAI no counts on 503", 503, hintHeader("x-ratelimit-reset-requests", "2m59.56s", "x-ratelimit-reset-tokens", "7.66s"), 0, ""},
	{"OpenAI malformed reset", 429, hintHeader("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "6 minutes"), 0, ""},
	{"OpenAI negative reset", 429, hintHeader("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "-1s"), 0, ""},
	{"OpenAI zero", 429, hintHeader("x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "0s"), 0, "x-ratelimit-reset-tokens"},

	// Anthropic: RFC 3339 instants, the longest among spent quotas.
	{"Anthropic quota left", 200, hintHeader(
		"anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "49", "anthropic-ratelimit-requests-reset", "2026-11-28T12:00:01Z",
		"anthropic-ratelimit-tokens-remaining", "39000", "anthropic-ratelimit-tokens-reset", "2026-11-28T12:00:30Z"), 0, ""},
	{"Anthropic requests spent", 429, hintHeader(
		"anthropic-ratelimit-requests-remaining", "0", "anthropic-ratelimit-requests-reset", "2026-11-28T12:00:01Z",
		"anthropic-ratelimit-tokens-remaining", "39000", "anthropic-ratelimit-tokens-reset", "2026-11-28T12:00:30Z"), time.Second, "anthropic-ratelimit-requests-reset"},
	{"Anthropic longest spent", 429, hintHeader(
		"anthropic-ratelimit-requests-remaining", "0", "anthropic-ratelimit-requests-reset", "2026-11-28T12:00:01Z",
		"anthropic-ratelimit-input-tokens-remaining", "0", "anthropic-ratelimit-input-tokens-reset", "2026-11-28T12:00:42.5Z",
		"anthropic-ratelimit-output-tokens-remaining", "0", "anthropic-ratelimit-output-tokens-reset", "2026-11-28T13:00:20+01:00"), 42500 * time.Millisecond, "anthropic-ratelimit-input-tokens-reset"},
	{"Anthropic output tokens", 503, hintHeader("anthropic-ratelimit-output-tokens-remaining", "0", "anthropic-ratelimit-output-tokens-reset", "2026-11-28T11:00:20-01:00"), 20 * time.Second, "anthropic-ratelimit-output-tokens-reset"},
	{"Anthropic tokens no count on 429", 429, hintHeader("anthropic-ratelimit-tokens-reset", "2026-11-28T12:00:30Z"), 30 * time.Second, "anthropic-ratelimit-tokens-reset"},
	{"Anthropic tokens no count on 503", 503, hintHeader("anthropic-ratelimit-tokens-reset", "2026-11-28T12:00:30Z"), 0, ""},
	{"Anthropic past", 429, hintHeader("anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", "2026-11-28T11:59:59Z"), 0, "anthropic-ratelimit-tokens-reset"},
	{"Anthropic malformed", 429, hintHeader("anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", "2026-11-28 12:00:30 UTC"), 0, ""},

	// Across families: the longest spent wait; ties keep the first source.
	{"longest across families", 429, hintHeader(
		"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795867260",
		"RateLimit", `"a";r=0;t=30`,
		"RateLimit-Remaining", "0", "RateLimit-Reset", "45",
		"x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "50s",
		"anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", "2026-11-28T12:00:55Z"), 60 * time.Second, "X-RateLimit-Reset"},
	{"longest is the Anthropic one", 429, hintHeader(
		"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "10",
		"anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", "2026-11-28T12:00:55Z"), 55 * time.Second, "anthropic-ratelimit-tokens-reset"},
	{"spent beats a longer one with quota left", 503, hintHeader(
		"X-RateLimit-Remaining", "4999", "X-RateLimit-Reset", "1795869600",
		"RateLimit", `"burst";r=0;t=2`), 2 * time.Second, "RateLimit"},
	{"tie keeps RateLimit", 429, hintHeader("X-RateLimit-Reset", "30", "RateLimit-Reset", "30", "RateLimit", `"a";t=30`), 30 * time.Second, "RateLimit"},
	{"tie keeps RateLimit-Reset", 429, hintHeader("X-RateLimit-Reset", "30", "RateLimit-Reset", "30"), 30 * time.Second, "RateLimit-Reset"},
	{"tie keeps X- over OpenAI", 429, hintHeader("X-RateLimit-Reset", "30", "x-ratelimit-reset-requests", "30s"), 30 * time.Second, "X-RateLimit-Reset"},
	{"zero waits tie", 429, hintHeader("X-RateLimit-Reset", "0", "RateLimit-Reset", "0"), 0, "RateLimit-Reset"},
}

func TestRateLimitReset(t *testing.T) {
	for _, tt := range rateLimitResetTests {
		for _, loc := range hintZones {
			wait, source, ok := rateLimitReset(tt.h, tt.status, hintNow.In(loc))
			if wait != tt.want || source != tt.source || ok != (tt.source != "") {
				t.Errorf("%s: rateLimitReset(%v, %d, now in %v) = %v, %q, %t; want %v, %q, %t",
					tt.name, tt.h, tt.status, loc, wait, source, ok, tt.want, tt.source, tt.source != "")
			}
		}
		// Without Retry-After and its forms, serverHint is rateLimitReset.
		if tt.h.Get("Retry-After") == "" {
			w1, s1, ok1 := rateLimitReset(tt.h, tt.status, hintNow)
			w2, s2, ok2 := serverHint(tt.h, tt.status, hintNow)
			if w1 != w2 || s1 != s2 || ok1 != ok2 {
				t.Errorf("%s: serverHint = %v, %q, %t; rateLimitReset = %v, %q, %t", tt.name, w2, s2, ok2, w1, s1, ok1)
			}
		}
	}
}

func TestRateLimited(t *testing.T) {
	tests := []struct {
		h    http.Header
		want bool
	}{
		{hintHeader("X-RateLimit-Remaining", "0"), true},
		{hintHeader("x-ratelimit-remaining", " 0 "), true},
		{hintHeader("X-RateLimit-Remaining", "-1"), true},
		{hintHeader("X-RateLimit-Remaining", "0", "X-RateLimit-Remaining", "5"), true},
		{hintHeader("X-RateLimit-Remaining", "5", "X-RateLimit-Remaining", "0"), false},
		{hintHeader("X-RateLimit-Remaining", "1"), false},
		{hintHeader("X-RateLimit-Remaining", "10"), false},
		{hintHeader("X-RateLimit-Remaining", ""), false},
		{hintHeader("X-RateLimit-Remaining", "-"), false},
		{hintHeader("X-RateLimit-Remaining", "zero"), false},
		{hintHeader("X-RateLimit-Reset", "60"), false},
		{hintHeader("RateLimit-Remaining", "0"), true},
		{hintHeader("RateLimit-Remaining", "3"), false},
		{hintHeader("RateLimit", `"default";r=0;t=5`), true},
		{hintHeader("RateLimit", `"default";r=0`), true},
		{hintHeader("RateLimit", `"burst";r=3;t=5, "daily";r=0;t=3600`), true},
		{hintHeader("RateLimit", `"default";r=50;t=30`), false},
		{hintHeader("RateLimit", `"default";t=30`), false},
		{hintHeader("RateLimit", "limit=10, remaining=0, reset=5"), true},
		{hintHeader("RateLimit", "limit=10, remaining=1, reset=5"), false},
		{hintHeader("x-ratelimit-remaining-requests", "0"), true},
		{hintHeader("x-ratelimit-remaining-tokens", "0", "x-ratelimit-remaining-requests", "59"), true},
		{hintHeader("x-ratelimit-remaining-tokens", "149984", "x-ratelimit-remaining-requests", "59"), false},
		{hintHeader("anthropic-ratelimit-requests-remaining", "0"), true},
		{hintHeader("anthropic-ratelimit-tokens-remaining", "0"), true},
		{hintHeader("anthropic-ratelimit-input-tokens-remaining", "0"), true},
		{hintHeader("anthropic-ratelimit-output-tokens-remaining", "0"), true},
		{hintHeader("anthropic-ratelimit-output-tokens-remaining", "12"), false},
		{hintHeader("X-RateLimit-Remaining", "5", "x-ratelimit-remaining-tokens", "0"), true},
		{hintHeader(), false},
	}
	for _, tt := range tests {
		if got := rateLimited(tt.h); got != tt.want {
			t.Errorf("rateLimited(%v) = %t; want %t", tt.h, got, tt.want)
		}
	}
}

var parseGoDurationTests = []struct {
	in   string
	want time.Duration
	ok   bool
}{
	// values OpenAI and Groq send
	{"1s", time.Second, true},
	{"6m0s", 6 * time.Minute, true},
	{"20ms", 20 * time.Millisecond, true},
	{"1h2m3.5s", time.Hour + 2*time.Minute + 3500*time.Millisecond, true},
	{"2m59.56s", 2*time.Minute + 59560*time.Millisecond, true},
	{"7.66s", 7660 * time.Millisecond, true},
	{"17.046s", 17046 * time.Millisecond, true},
	{"0s", 0, true},
	{"0", 0, true},

	// the rest of the grammar
	{"1ns", 1, true},
	{"1us", time.Microsecond, true},
	{"1µs", time.Microsecond, true},
	{"1μs", time.Microsecond, true},
	{"1.5h", 90 * time.Minute, true},
	{".5s", 500 * time.Millisecond, true},
	{"5.s", 5 * time.Second, true},
	{"1h1h", 2 * time.Hour, true},
	{"0.000000001s", 1, true},
	{"0.0000000009s", 0, true},
	{"0.3333333333333333333h", 1200000000000, true},
	{"007s", 7 * time.Second, true},
	{"9223372036854775807ns", maxDuration, true},
	{"9223372036854775800ns", 9223372036854775800, true},
	{"9223372036s", 9223372036 * time.Second, true},
	{"2562047h47m16.854775807s", maxDuration, true},
	{"2562047h47m16.854775806s", maxDuration - 1, true},

	// saturated, where time.ParseDuration fails
	{"9223372036854775808ns", maxDuration, true},
	{"9223372037s", maxDuration, true},
	{"2562048h", maxDuration, true},
	{"99999999999999999999h", maxDuration, true},
	{"2562047h47m16.854775808s", maxDuration, true},
	{"9223372036854775807ns1ns", maxDuration, true},

	// rejected
	{"", 0, false},
	{"1", 0, false},
	{"00", 0, false},
	{"s", 0, false},
	{".s", 0, false},
	{".", 0, false},
	{"1.", 0, false},
	{"-1s", 0, false},
	{"+1s", 0, false},
	{"-0", 0, false},
	{"1d", 0, false},
	{"1S", 0, false},
	{"1 s", 0, false},
	{"1s ", 0, false},
	{"1s2", 0, false},
	{"1m.s", 0, false},
	{"1..5s", 0, false},
	{"9223372037s1x", 0, false}, // saturated, then invalid
	{"6 minutes", 0, false},
}

func TestParseGoDuration(t *testing.T) {
	for _, tt := range parseGoDurationTests {
		if got, ok := parseGoDuration(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseGoDuration(%q) = %v, %t; want %v, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

var parseRFC3339Tests = []struct {
	in   string
	want time.Duration // after hintNow, 0 if at or before
	ok   bool
}{
	{"2026-11-28T12:00:30Z", 30 * time.Second, true},
	{"2026-11-28T12:00:30.5Z", 30500 * time.Millisecond, true},
	{"2026-11-28T12:00:00.000000001Z", 1, true},
	{"2026-11-28T12:00:00.0000000019Z", 1, true}, // digits beyond nine ignored
	{"2026-11-28T12:00:30.123456789Z", 30123456789, true},
	{"2026-11-28T13:00:30+01:00", 30 * time.Second, true},
	{"2026-11-28T11:00:30-01:00", 30 * time.Second, true},
	{"2026-11-29T11:59:30+23:59", 30 * time.Second, true},
	{"2026-11-28t12:00:30z", 30 * time.Second, true},
	{"2026-11-28 12:00:30Z", 30 * time.Second, true},
	{"2026-11-28T12:00:00Z", 0, true},
	{"2026-11-28T11:59:59Z", 0, true},
	{"2028-02-29T12:00:00Z", 458 * 24 * time.Hour, true},
	{"2000-02-29T00:00:00Z", 0, true},
	{"0000-01-01T00:00:00Z", 0, true},
	{"9999-12-31T23:59:59Z", maxDuration, true},

	{"", 0, false},
	{"2026-11-28", 0, false},
	{"2026-11-28T12:00:30", 0, false},
	{"2026-11-28T12:00:30 Z", 0, false},
	{"2026-11-28T12:00:30UTC", 0, false},
	{"2026-11-28T12:00:30+0100", 0, false},
	{"2026-11-28T12:00:30+01", 0, false},
	{"2026-11-28T12:00:30+24:00", 0, false},
	{"2026-11-28T12:00:30+01:60", 0, false},
	{"2026-11-28T12:00:30.Z", 0, false},
	{"2026-11-28T12:00:30,5Z", 0, false},
	{"2026-11-28T12:00:60Z", 0, false},
	{"2026-11-28T12:60:00Z", 0, false},
	{"2026-11-28T24:00:00Z", 0, false},
	{"2026-11-31T12:00:00Z", 0, false},
	{"2026-02-29T12:00:00Z", 0, false},
	{"2100-02-29T12:00:00Z", 0, false},
	{"2026-13-01T12:00:00Z", 0, false},
	{"2026-00-01T12:00:00Z", 0, false},
	{"2026-11-00T12:00:00Z", 0, false},
	{"2026/11/28T12:00:30Z", 0, false},
	{"2026-11-28X12:00:30Z", 0, false},
	{"+2026-11-28T12:00:30Z", 0, false},
	{"2026-1-28T12:00:30Z", 0, false},
	{"２026-11-28T12:00:30Z", 0, false},
	{"2026-11-28T12:00:30Zjunk", 0, false},
	{"Sat, 28 Nov 2026 12:00:30 GMT", 0, false},
}

func TestParseRFC3339(t *testing.T) {
	for _, tt := range parseRFC3339Tests {
		tm, ok := parseRFC3339(tt.in)
		if got := untilTime(tm, hintNow); got != tt.want || ok != tt.ok {
			t.Errorf("parseRFC3339(%q) = %v (%v after now), %t; want %v after now, %t", tt.in, tm, got, ok, tt.want, tt.ok)
		}
		if ok && tm.Location() != time.UTC {
			t.Errorf("parseRFC3339(%q) in %v, want UTC", tt.in, tm.Location())
		}
	}
}

func TestParseRemaining(t *testing.T) {
	tests := []struct {
		in   string
		want quota
	}{
		{"0", quotaSpent}, {"000", quotaSpent}, {" 0\t", quotaSpent}, {"-0", quotaSpent}, {"-5", quotaSpent},
		{"-99999999999999999999", quotaSpent},
		{"1", quotaLeft}, {"4999", quotaLeft}, {"99999999999999999999", quotaLeft},
		{"", quotaUnknown}, {"-", quotaUnknown}, {"--1", quotaUnknown}, {"+1", quotaUnknown}, {"0.5", quotaUnknown},
		{"1e3", quotaUnknown}, {"none", quotaUnknown}, {"0 0", quotaUnknown},
	}
	for _, tt := range tests {
		if got := parseRemaining(tt.in); got != tt.want {
			t.Errorf("parseRemaining(%q) = %d; want %d", tt.in, got, tt.want)
		}
	}
}
