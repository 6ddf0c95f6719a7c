package restyretry_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
)

// Observe gives an instrumentation package every decision of every request
// of a client, under whatever policy, without touching the policy's own
// OnDecision.
func ExampleObserve() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.BaseDelay = time.Millisecond
	client := p.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()
	restyretry.Observe(client, func(ev restyretry.Event) {
		fmt.Printf("attempt %d: %d, %s by rule %q\n", ev.Attempt, ev.Status, ev.Verdict, ev.Rule)
	})

	if _, err := client.R().Get(srv.URL); err != nil {
		fmt.Println(err)
	}
	// Output:
	// attempt 1: 503, retry by rule "status"
	// attempt 2: 200, stop by rule "success"
}

// ResendCount tells a transport, inside RoundTrip, how many times the
// attempt in flight was sent before: the http.request.resend_count of
// OpenTelemetry's HTTP conventions.
func ExampleResendCount() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.BaseDelay = time.Millisecond
	client := p.Apply(resty.New())
	base := http.DefaultTransport.(*http.Transport).Clone()
	defer base.CloseIdleConnections()
	client.SetTransport(roundTripper(func(req *http.Request) (*http.Response, error) {
		fmt.Println("sending, resend count", restyretry.ResendCount(req.Context()))
		return base.RoundTrip(req)
	}))

	resp, _ := client.R().Get(srv.URL)
	fmt.Println("status", resp.StatusCode())
	// Output:
	// sending, resend count 0
	// sending, resend count 1
	// sending, resend count 2
	// status 200
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// With Pace, a 429 that names an instant holds the client's other requests
// to that host until then, instead of sending them only to be refused.
func ExamplePolicy_pace() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After-Ms", "50")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.MaxRetries = 0 // the first request takes the 429 and stops
	p.Pace = true
	p.OnDecision = func(ev restyretry.Event) {
		if ev.Rule == restyretry.RulePace {
			fmt.Printf("held before attempt 1 (source %q, at least 50ms: %v)\n", ev.WaitSource, ev.Wait >= 50*time.Millisecond)
		}
	}
	client := p.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	resp, _ := client.R().Get(srv.URL)
	fmt.Println("first request:", resp.StatusCode())
	resp, _ = client.R().Get(srv.URL)
	fmt.Println("second request:", resp.StatusCode(), "after", calls.Load(), "calls in all")
	// Output:
	// first request: 429
	// held before attempt 1 (source "pace", at least 50ms: true)
	// second request: 200 after 2 calls in all
}
