package restyretry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
)

// A request can run under another policy than its client's: here one
// request may wait for a slow recovery while the client gives up after a
// single retry.
func ExampleWithPolicy() {
	// The service fails three times, then recovers.
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if attempts.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	quick := restyretry.Default()
	quick.MaxRetries = 1
	quick.BaseDelay = time.Millisecond
	client := quick.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	resp, _ := client.R().Get(srv.URL)
	fmt.Println("client policy:", resp.StatusCode(), "after", attempts.Load(), "attempts")

	attempts.Store(0)
	patient := quick
	patient.MaxRetries = 5
	ctx := restyretry.WithPolicy(context.Background(), patient)
	resp, _ = client.R().SetContext(ctx).Get(srv.URL)
	fmt.Println("per-request policy:", resp.StatusCode(), "after", attempts.Load(), "attempts")
	// Output:
	// client policy: 503 after 2 attempts
	// per-request policy: 200 after 4 attempts
}

// A health check or a call with its own fallback should fail fast: one
// attempt, whatever the client's policy.
func ExampleWithoutRetry() {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attempts.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	client := restyretry.Apply(resty.New()) // Default: up to 3 retries
	defer client.GetClient().CloseIdleConnections()

	ctx := restyretry.WithoutRetry(context.Background())
	resp, err := client.R().SetContext(ctx).Get(srv.URL + "/health")
	fmt.Println(resp.StatusCode(), err, "after", attempts.Load(), "attempt")
	// Output:
	// 503 <nil> after 1 attempt
}

// LogEvents logs every decision with log/slog: retries at Info, give-ups
// and exhausted retries at Warn, everything else at Debug. The URL is
// logged without its query string, which may hold credentials.
func ExampleLogEvents() {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if attempts.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		// Keep the output stable: no time, and the test server's URL
		// (its port changes on every run) reduced to the path.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case "url":
				if u, err := url.Parse(a.Value.String()); err == nil {
					a.Value = slog.StringValue(u.Path)
				}
			}
			return a
		},
	}))

	p := restyretry.Default()
	p.BaseDelay = 10 * time.Millisecond
	p.Jitter = restyretry.NoJitter // exact waits, for the example's output
	p.OnDecision = restyretry.LogEvents(logger)
	client := p.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	_, _ = client.R().Get(srv.URL + "/orders?api_key=secret")
	// Output:
	// level=INFO msg="retrying request" attempt=1 method=GET url=/orders verdict=retry rule=status status=503 wait=10ms wait_source=backoff
	// level=INFO msg="retrying request" attempt=2 method=GET url=/orders verdict=retry rule=status status=503 wait=20ms wait_source=backoff
	// level=DEBUG msg="request finished" attempt=3 method=GET url=/orders verdict=stop rule=success status=200
}

// In tests, a production policy can run in test mode: every decision is
// the same, but no wait is slept, so a test of the retry path is fast.
func ExamplePolicy_TestMode() {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if attempts.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	// Default waits 1s and then 2s before these retries.
	client := restyretry.Default().TestMode(-1).Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	start := time.Now()
	resp, _ := client.R().Get(srv.URL)
	fmt.Println(resp.StatusCode(), "after", attempts.Load(), "attempts")
	fmt.Println("slept:", time.Since(start) >= time.Second)
	// Output:
	// 200 after 3 attempts
	// slept: false
}

// TestMode switches a client built elsewhere, with whatever policy, to test
// mode; here it also caps the retries at one.
func ExampleTestMode() {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attempts.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	// newClient stands for the application's own constructor.
	newClient := func() *resty.Client { return restyretry.Apply(resty.New()) }

	client := restyretry.TestMode(newClient(), 1)
	defer client.GetClient().CloseIdleConnections()

	resp, _ := client.R().Get(srv.URL)
	fmt.Println(resp.StatusCode(), "after", attempts.Load(), "attempts")
	// Output:
	// 503 after 2 attempts
}

// Policy.OnDecision receives an Event for every decision: what happened,
// which rule decided, and how long the next wait is. Events never carry
// headers, bodies or the query string.
func ExampleEvent() {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/report":
			w.Header().Set("Retry-After", "3600") // come back in an hour
			w.WriteHeader(http.StatusServiceUnavailable)
		case attempts.Add(1) == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.BaseDelay = 5 * time.Millisecond
	p.Jitter = restyretry.NoJitter
	p.OnDecision = func(ev restyretry.Event) {
		path := strings.TrimPrefix(ev.URL, srv.URL)
		fmt.Printf("attempt %d: %s %s: %d, %s (%s)", ev.Attempt, ev.Method, path, ev.Status, ev.Verdict, ev.Rule)
		if ev.Verdict == restyretry.Retry {
			fmt.Printf(", next in %v (%s)", ev.Wait, ev.WaitSource)
		}
		if errors.Is(ev.GiveUp, restyretry.ErrWaitTooLong) {
			fmt.Printf(", gave up: %s asked for %v", ev.WaitSource, ev.Wait)
		}
		fmt.Println()
	}
	client := p.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	_, _ = client.R().Get(srv.URL + "/orders/42?token=secret")
	_, _ = client.R().Get(srv.URL + "/report")
	// Output:
	// attempt 1: GET /orders/42: 503, retry (status), next in 5ms (backoff)
	// attempt 2: GET /orders/42: 200, stop (success)
	// attempt 1: GET /report: 503, stop (status), gave up: Retry-After asked for 1h0m0s
}

// By default a request whose retries all failed returns the last response
// and a nil error, as resty does. With ErrorOnExhausted it also returns an
// error, which still holds the final status.
func Example_errorOnExhausted() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.MaxRetries = 2
	p.BaseDelay = time.Millisecond
	p.ErrorOnExhausted = true
	client := p.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	resp, err := client.R().Get(srv.URL)
	var gu *restyretry.GiveUpError
	if errors.As(err, &gu) {
		fmt.Println("attempts:", gu.Attempt, "final status:", gu.Status)
	}
	fmt.Println("exhausted:", errors.Is(err, restyretry.ErrRetriesExhausted))
	fmt.Println("gave up:", errors.Is(err, restyretry.ErrGaveUp))
	fmt.Println("last response:", resp.StatusCode())
	// Output:
	// attempts: 3 final status: 503
	// exhausted: true
	// gave up: true
	// last response: 503
}

// A POST is normally not retried after a 500: the server may have acted on
// it. With AddIdempotencyKey, each POST and PATCH carries a random
// Idempotency-Key, the same on every attempt, so a server that deduplicates
// by key makes the retry safe, and the request is retried.
func Example_idempotencyKey() {
	var (
		mu   sync.Mutex
		keys []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	p := restyretry.Default()
	p.BaseDelay = time.Millisecond
	p.AddIdempotencyKey = true
	client := p.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	resp, _ := client.R().SetBody(`{"amount":10}`).Post(srv.URL + "/payments")

	mu.Lock()
	defer mu.Unlock()
	fmt.Println(resp.StatusCode(), "after", len(keys), "attempts")
	fmt.Println("one key for all attempts:", keys[0] != "" && keys[1] == keys[0] && keys[2] == keys[0])
	// Output:
	// 201 after 3 attempts
	// one key for all attempts: true
}
