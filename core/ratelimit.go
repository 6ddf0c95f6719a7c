package core

import (
	"net/http"
	"strings"
	"time"
)

// Rate-limit header families.
//
// Rate-limit headers describe a quota: how much of it is left and when it
// resets. They arrive on every response of the APIs that send them, so a
// reset is a request to wait only when the quota it belongs to is spent:
// its remaining count is 0 (or negative, as go-chi/httprate can write), or
// the response is a 429 and the family gives no remaining count at all. A
// reset with quota left is not a hint; the policy's backoff decides.
//
// The families, each read in its own unit:
//
//	RateLimit: "default";r=0;t=5           IETF draft 08 and later: a list of
//	                                       policies, r remaining, t seconds
//	RateLimit: limit=10, remaining=0, reset=5
//	                                       IETF draft 07: one dictionary
//	RateLimit-Remaining, RateLimit-Reset   IETF drafts 05–06: seconds
//	X-RateLimit-Remaining, X-RateLimit-Reset
//	                                       GitHub, go-chi/httprate, ulule/
//	                                       limiter and many others: integer
//	                                       resets by magnitude (resetWait)
//	x-ratelimit-remaining-requests, x-ratelimit-reset-requests and the
//	-tokens pair                           OpenAI (and Groq, Azure OpenAI):
//	                                       a Go-like duration, "6m0s"
//	anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
//	{remaining,reset}                      Anthropic: an RFC 3339 instant
//
// When several spent quotas give a reset, in one family or across families,
// the longest wait wins: the server refuses the next request until every
// spent quota has reset, so coming back at the earliest reset only earns one
// more refusal. It is also the safe reading when two families describe the
// same quota with different precision (ulule/limiter truncates its reset to
// whole seconds). Equal waits keep the first source in the order above.
//
// Every parser is pure, allocation-free, never panics, never returns a
// negative wait and saturates at maxDuration.

// Integer resets (X-RateLimit-Reset, RateLimit-Reset, RateLimit's t and
// reset) are told apart by magnitude:
//
//	v < 10^9          seconds from now
//	10^9 ≤ v < 10^12  a Unix instant in seconds
//	v ≥ 10^12         a Unix instant in milliseconds (13-digit values)
//
// 10^9 is 2001-09-09 as Unix seconds and 31 years as a delta; 10^12 is
// 2001-09-09 as Unix milliseconds and the year 33658 as Unix seconds. No
// server means any of these values the other way.
const (
	epochResetMin   = 1_000_000_000
	epochMilliesMin = 1_000_000_000_000
)

// resetWait interprets an integer reset by magnitude; see epochResetMin.
// An instant at or before now gives 0.
func resetWait(n int64, now time.Time) time.Duration {
	switch {
	case n < epochResetMin:
		return scaleDigits(n, time.Second)
	case n < epochMilliesMin:
		return untilTime(time.Unix(n, 0), now)
	}
	// time.UnixMilli cannot overflow: n/1000 is far below its limits.
	return untilTime(time.UnixMilli(n), now)
}

// quota is what a remaining count says.
type quota uint8

const (
	quotaUnknown quota = iota // absent, or not an integer
	quotaLeft                 // a positive count
	quotaSpent                // 0 or a negative count
)

// parseRemaining reads a remaining count: optional whitespace, an optional
// '-', digits.
func parseRemaining(s string) quota {
	s = trimOWS(s)
	neg := len(s) > 1 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	n, ok := parseDigits(s)
	switch {
	case !ok:
		return quotaUnknown
	case n == 0 || neg:
		return quotaSpent
	}
	return quotaLeft
}

// waits reports whether a reset of a quota in state q is a wait: the quota
// is spent, or the status is 429 and no count is given.
func (q quota) waits(is429 bool) bool {
	return q == quotaSpent || q == quotaUnknown && is429
}

// longest keeps the longest offered wait and its source; the first offer
// wins ties.
type longest struct {
	wait   time.Duration
	source string
}

