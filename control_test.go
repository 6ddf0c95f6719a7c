package restyretry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
)

// The tests in this file cover issue 4, "Control and observability":
// per-request policies (WithPolicy, WithoutRetry), decision events
// (Policy.OnDecision, LogEvents), test mode, ErrorOnExhausted and
// AddIdempotencyKey. They talk to real httptest servers on 127.0.0.1, so
// that events carry real URLs and transport errors are real ones.

// --- Per-request policies ---------------------------------------------

func TestControlWithPolicyRaisesRetries(t *testing.T) {
	srv := newTestServer(t, byTestID, statuses(503))
	c := newClient(t, fastPolicy(1))

	resp, err := c.R().SetHeader("X-Test-ID", "high").
		SetContext(WithPolicy(context.Background(), fastPolicy(4))).Get(srv.URL)
	if err != nil {
		t.Fatalf("per-request policy: err = %v", err)
	}
	if resp.StatusCode() != 503 || srv.count("high") != 5 {
		t.Errorf("per-request MaxRetries 4: status %d after %d attempts, want 503 after 5",
			resp.StatusCode(), srv.count("high"))
	}

	// The client's own policy is unchanged by the per-request one.
	if _, err := c.R().SetHeader("X-Test-ID", "plain").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if n := srv.count("plain"); n != 2 {
		t.Errorf("client policy MaxRetries 1: %d attempts, want 2", n)
	}
}

func TestControlWithPolicyLowersRetries(t *testing.T) {
	srv := newTestServer(t, byTestID, statuses(503))
	c := newClient(t, fastPolicy(4))

	if _, err := c.R().SetHeader("X-Test-ID", "low").
		SetContext(WithPolicy(context.Background(), fastPolicy(1))).Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if n := srv.count("low"); n != 2 {
		t.Errorf("per-request MaxRetries 1 on a client with 4: %d attempts, want 2", n)
	}
	if _, err := c.R().SetHeader("X-Test-ID", "plain").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if n := srv.count("plain"); n != 5 {
		t.Errorf("client policy MaxRetries 4: %d attempts, want 5", n)
	}
}

func TestControlWithoutRetry(t *testing.T) {
	srv := newTestServer(t, byTestID, statuses(503))
	c := newClient(t, fastPolicy(3))

	resp, err := c.R().SetHeader("X-Test-ID", "once").
		SetContext(WithoutRetry(context.Background())).Get(srv.URL)
	if err != nil {
		t.Fatalf("WithoutRetry: err = %v, want the 503 with a nil error", err)
	}
	if resp.StatusCode() != 503 || srv.count("once") != 1 {
		t.Errorf("WithoutRetry: status %d after %d attempts, want 503 after 1", resp.StatusCode(), srv.count("once"))
	}

	// A refused connection, retryable for every method, is not retried
	// either.
	refused := refusedURL(t)
	c2 := newClient(t, fastPolicy(3))
	_, err = c2.R().SetContext(WithoutRetry(context.Background())).Get(refused)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("WithoutRetry on a refused port: err = %v, want ECONNREFUSED", err)
	}
	if errors.Is(err, ErrGaveUp) {
		t.Errorf("WithoutRetry: err = %v wraps ErrGaveUp; a policy of no retries runs its full course", err)
	}
}

