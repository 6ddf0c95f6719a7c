package restyretry

// Adversarial hunt (huntv2): behaviours a resty user meets, on loopback,
// with the presets' real waits on a fake clock where they matter.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/retrytest"
)

// huntClock returns a quiet client with p applied on a fake clock.
func huntClock(t *testing.T, p Policy) (*resty.Client, *retrytest.Clock) {
	t.Helper()
	clock := retrytest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	c := resty.New().SetLogger(nopLogger{})
	ApplyOnClock(p, c, clock)
	t.Cleanup(func() { c.GetClient().CloseIdleConnections() })
	return c, clock
}

// A burst of 200 concurrent requests that each fail once: all succeed with
// Default's budget (test mode: every decision as in production).
func TestHuntBurst200FailOnce(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, byTestID, statuses(503, 200))
	c := newClient(t, Default().TestMode(-1))
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 200 {
		spawn(&wg, func() {
			resp, err := c.R().SetHeader("X-Test-ID", fmt.Sprint(i)).Get(srv.URL)
			if err == nil && resp.StatusCode() == 200 {
				ok.Add(1)
			} else {
				t.Errorf("request %d: %v %v", i, statusOf(resp), err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 200 {
		t.Fatalf("%d of 200 succeeded", ok.Load())
	}
}

// A dead host under Background, on a fake clock with its real waits: once
// the budget considers the host down, a request gives up with
// ErrBudgetExhausted after at most its first backoff instead of sleeping its
// schedule.
func TestHuntBackgroundDeadHostGivesUp(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) { hits.Add(1); w.WriteHeader(503) })
	c, clock := huntClock(t, Background().TestMode(-1))
	exhausted := 0
	for i := range 60 {
		before := hits.Load()
		_, err := c.R().Get(srv.URL)
		if n := hits.Load() - before; i >= 20 && n > 2 {
			t.Fatalf("request %d: %d attempts against a host down for %ds", i, n, i)
		}
		if errors.Is(err, ErrBudgetExhausted) {
			exhausted++
			if !errors.Is(err, ErrGaveUp) {
				t.Errorf("request %d: %v does not match ErrGaveUp", i, err)
			}
		}
		clock.Advance(time.Second)
	}
	if exhausted == 0 {
		t.Fatal("no request gave up with ErrBudgetExhausted")
	}
}

// WithRoute separates routes: a dead route on the host, open loop at 10
// requests a second for a minute beside a healthy route in a 20% brownout,
// does not spend the healthy one's retries.
func TestHuntWithRouteSeparates(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("r") == "dead" {
			w.WriteHeader(503)
			return
		}
		if n.Add(1)%5 == 1 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	c, clock := huntClock(t, Default().TestMode(-1))
	dead := WithRoute(context.Background(), "dead")
	live := WithRoute(context.Background(), "live")
	failed := 0
	for i := range 600 {
		_, _ = c.R().SetContext(dead).Get(srv.URL + "/x?r=dead")
		resp, err := c.R().SetContext(live).Get(srv.URL + "/x?r=live")
		if err != nil || resp.StatusCode() != 200 {
			failed++
			t.Logf("healthy request %d: %v %v", i, statusOf(resp), err)
		}
		clock.Advance(100 * time.Millisecond)
	}
	if failed > 0 {
		t.Fatalf("%d of 600 healthy requests failed", failed)
	}
}

// Pace: while requests are held, an absurd reset (Retry-After:
// 99999999999) must neither hang a held request nor block the host.
func TestHuntPaceAbsurdResetWhileHeld(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
		case 2:
			w.Header().Set("Retry-After", "99999999999")
			w.WriteHeader(429)
		default:
			w.WriteHeader(200)
		}
	})
	p := Default()
	p.Pace = true
	p.MaxRetryAfter = 3 * time.Second
	c := newClient(t, p)
	ctx := safetyNet(t)
	_, _ = c.R().SetContext(WithoutRetry(ctx)).Get(srv.URL) // 429, Retry-After: 1: holds the host
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range 5 {
		spawn(&wg, func() {
			_, errs[i] = c.R().SetContext(ctx).Get(srv.URL)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("held requests hung")
	}
	resp, err := c.R().SetContext(ctx).Get(srv.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("after the absurd reset: %v %v (held: %v)", statusOf(resp), err, errs)
	}
}

// resp.Request.Context() is usable for a follow-up after Execute, under
// MaxElapsed and under a hook that wraps the context.
func TestHuntFollowUpContext(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, byTestID, statuses(503, 200))
	for _, wrap := range []bool{false, true} {
		p := fastPolicy(2)
		p.MaxElapsed = 5 * time.Second
		c := newClient(t, p)
		if wrap {
			type k struct{}
			c.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
				ctx, cancel := context.WithCancel(context.WithValue(r.Context(), k{}, 1))
				_ = cancel
				r.SetContext(ctx)
				return nil
			})
		}
		resp, err := c.R().SetHeader("X-Test-ID", fmt.Sprint("fu", wrap)).Get(srv.URL)
		if err != nil || resp.StatusCode() != 200 {
			t.Fatalf("wrap=%v: %v %v", wrap, statusOf(resp), err)
		}
		ctx := resp.Request.Context()
		if ctx.Err() != nil {
			t.Fatalf("wrap=%v: context after Execute: %v", wrap, ctx.Err())
		}
		resp2, err := c.R().SetContext(ctx).SetHeader("X-Test-ID", fmt.Sprint("fu2", wrap)).Get(srv.URL)
		if err != nil || resp2.StatusCode() != 200 {
			t.Fatalf("wrap=%v: follow-up: %v %v", wrap, statusOf(resp2), err)
		}
	}
}

