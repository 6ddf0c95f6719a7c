package core

import (
	"net/http"
	"testing"
)

// hintBenchmarks are the inputs of the allocation test and the benchmarks:
// one per form of ParseRetryAfter and per header family, each with the
// status it typically comes with.
var hintBenchmarks = []struct {
	name   string
	status int
	h      http.Header
}{
	{"Seconds", 429, hintHeader("Retry-After", "120")},
	{"IMFDate", 503, hintHeader("Retry-After", "Sat, 28 Nov 2026 12:00:30 GMT")},
	{"RFC850Date", 503, hintHeader("Retry-After", "Saturday, 28-Nov-26 12:00:30 GMT")},
	{"AsctimeDate", 503, hintHeader("Retry-After", "Sat Nov 28 12:00:30 2026")},
	{"RetryAfterMs", 429, hintHeader("Retry-After-Ms", "1500")},
	{"AzureMs", 429, hintHeader("X-Ms-Retry-After-Ms", "1500")},
	{"RateLimit", 429, hintHeader("RateLimit", `"burst";r=0;t=5, "daily";r=100;t=3600`, "RateLimit-Policy", `"burst";q=100;w=60, "daily";q=1000;w=86400`)},
	{"RateLimitDict", 429, hintHeader("RateLimit", "limit=10, remaining=0, reset=5")},
	{"RateLimitReset", 503, hintHeader("RateLimit-Limit", "10", "RateLimit-Remaining", "0", "RateLimit-Reset", "20")},
	{"XRateLimitReset", 403, hintHeader("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795867290", "X-RateLimit-Used", "5000", "X-RateLimit-Resource", "core")},
	{"XRateLimitResetMs", 429, hintHeader("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1795867290500")},
	{"GitHubQuotaLeft", 503, hintHeader("X-RateLimit-Limit", "5000", "X-RateLimit-Remaining", "4999", "X-RateLimit-Reset", "1795869600", "X-RateLimit-Used", "1", "X-RateLimit-Resource", "core")},
	{"OpenAI", 429, hintHeader(
		"x-ratelimit-limit-requests", "60", "x-ratelimit-limit-tokens", "150000",
		"x-ratelimit-remaining-requests", "59", "x-ratelimit-remaining-tokens", "0",
		"x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s")},
	{"Anthropic", 429, hintHeader(
		"anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "49", "anthropic-ratelimit-requests-reset", "2026-11-28T12:00:01Z",
		"anthropic-ratelimit-tokens-limit", "40000", "anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", "2026-11-28T12:00:30Z",
		"anthropic-ratelimit-input-tokens-limit", "40000", "anthropic-ratelimit-input-tokens-remaining", "0", "anthropic-ratelimit-input-tokens-reset", "2026-11-28T12:00:30Z",
		"anthropic-ratelimit-output-tokens-limit", "8000", "anthropic-ratelimit-output-tokens-remaining", "8000", "anthropic-ratelimit-output-tokens-reset", "2026-11-28T12:00:01Z")},
	{"None", 503, hintHeader("Retry-After", "soon", "Content-Type", "text/plain")},
}

