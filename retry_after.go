package restyretry

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// Server wait hints.
//
// A server that refuses a request often says when to come back. Honouring
// that beats any client-side backoff: the server knows when its quota resets
// or its maintenance ends. The parsers below are pure (now is always a
// parameter), never panic, never return a negative wait and never overflow:
// a syntactically valid but absurd wait saturates at maxDuration, so the
// caller's MaxRetryAfter check sees "very long" and gives up, rather than
// seeing 0 and hammering the server.

// Layouts of the three HTTP-date forms (RFC 9110 §5.6.7) without their zone.
// parseHTTPDate matches the zone itself, so time.Parse never consults
// time.Local (as http.ParseTime's RFC 850 layout does through "MST") and every
// result is UTC. Day "2" rather than "02" also accepts a single-digit day.
const (
	imfFixdate  = "Mon, 2 Jan 2006 15:04:05"  // http.TimeFormat without " GMT"
	rfc850Date  = "Monday, 2-Jan-06 15:04:05" // time.RFC850 without " MST"
	asctimeDate = time.ANSIC                  // "Mon Jan _2 15:04:05 2006"
)

// shortestHTTPDate is the shortest string any of the layouts can match
// ("Sun Nov 6 08:49:37 1994"). Shorter garbage is rejected before time.Parse,
// whose error path allocates.
const shortestHTTPDate = 23

// ParseRetryAfter parses one Retry-After header value (RFC 9110 §10.2.3) and
// returns how long to wait after now. ok is false when value is neither form.
//
// The value is either delay-seconds, one or more ASCII digits and nothing
// else (no sign, fraction or exponent), or an HTTP-date in any of the three
// forms of RFC 9110 §5.6.7:
//
//	Sun, 06 Nov 1994 08:49:37 GMT   IMF-fixdate
//	Sunday, 06-Nov-94 08:49:37 GMT  RFC 850
//	Sun Nov  6 08:49:37 1994        asctime
//
// Surrounding spaces and tabs are ignored. Common deviations are tolerated: a
// single-digit day and the zone "UTC" or "+0000" instead of "GMT". Dates are
// UTC whatever the local zone; a two-digit RFC 850 year is read as the year
// with those digits closest to now, at most 50 years ahead, as RFC 9110
// requires.
//
// A date at or before now gives (0, true): retry now. A wait too long to
// represent, from a twenty-digit delay or a date in year 9999, saturates at
// the longest Duration rather than overflowing, because "very long" must stay
// very long for the caller to give up.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	s := trimOWS(value)
	if n, ok := parseDigits(s); ok {
		return scaleDigits(n, time.Second), true
	}
	t, ok := parseHTTPDate(s, now)
	if !ok {
		return 0, false
	}
	return untilTime(t, now), true
}

// serverHint returns the wait a response asks for and the header that asked.
// ok is false when no header gives a usable value (the caller then backs off).
//
// It is meant for responses already judged retryable. The wait is what the
// server said, 0 for an instant already past; the caller makes it a floor
// under its own backoff. Headers are tried in this order, and the first that
// gives a wait wins; a malformed value is skipped, never an error:
//
//	Retry-After          delay-seconds or HTTP-date (see ParseRetryAfter)
//	Retry-After-Ms       milliseconds
//	X-Ms-Retry-After-Ms  milliseconds (Azure)
//	rate-limit families  see rateLimitReset
//
// The first three are an explicit request to wait whenever present and
// valid. A rate-limit reset is a wait only when its quota is spent (its
// remaining count is 0, or the status is 429 and none is given): these
// headers come on every response, and a reset with quota left says nothing
// about when the failure will pass.
//
// Numbers are digits only. When a header appears several times, its first
// value is used, except RateLimit, a list whose lines are read together.
// Source is the header's name, e.g. "Retry-After" or "X-RateLimit-Reset".
func serverHint(h http.Header, status int, now time.Time) (wait time.Duration, source string, ok bool) {
	// http.Header keys are canonical, so the literals below index it directly.
	if d, ok := ParseRetryAfter(firstValue(h, "Retry-After"), now); ok {
		return d, "Retry-After", true
	}
	if n, ok := parseDigits(trimOWS(firstValue(h, "Retry-After-Ms"))); ok {
		return scaleDigits(n, time.Millisecond), "Retry-After-Ms", true
	}
	if n, ok := parseDigits(trimOWS(firstValue(h, "X-Ms-Retry-After-Ms"))); ok {
		return scaleDigits(n, time.Millisecond), "X-Ms-Retry-After-Ms", true
	}
	return rateLimitReset(h, status, now)
}