// A *resty.Request executed twice retries fully both times.
func TestHuntReusedRequest(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%3 != 0 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	})
	for _, p := range []Policy{fastPolicy(3), func() Policy { p := fastPolicy(3); p.MaxElapsed = time.Minute; return p }()} {
		n.Store(0)
		c := newClient(t, p)
		r := c.R().SetBody("x")
		for i := range 2 {
			resp, err := r.Put(srv.URL)
			if err != nil || resp.StatusCode() != 200 {
				t.Fatalf("execute %d: %v %v", i, statusOf(resp), err)
			}
		}
		if got := n.Load(); got != 6 {
			t.Errorf("%d attempts for two executions, want 6", got)
		}
	}
}

// Every give-up matches ErrGaveUp, streamed or not.
func TestHuntGiveUpsMatchErrGaveUp(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/long":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(503)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
			w.WriteHeader(503)
		default:
			w.WriteHeader(503)
		}
	})
	dead := refusedURL(t)
	for _, stream := range []bool{false, true} {
		p := fastPolicy(2)
		p.ErrorOnExhausted = true
		c := newClient(t, p)
		pe := fastPolicy(5)
		pe.MaxElapsed = 100 * time.Millisecond
		ce := newClient(t, pe)
		cases := []struct {
			name string
			c    *resty.Client
			url  string
		}{
			{"long", c, srv.URL + "/long"},
			{"exhausted", c, srv.URL + "/x"},
			{"refused", c, dead},
			{"elapsed", ce, srv.URL + "/slow"},
		}
		for _, tc := range cases {
			resp, err := tc.c.R().SetDoNotParseResponse(stream).Get(tc.url)
			if !errors.Is(err, ErrGaveUp) {
				t.Errorf("stream=%v %s: %v does not match ErrGaveUp", stream, tc.name, err)
			}
			if stream && resp != nil && resp.RawResponse != nil {
				_ = resp.RawBody().Close()
			}
		}
	}
}

// HTTP/2 over TLS: a 503 then 200 is retried; a stream reset on a POST
// is not.
func TestHuntHTTP2(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			w.WriteHeader(400)
			return
		}
		if n.Add(1) == 1 {
			w.WriteHeader(503)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := resty.NewWithClient(srv.Client()).SetLogger(nopLogger{})
	fastPolicy(3).Apply(c)
	t.Cleanup(func() { c.GetClient().CloseIdleConnections() })
	var wg sync.WaitGroup
	for i := range 50 {
		spawn(&wg, func() {
			resp, err := c.R().SetDoNotParseResponse(i%2 == 0).Get(srv.URL)
			if err != nil || resp.StatusCode() != 200 {
				t.Errorf("%v %v", statusOf(resp), err)
			}
			if i%2 == 0 && resp != nil && resp.RawResponse != nil {
				_, _ = io.Copy(io.Discard, resp.RawBody())
				_ = resp.RawBody().Close()
			}
		})
	}
	wg.Wait()
}

