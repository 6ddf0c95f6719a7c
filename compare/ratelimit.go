package compare

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/go-chi/httprate"
)

// rateLimited puts go-chi/httprate's LimitByIP (its local sliding-window
// LimitCounter) in front of a handler that answers 200, and sends
// sz.RateRequests GETs at once. A refused request gets 429 with
// Retry-After set to the window in whole seconds (so "0" for a 500ms
// window) and X-RateLimit-Reset at the next window's start.
func rateLimited(sz Size, s Schedule, window time.Duration) Scenario {
	return Scenario{
		Name: "httprate-" + window.String(),
		About: fmt.Sprintf("%d concurrent GETs through go-chi/httprate LimitByIP(%d, %v): 429 with Retry-After: %d",
			sz.RateRequests, sz.RateLimit, window, int(window.Seconds())),
		Run: func(ctx context.Context, lib Library) (Row, error) {
			rec := &Recorder{Soon: s.Base / 2}
			limited := httprate.LimitByIP(sz.RateLimit, window)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
			}))
			srv := httptest.NewServer(rec.Wrap(func(w http.ResponseWriter, r *http.Request, hit int) {
				limited.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := lib.New(Config{Schedule: s, AttemptTimeout: 5 * time.Second})
			defer c.Close()
			start := time.Now()
			_, outs := fire(ctx, c, sz.RateRequests, sz.RateRequests, func(i int) Request {
				return Request{Method: http.MethodGet, URL: srv.URL, ID: strconv.Itoa(i)}
			})
			return newRow(lib, outs, time.Since(start), rec.Counts()), nil
		},
	}
}
