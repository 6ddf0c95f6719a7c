package core

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

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

// TestFaultsBodyErrorGiveUpSurfaces: a give-up after a body-read error (the
// status line arrived, then reading the body failed). resty returns the
// read error as it is, so, as GiveUpError's doc says, errors.Is(err,
// ErrGaveUp) does not hold for the returned error; but the request must
// still stop at once — no wait slept, no extra attempt — and the reason
// must reach Policy.OnDecision: the final Event's GiveUp matches
// ErrBudgetExhausted.
//
// The budget allows one retry in all. The random source gives 0 until that
// retry is decided (a FullJitter wait of 0), then 0.99: the refused retry
// would have waited ~20s, so a prompt return shows it was not slept.
func TestFaultsBodyErrorGiveUpSurfaces(t *testing.T) {
	const partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
	cases := []struct {
		name  string
		serve func(s *faultServer, c net.Conn, n int)
		want  error // the body-read error, in the returned error and the events
		opErr bool  // the read error is a *net.OpError
	}{
		{
			name: "unexpected-eof",
			serve: func(s *faultServer, c net.Conn, n int) {
				if _, ok := s.readRequest(c); ok {
					io.WriteString(c, partial) // then FIN
				}
			},
			want: io.ErrUnexpectedEOF,
		},
		{
			name: "reset",
			serve: func(s *faultServer, c net.Conn, n int) {
				if _, ok := s.readRequest(c); ok {
					io.WriteString(c, partial)
					faultReset(c)
				}
			},
			want:  syscall.ECONNRESET,
			opErr: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := faultListen(t, tc.serve)
			var (
				rec  eventLog
				slow atomic.Bool
			)
			p := scaledDefault(5*time.Millisecond, 50*time.Millisecond)
			p.BaseDelay = 10 * time.Second
			p.MaxDelay = time.Minute
			p.Jitter = FullJitter
			p.Budget = Budget{Reserve: 1} // one retry in all
			p.Rand = func() float64 {
				if slow.Load() {
					return 0.99
				}
				return 0
			}
			p.OnDecision = func(ev Event) {
				rec.record(ev)
				if ev.Verdict == Retry {
					slow.Store(true)
				}
			}
			c := dialClient(t, p, nil, 0)
			start := time.Now()
			resp, err := c.R().Get(srv.URL())
			took := time.Since(start)
			srv.Close()
			events := rec.all()
			t.Logf("took %v, err = %v", took, err)

			if got := srv.reqs.Load(); got != 2 {
				t.Errorf("server read %d requests, want 2 (one retry allowed by the budget)", got)
			}
			if took > 5*time.Second {
				t.Errorf("request took %v: the refused ~20s wait was slept", took)
			}
			if resp == nil || resp.Request == nil || resp.Request.Attempt != 2 || resp.StatusCode() != http.StatusOK {
				t.Errorf("resp = %v, want the attempt-2 response with status 200", resp)
			}

			// The returned error is resty's read error, as it is.
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v (%T), want it to match %v", err, err, tc.want)
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				t.Errorf("err = %v is a *url.Error; a body-read error is not one", err)
			}
			var oe *net.OpError
			if tc.opErr && !errors.As(err, &oe) {
				t.Errorf("err = %v (%T), want a *net.OpError", err, err)
			}
			if errors.Is(err, ErrGaveUp) || errors.Is(err, ErrBudgetExhausted) {
				t.Errorf("err = %v carries the give-up; the documented contract returns the read error as it is", err)
			}

			// The reason, in the events: a retry, then the give-up.
			if len(events) != 2 {
				t.Fatalf("%d events, want 2 (a retry, then the give-up): %+v", len(events), events)
			}
			if ev := events[0]; ev.Attempt != 1 || ev.Verdict != Retry || ev.GiveUp != nil ||
				ev.Status != http.StatusOK || !errors.Is(ev.Err, tc.want) {
				t.Errorf("first event %+v, want attempt 1, Retry, status 200, err %v, no give-up", ev, tc.want)
			}
			ev := events[1]
			if ev.Attempt != 2 || ev.Verdict != Stop || ev.Status != http.StatusOK || !errors.Is(ev.Err, tc.want) {
				t.Errorf("final event %+v, want attempt 2, Stop, status 200, err %v", ev, tc.want)
			}
			if !errors.Is(ev.GiveUp, ErrBudgetExhausted) || !errors.Is(ev.GiveUp, ErrGaveUp) || !errors.Is(ev.GiveUp, tc.want) {
				t.Errorf("final event's GiveUp = %v, want ErrBudgetExhausted (so ErrGaveUp) and the read error %v", ev.GiveUp, tc.want)
			}
			var ge *GiveUpError
			if !errors.As(ev.GiveUp, &ge) {
				t.Fatalf("final event's GiveUp = %v (%T), want a *GiveUpError", ev.GiveUp, ev.GiveUp)
			}
			if ge.Reason != ErrBudgetExhausted || ge.Attempt != 2 || ge.Status != http.StatusOK || ge.Response != nil {
				t.Errorf("GiveUpError %+v, want reason ErrBudgetExhausted, attempt 2, status 200, no response", ge)
			}
			// The refused wait was computed (2·10s·0.99) and reported, not slept.
			if ev.Wait < 10*time.Second || ge.Wait != ev.Wait || ev.WaitSource != SourceBackoff {
				t.Errorf("refused wait %v (GiveUpError %v, source %q), want the ~19.8s backoff", ev.Wait, ge.Wait, ev.WaitSource)
			}
		})
	}
}

// TestFaultsTransportErrorGiveUpSurfaces: the same for a transport error,
// which resty returns as a *url.Error.
func TestFaultsTransportErrorGiveUpSurfaces(t *testing.T) {
	srv := faultListen(t, func(s *faultServer, c net.Conn, n int) {
		s.readRequest(c)
		faultReset(c)
	})
	p := scaledDefault(5*time.Millisecond, 50*time.Millisecond)
	p.Budget = Budget{Reserve: 1}
	c := dialClient(t, p, nil, 0)
	_, err := c.R().Get(srv.URL())
	srv.Close()
	if got := srv.reqs.Load(); got != 2 {
		t.Errorf("server read %d requests, want 2", got)
	}
	if !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, ErrGaveUp) {
		t.Errorf("err = %v: want ECONNRESET, ErrBudgetExhausted and ErrGaveUp", err)
	}
	var ge *GiveUpError
	if !errors.As(err, &ge) || ge.Attempt != 2 {
		t.Errorf("err = %v: want a *GiveUpError for attempt 2", err)
	}
}
