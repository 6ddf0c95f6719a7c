package restyretry

// Integration tests: a real resty client with a policy applied talks to real
// loopback servers (httptest on 127.0.0.1, or a closed port). Waits are
// checked against the arrival times the server records, which bound the
// client's sleeps from below exactly (an attempt cannot arrive before the
// previous response was sent plus the wait); upper bounds are generous
// because the machines running the suite are shared and noisy.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/retrytest"
)

// TestScheduleTiming checks the waits the policy decides, in test mode:
// the schedule, not the machine's timers.
func TestScheduleTiming(t *testing.T) {
	t.Parallel()
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
		c, events, _ := decidedClient(t, p)
		resp, err := c.R().Get(ts.URL)
		if err != nil || resp.StatusCode() != 200 {
			t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
		}
		if n := ts.calls(); n != 4 {
			t.Fatalf("server saw %d calls, want 4", n)
		}
		return retryWaits(events.all())
	}

	t.Run("exact", func(t *testing.T) {
		p := policy()
		p.Rand = func() float64 { return 0.5 } // waits 1.25 × 20, 40, 80ms
		want := []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}
		if got := run(t, p); !slices.Equal(got, want) {
			t.Errorf("decided waits %v, want %v", got, want)
		}
	})
	t.Run("random", func(t *testing.T) {
		// Proportional(0.5): each wait is in [d, 1.5d).
		base := []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
		got := run(t, policy())
		if len(got) != len(base) {
			t.Fatalf("decided waits %v, want %d", got, len(base))
		}
		for i, d := range base {
			if got[i] < d || got[i] >= d*3/2 {
				t.Errorf("wait before retry %d = %v, want in [%v, %v) (all %v)", i+1, got[i], d, d*3/2, got)
			}
		}
	})
}

func TestNoSleepAfterLastAttempt(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.BaseDelay = 300 * time.Millisecond // waits 300ms, 600ms; a third would be 1.2s
	p.Multiplier = 2
	ts := newTestServer(t, nil, statuses(503))
	c, events, _ := decidedClient(t, p)

	resp, err := c.R().Get(ts.URL)

	if n := ts.calls(); n != 3 {
		t.Fatalf("server saw %d calls, want 3", n)
	}
	if resp == nil || resp.StatusCode() != 503 || resp.String() != "attempt 3" {
		t.Fatalf("got response %v, want the last 503", resp)
	}
	if errors.Is(err, ErrGaveUp) {
		t.Errorf("running out of retries is not a give-up, got %v", err)
	}
	evs := events.all()
	if got, want := retryWaits(evs), []time.Duration{300 * time.Millisecond, 600 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("decided waits %v, want %v", got, want)
	}
	// A sleep after the last attempt would be a Retry (of 1.2s) for it.
	if last := evs[len(evs)-1]; last.Attempt != 3 || last.Verdict != Stop || last.Wait != 0 {
		t.Errorf("last event %+v, want attempt 3 stopped with no wait", last)
	}
}

func TestRestyClampNeutralised(t *testing.T) {
	t.Parallel()
	t.Run("settings", func(t *testing.T) {
		c := resty.New().SetRetryWaitTime(time.Second).SetRetryMaxWaitTime(time.Millisecond)
		defer c.GetClient().CloseIdleConnections()
		fastPolicy(3).Apply(c)
		if c.RetryWaitTime != 0 {
			t.Errorf("RetryWaitTime = %v, want 0 so that resty never raises a wait", c.RetryWaitTime)
		}
		if c.RetryMaxWaitTime != maxWait {
			t.Errorf("RetryMaxWaitTime = %v, want %v so that resty never shortens a wait", c.RetryMaxWaitTime, maxWait)
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
		// resty's clamp would make the ten gaps at least 10 × 100ms: a
		// sum below that is no speed limit, the clamp cannot produce it.
		if sum >= time.Second {
			t.Errorf("ten 5ms waits took %v, want under the 1s resty's clamp would force (gaps %v)", sum, gaps)
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
				c := newClient(t, p, func(c *resty.Client) { c.SetRetryWaitTime(tc.min).SetRetryMaxWaitTime(tc.max) })
				resp, err := c.R().Get(ts.URL)
				if err != nil || resp.StatusCode() != 200 {
					t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
				}
				// Real waits, resty's own sleep: never cut below 60ms, and
				// never raised to the 400ms minimum (no speed limit: the
				// clamp cannot produce a shorter gap).
				checkGaps(t, ts.gaps(),
					[]time.Duration{60 * time.Millisecond, 60 * time.Millisecond},
					[]time.Duration{400 * time.Millisecond, 400 * time.Millisecond})
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
	c, events, _ := decidedClient(t, p)
	resp, err := c.R().Get(ts.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
	}
	// The hint is a floor with at most 10% (100ms) added.
	checkWaits(t, events.all(), "Retry-After", time.Second, 1100*time.Millisecond)
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	p.MaxRetryAfter = 5 * time.Second
	c, events, clock := decidedClient(t, p)
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			// The headers have whole seconds: a date 2s after the
			// response's own Date, on the client's clock, which stands
			// still while the request is answered.
			now := clock.Now()
			w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
			w.Header().Set("Retry-After", now.Add(2*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	resp, err := c.R().Get(ts.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
	}
	if n := ts.calls(); n != 2 {
		t.Fatalf("server saw %d calls, want 2", n)
	}
	// The retry must not leave before the date the server named: the wait
	// is the 2s left to it, with at most 10% added.
	checkWaits(t, events.all(), "Retry-After", 2*time.Second, 2200*time.Millisecond)
}

func TestRetryAfterPastDate(t *testing.T) {
	t.Parallel()
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
	c, events, _ := decidedClient(t, p)
	resp, err := c.R().Get(ts.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
	}
	// A past date is no reason to come back sooner than the backoff.
	checkWaits(t, events.all(), SourceBackoff, time.Second, time.Second)
}

func TestRetryAfterMalformedFallsBackToBackoff(t *testing.T) {
	t.Parallel()
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
			c, events, _ := decidedClient(t, p)
			resp, err := c.R().Get(ts.URL)
			if err != nil || resp.StatusCode() != 200 {
				t.Fatalf("got (%v, %v), want 200 and no error", resp.StatusCode(), err)
			}
			// Backoff is 30ms; honouring "1.5" or "1 s" would wait >= 1s,
			// reading "-1" as "now" would wait 0.
			checkWaits(t, events.all(), SourceBackoff, 30*time.Millisecond, 30*time.Millisecond)
		})
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	p.MaxRetryAfter = time.Second
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, "attempt %d", n)
	})
	c, events := eventClient(t, p)
	resp, err := c.R().SetContext(safetyNet(t)).Get(ts.URL)
	if evs := events.all(); len(evs) != 1 || evs[0].Verdict != Stop || evs[0].GiveUp == nil {
		t.Errorf("events %+v, want one give-up and no retry: the hour is refused, not slept", evs)
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
	t.Parallel()
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusUnauthorized)
	})
	c, events := eventClient(t, fastPolicy(3))
	resp, err := c.R().Get(ts.URL)
	if evs := events.all(); len(evs) != 1 || evs[0].Verdict != Stop || evs[0].Wait != 0 {
		t.Errorf("events %+v, want one stop with no wait", evs)
	}
	if err != nil || resp == nil || resp.StatusCode() != 401 {
		t.Fatalf("got (%v, %v), want (401, nil)", resp, err)
	}
	if n := ts.calls(); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
}

