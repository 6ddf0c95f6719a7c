package core

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseRetryAfter checks ParseRetryAfter against invariants and, where
// one exists, an independent oracle: strconv for delay-seconds and
// time.Parse with the standard layouts for dates.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{
		"0", "120", " 120 ", "\t5\t", "007", "-1", "+1", "1.0", "1e3", "0x10", "1 2", "",
		"9223372036", "9223372037", "12345678901234567890", "1" + strings.Repeat("0", 30),
		"9223372036854775807", "9223372036854775808", "18446744073709551616",
		"Fri, 31 Dec 1999 23:59:59 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sat, 28 Nov 2026 12:00:30 GMT",
		"Sun, 6 Dec 2026 12:00:00 UTC",
		"Sat, 28 Nov 2026 12:01:00 +0000",
		"Fri, 31 Dec 9999 23:59:59 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Saturday, 28-Nov-26 12:00:30 GMT",
		"Tuesday, 29-Feb-00 00:00:00 GMT",
		"Sun Nov  6 08:49:37 1994",
		"Sat Nov 28 12:00:30 2026",
		"Sat, 28 Nov 2026 12:00:30.123456789 GMT",
		"Sun, 06 Nov 1994", "soon", "GMT", "١٢", "Mon, 32 Jan 2006 15:04:05 GMT",
		"SAT, 28 NOV 2026 12:00:30 GMT", "Sat, 28 Nov 2026 1:00:30 GMT", "Sat, 28 Nov 2026 12:00:30,25 GMT",
		"Sat Nov 28 12:00:30.5 2026", "Sunday, 06-Nov-+4 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 gmt",
		"Sun, 06 Nov 1994 08:49:37 GMT", "Tue, 29 Feb 2028 00:00:00 GMT", "Wed, 29 Feb 2027 00:00:00 GMT",
	} {
		f.Add(s)
	}
	est := time.FixedZone("EST", -5*3600)
	f.Fuzz(func(t *testing.T, value string) {
		d, ok := ParseRetryAfter(value, hintNow)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %t", value, d, ok)
		}
		if d2, ok2 := ParseRetryAfter(value, hintNow); d2 != d || ok2 != ok {
			t.Fatalf("ParseRetryAfter(%q) = %v, %t, then %v, %t", value, d, ok, d2, ok2)
		}
		if d2, ok2 := ParseRetryAfter(value, hintNow.In(est)); d2 != d || ok2 != ok {
			t.Fatalf("ParseRetryAfter(%q) = %v, %t in UTC but %v, %t in EST", value, d, ok, d2, ok2)
		}
		s := strings.Trim(value, " \t")
		want := func(w time.Duration) {
			t.Helper()
			if !ok || d != w {
				t.Fatalf("ParseRetryAfter(%q) = %v, %t; want %v, true", value, d, ok, w)
			}
		}
		if isDigitsOracle(s) {
			want(digitsOracle(s, time.Second))
			return
		}
		if n := testing.AllocsPerRun(1, func() { ParseRetryAfter(value, hintNow) }); n != 0 {
			t.Fatalf("ParseRetryAfter(%q) allocates %v times", value, n)
		}
		for _, layout := range []string{http.TimeFormat, time.ANSIC, rfc850Layout + " GMT"} {
			tm, err := time.Parse(layout, s)
			if err != nil {
				continue
			}
			// Go reads two-digit years as 1969–2068, RFC 9110 as
			// 1977–2076 when now is 2026; they agree in between.
			if y := tm.Year(); layout != rfc850Layout+" GMT" || 1977 <= y && y <= 2068 && !signedYearOracle(s) {
				want(max(tm.Sub(hintNow), 0))
			}
		}
		// The hand-written date parser accepts exactly what time.Parse
		// accepts with the tolerant layouts, but for a signed two-digit
		// year ("06-Nov-+4"), which time.Parse reads and it does not.
		if !isDigitsOracle(s) {
			tm, tok := httpDateOracle(s, hintNow)
			switch {
			case tok && (!ok || d != max(tm.Sub(hintNow), 0)) && !signedYearOracle(s):
				t.Fatalf("ParseRetryAfter(%q) = %v, %t; time.Parse gives %v", value, d, ok, tm)
			case ok && !tok:
				t.Fatalf("ParseRetryAfter(%q) = %v, true; time.Parse rejects it", value, d)
			}
		}
	})
}

// Tolerant layouts of the three HTTP-date forms, without their zone.
const (
	imfLayout    = "Mon, 2 Jan 2006 15:04:05"
	rfc850Layout = "Monday, 2-Jan-06 15:04:05"
)