// TestControlPerRequestPolicyConcurrent shares one client between 50
// goroutines that use three policies at once; each request must get exactly
// the attempts of its own policy.
func TestControlPerRequestPolicyConcurrent(t *testing.T) {
	srv := newTestServer(t, byTestID, statuses(503))
	c := newClient(t, fastPolicy(2))
	high := fastPolicy(5)

	const n = 50
	want := make([]int, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		ctx := context.Background()
		switch i % 3 {
		case 0:
			ctx, want[i] = WithPolicy(ctx, high), 6
		case 1:
			ctx, want[i] = WithoutRetry(ctx), 1
		default:
			want[i] = 3
		}
		wg.Go(func() {
			resp, err := c.R().SetContext(ctx).SetHeader("X-Test-ID", strconv.Itoa(i)).Get(srv.URL)
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
				return
			}
			if resp.StatusCode() != 503 {
				errs <- fmt.Errorf("request %d: status %d, want 503", i, resp.StatusCode())
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		if got := srv.count(strconv.Itoa(i)); got != want[i] {
			t.Errorf("request %d (policy kind %d): %d attempts, want %d", i, i%3, got, want[i])
		}
	}
}

// TestControlPerRequestConditions checks that custom conditions of a
// per-request policy decide for that request only, and that the client's
// own conditions do not leak into it.
func TestControlPerRequestConditions(t *testing.T) {
	srv := newTestServer(t, byTestID, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path {
		case "/missing":
			w.WriteHeader(404)
		default:
			w.WriteHeader(503)
		}
	})
	// The client never retries 503 (its own condition) and has default
	// rules for 404 (never retried).
	c := newClient(t, fastPolicy(2).With(StopOnStatus(503)))
	retry404 := fastPolicy(2).With(RetryOnStatus(404))

	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			id := strconv.Itoa(i)
			r := c.R().SetHeader("X-Test-ID", "custom-"+id).
				SetContext(WithPolicy(context.Background(), retry404))
			if _, err := r.Get(srv.URL + "/missing"); err != nil {
				t.Error(err)
			}
			if _, err := c.R().SetHeader("X-Test-ID", "plain-"+id).Get(srv.URL + "/missing"); err != nil {
				t.Error(err)
			}
			// Under the per-request policy the client's StopOnStatus(503)
			// does not apply: 503 is retried by the built-in rules.
			r = c.R().SetHeader("X-Test-ID", "custom503-"+id).
				SetContext(WithPolicy(context.Background(), retry404))
			if _, err := r.Get(srv.URL + "/busy"); err != nil {
				t.Error(err)
			}
			if _, err := c.R().SetHeader("X-Test-ID", "plain503-"+id).Get(srv.URL + "/busy"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 10 {
		id := strconv.Itoa(i)
		for key, want := range map[string]int{
			"custom-" + id: 3, "plain-" + id: 1, "custom503-" + id: 3, "plain503-" + id: 1,
		} {
			if got := srv.count(key); got != want {
				t.Errorf("%s: %d attempts, want %d", key, got, want)
			}
		}
	}
}

// TestControlWithPolicyKeepsClientBudget checks that a per-request policy
// with no budget of its own still draws on the client's budget.
func TestControlWithPolicyKeepsClientBudget(t *testing.T) {
	srv := newTestServer(t, byTestID, statuses(503))
	cp := fastPolicy(1)
	cp.Budget = Budget{Ratio: 0, Reserve: 2} // two retries in all, never refilled
	c := newClient(t, cp)

	rp := fastPolicy(6) // Budget{}: unlimited, but the client's is used
	resp, err := c.R().SetHeader("X-Test-ID", "a").
		SetContext(WithPolicy(context.Background(), rp)).Get(srv.URL)
	if !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("err = %v, want ErrBudgetExhausted from the client's budget", err)
	}
	if resp == nil || resp.StatusCode() != 503 {
		t.Errorf("resp = %v, want the last 503", resp)
	}
	if n := srv.count("a"); n != 3 {
		t.Errorf("%d attempts, want 3 (1 + the client budget's 2 retries)", n)
	}
}

// --- Events --------------------------------------------------------------

func TestControlEventsSequence(t *testing.T) {
	srv := newTestServer(t, nil, statuses(503, 503, 200))
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := newClient(t, p)

	resp, err := c.R().Get(srv.URL + "/items")
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200", resp, err)
	}
	evs := events.all()
	type want struct {
		attempt, status int
		verdict         Verdict
		rule            Rule
		retry           bool
	}
	wants := []want{
		{1, 503, Retry, "status", true},
		{2, 503, Retry, "status", true},
		{3, 200, Stop, "success", false},
	}
	if len(evs) != len(wants) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(wants), evs)
	}
	for i, w := range wants {
		ev := evs[i]
		if ev.Attempt != w.attempt || ev.Status != w.status || ev.Verdict != w.verdict || ev.Rule != w.rule {
			t.Errorf("event %d = {Attempt %d Status %d Verdict %v Rule %q}, want {%d %d %v %q}",
				i, ev.Attempt, ev.Status, ev.Verdict, ev.Rule, w.attempt, w.status, w.verdict, w.rule)
		}
		if ev.Method != http.MethodGet || ev.URL != srv.URL+"/items" {
			t.Errorf("event %d: Method %q URL %q, want GET %q", i, ev.Method, ev.URL, srv.URL+"/items")
		}
		if ev.Err != nil || ev.GiveUp != nil {
			t.Errorf("event %d: Err %v GiveUp %v, want none", i, ev.Err, ev.GiveUp)
		}
		if w.retry {
			// NoJitter: the waits are exactly the backoff, 2ms then 4ms.
			wantWait := p.BaseDelay << (w.attempt - 1)
			if ev.Wait != wantWait || ev.WaitSource != "backoff" {
				t.Errorf("event %d: Wait %v from %q, want %v from \"backoff\"", i, ev.Wait, ev.WaitSource, wantWait)
			}
		} else if ev.Wait != 0 || ev.WaitSource != "" {
			t.Errorf("final event: Wait %v from %q, want none", ev.Wait, ev.WaitSource)
		}
	}
}

func TestControlEventsRetryAfter(t *testing.T) {
	srv := newTestServer(t, byTestID, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", r.Header.Get("X-Retry-After"))
			w.WriteHeader(429)
			return
		}
		w.WriteHeader(200)
	})
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := newClient(t, p)

	// Retry-After: 0 is no reason to come back sooner than the backoff.
	if _, err := c.R().SetHeader("X-Test-ID", "zero").SetHeader("X-Retry-After", "0").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	// Retry-After: 1 asks for a second; test mode skips the sleep but the
	// event reports the wait the policy chose: the hint plus at most 10%.
	tp := p.TestMode(-1)
	if _, err := c.R().SetHeader("X-Test-ID", "one").SetHeader("X-Retry-After", "1").
		SetContext(WithPolicy(context.Background(), tp)).Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	evs := events.all()
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4: %+v", len(evs), evs)
	}
	for i, src := range map[int]string{0: SourceBackoff, 2: "Retry-After"} {
		ev := evs[i]
		if ev.Verdict != Retry || ev.Status != 429 || ev.WaitSource != src {
			t.Errorf("event %d: Verdict %v Status %d WaitSource %q, want retry 429 %q",
				i, ev.Verdict, ev.Status, ev.WaitSource, src)
		}
	}
	if w, b := evs[0].Wait, p.BaseDelay; w < b || w > 2*b {
		t.Errorf("Retry-After 0: Wait %v, want the backoff, in [%v, %v]", w, b, 2*b)
	}
	if w := evs[2].Wait; w < time.Second || w > 1100*time.Millisecond {
		t.Errorf("Retry-After 1: Wait %v, want in [1s, 1.1s]", w)
	}
	if evs[1].Rule != "success" || evs[3].Rule != "success" {
		t.Errorf("final events: rules %q and %q, want success", evs[1].Rule, evs[3].Rule)
	}
}

