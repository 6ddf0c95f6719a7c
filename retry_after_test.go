package restyretry

import (
	_ "time/tzdata" // so TZ=Asia/Tokyo loads on any machine

	"net/http"
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

var serverHintTests = []struct {
	name   string
	h      http.Header
	want   time.Duration
	source string
}{
	{"none", hintHeader(), 0, ""},
	{"unrelated", hintHeader("Content-Type", "text/plain"), 0, ""},

	{"Retry-After seconds", hintHeader("Retry-After", "120"), 120 * time.Second, "Retry-After"},
	{"Retry-After date", hintHeader("Retry-After", "Sat, 28 Nov 2026 12:00:30 GMT"), 30 * time.Second, "Retry-After"},
	{"Retry-After past", hintHeader("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"), 0, "Retry-After"},
	{"Retry-After huge", hintHeader("Retry-After", "99999999999999999999"), maxDuration, "Retry-After"},
	{"Retry-After first value", hintHeader("Retry-After", "120", "Retry-After", "5"), 120 * time.Second, "Retry-After"},
	{"Retry-After first value malformed", hintHeader("Retry-After", "soon", "Retry-After", "5"), 0, ""},
	{"Retry-After beats ms", hintHeader("Retry-After-Ms", "100", "Retry-After", "5"), 5 * time.Second, "Retry-After"},
	{"Retry-After malformed falls through", hintHeader("Retry-After", "soon", "Retry-After-Ms", "1500"), 1500 * time.Millisecond, "Retry-After-Ms"},
	{"Retry-After empty falls through", hintHeader("Retry-After", "", "Retry-After-Ms", "1500"), 1500 * time.Millisecond, "Retry-After-Ms"},

	{"ms", hintHeader("retry-after-ms", " 1500 "), 1500 * time.Millisecond, "Retry-After-Ms"},
	{"ms huge", hintHeader("Retry-After-Ms", "99999999999999999999"), maxDuration, "Retry-After-Ms"},
	{"ms max int64", hintHeader("Retry-After-Ms", "9223372036854775807"), maxDuration, "Retry-After-Ms"},
	{"ms past max int64", hintHeader("Retry-After-Ms", "9223372036854775808"), maxDuration, "Retry-After-Ms"},
	{"ms beats azure", hintHeader("X-Ms-Retry-After-Ms", "250", "Retry-After-Ms", "100"), 100 * time.Millisecond, "Retry-After-Ms"},
	{"ms malformed falls through", hintHeader("Retry-After-Ms", "1.5", "X-Ms-Retry-After-Ms", "250"), 250 * time.Millisecond, "X-Ms-Retry-After-Ms"},
	{"azure", hintHeader("x-ms-retry-after-ms", "250"), 250 * time.Millisecond, "X-Ms-Retry-After-Ms"},
	{"azure negative", hintHeader("X-Ms-Retry-After-Ms", "-250"), 0, ""},
	{"azure beats RateLimit", hintHeader("RateLimit", `"a";r=0;t=30`, "X-Ms-Retry-After-Ms", "250"), 250 * time.Millisecond, "X-Ms-Retry-After-Ms"},

	{"RateLimit", hintHeader("RateLimit", `"default";r=0;t=30`), 30 * time.Second, "RateLimit"},
	{"RateLimit token name", hintHeader("RateLimit", `default;r=0;t=7`), 7 * time.Second, "RateLimit"},
	{"RateLimit one exhausted", hintHeader("RateLimit", `"burst";r=0;t=5, "daily";r=100;t=3600`), 5 * time.Second, "RateLimit"},
	{"RateLimit largest exhausted", hintHeader("RateLimit", `"burst";r=0;t=5, "daily";r=0;t=3600`), 3600 * time.Second, "RateLimit"},
	{"RateLimit two lines", hintHeader("RateLimit", `"a";r=0;t=8`, "RateLimit", `"b";r=0;t=5`), 8 * time.Second, "RateLimit"},
	{"RateLimit spacing", hintHeader("RateLimit", " \"burst\" ; r = 0 ;t= 5 ,\"daily\";r=0 ; t=60\t,"), 60 * time.Second, "RateLimit"},
	{"RateLimit quoted separators", hintHeader("RateLimit", `"a,b;r=1;t=99";r=0;t=9`), 9 * time.Second, "RateLimit"},
	{"RateLimit escaped quote", hintHeader("RateLimit", `"a\",r=1";r=0;t=9`), 9 * time.Second, "RateLimit"},
	{"RateLimit unterminated quote", hintHeader("RateLimit", `"x";r=0;t=5;a="b,c`), 5 * time.Second, "RateLimit"},
	{"RateLimit trailing backslash", hintHeader("RateLimit", `"x";r=0;t=5;a="\`), 5 * time.Second, "RateLimit"},
	{"RateLimit unknown and bare params", hintHeader("RateLimit", `"x";q;r=0;pk=:AAA=:;foo="b;a,r";t=12;z`), 12 * time.Second, "RateLimit"},
	{"RateLimit last duplicate wins", hintHeader("RateLimit", `"x";r=1;r=0;t=3;t=4`), 4 * time.Second, "RateLimit"},
	{"RateLimit last duplicate wins even if malformed", hintHeader("RateLimit", `"x";r=0;t=5;t=6=7`), 0, ""},
	{"RateLimit params stay in their member", hintHeader("RateLimit", `"a";r=0;t=5, "b";t=60, "c";r=0`), 5 * time.Second, "RateLimit"},
	{"RateLimit huge t", hintHeader("RateLimit", `"x";r=0;t=99999999999999999999`), maxDuration, "RateLimit"},
	{"RateLimit remaining", hintHeader("RateLimit", `"default";r=10;t=30`), 0, ""},
	{"RateLimit no t", hintHeader("RateLimit", `"default";r=0`), 0, ""},
	{"RateLimit r without value", hintHeader("RateLimit", `"default";r;t=30`), 0, ""},
	{"RateLimit negative t", hintHeader("RateLimit", `"default";r=0;t=-5`), 0, ""},
	{"RateLimit name only", hintHeader("RateLimit", `"r=0;t=5"`), 0, ""},
	{"RateLimit garbage", hintHeader("RateLimit", `;;,,=,"`), 0, ""},
	{"RateLimit remaining falls through", hintHeader("RateLimit", `"a";r=10;t=30`, "RateLimit-Reset", "20"), 20 * time.Second, "RateLimit-Reset"},

	{"RateLimit-Reset", hintHeader("RateLimit-Reset", "20"), 20 * time.Second, "RateLimit-Reset"},
	{"RateLimit-Reset beats X-", hintHeader("X-RateLimit-Reset", "60", "RateLimit-Reset", "20"), 20 * time.Second, "RateLimit-Reset"},
	{"RateLimit-Reset malformed falls through", hintHeader("RateLimit-Reset", "2.5", "X-RateLimit-Reset", "60"), 60 * time.Second, "X-RateLimit-Reset"},

	{"X- delta", hintHeader("X-RateLimit-Reset", "60"), 60 * time.Second, "X-RateLimit-Reset"},
	{"X- largest delta", hintHeader("X-RateLimit-Reset", "999999999"), 999999999 * time.Second, "X-RateLimit-Reset"},
	{"X- smallest epoch", hintHeader("X-RateLimit-Reset", "1000000000"), 0, "X-RateLimit-Reset"},
	{"X- epoch past", hintHeader("X-RateLimit-Reset", "1732795200"), 0, "X-RateLimit-Reset"},
	{"X- epoch now", hintHeader("X-RateLimit-Reset", hintEpoch(0)), 0, "X-RateLimit-Reset"},
	{"X- epoch future", hintHeader("x-ratelimit-reset", hintEpoch(90*time.Second)), 90 * time.Second, "X-RateLimit-Reset"},
	{"X- epoch 1<<62", hintHeader("X-RateLimit-Reset", "4611686018427387904"), maxDuration, "X-RateLimit-Reset"},
	{"X- epoch max int64", hintHeader("X-RateLimit-Reset", "9223372036854775807"), maxDuration, "X-RateLimit-Reset"},
	{"X- epoch past max int64", hintHeader("X-RateLimit-Reset", "9223372036854775808"), maxDuration, "X-RateLimit-Reset"},
	{"X- huge", hintHeader("X-RateLimit-Reset", "99999999999999999999"), maxDuration, "X-RateLimit-Reset"},
	{"X- negative", hintHeader("X-RateLimit-Reset", "-60"), 0, ""},
	{"X- fraction", hintHeader("X-RateLimit-Reset", "1732795200.5"), 0, ""},

	{"all present", hintHeader(
		"X-RateLimit-Reset", "1",
		"RateLimit-Reset", "2",
		"RateLimit", `"a";r=0;t=3`,
		"X-Ms-Retry-After-Ms", "4000",
		"Retry-After-Ms", "5000",
		"Retry-After", "6",
	), 6 * time.Second, "Retry-After"},
	{"all malformed", hintHeader(
		"X-RateLimit-Reset", "x",
		"RateLimit-Reset", "x",
		"RateLimit", `"a";r=1;t=3`,
		"X-Ms-Retry-After-Ms", "x",
		"Retry-After-Ms", "x",
		"Retry-After", "x",
	), 0, ""},
}

func TestServerHint(t *testing.T) {
	for _, tt := range serverHintTests {
		for _, loc := range hintZones {
			wait, source, ok := serverHint(tt.h, hintNow.In(loc))
			if wait != tt.want || source != tt.source || ok != (tt.source != "") {
				t.Errorf("%s: serverHint(%v, now in %v) = %v, %q, %t; want %v, %q, %t",
					tt.name, tt.h, loc, wait, source, ok, tt.want, tt.source, tt.source != "")
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
		{hintHeader("X-RateLimit-Remaining", "0", "X-RateLimit-Remaining", "5"), true},
		{hintHeader("X-RateLimit-Remaining", "5", "X-RateLimit-Remaining", "0"), false},
		{hintHeader("X-RateLimit-Remaining", "1"), false},
		{hintHeader("X-RateLimit-Remaining", "10"), false},
		{hintHeader("X-RateLimit-Remaining", ""), false},
		{hintHeader("X-RateLimit-Remaining", "zero"), false},
		{hintHeader("RateLimit-Remaining", "0"), false},
		{hintHeader(), false},
	}
	for _, tt := range tests {
		if got := rateLimited(tt.h); got != tt.want {
			t.Errorf("rateLimited(%v) = %t; want %t", tt.h, got, tt.want)
		}
	}
}

// hintBenchmarks are the inputs of the allocation test and the benchmarks:
// one per form of ParseRetryAfter and per header kind of serverHint.
var hintBenchmarks = []struct {
	name string
	h    http.Header
}{
	{"Seconds", hintHeader("Retry-After", "120")},
	{"IMFDate", hintHeader("Retry-After", "Sat, 28 Nov 2026 12:00:30 GMT")},
	{"RFC850Date", hintHeader("Retry-After", "Saturday, 28-Nov-26 12:00:30 GMT")},
	{"AsctimeDate", hintHeader("Retry-After", "Sat Nov 28 12:00:30 2026")},
	{"RetryAfterMs", hintHeader("Retry-After-Ms", "1500")},
	{"AzureMs", hintHeader("X-Ms-Retry-After-Ms", "1500")},
	{"RateLimit", hintHeader("RateLimit", `"burst";r=0;t=5, "daily";r=100;t=3600`)},
	{"RateLimitReset", hintHeader("RateLimit-Reset", "20")},
	{"XRateLimitReset", hintHeader("X-RateLimit-Reset", hintEpoch(90*time.Second))},
	{"None", hintHeader("Retry-After", "soon", "Content-Type", "text/plain")},
}

// TestServerHintAllocs holds the decision path to zero allocations for every
// header kind, date forms included.
func TestServerHintAllocs(t *testing.T) {
	for _, bb := range hintBenchmarks {
		ra := bb.h.Get("Retry-After")
		if n := testing.AllocsPerRun(100, func() { ParseRetryAfter(ra, hintNow) }); n != 0 {
			t.Errorf("%s: ParseRetryAfter(%q) allocates %v times", bb.name, ra, n)
		}
		if n := testing.AllocsPerRun(100, func() { serverHint(bb.h, hintNow) }); n != 0 {
			t.Errorf("%s: serverHint(%v) allocates %v times", bb.name, bb.h, n)
		}
	}
}

func benchmarkParseRetryAfter(b *testing.B, value string) {
	if _, ok := ParseRetryAfter(value, hintNow); !ok {
		b.Fatalf("ParseRetryAfter(%q) not ok", value)
	}
	b.ReportAllocs()
	for b.Loop() {
		ParseRetryAfter(value, hintNow)
	}
}

func BenchmarkParseRetryAfterSeconds(b *testing.B) { benchmarkParseRetryAfter(b, "120") }
func BenchmarkParseRetryAfterDate(b *testing.B) {
	benchmarkParseRetryAfter(b, "Sat, 28 Nov 2026 12:00:30 GMT")
}

func benchmarkServerHint(b *testing.B, name string) {
	for _, bb := range hintBenchmarks {
		if bb.name == name {
			b.ReportAllocs()
			for b.Loop() {
				serverHint(bb.h, hintNow)
			}
			return
		}
	}
	b.Fatalf("no benchmark input %q", name)
}

func BenchmarkServerHintSeconds(b *testing.B)         { benchmarkServerHint(b, "Seconds") }
func BenchmarkServerHintIMFDate(b *testing.B)         { benchmarkServerHint(b, "IMFDate") }
func BenchmarkServerHintRFC850Date(b *testing.B)      { benchmarkServerHint(b, "RFC850Date") }
func BenchmarkServerHintAsctimeDate(b *testing.B)     { benchmarkServerHint(b, "AsctimeDate") }
func BenchmarkServerHintRetryAfterMs(b *testing.B)    { benchmarkServerHint(b, "RetryAfterMs") }
func BenchmarkServerHintAzureMs(b *testing.B)         { benchmarkServerHint(b, "AzureMs") }
func BenchmarkServerHintRateLimit(b *testing.B)       { benchmarkServerHint(b, "RateLimit") }
func BenchmarkServerHintRateLimitReset(b *testing.B)  { benchmarkServerHint(b, "RateLimitReset") }
func BenchmarkServerHintXRateLimitReset(b *testing.B) { benchmarkServerHint(b, "XRateLimitReset") }
func BenchmarkServerHintNone(b *testing.B)            { benchmarkServerHint(b, "None") }