// httpDateOracle parses a trimmed HTTP-date with time.Parse: the zone is
// taken off, the layout picked from the shape, and a two-digit year moved
// into (now−50, now+50] with AddDate.
func httpDateOracle(s string, now time.Time) (time.Time, bool) {
	if len(s) < len("Sun Nov 6 8:49:37 1994") {
		return time.Time{}, false
	}
	layout := time.ANSIC
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		if z := s[i+1:]; strings.EqualFold(z, "GMT") || strings.EqualFold(z, "UTC") || z == "+0000" {
			s = strings.TrimRight(s[:i], " ")
			layout = rfc850Layout
			if strings.IndexByte(s, ',') == 3 {
				layout = imfLayout
			}
		}
	}
	tm, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	if layout != rfc850Layout {
		return tm, true
	}
	for tm.Year() > now.Year()+50 {
		u := tm.AddDate(-100, 0, 0)
		if u.Day() != tm.Day() {
			return time.Time{}, false
		}
		tm = u
	}
	for tm.Year() <= now.Year()-50 {
		u := tm.AddDate(100, 0, 0)
		if u.Day() != tm.Day() {
			return time.Time{}, false
		}
		tm = u
	}
	return tm, true
}

// signedYearOracle reports whether s looks like an RFC 850 date whose
// two-digit year field is not two digits.
func signedYearOracle(s string) bool {
	i := strings.IndexByte(s, '-')
	if i < 0 {
		return false
	}
	j := strings.IndexByte(s[i+1:], '-')
	if j < 0 {
		return false
	}
	y := s[i+1+j+1:]
	return len(y) < 2 || !isDigitsOracle(y[:2])
}

// FuzzServerHint fuzzes one value per header kind. Beyond the invariants of
// ParseRetryAfter, it checks that the combined result is that of the first
// header that gives a hint on its own, and checks each single-header result

// FuzzServerHint fuzzes Retry-After and its millisecond forms together with
// a spent rate-limit quota. The first of the three that gives a wait on its
// own decides; without one, the result is rateLimitReset's.
func FuzzServerHint(f *testing.F) {
	f.Add("120", "", "", "60", uint8(0))
	f.Add("Fri, 31 Dec 1999 23:59:59 GMT", "1500", "", "", uint8(1))
	f.Add("soon", "1500", "250", "1795867290", uint8(2))
	f.Add("", "-1", "1500", "", uint8(0))
	f.Add("", "", "", "1795867290500", uint8(1))
	f.Add("0", "", "", "60", uint8(2))
	f.Add("Sunday, 06-Nov-94 08:49:37 GMT", "", "", "1796040000", uint8(0))
	f.Add("Sun Nov  6 08:49:37 1994", "99999999999999999999", "", "", uint8(1))
	f.Add("-1", "+1", "1.0", "-20", uint8(2))

	keys := [...]string{"Retry-After", "Retry-After-Ms", "X-Ms-Retry-After-Ms"}
	f.Fuzz(func(t *testing.T, ra, ms, xms, reset string, st uint8) {
		status := [...]int{429, 503, 403}[st%3]
		values := [...]string{ra, ms, xms}
		h := http.Header{"X-Ratelimit-Remaining": {"0"}}
		if reset != "" {
			h.Set("X-Ratelimit-Reset", reset)
		}
		for i, v := range values {
			if v != "" {
				h.Set(keys[i], v)
			}
		}
		wait, source, ok := serverHint(h, status, hintNow)
		if wait < 0 || ok != (source != "") || (!ok && wait != 0) {
			t.Fatalf("serverHint(%v) = %v, %q, %t", h, wait, source, ok)
		}
		if w, s, o := serverHint(h, status, hintNow.In(time.FixedZone("X", 3600))); w != wait || s != source || o != ok {
			t.Fatalf("serverHint(%v) depends on the zone of now", h)
		}
		for i, v := range values {
			if v == "" {
				continue
			}
			var want time.Duration
			wantOK := true
			if i == 0 {
				want, wantOK = ParseRetryAfter(v, hintNow)
			} else if d := strings.Trim(v, " \t"); isDigitsOracle(d) {
				want = digitsOracle(d, time.Millisecond)
			} else {
				wantOK = false
			}
			if wantOK {
				if wait != want || source != keys[i] {
					t.Fatalf("serverHint(%v) = %v, %q; want %v from %s", h, wait, source, want, keys[i])
				}
				return
			}
		}
		w, s, o := rateLimitReset(h, status, hintNow)
		if wait != w || source != s || ok != o {
			t.Fatalf("serverHint(%v) = %v, %q, %t; rateLimitReset gives %v, %q, %t", h, wait, source, ok, w, s, o)
		}
	})
}

