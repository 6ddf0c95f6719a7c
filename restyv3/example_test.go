package restyv3_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/restyretry/restyretry/restyv3"
	"resty.dev/v3"
)

// Apply a policy to a resty v3 client: a 503 is retried after the backoff,
// and a Retry-After longer than MaxRetryAfter gives up at once.
func Example() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/busy":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		case calls.Add(1) == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer srv.Close()

	p := restyv3.Default()
	p.OnDecision = func(ev restyv3.Event) {
		fmt.Printf("attempt %d: %d, %s (%s)\n", ev.Attempt, ev.Status, ev.Verdict, ev.Rule)
	}
	c := p.TestMode(-1).Apply(resty.New().SetBaseURL(srv.URL)) // test mode: no sleeping here
	defer c.Close()

	res, err := c.R().SetContext(context.Background()).Get("/items")
	fmt.Println(res.StatusCode(), res.String(), err)

	res, err = c.R().Get("/busy")
	fmt.Println(res.StatusCode(), errors.Is(err, restyv3.ErrWaitTooLong), errors.Is(err, restyv3.ErrGaveUp))
	fmt.Println("Retry-After:", res.Header().Get("Retry-After"))
	// Output:
	// attempt 1: 503, retry (status)
	// attempt 2: 200, stop (success)
	// 200 ok <nil>
	// attempt 1: 429, stop (status)
	// 429 true true
	// Retry-After: 3600
}
