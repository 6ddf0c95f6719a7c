package restyretry

// Integration tests: a real resty client with a policy applied talks to real
// loopback servers (httptest on 127.0.0.1, or a closed port). Waits are
// checked against the arrival times the server records, which bound the
// client's sleeps from below exactly (an attempt cannot arrive before the
// previous response was sent plus the wait); upper bounds are generous
// because the machines running the suite are shared and noisy.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
)

func TestScheduleTiming(t *testing.T) {
	policy := func() Policy {
		p := Default()
		p.MaxRetries = 3
		p.BaseDelay = 20 * time.Millisecond
		p.Multiplier = 2
		p.Jitter = Proportional(0.5)
		p.Budget = Budget{}
		return p
	}
	run := func(t *testing.T, p Policy) []time.Duration {
		ts := newTestServer(t, nil, statuses(503, 503, 503, 200))
		resp, err := newClient(t, p).R().Get(ts.URL)
		if err != nil || resp.StatusCode() != 200 {
			t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
		}
		if n := ts.calls(); n != 4 {
			t.Fatalf("server saw %d calls, want 4", n)
		}
		return ts.gaps()
	}

	t.Run("exact", func(t *testing.T) {
		p := policy()
		p.Rand = func() float64 { return 0.5 } // waits 1.25 × 20, 40, 80ms
		want := []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}
		var upper []time.Duration
		for _, w := range want {
			upper = append(upper, 3*w+200*time.Millisecond)
		}
		checkGaps(t, run(t, p), want, upper)
	})
	t.Run("random", func(t *testing.T) {
		// Proportional(0.5): each wait is in [d, 1.5d).
		base := []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
		var upper []time.Duration
		for _, d := range base {
			upper = append(upper, 3*(d*3/2)+200*time.Millisecond)
		}
		checkGaps(t, run(t, policy()), base, upper)
	})
}

func TestNoSleepAfterLastAttempt(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.BaseDelay = 300 * time.Millisecond // waits 300ms, 600ms; a third would be 1.2s
	p.Multiplier = 2
	ts := newTestServer(t, nil, statuses(503))
	c := newClient(t, p)

	start := time.Now()
	resp, err := c.R().Get(ts.URL)
	done := time.Now()

	if n := ts.calls(); n != 3 {
		t.Fatalf("server saw %d calls, want 3", n)
	}
	if resp == nil || resp.StatusCode() != 503 || resp.String() != "attempt 3" {
		t.Fatalf("got response %v, want the last 503", resp)
	}
	if errors.Is(err, ErrGaveUp) {
		t.Errorf("running out of retries is not a give-up, got %v", err)
	}
	checkGaps(t, ts.gaps(),
		[]time.Duration{300 * time.Millisecond, 600 * time.Millisecond},
		[]time.Duration{900 * time.Millisecond, 1500 * time.Millisecond})
	at := ts.times()
	if tail := done.Sub(at[len(at)-1]); tail >= 600*time.Millisecond {
		t.Errorf("returned %v after the last attempt arrived; a sleep after the last attempt (1.2s) is suspected", tail)
	}
	if total := done.Sub(start); total >= 1500*time.Millisecond {
		t.Errorf("request took %v, want about 900ms and < 1.5s", total)
	}
}