func TestControlEventsGiveUp(t *testing.T) {
	srv := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(503)
	})
	var events eventLog
	p := fastPolicy(3)
	p.MaxRetryAfter = time.Second
	p.OnDecision = events.record
	c := newClient(t, p)

	resp, err := c.R().Get(srv.URL)
	if !errors.Is(err, ErrWaitTooLong) {
		t.Fatalf("err = %v, want ErrWaitTooLong", err)
	}
	if resp == nil || resp.StatusCode() != 503 {
		t.Errorf("resp = %v, want the 503", resp)
	}
	evs := events.all()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Verdict != Stop || ev.Attempt != 1 || ev.Status != 503 || ev.Rule != "status" {
		t.Errorf("event = %+v, want attempt 1, status 503, stop by the status rule", ev)
	}
	if !errors.Is(ev.GiveUp, ErrWaitTooLong) || !errors.Is(ev.GiveUp, ErrGaveUp) {
		t.Errorf("GiveUp = %v, want ErrWaitTooLong", ev.GiveUp)
	}
	var gu *GiveUpError
	if !errors.As(ev.GiveUp, &gu) || gu.Status != 503 || gu.Attempt != 1 {
		t.Errorf("GiveUp = %#v, want a *GiveUpError for attempt 1, status 503", ev.GiveUp)
	}
	if ev.Wait != 120*time.Second || ev.WaitSource != "Retry-After" {
		t.Errorf("Wait %v from %q, want the refused 2m0s from \"Retry-After\"", ev.Wait, ev.WaitSource)
	}
}

func TestControlEventsExhausted(t *testing.T) {
	srv := newTestServer(t, nil, statuses(503))
	var events eventLog
	p := fastPolicy(2)
	p.OnDecision = events.record
	c := newClient(t, p)

	if _, err := c.R().Get(srv.URL); err != nil {
		t.Fatalf("err = %v, want nil (ErrorOnExhausted is off)", err)
	}
	evs := events.all()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(evs), evs)
	}
	for i, ev := range evs[:2] {
		if ev.Verdict != Retry || ev.Attempt != i+1 {
			t.Errorf("event %d = %+v, want a retry after attempt %d", i, ev, i+1)
		}
	}
	last := evs[2]
	if last.Verdict != Stop || last.Rule != "max-retries" || last.Attempt != 3 || last.Status != 503 {
		t.Errorf("last event = %+v, want attempt 3, status 503, stop by max-retries", last)
	}
	if last.GiveUp != nil || last.Wait != 0 {
		t.Errorf("last event: GiveUp %v, Wait %v, want none (ErrorOnExhausted is off)", last.GiveUp, last.Wait)
	}
}

func TestControlEventsCustomCondition(t *testing.T) {
	srv := newTestServer(t, nil, statuses(418, 503, 200))
	var events eventLog
	p := fastPolicy(3).With(RetryOnStatus(429), StopOnStatus(503), RetryOnStatus(418))
	p.OnDecision = events.record
	c := newClient(t, p)

	resp, err := c.R().Get(srv.URL)
	if err != nil || resp.StatusCode() != 503 {
		t.Fatalf("got (%v, %v), want the 503 stopped by condition 2", resp, err)
	}
	evs := events.all()
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	if ev := evs[0]; ev.Verdict != Retry || ev.Rule != RuleCondition || ev.Condition != 3 || ev.Status != 418 || ev.WaitSource != "backoff" {
		t.Errorf("event 1 = %+v, want a retry of 418 by \"condition 3\"", ev)
	}
	if ev := evs[1]; ev.Verdict != Stop || ev.Rule != RuleCondition || ev.Condition != 2 || ev.Status != 503 {
		t.Errorf("event 2 = %+v, want a stop of 503 by \"condition 2\"", ev)
	}
}

