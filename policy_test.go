package restyretry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
)

// Per-request policies (WithPolicy, WithoutRetry) and test mode
// (Policy.TestMode, TestMode), from issue 4, "Control and observability".
// The tests talk to real httptest servers on 127.0.0.1.

// --- Per-request policies ---------------------------------------------

func TestControlWithPolicyRaisesRetries(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
		spawn(&wg, func() {
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
	t.Parallel()
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
		spawn(&wg, func() {
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
	t.Parallel()
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

// --- Test mode -----------------------------------------------------------

// waitsSkipped reports whether every wait decided (evs, in test mode, carry
// them: Default's are seconds) was handed to resty as a skipped one, 1ns
// (handed, from handedWaits): no timing.
func waitsSkipped(evs []Event, handed []time.Duration) bool {
	decided := retryWaits(evs)
	if len(decided) == 0 || len(handed) != len(decided) {
		return false
	}
	for i, w := range handed {
		if w != time.Nanosecond || decided[i] <= time.Nanosecond {
			return false
		}
	}
	return true
}

func TestControlPolicyTestModeSkipsWaits(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, statuses(503, 503, 200))
	// Default waits at least 1s and then 2s between these attempts.
	c, events := eventClient(t, Default().TestMode(-1))
	handed := handedWaits(c)
	resp, err := c.R().Get(srv.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200", resp, err)
	}
	if n := srv.count(""); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if w := retryWaits(events.all()); len(w) != 2 || w[0] < time.Second || w[1] < 2*time.Second || !waitsSkipped(events.all(), handed()) {
		t.Errorf("decided waits %v, handed to resty %v, want Default's (≥ 1s, ≥ 2s) skipped", w, handed())
	}
}

func TestControlPolicyTestModeCaps(t *testing.T) {
	t.Parallel()
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
		c, events := eventClient(t, tc.p)
		handed := handedWaits(c)
		_, err := c.R().SetHeader("X-Test-ID", tc.id).Get(srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		if n := srv.count(tc.id); n != tc.attempts {
			t.Errorf("%s: %d attempts, want %d", tc.id, n, tc.attempts)
		}
		if tc.attempts > 1 && !waitsSkipped(events.all(), handed()) {
			t.Errorf("%s: decided waits %v, handed to resty %v, want them skipped", tc.id, retryWaits(events.all()), handed())
		}
	}
	if p.MaxRetries != 3 {
		t.Errorf("TestMode changed its receiver: MaxRetries %d", p.MaxRetries)
	}
}

func TestControlPerRequestPolicyTestMode(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, statuses(503, 503, 200))
	c := newClient(t, fastPolicy(1)) // not in test mode
	var events eventLog
	rp := Default().TestMode(-1)
	rp.OnDecision = events.record
	handed := handedWaits(c)
	resp, err := c.R().SetContext(WithPolicy(context.Background(), rp)).Get(srv.URL)
	if err != nil || resp.StatusCode() != 200 || srv.count("") != 3 {
		t.Fatalf("got (%v, %v) after %d attempts, want 200 after 3", resp, err, srv.count(""))
	}
	if !waitsSkipped(events.all(), handed()) {
		t.Errorf("decided waits %v, handed to resty %v, want the per-request policy's waits skipped", retryWaits(events.all()), handed())
	}
}

func TestControlClientTestMode(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, byTestID, func(w http.ResponseWriter, r *http.Request, n int) {
		if strings.HasPrefix(r.Header.Get("X-Test-ID"), "flaky") && n == 3 {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(503)
	})
	c, events := eventClient(t, Default()) // application code's own client, Default policy
	if got := TestMode(c, -1); got != c {
		t.Fatalf("TestMode returned another client")
	}

	handed := handedWaits(c)
	// run returns the status, and whether the decided waits were skipped.
	run := func(id string, ctx context.Context) (int, bool) {
		t.Helper()
		events.take()
		before := len(handed())
		resp, err := c.R().SetContext(ctx).SetHeader("X-Test-ID", id).Get(srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return resp.StatusCode(), waitsSkipped(events.take(), handed()[before:])
	}

	if status, skipped := run("flaky-client", context.Background()); status != 200 || !skipped {
		t.Errorf("client policy: status %d, waits skipped %v, want 200 with the waits skipped", status, skipped)
	}
	if n := srv.count("flaky-client"); n != 3 {
		t.Errorf("client policy: %d attempts, want 3", n)
	}

	// A per-request policy used with a test-mode client is in test mode too.
	rp := Default()
	rp.MaxRetries = 5 // its events reach the client's OnDecision too: events has them
	if status, skipped := run("req", WithPolicy(context.Background(), rp)); status != 503 || !skipped {
		t.Errorf("per-request policy: status %d, waits skipped %v, want 503 with the waits skipped", status, skipped)
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
	t.Parallel()
	srv := newTestServer(t, nil, statuses(503))
	c := bareClient(t)
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
	t.Parallel()
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