func TestRestyClampNeutralised(t *testing.T) {
	t.Run("settings", func(t *testing.T) {
		c := resty.New().SetRetryWaitTime(time.Second).SetRetryMaxWaitTime(time.Millisecond)
		defer c.GetClient().CloseIdleConnections()
		fastPolicy(3).Apply(c)
		if c.RetryWaitTime != 0 {
			t.Errorf("RetryWaitTime = %v, want 0 so that resty never raises a wait", c.RetryWaitTime)
		}
		if c.RetryMaxWaitTime != maxDuration {
			t.Errorf("RetryMaxWaitTime = %v, want %v so that resty never shortens a wait", c.RetryMaxWaitTime, maxDuration)
		}
		if c.RetryCount <= fastPolicy(3).MaxRetries {
			t.Errorf("RetryCount = %d, want above MaxRetries so that the policy, not resty, stops", c.RetryCount)
		}
	})

	t.Run("waits below resty's default minimum", func(t *testing.T) {
		// resty's default RetryWaitTime (100ms) would raise every 5ms wait
		// to at least 100ms, and the ten waits to at least 1s.
		p := fastPolicy(3)
		p.MaxRetries = 10
		p.Multiplier = 1
		codes := append(slices.Repeat([]int{503}, 10), 200)
		ts := newTestServer(t, nil, statuses(codes...))
		resp, err := newClient(t, p).R().Get(ts.URL)
		if err != nil || resp.StatusCode() != 200 {
			t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
		}
		gaps := ts.gaps()
		if len(gaps) != 10 {
			t.Fatalf("got %d gaps, want 10", len(gaps))
		}
		var sum time.Duration
		for _, g := range gaps {
			sum += g
			if g < 4*time.Millisecond {
				t.Errorf("gap %v shorter than the 5ms backoff (gaps %v)", g, gaps)
			}
		}
		sorted := slices.Sorted(slices.Values(gaps))
		if med := sorted[len(sorted)/2]; med >= 60*time.Millisecond {
			t.Errorf("median gap %v, want well under resty's 100ms minimum (gaps %v)", med, gaps)
		}
		if sum >= 700*time.Millisecond {
			t.Errorf("ten 5ms waits took %v, want well under the 1s resty's clamp would force", sum)
		}
	})

	t.Run("client clamp set before Apply is overridden", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			min, max time.Duration
		}{
			// Would cut the 60ms wait to 10ms.
			{"max", time.Millisecond, 10 * time.Millisecond},
			// Would raise the 60ms wait to 400ms.
			{"min", 400 * time.Millisecond, 10 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := fastPolicy(3)
				p.MaxRetries = 2
				p.BaseDelay = 60 * time.Millisecond
				p.Multiplier = 1
				ts := newTestServer(t, nil, statuses(503, 503, 200))
				c := resty.New().SetLogger(nopLogger{}).SetRetryWaitTime(tc.min).SetRetryMaxWaitTime(tc.max)
				t.Cleanup(func() { c.GetClient().CloseIdleConnections() })
				p.Apply(c)
				resp, err := c.R().Get(ts.URL)
				if err != nil || resp.StatusCode() != 200 {
					t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
				}
				checkGaps(t, ts.gaps(),
					[]time.Duration{60 * time.Millisecond, 60 * time.Millisecond},
					[]time.Duration{350 * time.Millisecond, 350 * time.Millisecond})
			})
		}
	})
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	p.MaxRetryAfter = 2 * time.Second
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	})
	resp, err := newClient(t, p).R().Get(ts.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
	}
	// The hint is a floor with at most 10% (100ms) added.
	checkGaps(t, ts.gaps(), []time.Duration{time.Second}, []time.Duration{3 * time.Second})
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	p.MaxRetryAfter = 5 * time.Second
	var (
		mu   sync.Mutex
		date time.Time // written by call 1, read after the request
	)
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			// The header has whole seconds: pick the second that is
			// between 1s and 2s ahead.
			d := time.Now().Truncate(time.Second).Add(2 * time.Second)
			mu.Lock()
			date = d
			mu.Unlock()
			w.Header().Set("Retry-After", d.UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	resp, err := newClient(t, p).R().Get(ts.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
	}
	at := ts.times()
	if len(at) != 2 {
		t.Fatalf("server saw %d calls, want 2", len(at))
	}
	mu.Lock()
	defer mu.Unlock()
	// The retry must not arrive before the date the server named (wall
	// clock; Truncate dropped the monotonic reading). 20ms covers the
	// nanoseconds HTTP dates cannot express.
	if early := date.Sub(at[1]); early > 20*time.Millisecond {
		t.Errorf("retry arrived %v before the Retry-After date", early)
	}
	checkGaps(t, ts.gaps(), []time.Duration{time.Second}, []time.Duration{4 * time.Second})
}

func TestRetryAfterPastDate(t *testing.T) {
	p := fastPolicy(3)
	p.BaseDelay = time.Second // falling back to the backoff would be seen
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	resp, err := newClient(t, p).R().Get(ts.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
	}
	// A past date is no reason to come back sooner than the backoff.
	checkGaps(t, ts.gaps(), []time.Duration{time.Second}, []time.Duration{4 * time.Second})
}