func TestDeadlineTooClose(t *testing.T) {
	t.Parallel()
	// The context allows 600ms; every wait is longer. Giving up must be
	// immediate: sleeping until the deadline would also end with
	// context.DeadlineExceeded, but after ~600ms and without ErrGaveUp.
	const deadline = 600 * time.Millisecond

	t.Run("backoff", func(t *testing.T) {
		p := fastPolicy(3)
		p.BaseDelay = time.Second
		ts := newTestServer(t, nil, statuses(503))
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		c, events := eventClient(t, p)
		resp, err := c.R().SetContext(ctx).Get(ts.URL)
		checkGaveUpAtOnce(t, events.all())
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
		c, events := eventClient(t, fastPolicy(3))
		resp, err := c.R().SetContext(ctx).Get(ts.URL)
		checkGaveUpAtOnce(t, events.all())
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
		c, events := eventClient(t, p)
		c.SetTransport(tr)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		_, err := c.R().SetContext(ctx).Get(refusedURL(t))
		checkGaveUpAtOnce(t, events.all())
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
		c, events := eventClient(t, p)
		c.SetTransport(tr)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		_, err := c.R().SetContext(ctx).Get(ts.URL)
		checkGaveUpAtOnce(t, events.all())
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v, want the body read error", err)
		}
		if n := ts.calls(); n != 1 {
			t.Errorf("server saw %d calls, want 1", n)
		}
	})
}

// checkGaveUpAtOnce checks that evs are one give-up on the deadline and no
// retry: the request ended on the decision, without sleeping toward it.
func checkGaveUpAtOnce(t *testing.T, evs []Event) {
	t.Helper()
	if len(evs) != 1 || evs[0].Verdict != Stop || evs[0].GiveUp == nil || !errors.Is(evs[0].GiveUp, ErrDeadline) {
		t.Errorf("events %+v, want one give-up with ErrDeadline and no retry", evs)
	}
}