// A request made from inside another request's hook, with that request's
// context, retries on its own and leaves the outer one's state alone.
func TestHuntRequestInsideHook(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, byTestID, statuses(503, 503, 200))
	c := newClient(t, fastPolicy(3))
	var inner atomic.Int32
	c.OnAfterResponse(func(c *resty.Client, resp *resty.Response) error {
		if resp.Request.Header.Get("X-Test-ID") != "outer" || inner.Add(1) != 1 {
			return nil
		}
		r2, err := c.R().SetContext(resp.Request.Context()).SetHeader("X-Test-ID", "inner").Get(srv.URL)
		if err != nil || r2.StatusCode() != 200 {
			t.Errorf("inner: %v %v", statusOf(r2), err)
		}
		return nil
	})
	resp, err := c.R().SetHeader("X-Test-ID", "outer").Get(srv.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("outer: %v %v", statusOf(resp), err)
	}
	if got := srv.count("outer"); got != 3 {
		t.Errorf("outer: %d attempts, want 3", got)
	}
	if got := srv.count("inner"); got != 3 {
		t.Errorf("inner: %d attempts, want 3", got)
	}
}

// Clones: with and without their own Apply, a clone's requests retry.
func TestHuntClone(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, byTestID, statuses(503, 200))
	c := newClient(t, fastPolicy(2))
	cl := c.Clone()
	resp, err := cl.R().SetHeader("X-Test-ID", "a").Get(srv.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("clone: %v %v", statusOf(resp), err)
	}
	cl2 := c.Clone()
	fastPolicy(0).Apply(cl2)
	resp, err = cl2.R().SetHeader("X-Test-ID", "b").Get(srv.URL)
	if err != nil || resp.StatusCode() != 503 {
		t.Fatalf("applied clone: %v %v", statusOf(resp), err)
	}
	resp, err = c.R().SetHeader("X-Test-ID", "c").Get(srv.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("original: %v %v", statusOf(resp), err)
	}
	if got := srv.count("b"); got != 1 {
		t.Errorf("applied clone with 0 retries: %d attempts", got)
	}
}

// Applying again while a request is in flight resets the budget: what the
// request had paid and reserved of the old budget must not be refunded into
// the new one, which would hold more than anybody paid into it.
func TestHuntReapplyInFlightRefund(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	srv := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		<-gate
		w.WriteHeader(200)
	})
	p := Default().TestMode(-1)
	c := newClient(t, p)
	done := make(chan error)
	go func() {
		_, err := c.R().Get(srv.URL + "/a")
		done <- err
	}()
	for srv.calls() < 2 {
		time.Sleep(time.Millisecond)
	}
	p.Apply(c) // a fresh budget
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	hosts, pool := Hosts(c, 10)
	total := pool
	for _, h := range hosts {
		total += h.Tokens
	}
	// The fresh budget: a full pool of 1,500 and the success's deposit, 0.2.
	if total > DefaultBudgetReserve+0.2+1e-9 {
		t.Fatalf("the fresh budget holds %.3f tokens (pool %.3f, hosts %+v), want at most %.1f",
			total, pool, hosts, DefaultBudgetReserve+0.2)
	}
}