func TestRetryAfterMalformedFallsBackToBackoff(t *testing.T) {
	for _, v := range []string{"soon", "-1", "1.5", "1 s"} {
		t.Run(v, func(t *testing.T) {
			p := fastPolicy(3)
			p.MaxRetries = 1
			p.BaseDelay = 30 * time.Millisecond
			ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", v)
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				io.WriteString(w, "ok")
			})
			resp, err := newClient(t, p).R().Get(ts.URL)
			if err != nil || resp.StatusCode() != 200 {
				t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
			}
			// Backoff is 30ms; honouring "1.5" or "1 s" would take >= 1s,
			// reading "-1" as "now" would take about 0.
			checkGaps(t, ts.gaps(), []time.Duration{30 * time.Millisecond}, []time.Duration{700 * time.Millisecond})
		})
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	p := fastPolicy(3)
	p.MaxRetryAfter = time.Second
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, "attempt %d", n)
	})
	start := time.Now()
	resp, err := newClient(t, p).R().SetContext(safetyNet(t)).Get(ts.URL)
	if d := time.Since(start); d >= 500*time.Millisecond {
		t.Errorf("took %v, want an immediate give-up", d)
	}
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrWaitTooLong) {
		t.Fatalf("err = %v, want ErrGaveUp and ErrWaitTooLong", err)
	}
	if resp == nil || resp.StatusCode() != 429 || resp.String() != "attempt 1" {
		t.Fatalf("response %v, want the 429 kept", resp)
	}
	if n := ts.calls(); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
	ge := giveUpOf(t, err)
	if ge.Status != 429 || ge.Attempt != 1 || ge.Wait != time.Hour {
		t.Errorf("GiveUpError{Status %d, Attempt %d, Wait %v}, want {429, 1, 1h}", ge.Status, ge.Attempt, ge.Wait)
	}
}

func TestUnauthorizedNeverRetried(t *testing.T) {
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusUnauthorized)
	})
	start := time.Now()
	resp, err := newClient(t, fastPolicy(3)).R().Get(ts.URL)
	if d := time.Since(start); d >= 500*time.Millisecond {
		t.Errorf("took %v, want no wait", d)
	}
	if err != nil || resp == nil || resp.StatusCode() != 401 {
		t.Fatalf("got (%v, %v), want (401, nil)", resp, err)
	}
	if n := ts.calls(); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
}

func TestDeadlineTooClose(t *testing.T) {
	// The context allows 600ms; every wait is longer. Giving up must be
	// immediate: sleeping until the deadline would also end with
	// context.DeadlineExceeded, but after ~600ms and without ErrGaveUp.
	const deadline = 600 * time.Millisecond
	const prompt = 450 * time.Millisecond // well below the deadline, with room for a busy machine

	t.Run("backoff", func(t *testing.T) {
		p := fastPolicy(3)
		p.BaseDelay = time.Second
		ts := newTestServer(t, nil, statuses(503))
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		resp, err := newClient(t, p).R().SetContext(ctx).Get(ts.URL)
		if d := time.Since(start); d >= prompt {
			t.Errorf("took %v, want a prompt give-up", d)
		}
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrDeadline) {
			t.Fatalf("err = %v, want ErrGaveUp, ErrDeadline and context.DeadlineExceeded", err)
		}
		if resp == nil || resp.StatusCode() != 503 {
			t.Errorf("response %v, want the 503 kept", resp)
		}
		if n := ts.calls(); n != 1 {
			t.Errorf("server saw %d calls, want 1", n)
		}
	})

	t.Run("hint", func(t *testing.T) {
		ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		resp, err := newClient(t, fastPolicy(3)).R().SetContext(ctx).Get(ts.URL)
		if d := time.Since(start); d >= prompt {
			t.Errorf("took %v, want a prompt give-up", d)
		}
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrGaveUp and context.DeadlineExceeded", err)
		}
		if ge := giveUpOf(t, err); ge.Wait < time.Second || ge.Status != 503 {
			t.Errorf("GiveUpError{Wait %v, Status %d}, want the 1s hint and 503", ge.Wait, ge.Status)
		}
		if resp == nil || resp.StatusCode() != 503 {
			t.Errorf("response %v, want the 503 kept", resp)
		}
		if n := ts.calls(); n != 1 {
			t.Errorf("server saw %d calls, want 1", n)
		}
	})

	t.Run("refused", func(t *testing.T) {
		p := fastPolicy(3)
		p.BaseDelay = time.Second
		tr, dials := countingTransport()
		c := newClient(t, p).SetTransport(tr)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		_, err := c.R().SetContext(ctx).Get(refusedURL(t))
		if d := time.Since(start); d >= prompt {
			t.Errorf("took %v, want a prompt give-up", d)
		}
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, ErrDeadline) {
			t.Fatalf("err = %v, want ErrGaveUp, ErrDeadline and ECONNREFUSED", err)
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("dialled %d times, want 1", n)
		}
	})

	t.Run("body read error", func(t *testing.T) {
		// The response arrived but its body was cut short. resty returns
		// the read error itself (not a *url.Error), so there is no place
		// for the give-up reason; the request must still end at once.
		p := fastPolicy(3)
		p.BaseDelay = time.Second
		ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
			if conn, buf := hijack(t, w); conn != nil {
				io.WriteString(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
				buf.(interface{ Flush() error }).Flush()
				conn.Close()
			}
		})
		tr, _ := countingTransport()
		c := newClient(t, p).SetTransport(tr)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		_, err := c.R().SetContext(ctx).Get(ts.URL)
		if d := time.Since(start); d >= prompt {
			t.Errorf("took %v, want a prompt stop", d)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v, want the body read error", err)
		}
		if n := ts.calls(); n != 1 {
			t.Errorf("server saw %d calls, want 1", n)
		}
	})
}