func (l *longest) offer(d time.Duration, source string) {
	if l.source == "" || d > l.wait {
		l.wait, l.source = d, source
	}
}

// rateLimitReset returns the wait that the rate-limit families ask for,
// Retry-After and its millisecond forms excluded, under the spent-quota rule
// above: the longest reset among the spent quotas, with the header that gave
// it (e.g. "X-RateLimit-Reset", "x-ratelimit-reset-tokens"). ok is false when
// no spent quota gives a usable reset. It reads the headers of a response of
// any status, for pacing as well as for retries.
func rateLimitReset(h http.Header, status int, now time.Time) (wait time.Duration, source string, ok bool) {
	// http.Header keys are canonical ("Ratelimit", "X-Ratelimit-Reset"), so
	// the literals below index the map directly. Each reset is looked up
	// first: most responses carry none, and a miss costs one lookup.
	is429 := status == http.StatusTooManyRequests
	var l longest
	if lines := h["Ratelimit"]; len(lines) > 0 {
		if d, found, _ := rateLimitField(lines, is429, now); found {
			l.offer(d, "RateLimit")
		}
	}
	offerReset(&l, h, "Ratelimit-Reset", "Ratelimit-Remaining", "RateLimit-Reset", is429, now, intWait)
	offerReset(&l, h, "X-Ratelimit-Reset", "X-Ratelimit-Remaining", "X-RateLimit-Reset", is429, now, intWait)
	offerReset(&l, h, "X-Ratelimit-Reset-Requests", "X-Ratelimit-Remaining-Requests", "x-ratelimit-reset-requests", is429, now, durationWait)
	offerReset(&l, h, "X-Ratelimit-Reset-Tokens", "X-Ratelimit-Remaining-Tokens", "x-ratelimit-reset-tokens", is429, now, durationWait)
	offerReset(&l, h, "Anthropic-Ratelimit-Requests-Reset", "Anthropic-Ratelimit-Requests-Remaining", "anthropic-ratelimit-requests-reset", is429, now, instantWait)
	offerReset(&l, h, "Anthropic-Ratelimit-Tokens-Reset", "Anthropic-Ratelimit-Tokens-Remaining", "anthropic-ratelimit-tokens-reset", is429, now, instantWait)
	offerReset(&l, h, "Anthropic-Ratelimit-Input-Tokens-Reset", "Anthropic-Ratelimit-Input-Tokens-Remaining", "anthropic-ratelimit-input-tokens-reset", is429, now, instantWait)
	offerReset(&l, h, "Anthropic-Ratelimit-Output-Tokens-Reset", "Anthropic-Ratelimit-Output-Tokens-Remaining", "anthropic-ratelimit-output-tokens-reset", is429, now, instantWait)
	return l.wait, l.source, l.source != ""
}

// offerReset offers the reset under resetKey, read by parse, when its
// remaining count under remainingKey says the quota is spent (or, on a 429,
// gives no count).
func offerReset(l *longest, h http.Header, resetKey, remainingKey, source string, is429 bool, now time.Time,
	parse func(string, time.Time) (time.Duration, bool)) {
	v := firstValue(h, resetKey)
	if v == "" {
		return
	}
	if d, ok := parse(trimOWS(v), now); ok && parseRemaining(firstValue(h, remainingKey)).waits(is429) {
		l.offer(d, source)
	}
}

// intWait reads an integer reset: seconds from now or an epoch, see resetWait.
func intWait(s string, now time.Time) (time.Duration, bool) {
	n, ok := parseDigits(s)
	if !ok {
		return 0, false
	}
	return resetWait(n, now), true
}

// durationWait reads an OpenAI reset, a duration from now.
func durationWait(s string, _ time.Time) (time.Duration, bool) { return parseGoDuration(s) }

// instantWait reads an Anthropic reset, an RFC 3339 instant.
func instantWait(s string, now time.Time) (time.Duration, bool) {
	t, ok := parseRFC3339(s)
	if !ok {
		return 0, false
	}
	return untilTime(t, now), true
}