func TestCancelDuringWait(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	p.BaseDelay, p.MaxDelay = time.Hour, time.Hour // only the cancel can end it
	ts := newTestServer(t, nil, statuses(503))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the hour's wait is decided, before resty sleeps it.
	p.OnDecision = func(ev Event) {
		if ev.Verdict == Retry {
			cancel()
		}
	}

	done := make(chan error, 1)
	go func() {
		_, err := newClient(t, p).R().SetContext(ctx).Get(ts.URL)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		// The wait is resty's own sleep on real time: a hang detector, no
		// speed limit (sleeping the wait out takes an hour).
		t.Fatal("the cancel did not end the hour's wait within 10s")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// Get has returned: no attempt of this request can still be on its way.
	if n := ts.calls(); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
}

func TestRefusedConnectionsRetried(t *testing.T) {
	t.Parallel()
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

func TestDroppedConnections(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
		{"POST 503", http.MethodPost, 503, false, 1}, // a bare 503 is no proof it was not applied
		{"POST 503 Idempotency-Key", http.MethodPost, 503, true, all},
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
		spawn(&wg, func() {
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

// TestMaxElapsed: the decisions (in test mode, whose clock advances by the
// waits skipped) give up at the attempt whose next wait would end past
// MaxElapsed, without deciding that wait.
func TestMaxElapsed(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	p.MaxRetries = 5
	p.BaseDelay = 200 * time.Millisecond
	p.Multiplier = 1
	p.MaxElapsed = 300 * time.Millisecond // attempt 2 at 200ms; another wait would end at 400ms
	ts := newTestServer(t, nil, statuses(503))
	c, events, clock := decidedClient(t, p)
	resp, err := c.R().Get(ts.URL)
	if !errors.Is(err, ErrTimeLimit) || !errors.Is(err, ErrGaveUp) {
		t.Fatalf("err = %v, want ErrTimeLimit and ErrGaveUp", err)
	}
	if resp == nil || resp.StatusCode() != 503 || resp.String() != "attempt 2" {
		t.Errorf("got %v, want the 503 of attempt 2", resp)
	}
	if ge := giveUpOf(t, err); ge.Attempt != 2 || ge.Status != 503 {
		t.Errorf("GiveUpError{Attempt %d, Status %d}, want {2, 503}", ge.Attempt, ge.Status)
	}
	if n := ts.calls(); n != 2 {
		t.Fatalf("server saw %d calls, want 2", n)
	}
	evs := events.all()
	if w := retryWaits(evs); !slices.Equal(w, []time.Duration{p.BaseDelay}) {
		t.Errorf("decided waits %v, want one of %v: no wait after attempt 2", w, p.BaseDelay)
	}
	if last := evs[len(evs)-1]; last.Verdict != Stop || !errors.Is(last.GiveUp, ErrTimeLimit) || last.Attempt != 2 {
		t.Errorf("last event %+v, want a give-up with ErrTimeLimit at attempt 2", last)
	}
	if s := clock.Slept(); s != 0 {
		t.Errorf("slept %v on the clock, want nothing", s)
	}
}

// TestMaxElapsedBoundsAttemptInFlight: a server that accepts and never
// answers cannot hold a request past MaxElapsed. The attempt in flight is
// ended with an error that is both ErrTimeLimit and the context's
// DeadlineExceeded, and its connection is closed (goleak in TestMain sees
// any transport goroutine left behind). A caller's own, earlier deadline
// keeps its meaning: DeadlineExceeded, not ErrTimeLimit.
func TestMaxElapsedBoundsAttemptInFlight(t *testing.T) {
	t.Parallel()
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

	// MaxElapsed ends the attempt in flight with a real context deadline:
	// the one real-time bound here, 10s, only detects a hang (no deadline
	// at all). The errors say which deadline ended it.
	done := make(chan error, 1)
	go func() {
		_, err := c.R().Get(ts.URL)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the request was still in flight 10s after its MaxElapsed %v", p.MaxElapsed)
	}
	if !errors.Is(err, ErrTimeLimit) || !errors.Is(err, ErrGaveUp) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeLimit, ErrGaveUp and context.DeadlineExceeded", err)
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
	t.Parallel()
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
// a request to another host is not held. In test mode on a clock that stands
// still, every hold decided must reach the instant: hint from now, plus at
// most the 10% spread.
func TestPaceHoldsNewRequests(t *testing.T) {
	t.Parallel()
	const hint = 250 * time.Millisecond
	limited := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After-Ms", strconv.Itoa(int(hint/time.Millisecond)))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	})
	other := newTestServer(t, nil, statuses(200))
	p := fastPolicy(3)
	p.Pace = true
	c, events, clock := decidedClient(t, p)

	if _, err := c.R().Get(limited.URL); err != nil {
		t.Fatal(err)
	}
	checkWaits(t, events.take(), "Retry-After-Ms", hint, hint+hint/10)
	if _, err := c.R().Get(other.URL); err != nil {
		t.Fatal(err)
	}
	if holds, _ := pacingEvents(events.take()); holds != 0 {
		t.Errorf("a request to another host was held %d times, want 0", holds)
	}
	var wg sync.WaitGroup
	for range 5 {
		spawn(&wg, func() {
			if resp, err := c.R().Get(limited.URL); err != nil || resp.StatusCode() != 200 {
				t.Errorf("held request: %v, %v", resp, err)
			}
		})
	}
	wg.Wait()
	if n := limited.calls(); n != 7 {
		t.Fatalf("limited server saw %d calls, want 7 (1 refused, its retry, 5 held)", n)
	}
	var holds []Event
	for _, ev := range events.all() {
		if ev.Rule == RulePace {
			holds = append(holds, ev)
		}
	}
	if len(holds) != 5 {
		t.Fatalf("%d pacing events, want 5: %+v", len(holds), holds)
	}
	for _, ev := range holds {
		if ev.Verdict != Retry || ev.Attempt != 0 || ev.WaitSource != SourcePace || ev.Wait < hint || ev.Wait > hint+hint/10 {
			t.Errorf("pacing event %+v, want a Retry of attempt 0 waiting in [%v, %v]", ev, hint, hint+hint/10)
		}
	}
	if s := clock.Slept(); s != 0 {
		t.Errorf("slept %v on the clock in test mode, want the holds skipped", s)
	}
}

// TestPaceRefusals: a hold longer than MaxRetryAfter, or one that would pass
// the context's deadline, fails at once without sending; cancelling ends a
// hold.
func TestPaceRefusals(t *testing.T) {
	t.Parallel()
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
	var cancelOnHold atomic.Pointer[context.CancelFunc]
	p.OnDecision = func(ev Event) {
		events.record(ev)
		if cancel := cancelOnHold.Load(); cancel != nil && ev.Rule == RulePace && ev.Verdict == Retry {
			(*cancel)()
		}
	}
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

	// Cancelled once the hold is decided, as it starts: a hold that
	// ignored the cancel would send the request after it (and take the
	// ~5s left of the block).
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	cancelOnHold.Store(&cancel2)
	_, err = c.R().SetContext(ctx2).Get(ts.URL)
	cancelOnHold.Store(nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled hold: err = %v, want context.Canceled", err)
	}
	if last := events.all(); len(last) == 0 || last[len(last)-1].Rule != RuleCanceled || last[len(last)-1].Attempt != 0 {
		t.Errorf("cancelled hold: events %+v, want the last a cancel of attempt 0 (nothing was sent)", last)
	}
	if n := ts.calls(); n != 1 {
		t.Errorf("server saw %d calls, want 1: no refused hold sends anything", n)
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

// keyPolicy is fastPolicy(3) with AddIdempotencyKey.
func keyPolicy() Policy {
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	return p
}

func (ks *keyServer) seen(id string) []string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return append([]string(nil), ks.keys[id]...)
}

func TestControlIdempotencyKeyAdded(t *testing.T) {
	t.Parallel()
	ks, c := newKeyServer(t), newClient(t, keyPolicy())

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

// TestControlIdempotencyKeyKeepsCallersKey: a key the caller set, on the
// request or on the client (resty.Client.SetHeader), is sent on the wire and
// already makes the POST retryable, so AddIdempotencyKey must not replace it
// with a random one.
func TestControlIdempotencyKeyKeepsCallersKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, onRequest, onClient, want string
	}{
		{"request", "my-key-1", "", "my-key-1 my-key-1 my-key-1"},
		{"client", "", "client-key-1", "client-key-1 client-key-1 client-key-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, c := newKeyServer(t), newClient(t, keyPolicy())
			if tc.onClient != "" {
				c.SetHeader("Idempotency-Key", tc.onClient)
			}
			r := c.R().SetHeader("X-Test-ID", tc.name).SetBody("x")
			if tc.onRequest != "" {
				r.SetHeader("Idempotency-Key", tc.onRequest)
			}
			if resp, err := r.Post(ks.URL); err != nil || resp.StatusCode() != 200 {
				t.Fatalf("(%v, %v), want 200", resp, err)
			}
			if keys := ks.seen(tc.name); strings.Join(keys, " ") != tc.want {
				t.Errorf("keys %q, want the caller's %q", keys, tc.want)
			}
		})
	}
}

func TestControlIdempotencyKeyNotOnGet(t *testing.T) {
	t.Parallel()
	ks, c := newKeyServer(t), newClient(t, keyPolicy())
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
	t.Parallel()
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

// ---------------------------------------------------------------------------
// Issue 8, item 1: A POST already applied is never re-sent after a redirect.

func TestUsageRedirectedPostNotResent(t *testing.T) {
	t.Parallel()
	refused := refusedURL(t)
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther} {
		for _, final := range []string{"503", "429", "refused"} {
			for _, mode := range []string{"plain", "idempotency-key", "retry-all-methods"} {
				t.Run(fmt.Sprintf("%d/%s/%s", code, final, mode), func(t *testing.T) {
					log := newRequestLog()
					var srv *httptest.Server
					srv = serve(t, func(w http.ResponseWriter, r *http.Request) {
						switch r.URL.Path {
						case "/orders":
							log.record("POST "+r.Method, r)
							target := srv.URL + "/result"
							if final == "refused" {
								target = refused + "/result"
							}
							w.Header().Set("Location", target)
							w.WriteHeader(code)
						case "/result":
							log.record("GET "+r.Method, r)
							status, _ := strconv.Atoi(final)
							w.WriteHeader(status)
						}
					})
					p := fastPolicy(3)
					p.RetryAllMethods = mode == "retry-all-methods"
					c := newClient(t, p)
					req := c.R().SetBody(`{"item":1}`)
					if mode == "idempotency-key" {
						req.SetHeader("Idempotency-Key", "order-1")
					}
					resp, err := req.Post(srv.URL + "/orders")

					want := 1 // the order is created once
					if mode != "plain" {
						want = 1 + p.MaxRetries // the whole chain, retried
					}
					if got := log.count("POST POST"); got != want {
						t.Errorf("POST sent %d times, want %d", got, want)
					}
					wantGets := want
					if final == "refused" {
						wantGets = 0
					}
					if got := log.count("GET GET"); got != wantGets {
						t.Errorf("redirected GET sent %d times, want %d", got, wantGets)
					}
					if final == "refused" {
						if err == nil {
							t.Errorf("refused redirect target: nil error")
						}
					} else {
						if err != nil {
							t.Errorf("err = %v", err)
						}
						if status, _ := strconv.Atoi(final); resp == nil || resp.StatusCode() != status {
							t.Errorf("final status = %v, want %d", statusOf(resp), status)
						}
					}
				})
			}
		}
	}
}

// After 307 and 308 net/http re-sends the same method and body: the final
// response judges that re-sent POST as usual (a POST on 503 is retried),
// and every attempt carries the same bytes.
func TestUsageRedirect307ResendsSameBody(t *testing.T) {
	t.Parallel()
	const payload = `{"order":"same bytes every time"}`
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, kind := range []string{"string", "bytes", "reader"} {
			t.Run(fmt.Sprintf("%d/%s", code, kind), func(t *testing.T) {
				log := newRequestLog()
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					switch r.URL.Path {
					case "/orders":
						log.record("orders "+r.Method, r)
						w.Header().Set("Location", "/again")
						w.WriteHeader(code)
					case "/again":
						if log.record("again "+r.Method, r) == 1 {
							w.Header().Set("Retry-After", "0") // refused before acting: POSTs too are retried
							w.WriteHeader(http.StatusServiceUnavailable)
							return
						}
						w.WriteHeader(http.StatusCreated)
					}
				})
				c := newClient(t, fastPolicy(3))
				req := c.R()
				switch kind {
				case "string":
					req.SetBody(payload)
				case "bytes":
					req.SetBody([]byte(payload))
				case "reader":
					req.SetBody(strings.NewReader(payload))
				}
				resp, err := req.Post(srv.URL + "/orders")
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if resp.StatusCode() != http.StatusCreated {
					t.Errorf("status = %d, want 201", resp.StatusCode())
				}
				want := []string{payload, payload}
				if got := log.bodiesOf("orders POST"); !slices.Equal(got, want) {
					t.Errorf("bodies at /orders = %q, want %q", got, want)
				}
				if got := log.bodiesOf("again POST"); !slices.Equal(got, want) {
					t.Errorf("bodies at /again = %q, want %q", got, want)
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// Issue 8, item 2: Clone() of an applied client is independent.

// A clone given its own policy retries by it; the original keeps its own.
func TestUsageCloneApplyIndependent(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header.Get("X-Who"), r)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	var origEvents, cloneEvents eventLog
	po := fastPolicy(3)
	po.MaxRetries = 3
	po.OnDecision = origEvents.record
	orig := newClient(t, po)

	clone := orig.Clone()
	pc := fastPolicy(3)
	pc.MaxRetries = 1
	pc.OnDecision = cloneEvents.record
	pc.Apply(clone)

	for round := range 2 {
		if _, err := clone.R().SetHeader("X-Who", "clone").Get(srv.URL); err != nil {
			t.Fatal(err)
		}
		if _, err := orig.R().SetHeader("X-Who", "orig").Get(srv.URL); err != nil {
			t.Fatal(err)
		}
		if got, want := log.count("orig"), 4*(round+1); got != want {
			t.Errorf("round %d: original sent %d attempts in all, want %d (its own MaxRetries 3)", round, got, want)
		}
		if got, want := log.count("clone"), 2*(round+1); got != want {
			t.Errorf("round %d: clone sent %d attempts in all, want %d (its own MaxRetries 1)", round, got, want)
		}
	}
	if got, want := attemptsOf(origEvents.take()), []int{1, 2, 3, 4, 1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("original's events: attempts %v, want %v", got, want)
	}
	if got, want := attemptsOf(cloneEvents.take()), []int{1, 2, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("clone's events: attempts %v, want %v", got, want)
	}
}

// A clone that was never given its own policy shares its original's policy
// and budget: it follows an Apply on the original, and draws from the same
// bucket. Once the clone is applied it has its own (and a fresh budget).
func TestUsageCloneSharesUntilAdopted(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header.Get("X-Who"), r)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	p := fastPolicy(3)
	orig := newClient(t, p)
	clone := orig.Clone() // not applied: served by the original's installation

	get := func(c *resty.Client, who string) (int, error) {
		t.Helper()
		before := log.count(who)
		_, err := c.R().SetHeader("X-Who", who).Get(srv.URL)
		return log.count(who) - before, err
	}
	if n, err := get(clone, "clone"); n != 4 || err != nil {
		t.Errorf("clone before any change: %d attempts, err %v; want 4, nil (the original's policy)", n, err)
	}

	// The original's new policy serves the clone too.
	p.MaxRetries = 1
	// A shared reserve of 2 tokens, each request's first retry taking one;
	// the tolerance keeps the always-503 host from being down between the
	// requests (at 5ms it would be after the first wait).
	p.Budget = Budget{Reserve: 2, Tolerance: time.Hour}
	p.Apply(orig)
	if n, err := get(clone, "clone"); n != 2 || err != nil {
		t.Errorf("clone after Apply on the original: %d attempts, err %v; want 2, nil", n, err)
	}
	// It drew one token of the shared reserve of 2; the original's request
	// takes the other, and the clone's next retry is refused.
	if n, err := get(orig, "orig"); n != 2 || err != nil {
		t.Errorf("original: %d attempts, err %v; want 2, nil", n, err)
	}
	n, err := get(clone, "clone")
	if n != 1 || !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("clone on the drained shared budget: %d attempts, err %v; want 1, ErrBudgetExhausted", n, err)
	}

	// Applied, the clone has its own budget; the original's stays empty.
	p.Apply(clone)
	if n, err := get(clone, "clone"); n != 2 || err != nil {
		t.Errorf("applied clone: %d attempts, err %v; want 2, nil (a fresh budget)", n, err)
	}
	if n, err := get(orig, "orig"); n != 1 || !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("original after the clone's Apply: %d attempts, err %v; want 1, ErrBudgetExhausted", n, err)
	}
}

// TestMode on a clone skips the clone's waits and caps the clone's
// retries, not the original's. handedWaits sees what each client hands
// resty to sleep (1ns in test mode), and makes resty sleep nothing.
func TestUsageCloneTestModeIndependent(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header.Get("X-Who"), r)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.BaseDelay, p.MaxDelay, p.Jitter = 250*time.Millisecond, 250*time.Millisecond, NoJitter
	orig := newClient(t, p)
	prod := []time.Duration{250 * time.Millisecond, 250 * time.Millisecond} // the original's two waits
	skipped := []time.Duration{time.Nanosecond, time.Nanosecond}            // what the library hands resty for a skipped wait

	clone := orig.Clone()
	TestMode(clone, -1)
	cloneWaits := handedWaits(clone)
	origWaits := handedWaits(orig)
	if _, err := clone.R().SetHeader("X-Who", "clone").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if w := cloneWaits(); !slices.Equal(w, skipped) {
		t.Errorf("clone in test mode handed resty the waits %v, want %v (skipped)", w, skipped)
	}
	if got := log.count("clone"); got != 3 {
		t.Errorf("clone sent %d attempts, want 3", got)
	}

	if _, err := orig.R().SetHeader("X-Who", "orig").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if w := origWaits(); !slices.Equal(w, prod) {
		t.Errorf("original handed resty the waits %v, want %v: the clone's test mode skipped its waits", w, prod)
	}
	if got := log.count("orig"); got != 3 {
		t.Errorf("original sent %d attempts, want 3", got)
	}

	clone2 := orig.Clone() // copies orig's handedWaits callback: it records into origWaits
	TestMode(clone2, 0)
	if _, err := clone2.R().SetHeader("X-Who", "clone2").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := log.count("clone2"); got != 1 {
		t.Errorf("clone capped at 0 retries sent %d attempts, want 1", got)
	}
	if _, err := orig.R().SetHeader("X-Who", "orig2").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := log.count("orig2"); got != 3 {
		t.Errorf("original after the clone's cap sent %d attempts, want 3", got)
	}
	if w := origWaits(); !slices.Equal(w, append(slices.Clone(prod), prod...)) {
		t.Errorf("original handed resty the waits %v after the clone's TestMode, want %v twice", w, prod)
	}
}

// multipartServer records the length of the "file" part of every
// attempt per X-Who and answers 503 to each key's first attempt.
func multipartServer(t *testing.T) (*httptest.Server, *sync.Mutex, map[string][]int, map[string][]string) {
	var mu sync.Mutex
	parts := map[string][]int{}
	hooks := map[string][]string{}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		who := r.Header.Get("X-Who")
		n := -1 // no file part at all
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				part, err := mr.NextPart()
				if err != nil {
					break
				}
				if part.FormName() == "file" {
					b, _ := io.ReadAll(part)
					n = len(b)
				}
			}
		}
		mu.Lock()
		parts[who] = append(parts[who], n)
		hooks[who] = append(hooks[who], r.Header.Get("X-Hook"))
		first := len(parts[who]) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0") // refused before acting: the POST is retried
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	return srv, &mu, parts, hooks
}

// A clone with its own pre-request hook loses the body guard: its
// multipart retry is either refused or sent with the full bytes, never
// with an empty part. The original keeps its guard and its hook slot.
func TestUsageClonePreRequestHookNoEmptyPart(t *testing.T) {
	t.Parallel()
	srv, mu, parts, hooks := multipartServer(t)
	payload := bytes.Repeat([]byte("0123456789"), 300)
	orig := newClient(t, fastPolicy(3))
	clone := orig.Clone()
	clone.SetPreRequestHook(func(_ *resty.Client, r *http.Request) error {
		r.Header.Set("X-Hook", "clone")
		return nil
	})

	send := func(c *resty.Client, who string) (*resty.Response, error) {
		return c.R().SetHeader("X-Who", who).
			SetFileReader("file", "data.bin", bytes.NewReader(payload)).
			Post(srv.URL)
	}
	cresp, cerr := send(clone, "clone")
	oresp, oerr := send(orig, "orig")

	mu.Lock()
	defer mu.Unlock()
	for i, n := range parts["clone"] {
		if n != len(payload) {
			t.Errorf("clone attempt %d sent a file part of %d bytes, want %d", i+1, n, len(payload))
		}
	}
	switch len(parts["clone"]) {
	case 1:
		if !errors.Is(cerr, ErrBodyNotReplayable) {
			t.Errorf("clone not retried: err = %v, want ErrBodyNotReplayable", cerr)
		}
	case 2:
		if cerr != nil || cresp.StatusCode() != http.StatusCreated {
			t.Errorf("clone retried: status %d, err %v; want 201, nil", statusOf(cresp), cerr)
		}
	default:
		t.Errorf("clone sent %d attempts, want 1 or 2", len(parts["clone"]))
	}
	if got := hooks["clone"]; len(got) == 0 || got[0] != "clone" {
		t.Errorf("clone's hook did not run: X-Hook %q", got)
	}

	// The original's guard is intact: the multipart retry carries the
	// first attempt's bytes, and the clone's hook never runs for it.
	if got, want := parts["orig"], []int{len(payload), len(payload)}; !slices.Equal(got, want) {
		t.Errorf("original's file parts = %v, want %v", got, want)
	}
	if oerr != nil || oresp.StatusCode() != http.StatusCreated {
		t.Errorf("original: status %d, err %v; want 201, nil", statusOf(oresp), oerr)
	}
	for _, h := range hooks["orig"] {
		if h != "" {
			t.Errorf("the clone's pre-request hook ran for the original")
		}
	}
}

// The same with a clone that also got its own policy (Apply after
// SetPreRequestHook, and SetPreRequestHook after Apply).
func TestUsageClonePreRequestHookApplied(t *testing.T) {
	t.Parallel()
	srv, mu, parts, _ := multipartServer(t)
	payload := bytes.Repeat([]byte("abcdefghij"), 300)
	orig := newClient(t, fastPolicy(3))
	hook := func(_ *resty.Client, r *http.Request) error { return nil }

	before := orig.Clone()
	before.SetPreRequestHook(hook)
	fastPolicy(3).Apply(before)
	after := orig.Clone()
	fastPolicy(3).Apply(after)
	after.SetPreRequestHook(hook)

	for who, c := range map[string]*resty.Client{"before": before, "after": after, "orig": orig} {
		resp, err := c.R().SetHeader("X-Who", who).
			SetFileReader("file", "data.bin", bytes.NewReader(payload)).Post(srv.URL)
		mu.Lock()
		got := append([]int(nil), parts[who]...)
		mu.Unlock()
		for i, n := range got {
			if n != len(payload) {
				t.Errorf("%s: attempt %d sent a file part of %d bytes, want %d", who, i+1, n, len(payload))
			}
		}
		switch {
		case len(got) == 1 && errors.Is(err, ErrBodyNotReplayable) && who != "orig":
		case len(got) == 2 && err == nil && resp.StatusCode() == http.StatusCreated:
		default:
			t.Errorf("%s: %d attempts, status %d, err %v", who, len(got), statusOf(resp), err)
		}
	}
}

// ---------------------------------------------------------------------------
// Issue 8, item 4: Streaming responses: every retried body is drained and closed.

// bodyTracker wraps every response body to see whether it was read to
// the end and closed.
type bodyTracker struct {
	base   *http.Transport
	mu     sync.Mutex
	bodies []*trackedBody
}

type trackedBody struct {
	rc     io.ReadCloser
	status int
	eof    atomic.Bool
	closed atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

func (b *trackedBody) Close() error {
	b.closed.Store(true)
	return b.rc.Close()
}

func (tr *bodyTracker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tr.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	tb := &trackedBody{rc: resp.Body, status: resp.StatusCode}
	resp.Body = tb
	tr.mu.Lock()
	tr.bodies = append(tr.bodies, tb)
	tr.mu.Unlock()
	return resp, nil
}

func (tr *bodyTracker) CloseIdleConnections() { tr.base.CloseIdleConnections() }

// closeAll closes whatever the code under test left open, so that a
// failure here does not leak goroutines into the rest of the package.
func (tr *bodyTracker) closeAll() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, b := range tr.bodies {
		if !b.closed.Load() {
			b.rc.Close()
		}
	}
	tr.base.CloseIdleConnections()
}

func TestUsageDoNotParseResponseDrained(t *testing.T) {
	const requests = 20
	big := strings.Repeat("x", 8<<10) // too big to be read ahead with the header
	var conns atomic.Int64
	log := newRequestLog()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := log.record(r.Header.Get("X-Req"), r)
		if strings.HasPrefix(r.Header.Get("X-Req"), "down") || n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "final body")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &bodyTracker{base: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(tr.closeAll)
	c := newClient(t, fastPolicy(3), func(c *resty.Client) { c.SetTransport(tr) })

	runtime.GC()
	goroutines := runtime.NumGoroutine()
	for i := range requests {
		resp, err := c.R().SetDoNotParseResponse(true).SetHeader("X-Req", strconv.Itoa(i)).Get(srv.URL)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.RawBody())
		resp.RawBody().Close()
		if string(body) != "final body" {
			t.Errorf("request %d: final body %q", i, body)
		}
	}
	tr.mu.Lock()
	retried, undrained, unclosed := 0, 0, 0
	for _, b := range tr.bodies {
		if b.status == http.StatusServiceUnavailable {
			retried++
			if !b.eof.Load() {
				undrained++
			}
			if !b.closed.Load() {
				unclosed++
			}
		}
	}
	tr.mu.Unlock()
	if retried != 2*requests {
		t.Errorf("%d retried responses, want %d", retried, 2*requests)
	}
	if undrained != 0 || unclosed != 0 {
		t.Errorf("of %d retried 503 bodies, %d were not drained and %d not closed; want 0 and 0", retried, undrained, unclosed)
	}
	if n := conns.Load(); n > 2 {
		t.Errorf("%d connections for %d sequential requests, want 1 (2 at most): retried bodies keep theirs", n, requests)
	}
	if n := runtime.NumGoroutine(); n > goroutines+4 {
		t.Errorf("goroutines grew from %d to %d over %d requests", goroutines, n, requests)
	}

	// A give-up (here ErrorOnExhausted's) returns an error, and net/http's
	// rule is to ignore the response then: its body is closed, so it
	// cannot leak a connection, and its status stays readable.
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.ErrorOnExhausted = true
	p.Apply(c)
	resp, err := c.R().SetDoNotParseResponse(true).SetHeader("X-Req", "down").Get(srv.URL)
	if !errors.Is(err, ErrRetriesExhausted) {
		t.Errorf("exhausted: err = %v", err)
	}
	if resp == nil || resp.RawBody() == nil || resp.StatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("exhausted: want the last response (503) with its body, got %v", resp)
	}
	if body, err := io.ReadAll(resp.RawBody()); err == nil || len(body) != 0 {
		t.Errorf("exhausted: the last body read %d bytes (err %v), want a closed body", len(body), err)
	}
}

