package restyretry

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
		for _, layout := range []string{http.TimeFormat, time.ANSIC, "Monday, 02-Jan-06 15:04:05 GMT"} {
			tm, err := time.Parse(layout, s)
			if err != nil {
				continue
			}
			// Go reads two-digit years as 1969–2068, RFC 9110 as
			// 1977–2076 when now is 2026; they agree in between.
			if y := tm.Year(); layout[0] != 'M' || layout[1] != 'o' || 1977 <= y && y <= 2068 {
				want(max(tm.Sub(hintNow), 0))
			}
		}
	})
}

// FuzzServerHint fuzzes one value per header kind. Beyond the invariants of
// ParseRetryAfter, it checks that the combined result is that of the first
// header that gives a hint on its own, and checks each single-header result
// against an oracle where one exists.
func FuzzServerHint(f *testing.F) {
	f.Add("120", "", "", "", "", "")
	f.Add("Fri, 31 Dec 1999 23:59:59 GMT", "1500", "", "", "", "")
	f.Add("soon", "1500", "250", "", "", "")
	f.Add("", "-1", "1500", `"default";r=0;t=30`, "", "")
	f.Add("", "", "", `"burst";r=0;t=5, "daily";r=100;t=3600`, "20", "1732795200")
	f.Add("", "", "", ` "a" ; r = 0 ;t= 5 ,"b";r=0 ; t=60 ,`, "", "")
	f.Add("", "", "", `"a,b;r=1";r=0;t=9`, "", "")
	f.Add("", "", "", `"x";q;r=0;foo=bar;t=12;z`, "x", "60")
	f.Add("", "", "", `"default";r=10;t=30`, "", "1000000000")
	f.Add("", "", "", `"default";r=0;t=99999999999999999999`, "", "999999999")
	f.Add("", "", "", `;;,,=,"\`, "2.5", "9223372036854775807")
	f.Add("", "", "", "", "", "4611686018427387905")
	f.Add("Sunday, 06-Nov-94 08:49:37 GMT", "", "", "", "", "1796040000")
	f.Add("Sun Nov  6 08:49:37 1994", "99999999999999999999", "", "", "", "")
	f.Add("-1", "+1", "1.0", "r=0;t=1", "-20", "-1732795200")

	keys := [...]string{"Retry-After", "Retry-After-Ms", "X-Ms-Retry-After-Ms", "RateLimit", "RateLimit-Reset", "X-RateLimit-Reset"}
	f.Fuzz(func(t *testing.T, ra, ms, xms, rl, rlr, xrlr string) {
		values := [...]string{ra, ms, xms, rl, rlr, xrlr}
		h := http.Header{}
		for i, v := range values {
			if v != "" {
				h.Set(keys[i], v)
			}
		}
		wait, source, ok := serverHint(h, hintNow)
		if wait < 0 || ok != (source != "") || (!ok && wait != 0) {
			t.Fatalf("serverHint(%v) = %v, %q, %t", h, wait, source, ok)
		}
		if w, s, o := serverHint(h, hintNow); w != wait || s != source || o != ok {
			t.Fatalf("serverHint(%v) = %v, %q, %t, then %v, %q, %t", h, wait, source, ok, w, s, o)
		}
		if w, s, o := serverHint(h, hintNow.In(time.FixedZone("X", 3600))); w != wait || s != source || o != ok {
			t.Fatalf("serverHint(%v) depends on the zone of now", h)
		}

		first := true
		for i, v := range values {
			if v == "" {
				continue
			}
			w, s, o := serverHint(http.Header{http.CanonicalHeaderKey(keys[i]): {v}}, hintNow)
			if o && s != keys[i] {
				t.Fatalf("%s: %q alone gives source %q", keys[i], v, s)
			}
			if o && first && (w != wait || s != source || !ok) {
				t.Fatalf("serverHint(%v) = %v, %q, %t; but %s alone gives %v", h, wait, source, ok, keys[i], w)
			}
			first = first && !o

			// Oracles for the value alone.
			var want time.Duration
			wantOK := true
			digits := strings.Trim(v, " \t")
			switch keys[i] {
			case "Retry-After":
				want, wantOK = ParseRetryAfter(v, hintNow)
			case "RateLimit":
				if strings.Contains(v, `"`) {
					continue
				}
				want, wantOK = rateLimitOracle(v)
			default:
				if !isDigitsOracle(digits) {
					continue
				}
				want = epochOracle(digits)
				switch keys[i] {
				case "Retry-After-Ms", "X-Ms-Retry-After-Ms":
					want = digitsOracle(digits, time.Millisecond)
				case "RateLimit-Reset":
					want = digitsOracle(digits, time.Second)
				}
			}
			if w != want || o != wantOK {
				t.Fatalf("%s: %q alone gives %v, %t; want %v, %t", keys[i], v, w, o, want, wantOK)
			}
		}
		if first && ok {
			t.Fatalf("serverHint(%v) = %v, %q, true; but no header alone gives a hint", h, wait, source)
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

// epochOracle is the X-RateLimit-Reset wait for the decimal digits s.
func epochOracle(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err == nil && n < 1e9:
		return time.Duration(n) * time.Second
	case err != nil || n > 1e15: // beyond year 30 million
		return maxDuration
	}
	return max(time.Unix(n, 0).Sub(hintNow), 0)
}

// rateLimitOracle parses a RateLimit value without quoted strings by
// plain splitting.
func rateLimitOracle(v string) (time.Duration, bool) {
	var wait time.Duration
	found := false
	for _, member := range strings.Split(v, ",") {
		params := map[string]string{}
		for _, p := range strings.Split(member, ";")[1:] {
			k, v, _ := strings.Cut(p, "=")
			params[strings.Trim(k, " \t")] = strings.Trim(v, " \t")
		}
		if r := params["r"]; !isDigitsOracle(r) || strings.Trim(r, "0") != "" || !isDigitsOracle(params["t"]) {
			continue
		}
		if d := digitsOracle(params["t"], time.Second); !found || d > wait {
			wait, found = d, true
		}
	}
	return wait, found
}