// rateLimited reports whether the response says a quota is spent: a
// remaining count of 0 (or below) in any family. GitHub and others answer an
// exhausted quota with 403 rather than 429, and a 403 is otherwise a
// permanent refusal that must not be retried.
func rateLimited(h http.Header) bool {
	for _, key := range [...]string{
		"X-Ratelimit-Remaining",
		"Ratelimit-Remaining",
		"X-Ratelimit-Remaining-Requests",
		"X-Ratelimit-Remaining-Tokens",
		"Anthropic-Ratelimit-Requests-Remaining",
		"Anthropic-Ratelimit-Tokens-Remaining",
		"Anthropic-Ratelimit-Input-Tokens-Remaining",
		"Anthropic-Ratelimit-Output-Tokens-Remaining",
	} {
		if v := h[key]; len(v) > 0 && parseRemaining(v[0]) == quotaSpent {
			return true
		}
	}
	if lines := h["Ratelimit"]; len(lines) > 0 {
		_, _, spent := rateLimitField(lines, false, time.Time{})
		return spent
	}
	return false
}

// rateLimitDelims has bit c−32 set for each byte c that rateLimitField acts
// on, so that it skips every other byte with a single test. (For a byte
// outside 32–95, c−32 wraps or exceeds 63, and the shift gives 0.)
const rateLimitDelims uint64 = 1<<('"'-32) | 1<<(','-32) | 1<<(';'-32) | 1<<('='-32) | 1<<('\\'-32)

// rateLimitField reads the RateLimit field of draft-ietf-httpapi-ratelimit-
// headers in both shapes in use. From draft 08 it is a structured-field list
//
//	"burst";r=0;t=5, "daily";r=100;t=3600
//
// where each member is a quota policy, r its remaining units and t the
// seconds until it resets. In draft 07 it is one dictionary,
//
//	limit=10, remaining=0, reset=5
//
// The shapes are told apart member by member: a dictionary member is
// key=value, a list member is a name (quoted or bare) followed by its
// parameters. Every list member is a quota, and so is the dictionary. A
// quota's reset is a wait when it is spent (see quota.waits), and the
// request must wait for all of them, hence the longest. spent reports
// whether any quota has a remaining count of 0 or below.
//
// The parse is tolerant: whitespace around separators, quoted (with
// backslash escapes) or bare names, unknown or valueless parameters; the
// last of duplicates wins, as in RFC 9651. Several field lines form one list
// (or one dictionary). It makes one pass over each line and does not
// allocate.
func rateLimitField(lines []string, is429 bool, now time.Time) (wait time.Duration, found, spent bool) {
	var remaining, reset string // of the dictionary, across lines
	offer := func(r, t string) {
		q := parseRemaining(r)
		spent = spent || q == quotaSpent
		if n, ok := parseDigits(t); ok && q.waits(is429) {
			if d := resetWait(n, now); !found || d > wait {
				wait, found = d, true
			}
		}
	}
	for _, s := range lines {
		var r, t string // parameters of the current list member
		inParams, quoted, dict := false, false, false
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
				switch {
				case inParams:
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
				case eq >= 0: // key=value: a dictionary member (draft 07)
					dict = true
					switch trimOWS(s[start:eq]) {
					case "remaining":
						remaining = trimOWS(s[eq+1 : i])
					case "reset":
						reset = trimOWS(s[eq+1 : i])
					}
				}
				if c == ',' {
					if !dict {
						offer(r, t)
					}
					r, t, dict = "", "", false
				}
				inParams, start, eq = c == ';', i+1, -1
			}
		}
	}
	offer(remaining, reset) // a no-op without a dictionary
	return wait, found, spent
}