// rateLimitFamilies are the headers FuzzRateLimitReset sets, in the order
// of rateLimitReset: reset, remaining (canonical keys) and source.
var rateLimitFamilies = [...][3]string{
	{"Ratelimit", "", "RateLimit"},
	{"Ratelimit-Reset", "Ratelimit-Remaining", "RateLimit-Reset"},
	{"X-Ratelimit-Reset", "X-Ratelimit-Remaining", "X-RateLimit-Reset"},
	{"X-Ratelimit-Reset-Requests", "X-Ratelimit-Remaining-Requests", "x-ratelimit-reset-requests"},
	{"X-Ratelimit-Reset-Tokens", "X-Ratelimit-Remaining-Tokens", "x-ratelimit-reset-tokens"},
	{"Anthropic-Ratelimit-Requests-Reset", "Anthropic-Ratelimit-Requests-Remaining", "anthropic-ratelimit-requests-reset"},
	{"Anthropic-Ratelimit-Output-Tokens-Reset", "Anthropic-Ratelimit-Output-Tokens-Remaining", "anthropic-ratelimit-output-tokens-reset"},
}

// FuzzRateLimitReset fuzzes one reset and one remaining count per family
// (the RateLimit field has its count inside). Each family alone is checked
// against an oracle built on strconv, time.ParseDuration and time.Parse;
// together, the longest wait wins and ties keep the first family.
func FuzzRateLimitReset(f *testing.F) {
	// GitHub, go-chi/httprate, ulule/limiter (Unix seconds), 13-digit epochs
	f.Add("", "", "", "1795869600", "4999", "", "", "", "", "", "", "", "", uint8(1))
	f.Add("", "", "", "1795869600", "0", "", "", "", "", "", "", "", "", uint8(2))
	f.Add("", "", "", "1795867201", "-1", "", "", "", "", "", "", "", "", uint8(0))
	f.Add("", "", "", "1795867290500", "0", "", "", "", "", "", "", "", "", uint8(1))
	// Cloudflare and the IETF drafts
	f.Add(`"default";r=50;t=30`, "", "", "", "", "", "", "", "", "", "", "", "", uint8(0))
	f.Add(`"burst";r=0;t=5, "daily";r=100;t=3600`, "20", "0", "", "", "", "", "", "", "", "", "", "", uint8(1))
	f.Add("limit=10, remaining=0, reset=5", "20", "5", "", "", "", "", "", "", "", "", "", "", uint8(1))
	f.Add("limit=10, reset=5", "20", "", "60", "", "", "", "", "", "", "", "", "", uint8(0))
	f.Add(` "a" ; r = 0 ;t= 5 ,"b";r=0 ; t=60 ,`, "", "", "", "", "", "", "", "", "", "", "", "", uint8(1))
	f.Add(`"x";q;r=0;foo=bar;t=12;z`, "x", "", "60", "", "", "", "", "", "", "", "", "", uint8(0))
	f.Add(`;;,,=,"\`, "2.5", "-0", "9223372036854775807", "", "", "", "", "", "", "", "", "", uint8(0))
	// OpenAI, Groq
	f.Add("", "", "", "", "", "1s", "59", "6m0s", "0", "", "", "", "", uint8(0))
	f.Add("", "", "", "", "", "2m59.56s", "", "7.66s", "", "", "", "", "", uint8(0))
	f.Add("", "", "", "", "", "20ms", "0", "1h2m3.5s", "0", "", "", "", "", uint8(1))
	f.Add("", "", "", "", "", "9223372037s", "0", ".5s", "0", "", "", "", "", uint8(1))
	// Anthropic
	f.Add("", "", "", "", "", "", "", "", "", "2026-11-28T12:00:01Z", "0", "2026-11-28T12:00:42.5Z", "0", uint8(1))
	f.Add("", "", "", "", "", "", "", "", "", "2026-11-28T13:00:20+01:00", "", "2024-10-09T14:25:31Z", "0", uint8(0))
	f.Add("", "", "", "", "", "", "", "", "", "9999-12-31T23:59:59.999999999Z", "0", "2026-02-29T12:00:00Z", "0", uint8(1))

	f.Fuzz(func(t *testing.T, rl, rlReset, rlRem, xReset, xRem, oaReq, oaReqRem, oaTok, oaTokRem, anReq, anReqRem, anOut, anOutRem string, st uint8) {
		status := [...]int{429, 503, 200, 403}[st%4]
		is429 := status == 429
		resets := [...]string{rl, rlReset, xReset, oaReq, oaTok, anReq, anOut}
		remains := [...]string{"", rlRem, xRem, oaReqRem, oaTokRem, anReqRem, anOutRem}
		h := http.Header{}
		for i, fam := range rateLimitFamilies {
			if resets[i] != "" {
				h[fam[0]] = []string{resets[i]}
			}
			if remains[i] != "" {
				h[fam[1]] = []string{remains[i]}
			}
		}
		wait, source, ok := rateLimitReset(h, status, hintNow)
		if wait < 0 || ok != (source != "") || (!ok && wait != 0) {
			t.Fatalf("rateLimitReset(%v) = %v, %q, %t", h, wait, source, ok)
		}
		if w, s, o := rateLimitReset(h, status, hintNow.In(time.FixedZone("X", -7200))); w != wait || s != source || o != ok {
			t.Fatalf("rateLimitReset(%v) depends on the zone of now", h)
		}

		var best time.Duration
		bestSource, checked := "", true
		for i, fam := range rateLimitFamilies {
			if resets[i] == "" {
				continue
			}
			alone := http.Header{fam[0]: {resets[i]}}
			if remains[i] != "" {
				alone[fam[1]] = []string{remains[i]}
			}
			w, s, o := rateLimitReset(alone, status, hintNow)
			if o && s != fam[2] {
				t.Fatalf("%s alone gives source %q", fam[0], s)
			}
			if o && (bestSource == "" || w > best) {
				best, bestSource = w, s
			}
			want, wantOK, known := familyOracle(i, resets[i], remains[i], is429)
			if !known {
				checked = false
				continue
			}
			if w != want || o != wantOK {
				t.Fatalf("%s: %q (remaining %q, status %d) alone gives %v, %t; want %v, %t",
					fam[0], resets[i], remains[i], status, w, o, want, wantOK)
			}
		}
		if wait != best || source != bestSource {
			t.Fatalf("rateLimitReset(%v) = %v, %q; the longest family alone gives %v, %q (oracles known: %t)",
				h, wait, source, best, bestSource, checked)
		}
		if rateLimited(h) {
			return
		}
		// Without a spent count, no reset is a wait except on a 429.
		if ok && !is429 {
			t.Fatalf("rateLimitReset(%v, %d) = %v, %q; but rateLimited is false", h, status, wait, source)
		}
	})
}

// familyOracle is the expected wait of family i alone. known is false for
// RateLimit values with quoted strings, which the plain-splitting oracle
// cannot read.
func familyOracle(i int, reset, remaining string, is429 bool) (wait time.Duration, ok, known bool) {
	if i == 0 {
		if strings.Contains(reset, `"`) {
			return 0, false, false
		}
		w, o := rateLimitOracle(reset, is429)
		return w, o, true
	}
	if !waitsOracle(remaining, is429) {
		return 0, false, true
	}
	v := strings.Trim(reset, " \t")
	switch i {
	case 1, 2:
		if !isDigitsOracle(v) {
			return 0, false, true
		}
		return epochOracle(v), true, true
	case 3, 4:
		if v == "" || v[0] == '+' || v[0] == '-' {
			return 0, false, true
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			// Overflow is the one error that saturates instead.
			sat, ok := parseGoDuration(v)
			if ok && sat != maxDuration {
				return 0, false, true
			}
			return sat, ok, true
		}
		return d, true, true
	}
	if strings.ContainsAny(v[min(10, len(v)):], "tz") || len(v) > 10 && v[10] == ' ' {
		return 0, false, false // RFC 3339 spellings time.Parse rejects
	}
	tm, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || !rfc3339Shape(v) {
		return 0, false, true
	}
	return max(tm.Sub(hintNow), 0), true, true
}