func TestCancelDuringWait(t *testing.T) {
	p := fastPolicy(3)
	p.BaseDelay = 2 * time.Second
	ts := newTestServer(t, nil, statuses(503))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(150*time.Millisecond, cancel)
	defer stop.Stop()

	start := time.Now()
	_, err := newClient(t, p).R().SetContext(ctx).Get(ts.URL)
	if d := time.Since(start); d >= time.Second {
		t.Errorf("took %v, want a return soon after the cancel at 150ms", d)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	time.Sleep(50 * time.Millisecond) // a stray attempt would arrive now
	if n := ts.calls(); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
}

func TestRefusedConnectionsRetried(t *testing.T) {
	// The connection was never established, so even POST is safe to retry.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			p := fastPolicy(3)
			tr, dials := countingTransport()
			c := newClient(t, p).SetTransport(tr)
			resp, err := c.R().SetBody("payload").Execute(method, refusedURL(t))
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("err = %v, want ECONNREFUSED", err)
			}
			if errors.Is(err, ErrGaveUp) {
				t.Errorf("running out of retries is not a give-up, got %v", err)
			}
			if n := dials.Load(); n != int64(p.MaxRetries+1) {
				t.Errorf("dialled %d times, want %d", n, p.MaxRetries+1)
			}
			if resp == nil || resp.Request.Attempt != p.MaxRetries+1 {
				t.Errorf("last attempt %v, want %d", resp, p.MaxRetries+1)
			}
		})
	}
}

// hijack takes over the connection of a call so that a test can answer with
// something that is not a complete HTTP response.
func hijack(t *testing.T, w http.ResponseWriter) (net.Conn, io.Writer) {
	t.Helper()
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return nil, nil
	}
	return conn, buf
}

func TestDroppedConnections(t *testing.T) {
	// Each attempt uses a fresh connection (keep-alives off), and Go's
	// transport only replays a request itself on a reused connection, so
	// the server sees exactly the attempts the policy made.
	drops := map[string]func(t *testing.T, w http.ResponseWriter){
		// Close without a byte of response: the client reads EOF.
		"close": func(t *testing.T, w http.ResponseWriter) {
			if conn, _ := hijack(t, w); conn != nil {
				conn.Close()
			}
		},
		// Half a header block, cut at a line end: unexpected EOF. (Cut
		// inside a line, Go reports a malformed header instead, an error
		// the policy does not recognise and so does not retry.)
		"half headers": func(t *testing.T, w http.ResponseWriter) {
			if conn, buf := hijack(t, w); conn != nil {
				io.WriteString(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
				buf.(interface{ Flush() error }).Flush()
				conn.Close()
			}
		},
		// Headers promise 100 bytes, 10 arrive: the body read fails after
		// the response was received.
		"truncated body": func(t *testing.T, w http.ResponseWriter) {
			if conn, buf := hijack(t, w); conn != nil {
				io.WriteString(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
				buf.(interface{ Flush() error }).Flush()
				conn.Close()
			}
		},
	}
	p := fastPolicy(3)
	all := p.MaxRetries + 1
	for name, drop := range drops {
		for _, tc := range []struct {
			method string
			calls  int
		}{
			{http.MethodGet, all},
			{http.MethodPut, all},
			{http.MethodDelete, all},
			{http.MethodPost, 1},  // may have been applied
			{http.MethodPatch, 1}, // may have been applied
		} {
			t.Run(name+"/"+tc.method, func(t *testing.T) {
				ts := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, _ int) {
					io.Copy(io.Discard, r.Body) // so closing sends FIN, not RST
					drop(t, w)
				})
				tr, _ := countingTransport()
				c := newClient(t, p).SetTransport(tr)
				_, err := c.R().SetBody("payload").Execute(tc.method, ts.URL)
				if err == nil {
					t.Fatal("got no error for a dropped connection")
				}
				if errors.Is(err, ErrGaveUp) {
					t.Errorf("err = %v, want the transport error, not a give-up", err)
				}
				if n := ts.calls(); n != tc.calls {
					t.Errorf("server saw %d calls, want %d (err %v)", n, tc.calls, err)
				}
			})
		}
	}
}