// TestControlEventsCanceledAttempt: an attempt cut short by the caller's
// own deadline ends the request, and that decision is reported too, with
// the documented Rule "canceled". (resty's loop returns before it consults
// any retry condition when the request context is done, so the package
// must report it from elsewhere.)
func TestControlEventsCanceledAttempt(t *testing.T) {
	srv := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
		w.WriteHeader(503)
	})
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := newClient(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.R().SetContext(ctx).Get(srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	evs := events.all()
	if len(evs) != 1 {
		t.Fatalf("%d events for one attempt cut by the caller's deadline, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Attempt != 1 || ev.Verdict != Stop || ev.Rule != "canceled" || !errors.Is(ev.Err, context.DeadlineExceeded) {
		t.Errorf("event = %+v, want attempt 1 stopped by \"canceled\" with the deadline error", ev)
	}
}

// TestControlEventsRedacted checks that events never carry credentials:
// not the user info, query or fragment of the URL, not the Authorization
// header, not the body, not even inside the transport error.
func TestControlEventsRedacted(t *testing.T) {
	const (
		auth = "Bearer hunter2-token-value"
		body = `{"card":"4111-body-payload"}`
	)
	secrets := []string{"secret", "hunter2", "body-payload", "pass", "frag", "token="}
	check := func(t *testing.T, evs []Event) {
		t.Helper()
		for i, ev := range evs {
			s := fmt.Sprintf("%+v", ev)
			for _, bad := range secrets {
				if strings.Contains(s, bad) {
					t.Errorf("event %d contains %q: %s", i, bad, s)
				}
			}
		}
	}

	t.Run("response", func(t *testing.T) {
		srv := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, n int) {
			switch n {
			case 1:
				w.WriteHeader(503)
			default:
				w.Header().Set("Retry-After", "120") // a give-up, with its GiveUp error
				w.WriteHeader(503)
			}
			fmt.Fprintf(w, "echo %s %s", r.URL.RawQuery, r.Header.Get("Authorization"))
		})
		var events eventLog
		p := fastPolicy(3)
		p.OnDecision = events.record
		c := newClient(t, p)
		u := strings.Replace(srv.URL, "http://", "http://user:pass@", 1) + "/orders/7?token=secret#frag"
		_, err := c.R().SetHeader("Authorization", auth).SetBody(body).Put(u)
		if !errors.Is(err, ErrWaitTooLong) {
			t.Fatalf("err = %v, want ErrWaitTooLong", err)
		}
		evs := events.all()
		if len(evs) != 2 {
			t.Fatalf("%d events, want 2: %+v", len(evs), evs)
		}
		for i, ev := range evs {
			if ev.URL != srv.URL+"/orders/7" {
				t.Errorf("event %d: URL %q, want %q", i, ev.URL, srv.URL+"/orders/7")
			}
		}
		if evs[1].GiveUp == nil {
			t.Errorf("event 2 has no GiveUp: %+v", evs[1])
		}
		check(t, evs)
	})

	t.Run("transport error", func(t *testing.T) {
		var events eventLog
		p := fastPolicy(1)
		p.OnDecision = events.record
		p.ErrorOnExhausted = true // so the last event carries a GiveUp too
		c := newClient(t, p)
		u := strings.Replace(refusedURL(t), "http://", "http://user:pass@", 1) + "/orders/7?token=secret#frag"
		_, err := c.R().SetHeader("Authorization", auth).SetBody(body).Put(u)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("err = %v, want ECONNREFUSED", err)
		}
		evs := events.all()
		if len(evs) != 2 {
			t.Fatalf("%d events, want 2: %+v", len(evs), evs)
		}
		for i, ev := range evs {
			var ue *url.Error
			if ev.Err == nil || errors.As(ev.Err, &ue) {
				t.Errorf("event %d: Err %#v, want the transport error without its *url.Error", i, ev.Err)
			}
			if !errors.Is(ev.Err, syscall.ECONNREFUSED) {
				t.Errorf("event %d: Err %v, want ECONNREFUSED", i, ev.Err)
			}
			if ev.Status != 0 || ev.Rule != "network" && ev.Rule != "max-retries" {
				t.Errorf("event %d: Status %d Rule %q, want 0 and network/max-retries", i, ev.Status, ev.Rule)
			}
			if !strings.HasSuffix(ev.URL, "/orders/7") || strings.Contains(ev.URL, "@") {
				t.Errorf("event %d: URL %q, want scheme, host and path only", i, ev.URL)
			}
		}
		check(t, evs)
	})
}

// TestControlEventsConcurrent shares one observed client between 50
// goroutines with different policies and outcomes: every attempt must
// produce exactly one event, in order, for its own request.
func TestControlEventsConcurrent(t *testing.T) {
	srv := newTestServer(t, byPath, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/ok/"):
			w.WriteHeader(200)
		case strings.HasPrefix(r.URL.Path, "/flaky/") && n > 1:
			w.WriteHeader(200)
		default:
			w.WriteHeader(503)
		}
	})
	var events eventLog
	p := fastPolicy(2)
	p.OnDecision = events.record
	high := fastPolicy(4)
	high.OnDecision = events.record
	c := newClient(t, p)

	kinds := []string{"ok", "flaky", "fail"}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			ctx := context.Background()
			if i%2 == 0 {
				ctx = WithPolicy(ctx, high)
			}
			path := fmt.Sprintf("/%s/%d", kinds[i%3], i)
			if _, err := c.R().SetContext(ctx).Get(srv.URL + path); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		})
	}
	wg.Wait()

	byPath := map[string][]Event{}
	for _, ev := range events.all() {
		path := strings.TrimPrefix(ev.URL, srv.URL)
		byPath[path] = append(byPath[path], ev)
	}
	for i := range 50 {
		path := fmt.Sprintf("/%s/%d", kinds[i%3], i)
		evs := byPath[path]
		attempts := srv.count(path)
		want := map[string]int{"ok": 1, "flaky": 2, "fail": 3}[kinds[i%3]]
		if kinds[i%3] == "fail" && i%2 == 0 {
			want = 5
		}
		if attempts != want || len(evs) != attempts {
			t.Errorf("%s: %d attempts, %d events, want %d of each", path, attempts, len(evs), want)
			continue
		}
		for j, ev := range evs {
			wantVerdict := Retry
			if j == len(evs)-1 {
				wantVerdict = Stop
			}
			if ev.Attempt != j+1 || ev.Verdict != wantVerdict {
				t.Errorf("%s event %d: attempt %d verdict %v, want %d %v", path, j, ev.Attempt, ev.Verdict, j+1, wantVerdict)
			}
		}
	}
	if len(byPath) != 50 {
		t.Errorf("events for %d distinct URLs, want 50", len(byPath))
	}
}

// --- LogEvents -----------------------------------------------------------