// rfc3339Shape reports whether s has the strict RFC 3339 layout (time.Parse
// also accepts variants such as a comma before the fraction).
func rfc3339Shape(s string) bool {
	const digits = "0123456789"
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if strings.IndexByte(digits, s[i]) < 0 {
			return false
		}
	}
	rest := s[19:]
	if len(rest) > 1 && rest[0] == '.' {
		rest = strings.TrimLeft(rest[1:], digits)
		if len(rest) == len(s)-20 {
			return false // "." without digits
		}
	}
	return rest == "Z" || len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		strings.Trim(rest[1:3]+rest[4:6], digits) == "" && rest[1:3] <= "23" && rest[4:6] <= "59"
}

// waitsOracle is the spent-quota rule: a count of 0 or below, or no integer
// count on a 429.
func waitsOracle(remaining string, is429 bool) bool {
	s := strings.Trim(remaining, " \t")
	neg := len(s) > 1 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if !isDigitsOracle(s) {
		return is429
	}
	return neg || strings.Trim(s, "0") == ""
}

// FuzzParseGoDuration checks parseGoDuration against time.ParseDuration:
// equal wherever it succeeds on an unsigned string, maxDuration where it
// fails only by overflow, rejected otherwise.
func FuzzParseGoDuration(f *testing.F) {
	for _, s := range []string{
		"1s", "6m0s", "20ms", "1h2m3.5s", "2m59.56s", "7.66s", "17.046s", "0s", "0", "1µs", "1μs", "1us", "1ns",
		".5s", "5.s", "1.5h", "0.3333333333333333333h", "2562047h47m16.854775807s", "2562047h47m16.854775808s",
		"9223372036854775807ns", "9223372036854775808ns", "99999999999999999999h", "1d", "-1s", "+1s", "", ".", "1",
		"1s2", "1m.s", "6 minutes", "0.00000000000000000000000001s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseGoDuration(s)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("parseGoDuration(%q) = %v, %t", s, d, ok)
		}
		if n := testing.AllocsPerRun(1, func() { d, _ = parseGoDuration(s) }); n != 0 {
			t.Fatalf("parseGoDuration(%q) allocates %v times", s, n)
		}
		if s != "" && (s[0] == '-' || s[0] == '+') {
			if ok {
				t.Fatalf("parseGoDuration(%q) = %v, true; want a sign rejected", s, d)
			}
			return
		}
		want, err := time.ParseDuration(s)
		switch {
		case err == nil && (!ok || d != want):
			t.Fatalf("parseGoDuration(%q) = %v, %t; time.ParseDuration gives %v", s, d, ok, want)
		case err != nil && ok && d != maxDuration:
			t.Fatalf("parseGoDuration(%q) = %v, true; time.ParseDuration fails: %v", s, d, err)
		case err != nil && ok && !overflowsOracle(s):
			t.Fatalf("parseGoDuration(%q) = %v, true; time.ParseDuration fails, not by overflow: %v", s, d, err)
		}
	})
}