func TestClientTimeout(t *testing.T) {
	// The first call hangs past the client's timeout; later ones answer at
	// once. A timeout after the request was sent may have been applied.
	for _, tc := range []struct {
		method string
		calls  int
		ok     bool
	}{
		{http.MethodGet, 2, true},
		{http.MethodPost, 1, false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			ts := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, n int) {
				// The server notices the client hanging up only once the
				// body is read; the hung handler must end promptly.
				io.Copy(io.Discard, r.Body)
				if n == 1 {
					select {
					case <-r.Context().Done():
					case <-time.After(2 * time.Second):
					}
					return
				}
				io.WriteString(w, "ok")
			})
			c := newClient(t, fastPolicy(3)).SetTimeout(100 * time.Millisecond)
			resp, err := c.R().SetBody("payload").Execute(tc.method, ts.URL)
			if tc.ok {
				if err != nil || resp.StatusCode() != 200 {
					t.Fatalf("got (%v, %v), want 200 after a retry", resp.StatusCode(), err)
				}
			} else {
				if err == nil || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want the client timeout", err)
				}
				if errors.Is(err, ErrGaveUp) {
					t.Errorf("err = %v, want the timeout itself, not a give-up", err)
				}
			}
			if n := ts.calls(); n != tc.calls {
				t.Errorf("server saw %d calls, want %d", n, tc.calls)
			}
		})
	}
}

func TestMethodRulesOnStatus(t *testing.T) {
	p := fastPolicy(3)
	all := p.MaxRetries + 1
	for _, tc := range []struct {
		name, method string
		status       int
		key          bool
		calls        int
	}{
		{"POST 500", http.MethodPost, 500, false, 1},
		{"PATCH 502", http.MethodPatch, 502, false, 1},
		{"PUT 500", http.MethodPut, 500, false, all},
		{"DELETE 504", http.MethodDelete, 504, false, all},
		{"POST 503", http.MethodPost, 503, false, all},
		{"POST 429", http.MethodPost, 429, false, all},
		{"POST 500 Idempotency-Key", http.MethodPost, 500, true, all},
		{"GET 501", http.MethodGet, 501, false, 1},
		{"GET 505", http.MethodGet, 505, false, 1},
		{"GET 404", http.MethodGet, 404, false, 1},
		{"GET 408", http.MethodGet, 408, false, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var keys, bodies []string
			ts := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, n int) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				keys = append(keys, r.Header.Get("Idempotency-Key"))
				bodies = append(bodies, string(b))
				mu.Unlock()
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, "attempt %d", n)
			})
			req := newClient(t, p).R().SetBody(`{"order":42}`)
			if tc.key {
				req.SetHeader("Idempotency-Key", "key-7f3a")
			}
			resp, err := req.Execute(tc.method, ts.URL)
			if err != nil {
				t.Fatalf("err = %v, want nil: the last response is the answer", err)
			}
			if resp.StatusCode() != tc.status || resp.String() != "attempt "+strconv.Itoa(tc.calls) {
				t.Errorf("got %d %q, want %d from attempt %d", resp.StatusCode(), resp.String(), tc.status, tc.calls)
			}
			if n := ts.calls(); n != tc.calls {
				t.Errorf("server saw %d calls, want %d", n, tc.calls)
			}
			mu.Lock()
			defer mu.Unlock()
			for i := range keys {
				if tc.key && keys[i] != "key-7f3a" {
					t.Errorf("attempt %d carried Idempotency-Key %q, want key-7f3a", i+1, keys[i])
				}
				// resty sends no body with GET.
				if tc.method != http.MethodGet && bodies[i] != `{"order":42}` {
					t.Errorf("attempt %d carried body %q", i+1, bodies[i])
				}
			}
		})
	}
}