// logLines runs requests with LogEvents at level and returns the decoded
// JSON log lines and the raw log.
func logLines(t *testing.T, level slog.Level) ([]map[string]any, string) {
	t.Helper()
	srv := newTestServer(t, byPath, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/flaky":
			if n < 3 {
				w.WriteHeader(503)
				return
			}
			w.WriteHeader(200)
		case "/slow":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(503)
		default:
			w.WriteHeader(503)
		}
	})
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: level}))
	p := fastPolicy(2)
	p.BaseDelay = 2 * time.Millisecond // the waits the table expects: 2ms, 4ms
	p.MaxRetryAfter = time.Second
	p.OnDecision = LogEvents(logger)
	c := newClient(t, p)
	for _, path := range []string{"/flaky", "/slow", "/down"} {
		if _, err := c.R().Get(srv.URL + path + "?token=secret"); err != nil && path != "/slow" {
			t.Fatal(err)
		}
	}
	mu.Lock()
	raw := buf.String()
	mu.Unlock()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if u, ok := m["url"].(string); ok {
			m["url"] = strings.TrimPrefix(u, srv.URL)
		}
		lines = append(lines, m)
	}
	return lines, raw
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestControlLogEvents(t *testing.T) {
	lines, raw := logLines(t, slog.LevelDebug)
	type want struct {
		level, msg, url, verdict, rule string
		attempt                        int
		waitSource                     string
		giveUp                         bool
	}
	wants := []want{
		{"INFO", "retrying request", "/flaky", "retry", "status", 1, "backoff", false},
		{"INFO", "retrying request", "/flaky", "retry", "status", 2, "backoff", false},
		{"DEBUG", "request finished", "/flaky", "stop", "success", 3, "", false},
		{"WARN", "gave up retrying", "/slow", "stop", "status", 1, "Retry-After", true},
		{"INFO", "retrying request", "/down", "retry", "status", 1, "backoff", false},
		{"INFO", "retrying request", "/down", "retry", "status", 2, "backoff", false},
		{"WARN", "retries exhausted", "/down", "stop", "max-retries", 3, "", false},
	}
	if len(lines) != len(wants) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(wants), raw)
	}
	for i, w := range wants {
		l := lines[i]
		if l["level"] != w.level || l["msg"] != w.msg || l["url"] != w.url || l["verdict"] != w.verdict ||
			l["rule"] != w.rule || l["attempt"] != float64(w.attempt) || l["method"] != "GET" {
			t.Errorf("line %d = %v, want %+v", i, l, w)
		}
		if w.waitSource == "" {
			if _, ok := l["wait_source"]; ok {
				t.Errorf("line %d has a wait_source: %v", i, l)
			}
		} else if l["wait_source"] != w.waitSource {
			t.Errorf("line %d: wait_source %v, want %q", i, l["wait_source"], w.waitSource)
		}
		if _, ok := l["give_up"]; ok != w.giveUp {
			t.Errorf("line %d: give_up present %v, want %v: %v", i, ok, w.giveUp, l)
		}
		wantStatus := float64(503)
		if w.rule == "success" {
			wantStatus = 200
		}
		if l["status"] != wantStatus {
			t.Errorf("line %d: status %v, want %v", i, l["status"], wantStatus)
		}
	}
	// Waits are logged as durations: JSON numbers of nanoseconds, here
	// the 2ms and 4ms backoff and the refused 120s.
	for i, wantWait := range map[int]time.Duration{0: 2 * time.Millisecond, 1: 4 * time.Millisecond, 3: 120 * time.Second} {
		if got := lines[i]["wait"]; got != float64(wantWait) {
			t.Errorf("line %d: wait %v, want %v", i, got, float64(wantWait))
		}
	}
	if gu, _ := lines[3]["give_up"].(string); !strings.Contains(gu, ErrWaitTooLong.Error()) {
		t.Errorf("give_up %q does not name the reason %q", gu, ErrWaitTooLong)
	}
	if strings.Contains(raw, "secret") || strings.Contains(raw, "token") {
		t.Errorf("log contains the query string:\n%s", raw)
	}
}

func TestControlLogEventsInfoLevel(t *testing.T) {
	lines, raw := logLines(t, slog.LevelInfo)
	levels := map[string]int{}
	for _, l := range lines {
		levels[l["level"].(string)]++
		if l["msg"] == "request finished" {
			t.Errorf("a success is logged at Info level: %v", l)
		}
	}
	if levels["DEBUG"] != 0 || levels["INFO"] != 4 || levels["WARN"] != 2 || len(lines) != 6 {
		t.Errorf("levels %v in %d lines, want 4 INFO and 2 WARN:\n%s", levels, len(lines), raw)
	}
	if strings.Contains(raw, "secret") {
		t.Errorf("log contains the query string:\n%s", raw)
	}
}

// --- Test mode -----------------------------------------------------------

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func TestControlPolicyTestModeSkipsWaits(t *testing.T) {
	srv := newTestServer(t, nil, statuses(503, 503, 200))
	// Default waits at least 1s and then 2s between these attempts.
	c := newClient(t, Default().TestMode(-1))
	var resp *resty.Response
	var err error
	took := timed(func() { resp, err = c.R().Get(srv.URL) })
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200", resp, err)
	}
	if n := srv.count(""); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if took >= 500*time.Millisecond {
		t.Errorf("took %v, want the waits skipped (Default would wait ≥ 3s)", took)
	}
}

