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

// A service that uses optimistic locking answers 409 Conflict when a write
// lost a race. The built-in rules never retry a 4xx; RetryOnStatus makes
// this one retryable, with the policy's backoff and limits.
func ExampleRetryOnStatus() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusConflict)
			return
		}
		fmt.Fprint(w, "saved")
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.BaseDelay = time.Millisecond // keep the example fast
	c := p.With(restyretry.RetryOnStatus(http.StatusConflict)).Apply(resty.New())
	defer c.GetClient().CloseIdleConnections()

	resp, err := c.R().SetBody("v2").Put(srv.URL + "/doc/7")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("attempts:", calls.Load())
	fmt.Println("status:", resp.StatusCode(), resp.String())
	// Output:
	// attempts: 3
	// status: 200 saved
}

// A 503 is normally retried. A service known to answer 503 only during a
// maintenance window gains nothing from retries: StopOnStatus returns its
// answer at once.
func ExampleStopOnStatus() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.BaseDelay = time.Millisecond // keep the example fast
	for _, policy := range []struct {
		name string
		p    restyretry.Policy
	}{
		{"default", p},
		{"StopOnStatus(503)", p.With(restyretry.StopOnStatus(http.StatusServiceUnavailable))},
	} {
		calls.Store(0)
		c := policy.p.Apply(resty.New())
		resp, err := c.R().Get(srv.URL)
		c.GetClient().CloseIdleConnections()
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s: attempts %d, status %d\n", policy.name, calls.Load(), resp.StatusCode())
	}
	// Output:
	// default: attempts 4, status 503
	// StopOnStatus(503): attempts 1, status 503
}

// With returns a new policy and leaves its receiver as it was, so one base
// policy can serve several clients with different conditions. Conditions
// run in order and the first Retry or Stop decides.
func ExamplePolicy_With() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()

	base := restyretry.Default()
	base.BaseDelay = time.Millisecond // keep the example fast
	strict := base.With(
		restyretry.StopOnStatus(http.StatusInternalServerError),  // decides first
		restyretry.RetryOnStatus(http.StatusInternalServerError), // never reached for 500
	)

	for _, policy := range []struct {
		name string
		p    restyretry.Policy
	}{{"base", base}, {"strict", strict}} {
		calls.Store(0)
		c := policy.p.Apply(resty.New())
		_, err := c.R().Get(srv.URL)
		c.GetClient().CloseIdleConnections()
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s: attempts %d\n", policy.name, calls.Load())
	}
	// Output:
	// base: attempts 4
	// strict: attempts 1
}

// A Condition sees each attempt's response and error and answers Retry,
// Stop or Abstain. Here a job API answers 200 with "pending" until the job
// is done: that 200 is retried, and only for GETs, so no other request is
// repeated because of it.
func ExampleCondition() {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if polls.Add(1) < 3 {
			fmt.Fprint(w, `{"status":"pending"}`)
			return
		}
		fmt.Fprint(w, `{"status":"done"}`)
	}))
	defer srv.Close()

	pending := func(resp *resty.Response, err error) restyretry.Verdict {
		if err == nil && resp.Request.Method == http.MethodGet && resp.String() == `{"status":"pending"}` {
			return restyretry.Retry
		}
		return restyretry.Abstain
	}
	p := restyretry.Default().With(pending)
	p.BaseDelay = time.Millisecond
	client := p.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	resp, err := client.R().Get(srv.URL)
	fmt.Println(resp.String(), err, "after", polls.Load(), "polls")
	// Output:
	// {"status":"done"} <nil> after 3 polls
}