// parseGoDuration parses a duration as time.Duration.String writes it and
// time.ParseDuration reads it, unsigned: one or more decimal numbers, each
// with an optional fraction and a unit (ns, us, µs, μs, ms, s, m, h), such as
// "1s", "6m0s", "20ms", "1h2m3.5s" or ".5s"; "0" alone is zero. It gives
// exactly what time.ParseDuration gives, except that a duration too long
// to represent saturates at maxDuration instead of failing, and that it
// never allocates (time.ParseDuration allocates its errors).
func parseGoDuration(s string) (time.Duration, bool) {
	if s == "0" {
		return 0, true
	}
	if s == "" {
		return 0, false
	}
	const limit = 1<<63 - 1
	var d uint64
	sat := false
	for s != "" {
		if !(s[0] == '.' || '0' <= s[0] && s[0] <= '9') {
			return 0, false
		}
		// [0-9]*
		var v uint64
		i := 0
		for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
			if c := uint64(s[i] - '0'); v > (limit-c)/10 {
				sat = true
			} else {
				v = v*10 + c
			}
		}
		pre := i > 0
		s = s[i:]
		// (\.[0-9]*)?, digits beyond what fits are ignored, as in Go
		var f uint64
		scale := 1.0
		post := false
		if s != "" && s[0] == '.' {
			s = s[1:]
			i = 0
			over := false
			for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
				if over {
					continue
				}
				if f > (1<<63-1)/10 {
					over = true
					continue
				}
				y := f*10 + uint64(s[i]-'0')
				if y > 1<<63 {
					over = true
					continue
				}
				f = y
				scale *= 10
			}
			post = i > 0
			s = s[i:]
		}
		if !pre && !post {
			return 0, false
		}
		// the unit: everything up to the next digit or '.'
		i = 0
		for ; i < len(s) && s[i] != '.' && (s[i] < '0' || s[i] > '9'); i++ {
		}
		var unit uint64
		switch s[:i] {
		case "ns":
			unit = uint64(time.Nanosecond)
		case "us", "µs", "μs": // U+00B5 micro sign, U+03BC Greek mu
			unit = uint64(time.Microsecond)
		case "ms":
			unit = uint64(time.Millisecond)
		case "s":
			unit = uint64(time.Second)
		case "m":
			unit = uint64(time.Minute)
		case "h":
			unit = uint64(time.Hour)
		default:
			return 0, false // missing or unknown unit
		}
		s = s[i:]
		if sat || v > limit/unit {
			sat = true
			continue
		}
		v *= unit
		if f > 0 {
			// float64, as in Go, to be nanosecond-exact for fractions of hours
			v += uint64(float64(f) * (float64(unit) / scale))
		}
		if v > limit-d {
			sat = true
			continue
		}
		d += v
	}
	if sat {
		return maxDuration, true
	}
	return time.Duration(d), true
}