func TestControlPolicyTestModeCaps(t *testing.T) {
	srv := newTestServer(t, byTestID, statuses(503))
	p := Default()
	for _, tc := range []struct {
		id        string
		p         Policy
		attempts  int
		receiverN int
	}{
		{"cap1", p.TestMode(1), 2, 3},
		{"cap0", p.TestMode(0), 1, 3},
		{"nocap", p.TestMode(-1), 4, 3},
		{"above", p.TestMode(10), 4, 3}, // a cap never raises MaxRetries
	} {
		c := newClient(t, tc.p)
		var err error
		took := timed(func() { _, err = c.R().SetHeader("X-Test-ID", tc.id).Get(srv.URL) })
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		if n := srv.count(tc.id); n != tc.attempts {
			t.Errorf("%s: %d attempts, want %d", tc.id, n, tc.attempts)
		}
		if took >= 500*time.Millisecond {
			t.Errorf("%s: took %v, want the waits skipped", tc.id, took)
		}
	}
	if p.MaxRetries != 3 {
		t.Errorf("TestMode changed its receiver: MaxRetries %d", p.MaxRetries)
	}
}

func TestControlPerRequestPolicyTestMode(t *testing.T) {
	srv := newTestServer(t, nil, statuses(503, 503, 200))
	c := newClient(t, fastPolicy(1)) // not in test mode
	var resp *resty.Response
	var err error
	took := timed(func() {
		resp, err = c.R().SetContext(WithPolicy(context.Background(), Default().TestMode(-1))).Get(srv.URL)
	})
	if err != nil || resp.StatusCode() != 200 || srv.count("") != 3 {
		t.Fatalf("got (%v, %v) after %d attempts, want 200 after 3", resp, err, srv.count(""))
	}
	if took >= 500*time.Millisecond {
		t.Errorf("took %v, want the per-request policy's waits skipped (Default would wait ≥ 3s)", took)
	}
}

// productionClient stands for application code that builds its own
// client with the Default policy.
func productionClient() *resty.Client {
	return Apply(resty.New().SetLogger(nopLogger{}))
}

func TestControlClientTestMode(t *testing.T) {
	srv := newTestServer(t, byTestID, func(w http.ResponseWriter, r *http.Request, n int) {
		if strings.HasPrefix(r.Header.Get("X-Test-ID"), "flaky") && n == 3 {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(503)
	})
	c := productionClient()
	t.Cleanup(c.GetClient().CloseIdleConnections)
	if got := TestMode(c, -1); got != c {
		t.Fatalf("TestMode returned another client")
	}

	run := func(id string, ctx context.Context) (int, time.Duration) {
		t.Helper()
		var resp *resty.Response
		var err error
		took := timed(func() { resp, err = c.R().SetContext(ctx).SetHeader("X-Test-ID", id).Get(srv.URL) })
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return resp.StatusCode(), took
	}

	if status, took := run("flaky-client", context.Background()); status != 200 || took >= 500*time.Millisecond {
		t.Errorf("client policy: status %d in %v, want 200 with the waits skipped", status, took)
	}
	if n := srv.count("flaky-client"); n != 3 {
		t.Errorf("client policy: %d attempts, want 3", n)
	}

	// A per-request policy used with a test-mode client is in test mode too.
	rp := Default()
	rp.MaxRetries = 5
	if status, took := run("req", WithPolicy(context.Background(), rp)); status != 503 || took >= 500*time.Millisecond {
		t.Errorf("per-request policy: status %d in %v, want 503 with the waits skipped", status, took)
	}
	if n := srv.count("req"); n != 6 {
		t.Errorf("per-request policy MaxRetries 5: %d attempts, want 6", n)
	}

	// A cap applies to both.
	TestMode(c, 1)
	run("capped-client", context.Background())
	run("capped-req", WithPolicy(context.Background(), rp))
	if a, b := srv.count("capped-client"), srv.count("capped-req"); a != 2 || b != 2 {
		t.Errorf("TestMode(c, 1): %d and %d attempts, want 2 and 2", a, b)
	}
}

func TestControlClientTestModeWithoutPolicy(t *testing.T) {
	srv := newTestServer(t, nil, statuses(503))
	c := resty.New().SetLogger(nopLogger{})
	t.Cleanup(c.GetClient().CloseIdleConnections)
	if got := TestMode(c, 2); got != c {
		t.Fatalf("TestMode returned another client")
	}
	if len(c.RetryConditions) != 0 || c.RetryCount != 0 || c.RetryAfter != nil {
		t.Errorf("TestMode changed a client without a policy: %d conditions, RetryCount %d",
			len(c.RetryConditions), c.RetryCount)
	}
	resp, err := c.R().Get(srv.URL)
	if err != nil || resp.StatusCode() != 503 || srv.count("") != 1 {
		t.Errorf("got (%v, %v) after %d attempts, want one 503", resp, err, srv.count(""))
	}
}

// TestControlTestModeDecisionsUnchanged checks that test mode only skips
// sleeping: what is retried and what gives up is as in production.
func TestControlTestModeDecisionsUnchanged(t *testing.T) {
	srv := newTestServer(t, byTestID, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path {
		case "/fail":
			w.WriteHeader(500)
		case "/denied":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(401)
		default:
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(503)
		}
	})
	policyMode := newClient(t, Default().TestMode(-1))
	clientMode := TestMode(newClient(t, Default()), -1)
	for name, c := range map[string]*resty.Client{"Policy.TestMode": policyMode, "TestMode": clientMode} {
		post, err := c.R().SetHeader("X-Test-ID", name+"post").SetBody("x").Post(srv.URL + "/fail")
		if err != nil || post.StatusCode() != 500 || srv.count(name+"post") != 1 {
			t.Errorf("%s: POST on 500: (%v, %v) after %d attempts, want one 500 and no retry",
				name, post, err, srv.count(name+"post"))
		}
		if _, err := c.R().SetHeader("X-Test-ID", name+"401").Get(srv.URL + "/denied"); err != nil || srv.count(name+"401") != 1 {
			t.Errorf("%s: 401: err %v after %d attempts, want one attempt", name, err, srv.count(name+"401"))
		}
		resp, err := c.R().SetHeader("X-Test-ID", name+"slow").Get(srv.URL + "/slow")
		if !errors.Is(err, ErrWaitTooLong) || srv.count(name+"slow") != 1 {
			t.Errorf("%s: Retry-After 120: err %v after %d attempts, want ErrWaitTooLong at once",
				name, err, srv.count(name+"slow"))
		}
		if resp == nil || resp.StatusCode() != 503 {
			t.Errorf("%s: Retry-After 120: resp %v, want the 503", name, resp)
		}
	}
}