// ---------------------------------------------------------------------------
// Issue 8, item 5: An OnAfterResponse error does not hide a retryable status.

type statusError struct{ status int }

func (e *statusError) Error() string { return "api error " + strconv.Itoa(e.status) }

func TestUsageAfterResponseErrorStatusRetried(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := log.record(r.Header.Get("X-Run")+" "+r.Method+" "+r.URL.Path, r)
		switch r.URL.Path {
		case "/flaky":
			if n == 1 {
				w.Header().Set("Retry-After", "0") // refused before acting: POSTs too are retried
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	middleware := func(_ *resty.Client, resp *resty.Response) error {
		if resp.StatusCode() >= 400 {
			return &statusError{resp.StatusCode()}
		}
		return nil
	}
	for _, order := range []string{"hook after Apply", "hook before Apply"} {
		t.Run(order, func(t *testing.T) {
			c := bareClient(t)
			if order == "hook before Apply" {
				c.OnAfterResponse(middleware)
				fastPolicy(3).Apply(c)
			} else {
				fastPolicy(3).Apply(c)
				c.OnAfterResponse(middleware)
			}
			cases := []struct {
				method, path string
				status, hits int
				wantErr      bool
			}{
				{http.MethodGet, "/flaky", 200, 2, false},
				{http.MethodPost, "/flaky", 200, 2, false}, // a POST on 503 is retried
				{http.MethodGet, "/broken", 500, 4, true},  // GET on 500: retried to the end
				{http.MethodPost, "/broken", 500, 1, true}, // POST on 500: not retried
				{http.MethodGet, "/missing", 404, 1, true},
			}
			for _, tc := range cases {
				key := order + " " + tc.method + " " + tc.path
				before := log.count(key)
				resp, err := c.R().SetHeader("X-Run", order).Execute(tc.method, srv.URL+tc.path)
				if got := log.count(key) - before; got != tc.hits {
					t.Errorf("%s: %d attempts, want %d", key, got, tc.hits)
				}
				if resp == nil || resp.StatusCode() != tc.status {
					t.Errorf("%s: status %d, want %d", key, statusOf(resp), tc.status)
				}
				var se *statusError
				if tc.wantErr != errors.As(err, &se) {
					t.Errorf("%s: err = %v, want the middleware's error: %v", key, err, tc.wantErr)
				}
				// A transport or body error did not happen: Event.Err
				// should not claim one either (checked below).
			}
		})
	}
}

// The middleware's error is not an attempt's transport error: events say
// Err nil for a status that was retried.
func TestUsageAfterResponseErrorNotReportedAsTransport(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record("x", r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c, events := eventClient(t, fastPolicy(3))
	c.OnAfterResponse(func(_ *resty.Client, resp *resty.Response) error {
		if resp.StatusCode() >= 400 {
			return &statusError{resp.StatusCode()}
		}
		return nil
	})
	if _, err := c.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	evs := events.take()
	if len(evs) != 2 || evs[0].Verdict != Retry || evs[0].Status != 503 {
		t.Fatalf("events %+v, want a Retry of the 503, then the 200", evs)
	}
	// The doc of Event.Err: "the attempt's transport or body-read error".
	var se *statusError
	if errors.As(evs[0].Err, &se) {
		t.Logf("note: Event.Err carries the middleware's error %v", evs[0].Err)
	}
}

// ---------------------------------------------------------------------------
// Issue 8, item 7: Re-applying a policy while requests run.

func TestUsageReapplyWhileRunning(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record(r.Header.Get("X-ID"), r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var decisions atomic.Int64
	p1 := fastPolicy(3)
	p1.MaxRetries = 2
	p2 := fastPolicy(3)
	p2.MaxRetries = 3
	p2.OnDecision = func(Event) { decisions.Add(1) }
	p2.Budget = Budget{Ratio: 0.5, Reserve: 1000}
	c := newClient(t, p1)

	stop := make(chan struct{})
	var reloads sync.WaitGroup
	spawn(&reloads, func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				p1.Apply(c)
			} else {
				p2.Apply(c)
			}
			if i%50 == 0 {
				Observe(c, func(Event) {})
			}
			if i%7 == 0 {
				TestMode(c, -1)
			}
			runtime.Gosched()
		}
	})
	const workers, each = 8, 30
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range workers {
		spawn(&wg, func() {
			for i := range each {
				resp, err := c.R().SetHeader("X-ID", fmt.Sprintf("%d-%d", w, i)).Get(srv.URL)
				if err != nil || resp.StatusCode() != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	reloads.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed", n, workers*each)
	}
	for w := range workers {
		for i := range each {
			if got := log.count(fmt.Sprintf("%d-%d", w, i)); got != 2 {
				t.Errorf("request %d-%d: %d attempts, want 2", w, i, got)
			}
		}
	}
}

// A hot reload of a clone's policy: the clone's first Apply (or TestMode,
// or Observe) while the clone is in use.
func TestUsageReapplyCloneWhileRunning(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record(r.Header.Get("X-ID"), r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// A clone's first Apply gives it its own installation and, like any
	// resty setting, is made before the clone carries requests (documented
	// on Apply); every later one is a hot reload, safe while requests run.
	orig := newClient(t, fastPolicy(3))
	clone := orig.Clone()
	fastPolicy(3).Apply(clone)
	var wg sync.WaitGroup
	var failed atomic.Int64
	started := make(chan struct{})
	for w := range 4 {
		spawn(&wg, func() {
			for i := range 20 {
				if w == 0 && i == 2 {
					close(started)
				}
				resp, err := clone.R().SetHeader("X-ID", fmt.Sprintf("%d-%d", w, i)).Get(srv.URL)
				if err != nil || resp.StatusCode() != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	<-started
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.Apply(clone) // the hot reload
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed", n)
	}
}

// ---------------------------------------------------------------------------
// HTTP/2.

func http2Server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *resty.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := resty.NewWithClient(srv.Client()).SetLogger(nopLogger{})
	t.Cleanup(srv.Client().CloseIdleConnections)
	return srv, c
}

func TestUsageHTTP2Retries(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	var protos sync.Map
	srv, c := http2Server(t, func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		id := r.Header.Get("X-ID")
		var n int
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			mr := multipart.NewReader(r.Body, params["boundary"])
			size := -1
			for {
				part, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(part)
				size = len(b)
			}
			log.mu.Lock()
			log.hits[id]++
			n = log.hits[id]
			log.bodies[id] = append(log.bodies[id], strconv.Itoa(size))
			log.mu.Unlock()
		} else {
			n = log.record(id, r)
		}
		if n == 1 {
			w.Header().Set("Retry-After", "0") // refused before acting: POSTs too are retried
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	fastPolicy(3).Apply(c)

	resp, err := c.R().SetHeader("X-ID", "get").Get(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK || resp.Proto() != "HTTP/2.0" {
		t.Errorf("GET: status %d, proto %q, err %v", statusOf(resp), resp.Proto(), err)
	}
	if got := log.count("get"); got != 2 {
		t.Errorf("GET: %d attempts, want 2", got)
	}
	resp, err = c.R().SetHeader("X-ID", "post").SetBody(strings.NewReader("h2 body")).Post(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Errorf("POST: status %d, err %v", statusOf(resp), err)
	}
	if got := log.bodiesOf("post"); !slices.Equal(got, []string{"h2 body", "h2 body"}) {
		t.Errorf("POST bodies %q", got)
	}
	payload := bytes.Repeat([]byte{7}, 5000)
	resp, err = c.R().SetHeader("X-ID", "multipart").
		SetFileReader("file", "f.bin", bytes.NewReader(payload)).Post(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Errorf("multipart: status %d, err %v", statusOf(resp), err)
	}
	if got := log.bodiesOf("multipart"); !slices.Equal(got, []string{"5000", "5000"}) {
		t.Errorf("multipart part sizes %q, want 5000 twice", got)
	}
	if _, ok := protos.Load("HTTP/2.0"); !ok {
		t.Errorf("the server saw no HTTP/2 request")
	}
}

// A server that drops an idempotent GET mid-way is retried over HTTP/1.1
// (the connection closes: a maybe-sent error). Over HTTP/2 the same fault
// is a stream reset; it should be retried the same way.
func TestUsageHTTP2AbortedStreamRetried(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			var hits atomic.Int64
			h := func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 1 {
					panic(http.ErrAbortHandler)
				}
				io.WriteString(w, "ok")
			}
			var srv *httptest.Server
			var c *resty.Client
			if proto == "HTTP/2" {
				srv, c = http2Server(t, h)
			} else {
				srv = serve(t, h)
				c = bareClient(t)
			}
			srv.Config.ErrorLog = nil
			fastPolicy(3).Apply(c)
			resp, err := c.R().Get(srv.URL)
			if err != nil || resp.StatusCode() != http.StatusOK {
				t.Errorf("status %d, err %v (%T); want 200 after a retry", statusOf(resp), err, errors.Unwrap(err))
			}
			if got := hits.Load(); got != 2 {
				t.Errorf("%d attempts, want 2", got)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Other ordinary resty usage (issue 8).

// An observer registered on the original (an instrumentation package)
// still sees a clone's requests after the clone gets its own test mode or
// policy: it saw them before.
func TestUsageCloneKeepsObservers(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	orig := newClient(t, fastPolicy(3))
	var seen atomic.Int64
	Observe(orig, func(Event) { seen.Add(1) })

	clone := orig.Clone()
	if _, err := clone.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != 1 {
		t.Fatalf("observer saw %d events of the clone before its TestMode, want 1", got)
	}
	TestMode(clone, -1)
	if _, err := clone.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != 2 {
		t.Errorf("observer saw %d events, want 2: TestMode on the clone dropped the original's observers", got)
	}
}

// The Idempotency-Key added to a request is visible on the response's
// request, for the caller's logs.
func TestUsageAutoKeyVisibleOnResponse(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record("k", r)
		w.WriteHeader(http.StatusCreated)
	})
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	c := newClient(t, p)
	resp, err := c.R().SetBody("x").Post(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	sent := log.keysOf("k")
	if len(sent) != 1 || sent[0] == "" {
		t.Fatalf("keys sent %q", sent)
	}
	if got := resp.Request.RawRequest.Header.Get("Idempotency-Key"); got != sent[0] {
		t.Errorf("RawRequest's key %q, want %q", got, sent[0])
	}
	if got := resp.Request.Header.Get("Idempotency-Key"); got != sent[0] {
		t.Logf("note: resp.Request.Header has key %q, the server got %q", got, sent[0])
	}
}

// A refused connection was never sent, so even a POST is retried; the
// user info in the URL (basic auth, as many internal services use) must
// not change that.
func TestUsageRefusedPostWithUserInfoRetried(t *testing.T) {
	t.Parallel()
	refused := strings.Replace(refusedURL(t), "http://", "http://svc:s3cret@", 1) + "/orders"
	for _, target := range []string{refusedURL(t) + "/orders", refused} {
		var events eventLog
		p := fastPolicy(3)
		p.MaxRetries = 2
		p.OnDecision = events.record
		c := newClient(t, p)
		_, err := c.R().SetBody("order").Post(target)
		if err == nil {
			t.Fatalf("%s: nil error", redactUserInfo(target))
		}
		evs := events.take()
		if got := attemptsOf(evs); !slices.Equal(got, []int{1, 2, 3}) {
			t.Errorf("%s: attempts %v, want [1 2 3] (refused: never sent, retried for any method)", redactUserInfo(target), got)
		}
	}
}

func redactUserInfo(s string) string { return strings.Replace(s, "s3cret", "xxx", 1) }

// TestServerVerdictOnRealServer: X-Should-Retry: true makes a POST that got
// 500 retryable (the server vouches that repeating is safe), and false stops
// a GET that got 503, which would otherwise be retried.
func TestServerVerdictOnRealServer(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, byPath, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path {
		case "/vouched":
			w.Header().Set("X-Should-Retry", "true")
			w.WriteHeader(http.StatusInternalServerError)
		case "/refused":
			w.Header().Set("X-Should-Retry", "false")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	c, events := eventClient(t, fastPolicy(2))
	if _, err := c.R().SetBody("order").Post(ts.URL + "/vouched"); err != nil {
		t.Fatal(err)
	}
	if n := ts.count("/vouched"); n != 3 {
		t.Errorf("POST 500 with X-Should-Retry: true reached the server %d times, want 3", n)
	}
	if _, err := c.R().Get(ts.URL + "/refused"); err != nil {
		t.Fatal(err)
	}
	if n := ts.count("/refused"); n != 1 {
		t.Errorf("GET 503 with X-Should-Retry: false reached the server %d times, want 1", n)
	}
	evs := events.all()
	if len(evs) != 4 || evs[0].Rule != RuleServer || evs[2].Rule != RuleMaxRetries || evs[3].Rule != RuleServer || evs[3].Verdict != Stop {
		t.Errorf("events %+v, want server, server, max-retries, then a server stop", evs)
	}
}

// TestUserConditionRetryingPreSendErrors: a condition added with resty's
// own AddRetryCondition that says true to everything makes resty retry an
// error raised before sending, for which it calls no RetryAfter: the
// policy cannot stop it, but the loop ceiling Apply sets does, below the
// attempt (1024) at which resty's own backoff arithmetic panics.
func TestUserConditionRetryingPreSendErrors(t *testing.T) {
	t.Parallel()
	hookErr := errors.New("no token")
	var calls atomic.Int64
	c := newClient(t, fastPolicy(3))
	c.AddRetryCondition(func(*resty.Response, error) bool { return true })
	c.OnBeforeRequest(func(*resty.Client, *resty.Request) error {
		calls.Add(1)
		return hookErr
	})
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("resty panicked after %d attempts: %v", calls.Load(), p)
			}
		}()
		_, err = c.R().Get("http://127.0.0.1:1/")
	}()
	if !errors.Is(err, hookErr) {
		t.Errorf("err = %v, want the hook's", err)
	}
	if n := calls.Load(); n != loopCeiling+1 {
		t.Errorf("the hook ran %d times, want %d (the loop ceiling's attempts)", n, loopCeiling+1)
	}
}

// TestPaceHoldsLikeARetry: a hold until the instant a server named is
// judged as a retry's wait for the same hint is: the instant must fit in
// MaxRetryAfter, and the spread is capped by it (a Retry-After equal to
// MaxRetryAfter is honoured by both). Its event names the URL resty sends
// to, also when the request's URL is relative to the client's base URL.
func TestPaceHoldsLikeARetry(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	var events eventLog
	p := fastPolicy(0)
	p.Pace = true
	p.MaxRetryAfter = time.Second
	p.OnDecision = events.record
	c := newClient(t, p).SetBaseURL(ts.URL)
	if resp, _ := c.R().Get("/a"); resp.StatusCode() != http.StatusTooManyRequests {
		t.Fatalf("first request: %v, want the 429", resp)
	}
	resp, err := c.R().Get("/a")
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("held request: (%v, %v), want 200 after the hold", resp, err)
	}
	var holds []Event
	for _, ev := range events.all() {
		if ev.Rule == RulePace {
			holds = append(holds, ev)
		}
	}
	if len(holds) != 1 || holds[0].Wait > time.Second || holds[0].URL != ts.URL+"/a" {
		t.Errorf("pacing events %+v, want one hold of at most 1s about %s/a", holds, ts.URL)
	}
}

// TestPaceInTestModeKeepsProductionGiveUps: the host's instant is the
// world's, not a request's virtual clock: after a request in test mode
// skipped its waits, a new request is held (skipped too) as in production,
// not refused for a hold that adds up the skipped waits.
func TestPaceInTestModeKeepsProductionGiveUps(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "10")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	p := Background().TestMode(3)
	p.MaxRetryAfter = 15 * time.Second
	p.Budget = Budget{}
	c := newClient(t, p)
	if _, err := c.R().Get(ts.URL); err != nil {
		t.Fatalf("first request: %v, want its last 429 and no error", err)
	}
	if _, err := c.R().Get(ts.URL); errors.Is(err, ErrWaitTooLong) {
		t.Errorf("second request: %v; in production it would be held about 10s, within MaxRetryAfter", err)
	}
	if n := ts.calls(); n != 8 {
		t.Errorf("server saw %d calls, want 8 (4 attempts of each request)", n)
	}
}

// TestRefusalStandsForTheExecute: a Pace give-up raised before sending is
// reported once, even when a retry condition of the user's says true to
// every error and resty asks again and again.
func TestRefusalStandsForTheExecute(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	var events eventLog
	p := fastPolicy(0)
	p.Pace = true
	p.MaxRetryAfter = 90 * time.Second // the 429's own request gives up: MaxRetries is 0
	p.OnDecision = events.record
	c := newClient(t, p)
	c.AddRetryCondition(func(_ *resty.Response, err error) bool { return err != nil })
	if resp, _ := c.R().Get(ts.URL); resp.StatusCode() != http.StatusTooManyRequests {
		t.Fatalf("first request: %v, want the 429", resp)
	}
	short := p
	short.MaxRetryAfter = time.Second
	short.ReplaceOnDecision = true // the same recorder: report once
	_, err := c.R().SetContext(WithPolicy(context.Background(), short)).Get(ts.URL)
	if !errors.Is(err, ErrWaitTooLong) {
		t.Fatalf("held request: %v, want ErrWaitTooLong", err)
	}
	n := 0
	for _, ev := range events.all() {
		if ev.Rule == RulePace {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d pacing events, want the refusal reported once", n)
	}
	if calls := ts.calls(); calls != 1 {
		t.Errorf("server saw %d calls, want 1", calls)
	}
}

// paceReply answers /block?ms=N with a 429 that names an instant N
// milliseconds ahead (Retry-After-Ms), and 200 to anything else.
func paceReply(w http.ResponseWriter, r *http.Request, _ int) {
	if r.URL.Path == "/block" {
		w.Header().Set("Retry-After-Ms", r.URL.Query().Get("ms"))
		w.WriteHeader(http.StatusTooManyRequests)
	}
}

// blockHost makes c learn that its quota at ts is spent for ms
// milliseconds: one request to /block that takes the 429 and stops.
func blockHost(t *testing.T, c *resty.Client, ts *testServer, ms int) {
	p := fastPolicy(0)
	p.Pace = true
	p.MaxRetryAfter = time.Minute
	ctx := WithPolicy(context.Background(), p)
	if resp, _ := c.R().SetContext(ctx).Get(ts.URL + "/block?ms=" + strconv.Itoa(ms)); resp.StatusCode() != http.StatusTooManyRequests {
		t.Errorf("blocking request: %v, want the 429", resp)
	}
}

// pacingEvents counts the RulePace events in evs, and the give-ups among them.
func pacingEvents(evs []Event) (holds, giveUps int) {
	for _, ev := range evs {
		if ev.Rule == RulePace {
			holds++
			if ev.GiveUp != nil {
				giveUps++
			}
		}
	}
	return holds, giveUps
}

// TestPaceLooksAgainBeforeSending: a host blocked after a request's first
// look (by another request, while this one runs its other hooks) still
// holds it, at the pre-request hook, whatever state the first attempt has.
func TestPaceLooksAgainBeforeSending(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*Policy){
		"plain":             func(*Policy) {},
		"MaxElapsed":        func(p *Policy) { p.MaxElapsed = 10 * time.Second },
		"AddIdempotencyKey": func(p *Policy) { p.AddIdempotencyKey = true },
	} {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, byPath, paceReply)
			var events eventLog
			p := fastPolicy(0)
			p.Pace = true
			p.MaxRetryAfter = 5 * time.Second
			p.OnDecision = events.record
			mod(&p)
			// Production mode on a fake clock: the hold is slept on the
			// clock, which stands still otherwise.
			clock := retrytest.NewClock(time.Now())
			c := ApplyOnClock(p, bareClient(t), clock)
			var once atomic.Bool
			c.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
				if strings.HasSuffix(r.URL, "/x") && once.CompareAndSwap(false, true) {
					blockHost(t, c, ts, 300)
				}
				return nil
			})
			if _, err := c.R().SetBody("b").Post(ts.URL + "/x"); err != nil {
				t.Fatal(err)
			}
			if s := clock.Slept(); s < 300*time.Millisecond {
				t.Errorf("held %v on the clock before sending, want the host's 300ms block", s)
			}
			if holds, _ := pacingEvents(events.all()); holds != 1 {
				t.Errorf("%d pacing events, want 1", holds)
			}
		})
	}
}

