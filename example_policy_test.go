package restyretry_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
)

// flaky starts a local server that answers 503 to the first fails requests
// of each path and 200 afterwards.
func flaky(fails int32) *httptest.Server {
	var n atomic.Int32
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= fails {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
}

func Example() {
	srv := flaky(2)
	defer srv.Close()

	client := restyretry.Apply(resty.New())
	restyretry.TestMode(client, -1) // keeps the example fast: no waits, same decisions

	resp, err := client.R().Get(srv.URL)
	fmt.Println(resp.StatusCode(), resp.String(), "after", resp.Request.Attempt, "attempts", err)
	// Output: 200 ok after 3 attempts <nil>
}

func ExampleApply() {
	srv := flaky(1)
	defer srv.Close()

	client := restyretry.Apply(resty.New()) // the Default policy
	start := time.Now()
	resp, err := client.R().Get(srv.URL)
	waited := time.Since(start)
	fmt.Println(resp.StatusCode(), err, waited >= time.Second && waited < 5*time.Second) // 1s + U(0, 0.5s), with room for a busy machine
	// Output: 200 <nil> true
}

func ExamplePolicy_Apply() {
	srv := flaky(3)
	defer srv.Close()

	p := restyretry.Default()
	p.MaxRetries = 5
	p.BaseDelay = 10 * time.Millisecond
	client := p.Apply(resty.New())

	resp, err := client.R().Get(srv.URL)
	fmt.Println(resp.StatusCode(), "after", resp.Request.Attempt, "attempts", err)
	// Output: 200 after 4 attempts <nil>
}

// schedule prints the range of each wait of a policy, from the smallest and
// the largest draw of its random source.
func schedule(p restyretry.Policy) {
	for n := 1; n <= p.MaxRetries; n++ {
		p.Rand = func() float64 { return 0 }
		lo := p.Delay(n)
		p.Rand = func() float64 { return 1 - 1e-9 }
		hi := p.Delay(n)
		fmt.Printf("retry %d: %v to %v\n", n, lo, hi.Round(time.Millisecond))
	}
}

func ExampleDefault() {
	schedule(restyretry.Default())
	// Output:
	// retry 1: 1s to 1.5s
	// retry 2: 2s to 3s
	// retry 3: 4s to 6s
}

func ExampleInteractive() {
	p := restyretry.Interactive()
	schedule(p)
	fmt.Println("server waits up to", p.MaxRetryAfter, "whole request up to", p.MaxElapsed)
	// Output:
	// retry 1: 50ms to 100ms
	// retry 2: 100ms to 200ms
	// server waits up to 2s whole request up to 5s
}

func ExampleBackground() {
	p := restyretry.Background()
	schedule(p)
	fmt.Println("server waits up to", p.MaxRetryAfter, "whole request up to", p.MaxElapsed)
	// Output:
	// retry 1: 500ms to 1s
	// retry 2: 1s to 2s
	// retry 3: 2s to 4s
	// retry 4: 4s to 8s
	// retry 5: 8s to 16s
	// retry 6: 16s to 32s
	// retry 7: 32s to 1m4s
	// retry 8: 1m0s to 2m0s
	// server waits up to 5m0s whole request up to 15m0s
}

func ExampleContention() {
	schedule(restyretry.Contention())
	// Output:
	// retry 1: 0s to 50ms
	// retry 2: 0s to 100ms
	// retry 3: 0s to 200ms
	// retry 4: 0s to 400ms
	// retry 5: 0s to 800ms
	// retry 6: 0s to 1.6s
}

func ExampleBudget() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable) // an outage
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.BaseDelay = time.Millisecond
	p.Budget = restyretry.Budget{Ratio: 0.1, Reserve: 3}
	client := p.Apply(resty.New())

	// The first request's retries are paid by the reserve's 3 tokens; the
	// second finds none, and 10% of 2 requests pays no retry, so it gets
	// the client's one probe for the window; the third gets nothing.
	for range 3 {
		resp, err := client.R().Get(srv.URL)
		fmt.Println(resp.Request.Attempt, "attempts:", errors.Is(err, restyretry.ErrBudgetExhausted))
	}
	// Output:
	// 4 attempts: false
	// 2 attempts: true
	// 1 attempts: true
}

func ExampleGiveUpError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600") // come back in an hour
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	client := restyretry.Apply(resty.New())
	resp, err := client.R().Get(srv.URL)

	var gu *restyretry.GiveUpError
	if errors.As(err, &gu) {
		fmt.Println("gave up:", errors.Is(err, restyretry.ErrGaveUp))
		fmt.Println("reason:", gu.Reason)
		fmt.Println("attempt", gu.Attempt, "status", gu.Status, "wait", gu.Wait)
	}
	fmt.Println("last response:", resp.StatusCode())
	// Output:
	// gave up: true
	// reason: server asked to wait longer than MaxRetryAfter
	// attempt 1 status 503 wait 1h0m0s
	// last response: 503
}
