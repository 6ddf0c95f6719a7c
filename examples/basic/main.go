// Command basic is the restyretry demo. It needs no set-up: it starts its own
// flaky HTTP server on 127.0.0.1, sends requests to it with a resty client
// that uses restyretry, and prints every attempt as it happens, with the
// wait before the next one.
//
//	go run ./examples/basic
//
// Part 1 uses the Default policy, so its waits are the real schedule
// (1s + up to 0.5s, then 2s + up to 1s). Part 2 uses the faster Interactive
// policy to show the rules: a server's Retry-After is honoured, a 401 is
// never retried, a POST is retried only when it is safe, and a wait longer
// than the policy allows gives up at once. The whole demo takes about 5s.
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
)

func main() {
	if err := run(os.Stdout, restyretry.Default(), restyretry.Interactive()); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// run plays the demo against a fresh local server and writes what happens to
// w. standard is the policy of part 1 and quick that of part 2; the demo
// passes Default() and Interactive(), tests pass faster ones. run returns an
// error if an outcome differs from what the demo explains, so that CI
// notices when the library and the demo disagree.
func run(w io.Writer, standard, quick restyretry.Policy) error {
	srv := httptest.NewServer(newFlakyServer())
	defer srv.Close()
	fmt.Fprintln(w, "restyretry demo: a flaky test server is running on 127.0.0.1")

	var failed []string
	check := func(o outcome, status, attempts int) {
		if o.status != status || o.attempts != attempts {
			failed = append(failed, fmt.Sprintf("%s %s: got status %d after %d attempts, want %d after %d",
				o.method, o.path, o.status, o.attempts, status, attempts))
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Part 1: the Default policy (up to 3 retries, waiting 1-1.5s, 2-3s, 4-6s)")
	client := newClient(w, srv.URL, standard)

	fmt.Fprintln(w, "\n# GET /flaky answers 503 twice, then 200")
	check(send(w, client.R(), http.MethodGet, "/flaky"), http.StatusOK, 3)

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Part 2: the Interactive policy (up to 2 quick retries, server waits up to 2s)")
	client = newClient(w, srv.URL, quick)

	fmt.Fprintln(w, "\n# 429 with Retry-After: 1: the server's wait is honoured")
	check(send(w, client.R(), http.MethodGet, "/limited"), http.StatusOK, 2)

	fmt.Fprintln(w, "\n# 401 is never retried, even with Retry-After")
	check(send(w, client.R(), http.MethodGet, "/secret"), http.StatusUnauthorized, 1)

	fmt.Fprintln(w, "\n# POST on 500 is not retried: the order may already exist")
	check(send(w, client.R().SetBody(`{"item":"book"}`), http.MethodPost, "/orders"), http.StatusInternalServerError, 1)

	fmt.Fprintln(w, "\n# POST with an Idempotency-Key is safe to retry")
	req := client.R().SetHeader("Idempotency-Key", "order-42").SetBody(`{"item":"book"}`)
	check(send(w, req, http.MethodPost, "/orders"), http.StatusCreated, 2)

	fmt.Fprintln(w, "\n# 503 with Retry-After: 120 asks for more than the policy allows: give up at once")
	o := send(w, client.R(), http.MethodGet, "/maintenance")
	check(o, http.StatusServiceUnavailable, 1)
	if !errors.Is(o.err, restyretry.ErrWaitTooLong) {
		failed = append(failed, fmt.Sprintf("GET /maintenance: got error %v, want ErrWaitTooLong", o.err))
	}

	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// newClient returns a resty client for baseURL that retries with policy
// and prints every attempt to w as it happens.
func newClient(w io.Writer, baseURL string, policy restyretry.Policy) *resty.Client {
	// OnDecision is called after every attempt with what the policy decided.
	policy.OnDecision = func(ev restyretry.Event) { fmt.Fprintln(w, describe(ev)) }
	client := resty.New().
		SetBaseURL(baseURL).
		SetLogger(quietLogger{}) // resty logs every failed attempt; the demo prints its own lines
	// In your own code, restyretry.Apply(client) installs Default().
	return policy.Apply(client)
}

// describe turns a decision into one line, e.g.
// "attempt 1: GET /flaky -> 503 Service Unavailable; retrying in 1.27s (backoff)".
func describe(ev restyretry.Event) string {
	line := fmt.Sprintf("attempt %d: %s %s -> ", ev.Attempt, ev.Method, pathOf(ev.URL))
	if ev.Status != 0 {
		line += fmt.Sprintf("%d %s", ev.Status, http.StatusText(ev.Status))
	} else {
		line += fmt.Sprintf("error %v", ev.Err)
	}
	switch {
	case ev.GiveUp != nil:
		line += "; giving up: " + ev.GiveUp.Reason.Error()
		if ev.GiveUp.Wait > 0 {
			line += fmt.Sprintf(" (%s: %v)", ev.WaitSource, ev.GiveUp.Wait)
		}
	case ev.Verdict == restyretry.Retry:
		line += fmt.Sprintf("; retrying in %s (%s)", round(ev.Wait), ev.WaitSource)
	case ev.Rule == restyretry.RuleSuccess:
		line += "; done"
	default:
		line += "; not retried (" + string(ev.Rule) + " rule)"
	}
	return line
}

// outcome is what one request ended with.
type outcome struct {
	method, path string
	status       int
	attempts     int
	err          error
}

// send sends one request and prints a summary line after the attempts.
func send(w io.Writer, req *resty.Request, method, path string) outcome {
	start := time.Now()
	resp, err := req.Execute(method, path)
	elapsed := time.Since(start)

	o := outcome{method: method, path: path, err: err, attempts: req.Attempt}
	if resp != nil && resp.RawResponse != nil {
		o.status = resp.StatusCode()
	}
	fmt.Fprintf(w, "=> %s after %d %s in %s", statusText(resp), o.attempts, plural(o.attempts, "attempt"), round(elapsed))
	if err != nil {
		fmt.Fprintf(w, "; error: %v", err)
	}
	fmt.Fprintln(w)
	return o
}

// pathOf returns the path of an event's URL; the server's port changes on
// every run.
func pathOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	return u.Path
}

func statusText(resp *resty.Response) string {
	if resp == nil || resp.RawResponse == nil {
		return "no response"
	}
	return fmt.Sprintf("%d %s", resp.StatusCode(), http.StatusText(resp.StatusCode()))
}

// round formats d in seconds to 10ms, e.g. "1.27s".
func round(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Round(10*time.Millisecond).Seconds())
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// newFlakyServer returns the demo server's handler. It counts the requests
// to each path (and, for /orders, each Idempotency-Key) to fail the first
// ones.
func newFlakyServer() http.Handler {
	var (
		mu   sync.Mutex
		hits = map[string]int{}
	)
	hit := func(key string) int {
		mu.Lock()
		defer mu.Unlock()
		hits[key]++
		return hits[key]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /flaky", func(w http.ResponseWriter, r *http.Request) {
		if hit("flaky") <= 2 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /limited", func(w http.ResponseWriter, r *http.Request) {
		if hit("limited") == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /secret", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "who are you?", http.StatusUnauthorized)
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		// The first request with each key (or without one) fails after the
		// order was stored: a blind retry would order twice.
		if hit("orders "+r.Header.Get("Idempotency-Key")) == 1 {
			http.Error(w, "oops", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintln(w, "created")
	})
	mux.HandleFunc("GET /maintenance", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		http.Error(w, "back in two minutes", http.StatusServiceUnavailable)
	})
	return mux
}

// quietLogger drops resty's log output.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}
