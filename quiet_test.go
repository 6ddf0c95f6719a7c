package restyretry

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-resty/resty/v2"
)

// ---------------------------------------------------------------------------
// Issue 8, item 8: Applying does not make resty log each failed attempt.

func TestUsageRestyLoopQuiet(t *testing.T) {
	t.Parallel()
	const secret = "api_key=SECRET123"
	refused := refusedURL(t) + "/v1/things?" + secret
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	down := srv.URL + "/v1/things?" + secret

	p := fastPolicy(3)
	p.MaxRetries = 2
	pe := p
	pe.ErrorOnExhausted = true
	cases := []struct {
		name  string
		build func(l resty.Logger) *resty.Client
		url   string
		err   bool
	}{
		{"bare client, refused", func(l resty.Logger) *resty.Client { return resty.New().SetLogger(l) }, refused, true},
		{"applied, refused", func(l resty.Logger) *resty.Client { return p.Apply(resty.New().SetLogger(l)) }, refused, true},
		{"logger set after Apply, refused", func(l resty.Logger) *resty.Client { return p.Apply(resty.New()).SetLogger(l) }, refused, true},
		{"applied, 503 exhausted with error", func(l resty.Logger) *resty.Client { return pe.Apply(resty.New().SetLogger(l)) }, down, true},
		{"applied, 503 exhausted", func(l resty.Logger) *resty.Client { return p.Apply(resty.New().SetLogger(l)) }, down, false},
		{"applied clone, refused", func(l resty.Logger) *resty.Client { return p.Apply(resty.New().SetLogger(l)).Clone() }, refused, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l recLogger
			c := tc.build(&l)
			t.Cleanup(c.GetClient().CloseIdleConnections)
			_, err := c.R().Get(tc.url)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want an error: %v", err, tc.err)
			}
			for _, line := range l.take() {
				if strings.HasPrefix(line, "WARN") || strings.HasPrefix(line, "ERROR") {
					t.Errorf("resty logged: %s", line)
				}
				if strings.Contains(line, "SECRET123") {
					t.Errorf("a log line carries the query string: %s", line)
				}
			}
		})
	}
}

// A request-level logger, and a request that fails in a user's
// OnBeforeRequest hook: a bare client logs nothing for either, and neither
// does an applied one when the hook comes after Apply. A hook registered
// before Apply runs before the library's and, when it fails, the library
// never sees the request: resty then logs the hook's own error once at Warn
// and once at Error (documented in the README's limits). No line ever
// carries the URL.
func TestUsageRestyLoopQuietHooksAndRequestLogger(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	hookErr := errors.New("no token for this call")
	failing := func(_ *resty.Client, r *resty.Request) error {
		if r.Header.Get("X-Fail") != "" {
			return hookErr
		}
		return nil
	}
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.ErrorOnExhausted = true
	builds := map[string]func() *resty.Client{
		"bare, hook": func() *resty.Client {
			return resty.New().SetLogger(nopLogger{}).OnBeforeRequest(failing)
		},
		"hook before Apply": func() *resty.Client {
			return p.Apply(resty.New().SetLogger(nopLogger{}).OnBeforeRequest(failing))
		},
		"hook after Apply": func() *resty.Client {
			return p.Apply(resty.New().SetLogger(nopLogger{})).OnBeforeRequest(failing)
		},
	}
	for name, build := range builds {
		t.Run(name, func(t *testing.T) {
			c := build()
			t.Cleanup(c.GetClient().CloseIdleConnections)
			var l recLogger
			_, err := c.R().SetLogger(&l).SetHeader("X-Fail", "1").Get(srv.URL + "/?" + "token=SECRET123")
			if !errors.Is(err, hookErr) {
				t.Errorf("err = %v, want the hook's", err)
			}
			lines := l.take()
			if name == "hook before Apply" {
				want := []string{"WARN no token for this call, Attempt 1", "ERROR no token for this call"}
				if !slices.Equal(lines, want) {
					t.Errorf("logged %q, want resty's two lines of the hook's error %q", lines, want)
				}
				lines = nil
			}
			for _, line := range lines {
				t.Errorf("logged for a request its hook refused: %s", line)
			}
			if name == "bare, hook" {
				return
			}
			_, err = c.R().SetLogger(&l).Get(srv.URL + "/?" + "token=SECRET123")
			if !errors.Is(err, ErrRetriesExhausted) {
				t.Errorf("err = %v, want ErrRetriesExhausted", err)
			}
			for _, line := range l.take() {
				t.Errorf("request logger got: %s", line)
			}
		})
	}
}