func TestCustomConditionsOnRealServer(t *testing.T) {
	t.Run("RetryOnStatus", func(t *testing.T) {
		ts := newTestServer(t, nil, statuses(409, 409, 200))
		resp, err := newClient(t, fastPolicy(3).With(RetryOnStatus(409))).R().Get(ts.URL)
		if err != nil || resp.StatusCode() != 200 {
			t.Fatalf("got (%v, %v), want 200", resp.StatusCode(), err)
		}
		if n := ts.calls(); n != 3 {
			t.Errorf("server saw %d calls, want 3", n)
		}
	})
	t.Run("StopOnStatus", func(t *testing.T) {
		ts := newTestServer(t, nil, statuses(503, 200))
		resp, err := newClient(t, fastPolicy(3).With(StopOnStatus(503))).R().Get(ts.URL)
		if err != nil || resp.StatusCode() != 503 {
			t.Fatalf("got (%v, %v), want (503, nil)", resp.StatusCode(), err)
		}
		if n := ts.calls(); n != 1 {
			t.Errorf("server saw %d calls, want 1", n)
		}
	})
	t.Run("body", func(t *testing.T) {
		// 200 with a "pending" body is not done yet.
		ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n < 3 {
				io.WriteString(w, `{"status":"pending"}`)
				return
			}
			io.WriteString(w, `{"status":"done"}`)
		})
		pending := func(resp *resty.Response, err error) Verdict {
			if err == nil && strings.Contains(resp.String(), "pending") {
				return Retry
			}
			return Abstain
		}
		resp, err := newClient(t, fastPolicy(3).With(pending)).R().Get(ts.URL)
		if err != nil || resp.String() != `{"status":"done"}` {
			t.Fatalf("got (%q, %v), want the done body", resp.String(), err)
		}
		if n := ts.calls(); n != 3 {
			t.Errorf("server saw %d calls, want 3", n)
		}
	})
}

func TestLastResponseKept(t *testing.T) {
	t.Run("give-up", func(t *testing.T) {
		p := fastPolicy(3)
		p.MaxRetryAfter = time.Second
		// Attempt 1 → 502, attempt 2 → 503 with a Retry-After far above
		// MaxRetryAfter: the give-up must return attempt 2's response.
		ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 1 {
				w.WriteHeader(502)
			} else {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(503)
			}
			fmt.Fprintf(w, "attempt %d", n)
		})
		resp, err := newClient(t, p).R().SetContext(safetyNet(t)).Get(ts.URL)
		if !errors.Is(err, ErrWaitTooLong) {
			t.Fatalf("err = %v, want ErrWaitTooLong", err)
		}
		if resp == nil || resp.StatusCode() != 503 || resp.String() != "attempt 2" {
			t.Fatalf("got %v, want the 503 of attempt 2", resp)
		}
		if ge := giveUpOf(t, err); ge.Attempt != 2 || ge.Status != 503 {
			t.Errorf("GiveUpError{Attempt %d, Status %d}, want {2, 503}", ge.Attempt, ge.Status)
		}
	})
	t.Run("exhausted", func(t *testing.T) {
		ts := newTestServer(t, nil, statuses(500, 502, 503, 504))
		resp, err := newClient(t, fastPolicy(3)).R().Get(ts.URL)
		if errors.Is(err, ErrGaveUp) {
			t.Errorf("err = %v: running out of retries is not a give-up", err)
		}
		if resp == nil || resp.StatusCode() != 504 || resp.String() != "attempt 4" {
			t.Fatalf("got %v, want the 504 of attempt 4", resp)
		}
	})
}

func TestConcurrentSharedClient(t *testing.T) {
	const requests = 100
	p := fastPolicy(3)
	p.BaseDelay = 2 * time.Millisecond
	p.Jitter = Proportional(0.5) // exercise the shared random source
	var (
		mu       sync.Mutex
		attempts = map[string]int{}
	)
	ts := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		attempts[r.Header.Get("X-Request-Id")]++
		mu.Unlock()
		if n%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	c := newClient(t, p)

	type result struct {
		status, attempt int
		err             error
	}
	results := make([]result, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			resp, err := c.R().SetHeader("X-Request-Id", strconv.Itoa(i)).Get(ts.URL)
			results[i] = result{err: err}
			if resp != nil {
				results[i].status, results[i].attempt = resp.StatusCode(), resp.Request.Attempt
			}
		})
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	total, ok := 0, 0
	for i, res := range results {
		n := attempts[strconv.Itoa(i)]
		total += n
		if n < 1 || n > p.MaxRetries+1 {
			t.Errorf("request %d: server saw %d attempts, want 1..%d", i, n, p.MaxRetries+1)
		}
		if res.attempt != n {
			t.Errorf("request %d: client made %d attempts, server saw %d", i, res.attempt, n)
		}
		switch {
		case res.err == nil && res.status == 200:
			ok++
		case res.err == nil && res.status == 503 && n == p.MaxRetries+1:
			// Every attempt hit a 503: accounted for.
		default:
			t.Errorf("request %d: unexplained outcome (%d, %v) after %d attempts", i, res.status, res.err, n)
		}
	}
	if total != ts.calls() {
		t.Errorf("attempts per request sum to %d, server saw %d calls", total, ts.calls())
	}
	if total <= requests {
		t.Errorf("%d calls for %d requests: no retry happened, the test proves nothing", total, requests)
	}
	t.Logf("%d/%d requests succeeded with %d calls", ok, requests, total)
}