// Pace smoothing with a quota that spaces requests further apart than
// MaxRetryAfter (5,000 an hour, 3 left: one per 15 minutes) refuses the
// first attempts that meet it, but a refusal must not reserve a slot: once
// the stated window has passed, the host is not held for the slots of
// requests that were never sent.
func TestHuntPaceRefusalsDoNotPushSlots(t *testing.T) {
	t.Parallel()
	var quota atomic.Bool
	quota.Store(true)
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		if quota.Load() {
			w.Header().Set("X-RateLimit-Limit", "5000")
			w.Header().Set("X-RateLimit-Remaining", "3")
			w.Header().Set("X-RateLimit-Reset", "3600")
		}
		w.WriteHeader(200)
	})
	p := Default()
	p.Pace = true
	c, clock := huntClock(t, p)
	if _, err := c.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	quota.Store(false)
	refused := 0
	for range 100 {
		if _, err := c.R().Get(srv.URL); errors.Is(err, ErrWaitTooLong) {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no request refused under a one-per-15-minutes spacing")
	}
	clock.Advance(time.Hour + time.Minute) // the stated window is over
	resp, err := c.R().Get(srv.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("an hour after the quota's reset (%d refusals before): %v %v", refused, statusOf(resp), err)
	}
}

// A spacing far longer than MaxRetryAfter (1 left of a window of 300 days)
// is no standing refusal: after MaxRetryAfter one request goes out as a
// probe, and its response, which states no quota, frees the host.
func TestHuntPaceLongSpacingProbed(t *testing.T) {
	t.Parallel()
	var quota atomic.Bool
	quota.Store(true)
	var hits atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if quota.Load() {
			w.Header().Set("RateLimit", "limit=10, remaining=1, reset=25920000")
		}
		w.WriteHeader(200)
	})
	p := Default()
	p.Pace = true
	c, clock := huntClock(t, p)
	for range 2 { // the first states the quota, the second takes its one slot
		if _, err := c.R().Get(srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	quota.Store(false)
	for i := range 5 {
		if _, err := c.R().Get(srv.URL); !errors.Is(err, ErrWaitTooLong) {
			t.Fatalf("request %d under a 150-day spacing: %v, want ErrWaitTooLong", i, err)
		}
	}
	clock.Advance(p.MaxRetryAfter + time.Second)
	for i := range 3 {
		resp, err := c.R().Get(srv.URL)
		if err != nil || resp.StatusCode() != 200 {
			t.Fatalf("request %d after MaxRetryAfter: %v %v (server saw %d)", i, statusOf(resp), err, hits.Load())
		}
	}
}

// Hundreds of concurrent requests mixing hosts, streaming, MaxElapsed and
// a 429 under Pace: the 429's host never holds the other, and every
// request ends.
func TestHuntMixedStress(t *testing.T) {
	t.Parallel()
	limited := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(429)
	})
	healthy := newTestServer(t, byTestID, statuses(503, 200))
	p := fastPolicy(2)
	p.Pace = true
	p.MaxElapsed = 1500 * time.Millisecond
	var heldHealthy atomic.Int32
	p.OnDecision = func(ev Event) {
		if ev.Rule == RulePace && strings.HasPrefix(ev.URL, healthy.URL) {
			heldHealthy.Add(1)
		}
	}
	c := newClient(t, p)
	ctx := safetyNet(t)
	var wg sync.WaitGroup
	for i := range 300 {
		spawn(&wg, func() {
			stream := i%3 == 0
			if i%4 == 0 {
				resp, err := c.R().SetContext(ctx).SetDoNotParseResponse(stream).Get(limited.URL)
				if err == nil && resp.StatusCode() == 200 {
					t.Errorf("limited host answered 200")
				}
				if stream && resp != nil && resp.RawResponse != nil {
					_ = resp.RawBody().Close()
				}
				return
			}
			resp, err := c.R().SetContext(ctx).SetDoNotParseResponse(stream).SetHeader("X-Test-ID", fmt.Sprint(i)).Get(healthy.URL)
			if err != nil || resp.StatusCode() != 200 {
				t.Errorf("healthy %d: %v %v", i, statusOf(resp), err)
			}
			if stream && resp != nil && resp.RawResponse != nil {
				_, _ = io.Copy(io.Discard, resp.RawBody())
				_ = resp.RawBody().Close()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("requests hung")
	}
	if n := heldHealthy.Load(); n > 0 {
		t.Fatalf("the healthy host was held %d times by another host's 429", n)
	}
}