// overflowsOracle reports whether the duration s is well formed but too
// long: with every integer part replaced by "1" (each number then below two
// units, so that millions of them are needed to overflow), it parses.
func overflowsOracle(s string) bool {
	var b strings.Builder
	inInt, frac := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			frac, inInt = true, false
		case c >= '0' && c <= '9':
			if !frac {
				if !inInt {
					b.WriteByte('1')
				}
				inInt = true
				continue
			}
		default:
			inInt, frac = false, false
		}
		b.WriteByte(c)
	}
	_, err := time.ParseDuration(b.String())
	return err == nil
}

// FuzzParseRFC3339 checks parseRFC3339 against time.Parse with
// time.RFC3339Nano on the strict shape, and that it never allocates.
func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{
		"2026-11-28T12:00:30Z", "2024-10-09T14:25:31Z", "2026-11-28T12:00:42.5Z", "2026-11-28T13:00:20+01:00",
		"2026-11-28T11:00:20-01:00", "2026-11-28t12:00:30z", "2026-11-28 12:00:30Z", "2028-02-29T12:00:00Z",
		"2026-02-29T12:00:00Z", "9999-12-31T23:59:59.999999999Z", "0000-01-01T00:00:00Z", "2026-11-28T12:00:60Z",
		"2026-11-28T12:00:30+24:00", "2026-11-28T12:00:30.Z", "2026-11-28T12:00:30,5Z", "2026-11-28T12:00:30.0000000019Z",
		"Sat, 28 Nov 2026 12:00:30 GMT", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := parseRFC3339(s)
		if !ok && !tm.IsZero() {
			t.Fatalf("parseRFC3339(%q) = %v, false", s, tm)
		}
		if n := testing.AllocsPerRun(1, func() { parseRFC3339(s) }); n != 0 {
			t.Fatalf("parseRFC3339(%q) allocates %v times", s, n)
		}
		// Normalise the spellings RFC 3339 allows and time.Parse does not.
		u := []byte(s)
		if len(u) > 10 && (u[10] == 't' || u[10] == ' ') {
			u[10] = 'T'
		}
		if len(u) > 19 && u[len(u)-1] == 'z' {
			u[len(u)-1] = 'Z'
		}
		want, err := time.Parse(time.RFC3339Nano, string(u))
		switch strict := rfc3339Shape(string(u)); {
		case ok && (err != nil || !want.Equal(tm)):
			t.Fatalf("parseRFC3339(%q) = %v; time.Parse gives %v, %v", s, tm, want, err)
		case !ok && err == nil && strict:
			t.Fatalf("parseRFC3339(%q) fails; time.Parse gives %v", s, want)
		}
	})
}