func TestMaxElapsed(t *testing.T) {
	p := fastPolicy(3)
	p.MaxRetries = 5
	p.BaseDelay = 200 * time.Millisecond
	p.Multiplier = 1
	p.MaxElapsed = 300 * time.Millisecond // attempt 2 at ~200ms; another wait would end at ~400ms
	ts := newTestServer(t, nil, statuses(503))
	start := time.Now()
	resp, err := newClient(t, p).R().Get(ts.URL)
	done := time.Now()
	if !errors.Is(err, ErrTimeLimit) || !errors.Is(err, ErrGaveUp) {
		t.Fatalf("err = %v, want ErrTimeLimit and ErrGaveUp", err)
	}
	if resp == nil || resp.StatusCode() != 503 || resp.String() != "attempt 2" {
		t.Errorf("got %v, want the 503 of attempt 2", resp)
	}
	if ge := giveUpOf(t, err); ge.Attempt != 2 || ge.Status != 503 {
		t.Errorf("GiveUpError{Attempt %d, Status %d}, want {2, 503}", ge.Attempt, ge.Status)
	}
	at := ts.times()
	if len(at) != 2 {
		t.Fatalf("server saw %d calls, want 2", len(at))
	}
	if tail := done.Sub(at[1]); tail >= 150*time.Millisecond {
		t.Errorf("returned %v after the last attempt; want a give-up without sleeping the 200ms", tail)
	}
	if total := done.Sub(start); total >= p.MaxElapsed+100*time.Millisecond {
		t.Errorf("request took %v, want it to end before MaxElapsed %v", total, p.MaxElapsed)
	}
}

// TestMaxElapsedBoundsAttemptInFlight: a server that accepts and never
// answers cannot hold a request past MaxElapsed. The attempt in flight is
// ended with an error that is both ErrTimeLimit and the context's
// DeadlineExceeded, and its connection is closed (goleak in TestMain sees
// any transport goroutine left behind). A caller's own, earlier deadline
// keeps its meaning: DeadlineExceeded, not ErrTimeLimit.
func TestMaxElapsedBoundsAttemptInFlight(t *testing.T) {
	release := make(chan struct{})
	ts := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, _ int) {
		select { // accept, read the request, never answer
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	p := fastPolicy(3)
	p.MaxElapsed = 300 * time.Millisecond
	c := newClient(t, p)

	start := time.Now()
	_, err := c.R().Get(ts.URL)
	took := time.Since(start)
	if !errors.Is(err, ErrTimeLimit) || !errors.Is(err, ErrGaveUp) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeLimit, ErrGaveUp and context.DeadlineExceeded", err)
	}
	if took < p.MaxElapsed || took > p.MaxElapsed+2*time.Second {
		t.Errorf("request took %v, want it ended at about MaxElapsed %v", took, p.MaxElapsed)
	}
	if ge := giveUpOf(t, err); ge.Attempt != 1 {
		t.Errorf("GiveUpError.Attempt = %d, want 1", ge.Attempt)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.R().SetContext(ctx).Get(ts.URL)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeLimit) {
		t.Errorf("with the caller's earlier deadline: err = %v, want DeadlineExceeded and not ErrTimeLimit", err)
	}
	if ts.calls() != 2 {
		t.Errorf("server saw %d calls, want 2 (no retry after either end)", ts.calls())
	}
}