// serverVerdict reads the server's explicit word on retrying:
// X-Should-Retry (OpenAI and Anthropic, whose SDKs obey it) and
// Stripe-Should-Retry, each "true" or "false" in any case, surrounding
// whitespace ignored. ok is false when neither header has one of these
// values. When the two disagree, false wins: a server that said not to
// repeat a request is never overruled.
func serverVerdict(h http.Header) (retry bool, ok bool) {
	for _, key := range [...]string{"X-Should-Retry", "Stripe-Should-Retry"} {
		switch v := trimOWS(firstValue(h, key)); {
		case len(v) == 5 && equalFoldASCII(v, "false"):
			return false, true
		case len(v) == 4 && equalFoldASCII(v, "true"):
			retry, ok = true, true
		}
	}
	return retry, ok
}

// equalFoldASCII reports whether s equals the lower-case ASCII word lower,
// ignoring ASCII case only (strings.EqualFold also folds "ſ" to "s" and the
// Kelvin sign to "k", which no server means).
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// firstValue returns the first value of the canonical key, or "".
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// trimOWS removes the optional whitespace (spaces and tabs) that HTTP allows
// around field values and list members.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseDigits parses 1*DIGIT. Unlike strconv it saturates at math.MaxInt64
// instead of failing: an absurdly large delay is still a (very long) delay.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if d := int64(c - '0'); n <= (math.MaxInt64-d)/10 {
			n = n*10 + d
		} else {
			n = math.MaxInt64
		}
	}
	return n, true
}

// scaleDigits returns n units, saturating at maxDuration. n is not negative.
func scaleDigits(n int64, unit time.Duration) time.Duration {
	if n > int64(maxDuration/unit) {
		return maxDuration
	}
	return time.Duration(n) * unit
}

// untilTime returns t − now, 0 if t is not after now. Time.Sub saturates.
func untilTime(t, now time.Time) time.Duration {
	return max(t.Sub(now), 0)
}

// parseHTTPDate parses an HTTP-date (trimmed). It picks the one layout the
// shape of s allows, so that valid input never goes through failing
// time.Parse calls, which allocate their errors.
func parseHTTPDate(s string, now time.Time) (time.Time, bool) {
	if t, ok := parseIMFFixdate(s); ok {
		return t, true
	}
	if len(s) < shortestHTTPDate {
		return time.Time{}, false
	}
	layout := asctimeDate
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		switch s[i+1:] {
		case "GMT", "UTC", "+0000":
			// time.Parse treats a space in the layout as a run of spaces.
			s = strings.TrimRight(s[:i], " ")
			layout = rfc850Date
			if strings.IndexByte(s, ',') == 3 {
				layout = imfFixdate
			}
		}
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	if layout == rfc850Date {
		return rfc850Year(t, now)
	}
	return t, true
}

// parseIMFFixdate reads the preferred form exactly as RFC 9110 writes it,
// "Sun, 06 Nov 1994 08:49:37 GMT", without time.Parse, which costs more
// than the rest of a retry decision. Anything else (and any invalid date)
// reports false and goes through time.Parse, which gives the same result
// for this form.
func parseIMFFixdate(s string) (time.Time, bool) {
	if len(s) != len("Sun, 06 Nov 1994 08:49:37 GMT") || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
		s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25:] != " GMT" {
		return time.Time{}, false
	}
	if strings.Index("MonTueWedThuFriSatSun", s[:3])%3 != 0 { // -1 when absent
		return time.Time{}, false
	}
	m := strings.Index("JanFebMarAprMayJunJulAugSepOctNovDec", s[8:11])
	if m < 0 || m%3 != 0 {
		return time.Time{}, false
	}
	day, ok1 := twoDigits(s[5:7])
	year1, ok2 := twoDigits(s[12:14])
	year2, ok3 := twoDigits(s[14:16])
	hour, ok4 := twoDigits(s[17:19])
	minute, ok5 := twoDigits(s[20:22])
	sec, ok6 := twoDigits(s[23:25])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || hour > 23 || minute > 59 || sec > 59 || day < 1 {
		return time.Time{}, false
	}
	month := time.Month(m/3 + 1)
	t := time.Date(year1*100+year2, month, day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day || t.Month() != month {
		return time.Time{}, false // 31 Apr, 29 Feb in a common year
	}
	return t, true
}

func twoDigits(s string) (int, bool) {
	a, b := s[0]-'0', s[1]-'0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

// rfc850Year moves a two-digit year, which time.Parse places in 1969–2068,
// to the year with the same last two digits in (now−50, now+50], so that a
// date is never read as more than 50 years ahead (RFC 9110 §5.6.7). ok is
// false for a 29 February that does not exist in the corrected year.
func rfc850Year(t, now time.Time) (time.Time, bool) {
	y, limit := t.Year(), now.UTC().Year()+50
	m := (limit - y) % 100
	if m < 0 {
		m += 100
	}
	if shift := limit - m - y; shift != 0 {
		u := t.AddDate(shift, 0, 0)
		return u, u.Day() == t.Day()
	}
	return t, true
}
