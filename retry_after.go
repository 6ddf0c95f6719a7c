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

// epochResetMin splits X-RateLimit-Reset values into deltas and instants.
// As Unix seconds it is 2001-09-09T01:46:40Z, so no real reset instant is
// below it, and as a delta it is 31 years, which no server asks for.
const epochResetMin = 1_000_000_000

// maxUnixSeconds bounds the instants handed to time.Unix, whose internal
// representation overflows near math.MaxInt64. Anything later is forever.
const maxUnixSeconds = 1 << 62

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
// It is meant for responses already judged retryable: rate-limit headers
// are sent on every response, but only a refusal makes them a request to wait.
// Headers are tried in this order, and the first usable one wins; a malformed
// value is skipped, never an error:
//
//	Retry-After          delay-seconds or HTTP-date (see ParseRetryAfter)
//	Retry-After-Ms       milliseconds
//	X-Ms-Retry-After-Ms  milliseconds (Azure)
//	RateLimit            the largest t of the members with r=0 (IETF draft)
//	RateLimit-Reset      seconds (earlier IETF drafts)
//	X-RateLimit-Reset    Unix seconds (GitHub and others), or a delta
//
// X-RateLimit-Reset is ambiguous in the wild: GitHub sends the instant of
// the reset as Unix seconds, others send seconds from now. A value of at
// least 1,000,000,000 (2001-09-09 as an instant, 31 years as a delta) is
// taken as an instant and the wait is that instant minus now, 0 if past;
// a smaller value is a delta in seconds.
//
// Numbers are digits only. When a header appears several times, its first
// value is used, except RateLimit, a list whose lines are read together.
// Source is the header's name, e.g. "Retry-After" or "X-RateLimit-Reset".
func serverHint(h http.Header, now time.Time) (wait time.Duration, source string, ok bool) {
	// http.Header keys are canonical, so the literals below index it directly
	// ("Ratelimit" is how textproto spells RateLimit).
	if d, ok := ParseRetryAfter(firstValue(h, "Retry-After"), now); ok {
		return d, "Retry-After", true
	}
	if n, ok := parseDigits(trimOWS(firstValue(h, "Retry-After-Ms"))); ok {
		return scaleDigits(n, time.Millisecond), "Retry-After-Ms", true
	}
	if n, ok := parseDigits(trimOWS(firstValue(h, "X-Ms-Retry-After-Ms"))); ok {
		return scaleDigits(n, time.Millisecond), "X-Ms-Retry-After-Ms", true
	}
	if d, ok := rateLimitWait(h["Ratelimit"]); ok {
		return d, "RateLimit", true
	}
	if n, ok := parseDigits(trimOWS(firstValue(h, "Ratelimit-Reset"))); ok {
		return scaleDigits(n, time.Second), "RateLimit-Reset", true
	}
	if n, ok := parseDigits(trimOWS(firstValue(h, "X-Ratelimit-Reset"))); ok {
		return resetWait(n, now), "X-RateLimit-Reset", true
	}
	return 0, "", false
}

// rateLimited reports whether a 403 response is really a rate limit:
// X-RateLimit-Remaining is "0" (after trimming spaces). GitHub and others
// answer an exhausted quota with 403 rather than 429, and a 403 is otherwise
// a permanent refusal that must not be retried.
func rateLimited(h http.Header) bool {
	return trimOWS(firstValue(h, "X-Ratelimit-Remaining")) == "0"
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

// resetWait interprets an X-RateLimit-Reset value; see serverHint.
func resetWait(n int64, now time.Time) time.Duration {
	switch {
	case n < epochResetMin:
		return scaleDigits(n, time.Second)
	case n > maxUnixSeconds:
		return maxDuration
	}
	return untilTime(time.Unix(n, 0), now)
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

// rateLimitDelims has bit c−32 set for each byte c that rateLimitWait acts
// on, so that it skips every other byte with a single test. (For a byte
// outside 32–95, c−32 wraps or exceeds 63, and the shift gives 0.)
const rateLimitDelims uint64 = 1<<('"'-32) | 1<<(','-32) | 1<<(';'-32) | 1<<('='-32) | 1<<('\\'-32)

// rateLimitWait reads the RateLimit field of draft-ietf-httpapi-ratelimit-
// headers, a structured-field list such as
//
//	"burst";r=0;t=5, "daily";r=100;t=3600
//
// where each member is a quota policy, r its remaining units and t the
// seconds until it resets. Only exhausted policies (r=0) ask to wait, and
// the request must wait for all of them, hence the largest t. The parse is
// tolerant: whitespace around separators, quoted (with backslash escapes) or
// bare names, unknown or valueless parameters; the last of duplicates wins,
// as in RFC 9651. Several field lines form one list. It makes one pass over
// each line and does not allocate.
func rateLimitWait(lines []string) (wait time.Duration, found bool) {
	for _, s := range lines {
		var r, t string // parameters of the current member
		inParams, quoted := false, false
		start, eq := 0, -1 // the current segment and its first '='
		for i := 0; i <= len(s); i++ {
			c := byte(',') // the end of the line ends the member, even inside quotes
			if i < len(s) {
				if c = s[i]; rateLimitDelims>>(c-32)&1 == 0 {
					continue // the common case, one branch instead of a switch
				}
			}
			switch {
			case quoted && i < len(s):
				if c == '"' {
					quoted = false
				} else if c == '\\' && i+1 < len(s) {
					i++
				}
			case c == '"':
				quoted = true
			case c == '=':
				if eq < 0 {
					eq = i
				}
			case c == ';' || c == ',':
				if inParams {
					key, val := s[start:i], ""
					if eq >= 0 {
						key, val = s[start:eq], s[eq+1:i]
					}
					switch trimOWS(key) {
					case "r":
						r = trimOWS(val)
					case "t":
						t = trimOWS(val)
					}
				}
				if c == ',' {
					rn, rok := parseDigits(r)
					tn, tok := parseDigits(t)
					if d := scaleDigits(tn, time.Second); rok && rn == 0 && tok && (!found || d > wait) {
						wait, found = d, true
					}
					r, t = "", ""
				}
				inParams, start, eq = c == ';', i+1, -1
			}
		}
	}
	return wait, found
}