func TestBudget(t *testing.T) {
	const requests = 50
	p := fastPolicy(3)
	p.BaseDelay = time.Millisecond
	p.Budget = Budget{Ratio: 0.1, Reserve: 2}
	ts := newTestServer(t, nil, statuses(503))
	c := newClient(t, p)
	refused := 0
	for i := range requests {
		resp, err := c.R().Get(ts.URL)
		if resp == nil || resp.StatusCode() != 503 {
			t.Fatalf("request %d: got %v, want the 503 kept", i, resp)
		}
		if err == nil {
			continue // ran out of retries within the budget
		}
		if !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, ErrGaveUp) {
			t.Fatalf("request %d: err = %v, want ErrBudgetExhausted and ErrGaveUp", i, err)
		}
		refused++
	}
	// 50 first attempts, the reserve of 2, and 0.1 per request.
	limit := requests + 2 + requests/10 + 1
	if n := ts.calls(); n > limit || n < requests+2 {
		t.Errorf("server saw %d calls, want between %d and %d", n, requests+2, limit)
	}
	// With 0.1 per request, no request can collect 3 retries.
	if refused != requests {
		t.Errorf("%d of %d requests were refused by the budget, want all", refused, requests)
	}
}

// TestPaceHoldsNewRequests: after a 429 that names an instant (Retry-After-Ms),
// new requests of the same client to that host wait for the instant before
// their first attempt instead of being refused, and each hold is an event;
// a request to another host is not held.
func TestPaceHoldsNewRequests(t *testing.T) {
	const hint = 250 * time.Millisecond
	var refusedAt atomic.Int64
	limited := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			refusedAt.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After-Ms", strconv.Itoa(int(hint/time.Millisecond)))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	})
	other := newTestServer(t, nil, statuses(200))
	var mu sync.Mutex
	var holds []Event
	p := fastPolicy(3)
	p.Pace = true
	p.OnDecision = func(ev Event) {
		if ev.Rule == RulePace {
			mu.Lock()
			holds = append(holds, ev)
			mu.Unlock()
		}
	}
	c := newClient(t, p)

	first := make(chan error, 1)
	go func() {
		_, err := c.R().Get(limited.URL)
		first <- err
	}()
	for limited.calls() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := c.R().Get(other.URL); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= hint {
		t.Errorf("a request to another host took %v, want no hold", took)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if resp, err := c.R().Get(limited.URL); err != nil || resp.StatusCode() != 200 {
				t.Errorf("held request: %v, %v", resp, err)
			}
		})
	}
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	instant := time.Unix(0, refusedAt.Load()).Add(hint)
	at := limited.times()
	if len(at) != 7 {
		t.Fatalf("limited server saw %d calls, want 7 (1 refused, its retry, 5 held)", len(at))
	}
	for i, a := range at[1:] {
		if a.Before(instant) {
			t.Errorf("call %d arrived %v before the instant the server named", i+2, instant.Sub(a))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(holds) != 5 {
		t.Fatalf("%d pacing events, want 5: %+v", len(holds), holds)
	}
	for _, ev := range holds {
		if ev.Verdict != Retry || ev.Attempt != 0 || ev.WaitSource != SourcePace || ev.Wait <= 0 || ev.Wait > hint+hint/10 {
			t.Errorf("pacing event %+v, want a Retry of attempt 0 waiting at most %v", ev, hint+hint/10)
		}
	}
}

// TestPaceRefusals: a hold longer than MaxRetryAfter, or one that would pass
// the context's deadline, fails at once without sending; cancelling ends a
// hold.
func TestPaceRefusals(t *testing.T) {
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	var events eventLog
	p := fastPolicy(3)
	p.Pace = true
	p.MaxRetries = 0 // the first request takes the 503 and stops
	p.OnDecision = events.record
	c := newClient(t, p)
	if resp, _ := c.R().Get(ts.URL); resp.StatusCode() != 503 {
		t.Fatalf("first request: %v, want the 503", resp)
	}

	short := p
	short.MaxRetryAfter = time.Second
	_, err := c.R().SetContext(WithPolicy(context.Background(), short)).Get(ts.URL)
	if !errors.Is(err, ErrWaitTooLong) {
		t.Errorf("hold over MaxRetryAfter: err = %v, want ErrWaitTooLong", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.R().SetContext(ctx).Get(ts.URL)
	if !errors.Is(err, ErrDeadline) {
		t.Errorf("hold past the deadline: err = %v, want ErrDeadline", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	start := time.Now()
	_, err = c.R().SetContext(ctx2).Get(ts.URL)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled hold: err = %v, want context.Canceled", err)
	}
	if last := events.all(); len(last) == 0 || last[len(last)-1].Rule != RuleCanceled || last[len(last)-1].Attempt != 0 {
		t.Errorf("cancelled hold: events %+v, want the last a cancel of attempt 0 (nothing was sent)", last)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancelled hold returned after %v", took)
	}
	if n := ts.calls(); n != 1 {
		t.Errorf("server saw %d calls, want 1: no refused hold sends anything", n)
	}
}
