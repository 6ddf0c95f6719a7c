package compare

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/go-chi/httprate"
)

// rateLimited puts go-chi/httprate in front of a handler that answers 200,
// limiting by client IP as LimitByIP does (LimitBy with the IP of
// RemoteAddr as the key, and its local sliding-window LimitCounter), and sends
// sz.RateRequests GETs at once. A refused request gets 429 with
// Retry-After set to the window in whole seconds (so "0" for a 500ms
// window) and X-RateLimit-Reset at the next window's start.
func rateLimited(sz Size, s Schedule, window time.Duration) Scenario {
	return Scenario{
		Name: "httprate-" + window.String(),
		About: fmt.Sprintf("%d concurrent GETs through go-chi/httprate, %d per %v by IP: 429 with Retry-After: %d",
			sz.RateRequests, sz.RateLimit, window, int(window.Seconds())),
		Run: func(ctx context.Context, lib Library) (Row, error) {
			rec := &Recorder{Soon: s.Base / 2}
			limited := httprate.LimitBy(sz.RateLimit, window, keyByIP,
				httprate.WithLimitCounter(httprate.NewLocalLimitCounter(window)),
			)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

// keyByIP keys the limiter by the client's IP. The servers listen on
// 127.0.0.1 only, so RemoteAddr is the client itself.
func keyByIP(r *http.Request) (string, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return "", err
	}
	return host, nil
}