// TestPaceAtSendRefusalAndLimits: a hold found just before sending is one
// more round of the same hold: all rounds together must fit in
// MaxRetryAfter, a give-up there stands for the Execute (reported once, even
// when a user condition makes resty ask again), and test mode, which skipped
// the hold, does not report it twice.
func TestPaceAtSendRefusalAndLimits(t *testing.T) {
	t.Parallel()
	t.Run("rounds add up", func(t *testing.T) {
		ts := newTestServer(t, byPath, paceReply)
		p := fastPolicy(0)
		p.Pace = true
		p.MaxRetryAfter = time.Second
		c := newClient(t, p)
		var once atomic.Bool
		c.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
			if strings.HasSuffix(r.URL, "/x") && once.CompareAndSwap(false, true) {
				blockHost(t, c, ts, 800)
			}
			return nil
		})
		blockHost(t, c, ts, 800)
		if _, err := c.R().Get(ts.URL + "/x"); !errors.Is(err, ErrWaitTooLong) {
			t.Errorf("held 0.8s, then blocked 0.8s more: err = %v, want ErrWaitTooLong (1s in all)", err)
		}
		if n := ts.count("/x"); n != 0 {
			t.Errorf("/x reached the server %d times, want 0", n)
		}
	})
	t.Run("a give-up at send is reported once", func(t *testing.T) {
		ts := newTestServer(t, byPath, paceReply)
		var events eventLog
		p := fastPolicy(0)
		p.Pace = true
		p.MaxRetryAfter = 200 * time.Millisecond
		p.OnDecision = events.record
		c := newClient(t, p)
		c.AddRetryCondition(func(_ *resty.Response, err error) bool { return err != nil })
		var once atomic.Bool
		c.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
			if strings.HasSuffix(r.URL, "/x") && once.CompareAndSwap(false, true) {
				blockHost(t, c, ts, 1000)
			}
			return nil
		})
		if _, err := c.R().Get(ts.URL + "/x"); !errors.Is(err, ErrWaitTooLong) {
			t.Errorf("err = %v, want ErrWaitTooLong", err)
		}
		if _, giveUps := pacingEvents(events.all()); giveUps != 1 {
			t.Errorf("%d pacing give-ups reported, want 1", giveUps)
		}
	})
	t.Run("test mode reports a hold once", func(t *testing.T) {
		ts := newTestServer(t, byPath, paceReply)
		var events eventLog
		p := fastPolicy(0)
		p.Pace = true
		p.MaxRetryAfter = 5 * time.Second
		p.OnDecision = events.record
		c := TestMode(newClient(t, p), -1)
		blockHost(t, c, ts, 2000)
		events.take()
		if _, err := c.R().Get(ts.URL + "/x"); err != nil {
			t.Fatal(err)
		}
		if holds, _ := pacingEvents(events.all()); holds != 1 {
			t.Errorf("%d pacing events for one request in test mode, want 1", holds)
		}
	})
}