// --- ErrorOnExhausted ----------------------------------------------------

func TestControlErrorOnExhaustedOff(t *testing.T) {
	srv := newTestServer(t, nil, statuses(503))
	c := newClient(t, fastPolicy(2))
	resp, err := c.R().Get(srv.URL)
	if err != nil {
		t.Errorf("err = %v, want nil when ErrorOnExhausted is off", err)
	}
	if resp == nil || resp.StatusCode() != 503 || resp.String() != "attempt 3" {
		t.Errorf("resp = %v, want the third attempt's 503", resp)
	}
}

func TestControlErrorOnExhaustedResponse(t *testing.T) {
	srv := newTestServer(t, nil, statuses(503))
	var events eventLog
	p := fastPolicy(2)
	p.ErrorOnExhausted = true
	p.OnDecision = events.record
	c := newClient(t, p)
	resp, err := c.R().Get(srv.URL)
	if !errors.Is(err, ErrRetriesExhausted) {
		t.Fatalf("err = %v, want ErrRetriesExhausted", err)
	}
	if errors.Is(err, ErrGaveUp) {
		t.Errorf("err = %v matches ErrGaveUp; exhausting the retries is not an early stop", err)
	}
	var gu *GiveUpError
	if !errors.As(err, &gu) {
		t.Fatalf("err = %#v, want a *GiveUpError", err)
	}
	if gu.Status != 503 || gu.Attempt != p.MaxRetries+1 || gu.Reason != ErrRetriesExhausted {
		t.Errorf("GiveUpError = %+v, want Status 503, Attempt %d, Reason ErrRetriesExhausted", gu, p.MaxRetries+1)
	}
	if resp == nil || resp.StatusCode() != 503 || resp.String() != "attempt 3" {
		t.Errorf("resp = %v, want the last (third) response", resp)
	}
	if n := srv.count(""); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	evs := events.all()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	if last := evs[2]; last.Rule != "max-retries" || last.Verdict != Stop || !errors.Is(last.GiveUp, ErrRetriesExhausted) {
		t.Errorf("last event = %+v, want a max-retries stop with GiveUp ErrRetriesExhausted", last)
	}
}

func TestControlErrorOnExhaustedNotOnSuccessOrStop(t *testing.T) {
	// Only a last attempt that still asked for a retry is "exhausted".
	srv := newTestServer(t, byPath, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.URL.Path == "/late" && n == 3:
			w.WriteHeader(200)
		case r.URL.Path == "/bad":
			w.WriteHeader(400)
		default:
			w.WriteHeader(503)
		}
	})
	p := fastPolicy(2)
	p.ErrorOnExhausted = true
	c := newClient(t, p)
	for path, want := range map[string]int{"/late": 200, "/bad": 400} {
		resp, err := c.R().Get(srv.URL + path)
		if err != nil || resp.StatusCode() != want {
			t.Errorf("%s: (%v, %v), want %d with a nil error", path, resp, err, want)
		}
	}
}

func TestControlErrorOnExhaustedTransport(t *testing.T) {
	p := fastPolicy(2)
	p.ErrorOnExhausted = true
	c := newClient(t, p)
	_, err := c.R().Get(refusedURL(t))
	if !errors.Is(err, ErrRetriesExhausted) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want both ErrRetriesExhausted and ECONNREFUSED", err)
	}
	if errors.Is(err, ErrGaveUp) {
		t.Errorf("err = %v matches ErrGaveUp", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("err = %#v, want the transport's *url.Error outside", err)
	}
	var gu *GiveUpError
	if !errors.As(err, &gu) || gu.Attempt != 3 || gu.Status != 0 {
		t.Errorf("GiveUpError = %+v, want Attempt 3, Status 0", gu)
	}

	// Off: the plain transport error.
	c2 := newClient(t, fastPolicy(2))
	_, err = c2.R().Get(refusedURL(t))
	if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, ErrRetriesExhausted) {
		t.Errorf("ErrorOnExhausted off: err = %v, want ECONNREFUSED only", err)
	}
}

// --- AddIdempotencyKey ---------------------------------------------------

// keyServer answers attempts 1 and 2 of every request ID with 500 and
// then 200, and records the Idempotency-Key of every attempt ("-" when the
// header is absent).
type keyServer struct {
	*testServer
	mu   sync.Mutex
	keys map[string][]string
}