// TestHintAllocs holds every hint parser to zero allocations: each
// benchmark input and every row of the parser tables, valid or not.
func TestHintAllocs(t *testing.T) {
	allocs := func(what string, f func()) {
		t.Helper()
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times", what, n)
		}
	}
	for _, bb := range hintBenchmarks {
		ra := bb.h.Get("Retry-After")
		allocs("ParseRetryAfter("+ra+")", func() { ParseRetryAfter(ra, hintNow) })
		allocs("serverHint "+bb.name, func() { serverHint(bb.h, bb.status, hintNow) })
		allocs("rateLimitReset "+bb.name, func() { rateLimitReset(bb.h, bb.status, hintNow) })
		allocs("rateLimited "+bb.name, func() { rateLimited(bb.h) })
		allocs("serverVerdict "+bb.name, func() { serverVerdict(bb.h) })
	}
	for _, tt := range rateLimitResetTests {
		allocs("rateLimitReset "+tt.name, func() { rateLimitReset(tt.h, tt.status, hintNow) })
		allocs("rateLimited "+tt.name, func() { rateLimited(tt.h) })
	}
	for _, tt := range serverHintTests {
		allocs("serverHint "+tt.name, func() { serverHint(tt.h, tt.status, hintNow) })
	}
	for _, tt := range parseRetryAfterTests {
		allocs("ParseRetryAfter("+tt.in+")", func() { ParseRetryAfter(tt.in, hintNow) })
	}
	var sink int64
	for _, tt := range parseGoDurationTests {
		allocs("parseGoDuration("+tt.in+")", func() { d, _ := parseGoDuration(tt.in); sink += int64(d) })
	}
	_ = sink
	for _, tt := range parseRFC3339Tests {
		allocs("parseRFC3339("+tt.in+")", func() { parseRFC3339(tt.in) })
	}
	verdict := hintHeader("X-Should-Retry", "False", "Stripe-Should-Retry", "true")
	allocs("serverVerdict", func() { serverVerdict(verdict) })
}

func benchmarkHints(b *testing.B, f func(h http.Header, status int)) {
	for _, bb := range hintBenchmarks {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f(bb.h, bb.status)
			}
		})
	}
}

// BenchmarkServerHint is the whole hint of a retryable response, per
// header family.
func BenchmarkServerHint(b *testing.B) {
	benchmarkHints(b, func(h http.Header, status int) { serverHint(h, status, hintNow) })
}

// BenchmarkRateLimitReset is the rate-limit families alone, as pacing reads
// them on every response.
func BenchmarkRateLimitReset(b *testing.B) {
	benchmarkHints(b, func(h http.Header, status int) { rateLimitReset(h, status, hintNow) })
}

func BenchmarkRateLimited(b *testing.B) {
	benchmarkHints(b, func(h http.Header, _ int) { rateLimited(h) })
}

func BenchmarkServerVerdict(b *testing.B) {
	for _, bb := range []struct {
		name string
		h    http.Header
	}{
		{"X-Should-Retry", hintHeader("X-Should-Retry", "false")},
		{"Stripe-Should-Retry", hintHeader("Stripe-Should-Retry", "true")},
		{"None", hintHeader("Content-Type", "text/plain")},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serverVerdict(bb.h)
			}
		})
	}
}

func benchmarkParser(b *testing.B, inputs []string, f func(string) bool) {
	for _, in := range inputs {
		b.Run(in, func(b *testing.B) {
			if !f(in) {
				b.Fatalf("%q not ok", in)
			}
			b.ReportAllocs()
			for b.Loop() {
				f(in)
			}
		})
	}
}

func BenchmarkParseRetryAfter(b *testing.B) {
	benchmarkParser(b, []string{"120", "Sat, 28 Nov 2026 12:00:30 GMT"}, func(s string) bool {
		_, ok := ParseRetryAfter(s, hintNow)
		return ok
	})
}

func BenchmarkParseGoDuration(b *testing.B) {
	benchmarkParser(b, []string{"1s", "6m0s", "20ms", "1h2m3.5s"}, func(s string) bool {
		_, ok := parseGoDuration(s)
		return ok
	})
}

func BenchmarkParseRFC3339(b *testing.B) {
	benchmarkParser(b, []string{"2026-11-28T12:00:30Z", "2026-11-28T13:00:20.5+01:00"}, func(s string) bool {
		_, ok := parseRFC3339(s)
		return ok
	})
}

func BenchmarkRateLimitField(b *testing.B) {
	benchmarkParser(b, []string{`"burst";r=0;t=5, "daily";r=100;t=3600`, "limit=10, remaining=0, reset=5"}, func(s string) bool {
		_, found, _ := rateLimitField([]string{s}, false, hintNow)
		return found
	})
}
