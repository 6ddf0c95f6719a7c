package core

import (
	"net/http"
	"testing"
	"time"
)

// TestRetryAfterServerDate is issue 15 item 11: an HTTP-date Retry-After
// is read against the response's own Date, when it has a valid one.
func TestRetryAfterServerDate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"server 1h ahead asks for 1s", hdr("Date", "Sun, 01 Mar 2026 13:00:00 GMT", "Retry-After", "Sun, 01 Mar 2026 13:00:01 GMT"), time.Second},
		{"server 1h behind asks for 5s", hdr("Date", "Sun, 01 Mar 2026 11:00:00 GMT", "Retry-After", "Sun, 01 Mar 2026 11:00:05 GMT"), 5 * time.Second},
		{"no Date: the local clock", hdr("Retry-After", "Sun, 01 Mar 2026 13:00:01 GMT"), time.Hour + time.Second},
		{"a bad Date: the local clock", hdr("Date", "yesterday", "Retry-After", "Sun, 01 Mar 2026 12:00:03 GMT"), 3 * time.Second},
		{"a date before Date: no wait", hdr("Date", "Sun, 01 Mar 2026 13:00:00 GMT", "Retry-After", "Sun, 01 Mar 2026 12:59:00 GMT"), 0},
		{"seconds ignore Date", hdr("Date", "Sun, 01 Mar 2026 13:00:00 GMT", "Retry-After", "7"), 7 * time.Second},
		{"an RFC 850 Date", hdr("Date", "Sunday, 01-Mar-26 13:00:00 GMT", "Retry-After", "Sun, 01 Mar 2026 13:00:02 GMT"), 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, src, ok := serverHint(tc.h, http.StatusServiceUnavailable, now)
			if !ok || src != "Retry-After" || got != tc.want {
				t.Fatalf("serverHint = %v, %q, %t; want %v, Retry-After, true", got, src, ok, tc.want)
			}
		})
	}
	// Through the rules: a server an hour ahead asking for 1s is retried
	// after about 1s, not refused as too long.
	p := Default()
	o := outcome{method: http.MethodGet, sent: true, status: http.StatusServiceUnavailable, attempt: 1, maxRetries: 3,
		header: hdr("Date", "Sun, 01 Mar 2026 13:00:00 GMT", "Retry-After", "Sun, 01 Mar 2026 13:00:01 GMT")}
	if d := decide(&p, &o, now, 0); d.verdict != Retry || d.reason != nil {
		t.Fatalf("decide = %+v, want a retry", d)
	}
}