// parseRFC3339 parses an RFC 3339 date-time, "2026-11-28T12:00:30Z" or
// "2026-11-28T12:00:30.5+01:00": exactly the shape time.Parse reads with
// time.RFC3339Nano (fraction digits beyond nine ignored, seconds 0–59, zone
// offsets up to ±23:59), also accepting the lower-case 't' and 'z' and the
// space separator that RFC 3339 §5.6 allows. Unlike time.Parse it never
// allocates: not on errors, not for a zone offset (which time.Parse turns
// into a *time.Location).
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	y1, ok1 := twoDigits(s[0:2])
	y2, ok2 := twoDigits(s[2:4])
	month, ok3 := twoDigits(s[5:7])
	day, ok4 := twoDigits(s[8:10])
	hour, ok5 := twoDigits(s[11:13])
	minute, ok6 := twoDigits(s[14:16])
	sec, ok7 := twoDigits(s[17:19])
	year := y1*100 + y2
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	s = s[19:]
	nsec := 0
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		i, digits := 1, 0
		for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
			if digits < 9 {
				nsec, digits = nsec*10+int(s[i]-'0'), digits+1
			}
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
		s = s[i:]
	}
	offset := 0
	switch {
	case s == "Z" || s == "z":
	case len(s) == len("+07:00") && (s[0] == '+' || s[0] == '-') && s[3] == ':':
		oh, ok1 := twoDigits(s[1:3])
		om, ok2 := twoDigits(s[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if s[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// daysIn is the number of days in month of the proleptic Gregorian year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Quotas, for smoothing (Policy.Pace).
//
// Besides the spent-quota rule above, Pace reads what a response states of
// each quota, spent or not: its name, how much is left, the limit, when it
// resets and how long its window is. readQuotas gathers them, one entry
// per named quota:
//
//	RateLimit (draft 08+)       "name";r=R;t=T per member; the name is the policy's
//	RateLimit (draft 07)        limit=L, remaining=R, reset=T; unnamed
//	RateLimit-Policy            "name";q=L;w=W (draft 08+), or L;w=W (drafts 03–07,
//	                            unnamed): the limit and the window
//	RateLimit-Limit/-Remaining/-Reset (drafts 05–06)      unnamed
//	X-RateLimit-Limit/-Remaining/-Reset                   unnamed
//	x-ratelimit-{limit,remaining,reset}-{requests,tokens} OpenAI: "requests", "tokens"
//	anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}
//	                                                      Anthropic: the same names
//
// Unnamed quotas of the different families share the name "": they
// describe the same quota. A quota whose name says it counts tokens is
// marked so: a request spends an unknown number of tokens, so Pace only
// holds for it when it is spent, and spaces requests by request quotas
// only. Reading allocates nothing; a name is a substring of the header.

// quotaInfo is what one response states of one quota.
type quotaInfo struct {
	name      string        // "" for unnamed, "requests", "tokens", or a RateLimit policy's name
	remaining int64         // what is left, 0 for spent; −1 unknown
	limit     int64         // the quota per window; 0 unknown
	reset     time.Duration // until the quota resets; −1 unknown
	window    time.Duration // the window's length; 0 unknown
	tokens    bool          // the quota counts tokens, not requests
}

// maxQuotas is how many quotas one response is read for; more are ignored.
const maxQuotas = 6

// quotaSet is the quotas of one response.
type quotaSet struct {
	n int
	q [maxQuotas]quotaInfo
}

// get returns the quota named name, adding it when there is room; nil when
// there is none.
func (s *quotaSet) get(name string) *quotaInfo {
	for i := 0; i < s.n; i++ {
		if s.q[i].name == name {
			return &s.q[i]
		}
	}
	if s.n == maxQuotas {
		return nil
	}
	q := &s.q[s.n]
	s.n++
	*q = quotaInfo{name: name, remaining: -1, reset: -1, tokens: strings.Contains(name, "token")}
	return q
}

// parseCount reads a count: optional whitespace, an optional '-', digits;
// a negative count is 0 (go-chi/httprate can write one for a spent quota).
func parseCount(s string) (int64, bool) {
	s = trimOWS(s)
	neg := len(s) > 1 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	n, ok := parseDigits(s)
	if neg {
		n = 0
	}
	return n, ok
}

// quotaFamily is one family of separate limit, remaining and reset fields.
type quotaFamily struct {
	name                  string
	limit, remain, resetK string
	reset                 func(string, time.Time) (time.Duration, bool)
}

var quotaFamilies = [...]quotaFamily{
	{"", "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", intWait},
	{"", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", intWait},
	{"requests", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests", durationWait},
	{"tokens", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens", durationWait},
	{"requests", "Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining", "Anthropic-Ratelimit-Requests-Reset", instantWait},
	{"tokens", "Anthropic-Ratelimit-Tokens-Limit", "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset", instantWait},
	{"input-tokens", "Anthropic-Ratelimit-Input-Tokens-Limit", "Anthropic-Ratelimit-Input-Tokens-Remaining", "Anthropic-Ratelimit-Input-Tokens-Reset", instantWait},
	{"output-tokens", "Anthropic-Ratelimit-Output-Tokens-Limit", "Anthropic-Ratelimit-Output-Tokens-Remaining", "Anthropic-Ratelimit-Output-Tokens-Reset", instantWait},
}

// readQuotas fills s with the quotas h states; see above. A family's
// fields are read only when its remaining count is there.
func readQuotas(h http.Header, now time.Time, s *quotaSet) {
	if lines := h["Ratelimit"]; len(lines) > 0 {
		readRateLimitLines(lines, false, now, s)
	}
	if lines := h["Ratelimit-Policy"]; len(lines) > 0 {
		readRateLimitLines(lines, true, now, s)
	}
	for i := range quotaFamilies {
		f := &quotaFamilies[i]
		v := h[f.remain]
		if len(v) == 0 {
			continue
		}
		r, ok := parseCount(v[0])
		if !ok {
			continue
		}
		q := s.get(f.name)
		if q == nil {
			return
		}
		q.remaining = r
		if l, ok := parseCount(firstValue(h, f.limit)); ok {
			q.limit = l
		}
		if d, ok := f.reset(trimOWS(firstValue(h, f.resetK)), now); ok {
			q.reset = d
		}
	}
}

// readRateLimitLines reads the RateLimit field (policy false) or the
// RateLimit-Policy field (policy true) into s, in both shapes (see
// rateLimitField): list members "name";r=R;t=T or "name";q=L;w=W, a
// draft-07 dictionary limit=L, remaining=R, reset=T, or a draft-03–07
// policy list L;w=W, whose first member is taken for the unnamed quota.
func readRateLimitLines(lines []string, policy bool, now time.Time, s *quotaSet) {
	unnamedPolicy := false
	for _, line := range lines {
		for line != "" {
			member := line
			if i := memberEnd(line); i >= 0 {
				member, line = line[:i], line[i+1:]
			} else {
				line = ""
			}
			member = trimOWS(member)
			if member == "" {
				continue
			}
			head, params := member, ""
			if i := strings.IndexByte(member, ';'); i >= 0 {
				head, params = trimOWS(member[:i]), member[i+1:]
			}
			if k, v, ok := strings.Cut(head, "="); ok && head[0] != '"' {
				// a dictionary member (draft 07)
				q := s.get("")
				if q == nil {
					return
				}
				n, ok := parseCount(v)
				switch trimOWS(k) {
				case "limit":
					if ok {
						q.limit = n
					}
				case "remaining":
					if ok {
						q.remaining = n
					}
				case "reset":
					if ok {
						q.reset = resetWait(n, now)
					}
				}
				continue
			}
			name := head
			if n, ok := parseDigits(head); ok && policy {
				// L;w=W: an unnamed policy (drafts 03–07); the first one
				if unnamedPolicy {
					continue
				}
				unnamedPolicy = true
				name = ""
				if q := s.get(""); q != nil {
					q.limit = n
					q.window = paramSeconds(params, "w")
				}
				continue
			}
			if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
				name = name[1 : len(name)-1]
			}
			q := s.get(name)
			if q == nil {
				return
			}
			if policy {
				if n, ok := parseCount(param(params, "q")); ok {
					q.limit = n
				}
				q.window = paramSeconds(params, "w")
				continue
			}
			if n, ok := parseCount(param(params, "r")); ok {
				q.remaining = n
			}
			if n, ok := parseDigits(trimOWS(param(params, "t"))); ok {
				q.reset = resetWait(n, now)
			}
		}
	}
}

// memberEnd is the index of the ',' that ends the first list member of s,
// outside quotes, or −1.
func memberEnd(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return i
		}
	}
	return -1
}

// param returns the value of the parameter key in params ("a=1;b=2"), ""
// if absent.
func param(params, key string) string {
	for params != "" {
		p := params
		if i := strings.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			params = ""
		}
		if k, v, ok := strings.Cut(p, "="); ok && trimOWS(k) == key {
			return trimOWS(v)
		}
	}
	return ""
}

// paramSeconds reads the parameter key as whole seconds, 0 if absent or
// not digits.
func paramSeconds(params, key string) time.Duration {
	if n, ok := parseDigits(param(params, key)); ok {
		return scaleDigits(n, time.Second)
	}
	return 0
}