// FuzzServerVerdict checks serverVerdict against strings.EqualFold on
// ASCII values, and that it never allocates.
func FuzzServerVerdict(f *testing.F) {
	f.Add("true", "")
	f.Add("false", "")
	f.Add("", "true")
	f.Add("TRUE", "False")
	f.Add(" true ", "maybe")
	f.Add("ſalse", "trUe")
	f.Add("1", "yes")
	f.Fuzz(func(t *testing.T, x, stripe string) {
		h := http.Header{}
		if x != "" {
			h["X-Should-Retry"] = []string{x}
		}
		if stripe != "" {
			h["Stripe-Should-Retry"] = []string{stripe}
		}
		retry, ok := serverVerdict(h)
		if n := testing.AllocsPerRun(1, func() { serverVerdict(h) }); n != 0 {
			t.Fatalf("serverVerdict(%q) allocates %v times", h, n)
		}
		word := func(v string) (bool, bool) {
			v = strings.Trim(v, " \t")
			ascii := strings.IndexFunc(v, func(r rune) bool { return r >= 0x80 }) < 0
			switch {
			case ascii && strings.EqualFold(v, "false"):
				return false, true
			case ascii && strings.EqualFold(v, "true"):
				return true, true
			}
			return false, false
		}
		xr, xok := word(x)
		sr, sok := word(stripe)
		wantOK := xok || sok
		wantRetry := wantOK && !(xok && !xr) && !(sok && !sr)
		if retry != wantRetry || ok != wantOK {
			t.Fatalf("serverVerdict(%q) = %t, %t; want %t, %t", h, retry, ok, wantRetry, wantOK)
		}
	})
}

// isDigitsOracle reports whether s is 1*DIGIT.
func isDigitsOracle(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// digitsOracle is n units for the decimal digits s, saturated.
func digitsOracle(s string, unit time.Duration) time.Duration {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > uint64(math.MaxInt64/unit) {
		return maxDuration
	}
	return time.Duration(n) * unit
}

// epochOracle is the wait for an integer reset, the decimal digits s, by
// integer arithmetic on Unix seconds or milliseconds: below 10^9 a delta,
// below 10^12 Unix seconds, else Unix milliseconds.
func epochOracle(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return maxDuration // beyond int64: as a delta or instant, forever
	case n < 1e9:
		return time.Duration(n) * time.Second
	case n < 1e12:
		return satMul(n-hintNow.Unix(), int64(time.Second))
	}
	return satMul(n-hintNow.UnixMilli(), int64(time.Millisecond))
}

// satMul is max(a, 0)·b for b > 0, saturated at maxDuration.
func satMul(a, b int64) time.Duration {
	if a <= 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return maxDuration
	}
	return time.Duration(a * b)
}

// rateLimitOracle parses a RateLimit value without quoted strings by plain
// splitting: members with a name and parameters (draft 08+) and key=value
// members (draft 07, one dictionary).
func rateLimitOracle(v string, is429 bool) (time.Duration, bool) {
	var wait time.Duration
	found := false
	offer := func(r, t string) {
		if waitsOracle(r, is429) && isDigitsOracle(t) {
			if d := epochOracle(t); !found || d > wait {
				wait, found = d, true
			}
		}
	}
	dict := map[string]string{}
	for _, member := range strings.Split(v, ",") {
		parts := strings.Split(member, ";")
		if k, val, isDict := strings.Cut(parts[0], "="); isDict {
			dict[strings.Trim(k, " \t")] = strings.Trim(val, " \t")
			continue
		}
		params := map[string]string{}
		for _, p := range parts[1:] {
			k, val, _ := strings.Cut(p, "=")
			params[strings.Trim(k, " \t")] = strings.Trim(val, " \t")
		}
		offer(params["r"], params["t"])
	}
	offer(dict["remaining"], dict["reset"])
	return wait, found
}
