package core

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

// shortestHTTPDate is the length of the shortest HTTP-date accepted,
// "Sun Nov 6 8:49:37 1994"; shorter garbage is rejected at once.
const shortestHTTPDate = 22

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
// single-digit day or hour, runs of spaces, names in any case, a fraction of
// a second, and the zone "UTC" or "+0000" instead of "GMT", in any case. Dates are
// UTC whatever the local zone; a two-digit RFC 850 year is read as the year
// with those digits closest to now, at most 50 years ahead, as RFC 9110
// requires.
//
// A date at or before now gives (0, true): the server asks for no more wait
// (Apply then waits its own backoff, of which a hint is only a floor). A wait
// too long to represent, from a twenty-digit delay or a date in year 9999,
// saturates at the longest Duration rather than overflowing, because "very
// long" must stay very long for the caller to give up. It never allocates.
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
//	Retry-After          delay-seconds or HTTP-date (see retryAfter)
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
	if d, ok := retryAfter(h, now); ok {
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

// retryAfter reads h's Retry-After as ParseRetryAfter does, except that an
// HTTP-date is read against the response's own Date header when it has a
// valid one: both come from the server's clock, so a server whose clock
// runs ahead of (or behind) the client's still asks for what it means
// (RFC 9110 §10.2.3 gives the date "after the response", and §6.6.1 makes
// Date the server's idea of when that was). Without a valid Date the local
// clock, now, is the reference.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	s := trimOWS(firstValue(h, "Retry-After"))
	if n, ok := parseDigits(s); ok {
		return scaleDigits(n, time.Second), true
	}
	t, ok := parseHTTPDate(s, now)
	if !ok {
		return 0, false
	}
	if date, ok := parseHTTPDate(trimOWS(firstValue(h, "Date")), now); ok {
		return untilTime(t, date), true
	}
	return untilTime(t, now), true
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

// The three forms of HTTP-date (RFC 9110 §5.6.7), told apart by their shape.
const (
	formIMF     = iota // Sun, 06 Nov 1994 08:49:37 GMT
	formRFC850         // Sunday, 06-Nov-94 08:49:37 GMT
	formAsctime        // Sun Nov  6 08:49:37 1994
)

// parseHTTPDate parses an HTTP-date (trimmed), by hand rather than with
// time.Parse, whose errors allocate and whose two slower forms cost more
// than the rest of a retry decision. It accepts what time.Parse accepts with
// the layouts "Mon, 2 Jan 2006 15:04:05", "Monday, 2-Jan-06 15:04:05" and
// time.ANSIC once the zone is taken off, digits being ASCII digits:
//
//   - day and month names in any ASCII case; the weekday is not checked
//     against the date;
//   - a space matches a run of spaces;
//   - one- or two-digit days and hours;
//   - a fraction of a second after the seconds, with '.' or ',', of which
//     nine digits are kept;
//   - the zone "GMT", "UTC" or "+0000" for the first two forms, none for
//     asctime.
//
// Dates are UTC. The form is picked from the shape: a trailing zone means
// IMF-fixdate when a comma follows the three-letter day, else RFC 850; no
// zone means asctime.
func parseHTTPDate(s string, now time.Time) (time.Time, bool) {
	if len(s) < shortestHTTPDate {
		return time.Time{}, false
	}
	form := formAsctime
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		if z := s[i+1:]; strings.EqualFold(z, "GMT") || strings.EqualFold(z, "UTC") || z == "+0000" {
			s = strings.TrimRight(s[:i], " ")
			form = formRFC850
			if strings.IndexByte(s, ',') == 3 {
				form = formIMF
			}
		}
	}
	p := dateScanner{s: s, ok: true}
	var year, month, day int
	switch form {
	case formIMF:
		p.name(shortDayNames, 3)
		p.literal(',')
		p.spaces()
		day = p.number(false)
		p.spaces()
		month = p.name(monthNames, 3)
		p.spaces()
		year = p.fixed(4)
	case formRFC850:
		p.longDay()
		p.literal(',')
		p.spaces()
		day = p.number(false)
		p.literal('-')
		month = p.name(monthNames, 3)
		p.literal('-')
		year = rfc850Year(p.fixed(2), now)
	default:
		p.name(shortDayNames, 3)
		p.spaces()
		month = p.name(monthNames, 3)
		p.spaces()
		day = p.number(false)
	}
	p.spaces()
	hour := p.number(false)
	p.literal(':')
	minute := p.number(true)
	p.literal(':')
	sec := p.number(true)
	nsec := p.fraction()
	if form == formAsctime {
		p.spaces()
		year = p.fixed(4)
	}
	if !p.ok || p.s != "" || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// Names in order, each three letters; longDayNames are the full names.
const (
	shortDayNames = "SunMonTueWedThuFriSat"
	monthNames    = "JanFebMarAprMayJunJulAugSepOctNovDec"
)

var longDayNames = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// dateScanner consumes a date from the front of s. The first mismatch
// clears ok; later calls then consume nothing and return 0.
type dateScanner struct {
	s  string
	ok bool
}

func (p *dateScanner) fail() int {
	p.ok, p.s = false, ""
	return 0
}

// name consumes one of the width-letter names of table, in any ASCII case,
// and returns its position from 1.
func (p *dateScanner) name(table string, width int) int {
	if len(p.s) >= width {
		for i := 0; i+width <= len(table); i += width {
			if equalFoldLetters(p.s[:width], table[i:i+width]) {
				p.s = p.s[width:]
				return i/width + 1
			}
		}
	}
	return p.fail()
}

// longDay consumes a full day name, in any ASCII case.
func (p *dateScanner) longDay() {
	for _, n := range longDayNames {
		if len(p.s) >= len(n) && equalFoldLetters(p.s[:len(n)], n) {
			p.s = p.s[len(n):]
			return
		}
	}
	p.fail()
}

func (p *dateScanner) literal(c byte) {
	if p.s == "" || p.s[0] != c {
		p.fail()
		return
	}
	p.s = p.s[1:]
}

// spaces consumes a run of spaces, which must not be empty unless nothing
// is left (as time.Parse; what follows then fails).
func (p *dateScanner) spaces() {
	if p.s != "" && p.s[0] != ' ' {
		p.fail()
		return
	}
	p.s = strings.TrimLeft(p.s, " ")
}

// number consumes two digits, or one when two is false and no second digit
// follows.
func (p *dateScanner) number(two bool) int {
	if p.s == "" || !isDigit(p.s[0]) {
		return p.fail()
	}
	if len(p.s) < 2 || !isDigit(p.s[1]) {
		if two {
			return p.fail()
		}
		n := int(p.s[0] - '0')
		p.s = p.s[1:]
		return n
	}
	n := int(p.s[0]-'0')*10 + int(p.s[1]-'0')
	p.s = p.s[2:]
	return n
}

// fixed consumes exactly n digits.
func (p *dateScanner) fixed(n int) int {
	if len(p.s) < n {
		return p.fail()
	}
	v := 0
	for i := 0; i < n; i++ {
		if !isDigit(p.s[i]) {
			return p.fail()
		}
		v = v*10 + int(p.s[i]-'0')
	}
	p.s = p.s[n:]
	return v
}

// fraction consumes an optional fraction of a second, '.' or ',' and
// digits, and returns its first nine digits as nanoseconds.
func (p *dateScanner) fraction() int {
	if len(p.s) < 2 || (p.s[0] != '.' && p.s[0] != ',') || !isDigit(p.s[1]) {
		return 0
	}
	nsec, digits, i := 0, 0, 1
	for ; i < len(p.s) && isDigit(p.s[i]); i++ {
		if digits < 9 {
			nsec, digits = nsec*10+int(p.s[i]-'0'), digits+1
		}
	}
	for ; digits < 9; digits++ {
		nsec *= 10
	}
	p.s = p.s[i:]
	return nsec
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// equalFoldLetters reports whether s equals name, a word of ASCII letters,
// in any ASCII case.
func equalFoldLetters(s, name string) bool {
	for i := 0; i < len(name); i++ {
		if s[i]|0x20 != name[i]|0x20 {
			return false
		}
	}
	return true
}

// twoDigits reads two ASCII digits.
func twoDigits(s string) (int, bool) {
	a, b := s[0]-'0', s[1]-'0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

// rfc850Year places a two-digit year in (now−50, now+50], the year with
// those last two digits closest to now and at most 50 years ahead, as RFC
// 9110 §5.6.7 requires.
func rfc850Year(yy int, now time.Time) int {
	limit := now.UTC().Year() + 50
	m := (limit - yy) % 100
	if m < 0 {
		m += 100
	}
	return limit - m
}