func newKeyServer(t *testing.T) *keyServer {
	ks := &keyServer{keys: map[string][]string{}}
	ks.testServer = newTestServer(t, byTestID, func(w http.ResponseWriter, r *http.Request, n int) {
		k := "-"
		if v, ok := r.Header[http.CanonicalHeaderKey("Idempotency-Key")]; ok {
			k = strings.Join(v, ",")
		}
		ks.mu.Lock()
		ks.keys[byTestID(r)] = append(ks.keys[byTestID(r)], k)
		ks.mu.Unlock()
		if n < 3 {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(200)
	})
	return ks
}

func (ks *keyServer) seen(id string) []string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return append([]string(nil), ks.keys[id]...)
}

func TestControlIdempotencyKeyAdded(t *testing.T) {
	ks := newKeyServer(t)
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	c := newClient(t, p)

	var first []string
	for _, id := range []string{"post-1", "post-2"} {
		resp, err := c.R().SetHeader("X-Test-ID", id).SetBody(`{"n":1}`).Post(ks.URL)
		if err != nil || resp.StatusCode() != 200 {
			t.Fatalf("%s: (%v, %v), want 200 after retries", id, resp, err)
		}
		keys := ks.seen(id)
		if len(keys) != 3 {
			t.Fatalf("%s: %d attempts, want 3 (a keyed POST is retried on 500)", id, len(keys))
		}
		if keys[0] == "-" || keys[0] == "" || strings.Contains(keys[0], ",") {
			t.Errorf("%s: key %q, want one non-empty key", id, keys[0])
		}
		for i, k := range keys {
			if k != keys[0] {
				t.Errorf("%s: attempt %d sent key %q, attempt 1 sent %q", id, i+1, k, keys[0])
			}
		}
		if first == nil {
			first = keys
		} else if keys[0] == first[0] {
			t.Errorf("two logical requests share the key %q", keys[0])
		}
	}

	resp, err := c.R().SetHeader("X-Test-ID", "patch").SetBody("x").Patch(ks.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Errorf("PATCH: (%v, %v), want 200 after retries", resp, err)
	}
	if keys := ks.seen("patch"); len(keys) != 3 || keys[0] == "-" || keys[2] != keys[0] {
		t.Errorf("PATCH: keys %q, want 3 identical keys", keys)
	}
}

func TestControlIdempotencyKeyKeepsUserKey(t *testing.T) {
	ks := newKeyServer(t)
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	c := newClient(t, p)
	resp, err := c.R().SetHeader("X-Test-ID", "mine").SetHeader("Idempotency-Key", "my-key-1").SetBody("x").Post(ks.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("(%v, %v), want 200", resp, err)
	}
	if keys := ks.seen("mine"); strings.Join(keys, " ") != "my-key-1 my-key-1 my-key-1" {
		t.Errorf("keys %q, want the caller's my-key-1 on all 3 attempts", keys)
	}
}

// TestControlIdempotencyKeyKeepsClientKey: a key set on the client
// (resty.Client.SetHeader) is the caller's key as much as one set on the
// request; it is sent on the wire and already makes the POST retryable, so
// AddIdempotencyKey must not replace it with a random one.
func TestControlIdempotencyKeyKeepsClientKey(t *testing.T) {
	ks := newKeyServer(t)
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	c := newClient(t, p)
	c.SetHeader("Idempotency-Key", "client-key-1")
	resp, err := c.R().SetHeader("X-Test-ID", "client").SetBody("x").Post(ks.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("(%v, %v), want 200", resp, err)
	}
	if keys := ks.seen("client"); strings.Join(keys, " ") != "client-key-1 client-key-1 client-key-1" {
		t.Errorf("keys %q, want the client's client-key-1 on all 3 attempts", keys)
	}
}

func TestControlIdempotencyKeyNotOnGet(t *testing.T) {
	ks := newKeyServer(t)
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	c := newClient(t, p)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if _, err := c.R().SetHeader("X-Test-ID", m).Execute(m, ks.URL); err != nil {
			t.Fatal(err)
		}
		if keys := ks.seen(m); strings.Join(keys, " ") != "- - -" {
			t.Errorf("%s: keys %q, want no Idempotency-Key on any of 3 attempts", m, keys)
		}
	}
}

func TestControlIdempotencyKeyOff(t *testing.T) {
	ks := newKeyServer(t)
	c := newClient(t, fastPolicy(3))
	resp, err := c.R().SetHeader("X-Test-ID", "off").SetBody("x").Post(ks.URL)
	if err != nil || resp.StatusCode() != 500 {
		t.Errorf("(%v, %v), want the first 500: a POST without key is not retried", resp, err)
	}
	if keys := ks.seen("off"); strings.Join(keys, " ") != "-" {
		t.Errorf("keys %q, want one attempt without Idempotency-Key", keys)
	}

	// A per-request policy can switch it on for one request.
	kp := fastPolicy(3)
	kp.AddIdempotencyKey = true
	resp, err = c.R().SetHeader("X-Test-ID", "on").SetBody("x").
		SetContext(WithPolicy(context.Background(), kp)).Post(ks.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Errorf("per-request AddIdempotencyKey: (%v, %v), want 200", resp, err)
	}
	if keys := ks.seen("on"); len(keys) != 3 || keys[0] == "-" || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Errorf("per-request AddIdempotencyKey: keys %q, want 3 identical keys", keys)
	}
}
