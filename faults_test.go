package restyretry

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Fault tests: real TCP faults on loopback, from small listeners of our own,
// and what the policy makes of each for an idempotent GET and a POST. The
// rule under test: a POST is repeated only when it certainly never reached
// the server (refused connection, or a 429/503 answer); any failure after
// the request bytes may have been written may have applied it.

// faultServer is a raw TCP server whose every connection is handed to serve.
// It counts connections accepted and requests read in full, and on Close
// closes every connection still open and waits for all its goroutines.
type faultServer struct {
	ln    net.Listener
	conns atomic.Int32
	reqs  atomic.Int32

	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]struct{}
}

func faultListen(t testing.TB, serve func(s *faultServer, c net.Conn, n int)) *faultServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &faultServer{ln: ln, open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1))
			s.mu.Lock()
			s.open[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.open, c)
					s.mu.Unlock()
					c.Close()
				}()
				serve(s, c, n)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *faultServer) URL() string { return "http://" + s.ln.Addr().String() + "/fault" }

// Close stops the server; it is safe to call more than once.
func (s *faultServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// readRequest reads one request in full (so that closing the connection
// afterwards sends FIN, not RST for unread bytes) and counts it.
func (s *faultServer) readRequest(c net.Conn) (*bufio.Reader, bool) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return br, false
	}
	_, err = io.Copy(io.Discard, req.Body)
	req.Body.Close()
	if err != nil {
		return br, false
	}
	s.reqs.Add(1)
	return br, true
}

// reset closes c with an RST instead of a FIN.
func faultReset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// faultOutcome is what one method must see under one fault.
type faultOutcome struct {
	hits    int     // connections the server accepted (dials, for refused)
	reqs    int     // requests the server read in full (-1: not checked)
	ok      bool    // the request succeeds with 200
	errAny  []error // err must match one of these (errors.Is)
	timeout bool    // err must be a net.Error with Timeout()
	rule    Rule    // Event.Rule of the last decision
}

// faultTorn are the errors a connection torn down under a request may surface
// as, depending on who sees the teardown first.
var faultTorn = []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNRESET, syscall.EPIPE}

// faultIdleCloseMsg is the message of net/http's unexported
// errServerClosedIdle. The library classifies errors by type only and so
// does not recognise it (errUnknown); the test compares the text only to
// tell which of net/http's two outcomes occurred.
const faultIdleCloseMsg = "http: server closed idle connection"

func faultIdleClosed(err error) bool {
	return err != nil && strings.Contains(err.Error(), faultIdleCloseMsg)
}

func TestFaultsTCP(t *testing.T) {
	cases := []struct {
		name    string
		serve   func(s *faultServer, c net.Conn, n int)
		refused bool          // no server: the port is closed
		timeout time.Duration // client timeout per attempt
		delay   time.Duration // dialer holds new connections this long
		// closeRace: the server closes every connection at once, and the
		// outcome is one of two that net/http chooses by a race; see
		// faultCheckCloseRace. get and post are then unused.
		closeRace bool
		get       faultOutcome
		post      faultOutcome
	}{
		{
			name:      "close-on-accept",
			serve:     func(s *faultServer, c net.Conn, n int) {},
			closeRace: true,
		},
		{
			// The same, with the close already on the connection when the
			// transport gets it: the idle-close outcome becomes likelier,
			// but it is still a race.
			name:      "close-on-accept-seen-first",
			serve:     func(s *faultServer, c net.Conn, n int) {},
			delay:     30 * time.Millisecond,
			closeRace: true,
		},
		{
			name: "close-after-request",
			serve: func(s *faultServer, c net.Conn, n int) {
				s.readRequest(c)
			},
			get:  faultOutcome{hits: 4, reqs: 4, errAny: []error{io.EOF, io.ErrUnexpectedEOF}, rule: RuleMaxRetries},
			post: faultOutcome{hits: 1, reqs: 1, errAny: []error{io.EOF, io.ErrUnexpectedEOF}, rule: RuleMethod},
		},
		{
			name: "truncated-body",
			serve: func(s *faultServer, c net.Conn, n int) {
				if _, ok := s.readRequest(c); ok {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
				}
			},
			get:  faultOutcome{hits: 4, reqs: 4, errAny: []error{io.ErrUnexpectedEOF}, rule: RuleMaxRetries},
			post: faultOutcome{hits: 1, reqs: 1, errAny: []error{io.ErrUnexpectedEOF}, rule: RuleMethod},
		},
		{
			name: "rst-after-request",
			serve: func(s *faultServer, c net.Conn, n int) {
				s.readRequest(c)
				faultReset(c)
			},
			get:  faultOutcome{hits: 4, reqs: 4, errAny: []error{syscall.ECONNRESET}, rule: RuleMaxRetries},
			post: faultOutcome{hits: 1, reqs: 1, errAny: []error{syscall.ECONNRESET}, rule: RuleMethod},
		},
		{
			name: "never-answers",
			serve: func(s *faultServer, c net.Conn, n int) {
				if br, ok := s.readRequest(c); ok {
					io.Copy(io.Discard, br) // until the client gives up
				}
			},
			timeout: 100 * time.Millisecond,
			get:     faultOutcome{hits: 4, reqs: 4, timeout: true, rule: RuleMaxRetries},
			post:    faultOutcome{hits: 1, reqs: 1, timeout: true, rule: RuleMethod},
		},
		{
			name: "slow-then-fast",
			serve: func(s *faultServer, c net.Conn, n int) {
				br, ok := s.readRequest(c)
				if !ok {
					return
				}
				if n == 1 {
					io.Copy(io.Discard, br)
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			},
			timeout: 100 * time.Millisecond,
			get:     faultOutcome{hits: 2, reqs: 2, ok: true, rule: RuleSuccess},
			post:    faultOutcome{hits: 1, reqs: 1, timeout: true, rule: RuleMethod},
		},
		{
			name:    "refused",
			refused: true,
			// Never connected: safe to repeat for every method.
			get:  faultOutcome{hits: 4, reqs: -1, errAny: []error{syscall.ECONNREFUSED}, rule: RuleMaxRetries},
			post: faultOutcome{hits: 4, reqs: -1, errAny: []error{syscall.ECONNREFUSED}, rule: RuleMaxRetries},
		},
	}
	for _, tc := range cases {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			want := tc.get
			if method == http.MethodPost {
				want = tc.post
			}
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				t.Parallel()
				var (
					dials atomic.Int32
					url   string
					srv   *faultServer
					rec   eventLog
				)
				if tc.refused {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					url = "http://" + ln.Addr().String() + "/fault"
					ln.Close()
				} else {
					srv = faultListen(t, tc.serve)
					url = srv.URL()
				}
				p := scaledDefault(5*time.Millisecond, 50*time.Millisecond)
				p.OnDecision = rec.record
				c := dialClient(t, p, &dials, tc.delay)
				if tc.timeout > 0 {
					c.SetTimeout(tc.timeout)
				}
				req := c.R()
				if method == http.MethodPost {
					req.SetBody(`{"order":1}`)
				}
				resp, err := req.Execute(method, url)
				if srv != nil {
					srv.Close() // settles the counters
				}
				hits, reqs := int(dials.Load()), -1
				if srv != nil {
					hits, reqs = int(srv.conns.Load()), int(srv.reqs.Load())
				}
				events := rec.all()
				t.Logf("hits=%d reqs=%d err=%v", hits, reqs, err)

				if resp == nil || resp.Request == nil {
					t.Fatalf("no response (err %v)", err)
				}
				attempts := resp.Request.Attempt
				faultCheckEvents(t, events, attempts)
				// Exhausted retries and method stops end with the attempt's
				// own error, not a give-up.
				if errors.Is(err, ErrGaveUp) {
					t.Errorf("err %v wraps ErrGaveUp; these are not early stops", err)
				}
				if tc.closeRace {
					faultCheckCloseRace(t, method, attempts, hits, reqs, err, events)
					return
				}

				if hits != want.hits {
					t.Errorf("server saw %d connections, want %d", hits, want.hits)
				}
				if want.reqs >= 0 && reqs != want.reqs {
					t.Errorf("server read %d requests, want %d", reqs, want.reqs)
				}
				if attempts != want.hits {
					t.Errorf("client made %d attempts, want %d", attempts, want.hits)
				}
				if n := len(events); n > 0 && events[n-1].Rule != want.rule {
					t.Errorf("last decision by rule %q, want %q", events[n-1].Rule, want.rule)
				}
				if want.ok {
					if err != nil || resp.StatusCode() != http.StatusOK || resp.String() != "ok" {
						t.Fatalf("got (%d %q, %v), want 200 ok", resp.StatusCode(), resp.String(), err)
					}
					return
				}
				if err == nil {
					t.Fatalf("got status %d and no error", resp.StatusCode())
				}
				if len(want.errAny) > 0 && !isAny(err, want.errAny) {
					t.Errorf("err %v (%T) matches none of %v", err, err, want.errAny)
				}
				if want.timeout {
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						t.Errorf("err %v is not a timeout", err)
					}
				}
			})
		}
	}
}

// faultCheckEvents checks that a request that made attempts attempts and was
// never given up reported one decision per attempt: Retry for each but the
// last, Stop for the last, and no GiveUp.
func faultCheckEvents(t *testing.T, events []Event, attempts int) {
	t.Helper()
	if len(events) != attempts {
		t.Errorf("%d events for %d attempts: %+v", len(events), attempts, events)
		return
	}
	for i, ev := range events {
		want := Retry
		if i == len(events)-1 {
			want = Stop
		}
		if ev.Attempt != i+1 || ev.Verdict != want || ev.GiveUp != nil {
			t.Errorf("event %d: attempt %d, verdict %v, give-up %v; want attempt %d, verdict %v, no give-up",
				i, ev.Attempt, ev.Verdict, ev.GiveUp, i+1, want)
		}
	}
}

// faultCheckCloseRace checks a request to a server that closes every
// connection as soon as it accepts it, before any request is read. Inside
// net/http this is a race on each fresh connection: if the transport's read
// loop sees the close before the request is registered, the attempt fails
// with net/http's unexported errServerClosedIdle, which the library does not
// recognise (errUnknown: it classifies by type only) and so retries for
// idempotent requests only, as a transport error with no response;
// otherwise it fails with an EOF-class error (errMaybeSent), which is
// retried the same way. So:
//
//   - POST: exactly one connection and one attempt, whichever error,
//     stopped by the method rule (the request may have been applied).
//   - GET: all MaxRetries+1 attempts, each failing with an EOF-class or the
//     idle-close error, ended by the max-retries rule.
//
// Fresh connections are never retried inside net/http, so the server sees
// exactly one connection per attempt.
func faultCheckCloseRace(t *testing.T, method string, attempts, hits, reqs int, err error, events []Event) {
	t.Helper()
	const maxAttempts = 4 // prfPolicy's MaxRetries + 1
	if reqs != 0 {
		t.Errorf("server read %d requests, want 0 (it closes before reading)", reqs)
	}
	if hits != attempts {
		t.Errorf("server saw %d connections for %d attempts, want one each", hits, attempts)
	}
	if err == nil {
		t.Fatal("no error")
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("err %v (%T) is not the transport's *url.Error", err, err)
	}
	idle := faultIdleClosed(err)
	if !idle && !isAny(err, faultTorn) {
		t.Errorf("err %v (%T) is neither net/http's idle-close error nor EOF-class %v", err, err, faultTorn)
	}
	if len(events) != attempts || attempts == 0 {
		return // reported by faultCheckEvents
	}
	idleSeen := 0
	for _, ev := range events {
		if faultIdleClosed(ev.Err) {
			idleSeen++
		} else if !isAny(ev.Err, faultTorn) {
			t.Errorf("attempt %d failed with %v, neither idle-close nor EOF-class", ev.Attempt, ev.Err)
		}
	}
	last := events[attempts-1]
	if (last.Err == nil) || faultIdleClosed(last.Err) != idle {
		t.Errorf("last event's error %v differs from the returned %v", last.Err, err)
	}
	t.Logf("%d attempt(s), %d idle-close, last error %v", attempts, idleSeen, last.Err)
	if method == http.MethodPost {
		if attempts != 1 || hits != 1 {
			t.Errorf("POST: %d attempts on %d connections, want exactly 1", attempts, hits)
		}
		if last.Rule != RuleMethod {
			t.Errorf("POST stopped by rule %q, want %q", last.Rule, RuleMethod)
		}
		return
	}
	if attempts != maxAttempts || last.Rule != RuleMaxRetries {
		t.Errorf("GET failed after %d attempts, rule %q; want all %d, rule %q",
			attempts, last.Rule, maxAttempts, RuleMaxRetries)
	}
}

func isAny(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// TestFaultsPostWithIdempotencyKey: the same faults that stop a plain POST
// are retried when the POST carries an Idempotency-Key.
func TestFaultsPostWithIdempotencyKey(t *testing.T) {
	srv := faultListen(t, func(s *faultServer, c net.Conn, n int) {
		s.readRequest(c)
		faultReset(c)
	})
	c := dialClient(t, scaledDefault(5*time.Millisecond, 50*time.Millisecond), nil, 0)
	resp, err := c.R().SetHeader("Idempotency-Key", "k-1").SetBody("x").Post(srv.URL())
	srv.Close()
	if got := srv.reqs.Load(); got != 4 {
		t.Errorf("server read %d requests, want 4", got)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("err = %v, want ECONNRESET", err)
	}
	if resp == nil || resp.Request.Attempt != 4 {
		t.Errorf("resp %v, want 4 attempts", resp)
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

// Hostile servers: whatever a 429 or 503 carries in its wait headers, the
// caller must come back promptly — a huge valid wait gives up at once with
// ErrWaitTooLong (or ErrDeadline), a malformed one falls back to the
// millisecond backoff — and never sleep for the server's number.

type hostileHintKind int

const (
	hintTooLong  hostileHintKind = iota // a valid wait far beyond any limit
	hintFallback                    // malformed or no wait: ms backoff, all retries used
)

var hostileHints = []struct {
	name   string
	header string
	value  string
	kind   hostileHintKind
}{
	{"ra-huge-int", "Retry-After", "99999999999999999999", hintTooLong},
	{"ra-hour", "Retry-After", "3600", hintTooLong},
	{"ra-one-second", "Retry-After", "1", hintTooLong},
	{"ra-date-9999", "Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT", hintTooLong},
	{"ra-ms-huge-int", "Retry-After-Ms", "99999999999999999999", hintTooLong},
	{"ra-ms-day", "Retry-After-Ms", "86400000", hintTooLong},
	{"x-ms-ra-ms-day", "X-Ms-Retry-After-Ms", "86400000", hintTooLong},
	{"ratelimit-huge-t", "RateLimit", `"default";r=0;t=99999999`, hintTooLong},
	{"ratelimit-reset-huge", "RateLimit-Reset", "99999999", hintTooLong},
	{"x-ratelimit-reset-year-3000", "X-RateLimit-Reset", "32503680000", hintTooLong},
	{"x-ratelimit-reset-huge-int", "X-RateLimit-Reset", "99999999999999999999", hintTooLong},

	{"ra-zero", "Retry-After", "0", hintFallback},
	{"ra-negative", "Retry-After", "-5", hintFallback},
	{"ra-fraction", "Retry-After", "1.5", hintFallback},
	{"ra-junk", "Retry-After", "soon", hintFallback},
	{"ra-nan", "Retry-After", "NaN", hintFallback},
	{"ra-hex", "Retry-After", "0x10", hintFallback},
	{"ra-bad-date", "Retry-After", "Mon, 99 Foo 2024 25:61:61 GMT", hintFallback},
	{"ra-date-past", "Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT", hintFallback},
	{"ra-ms-negative", "Retry-After-Ms", "-100", hintFallback},
	{"ra-ms-float-huge", "Retry-After-Ms", "1e30", hintFallback},
	{"ra-ms-junk", "Retry-After-Ms", "abc", hintFallback},
	{"x-ms-ra-ms-negative", "X-Ms-Retry-After-Ms", "-1", hintFallback},
	{"ratelimit-float-t", "RateLimit", `"x";r=0;t=1e30`, hintFallback},
	{"ratelimit-negative-t", "RateLimit", `"x";r=0;t=-5`, hintFallback},
	{"ratelimit-garbage", "RateLimit", `;;;=,"`, hintFallback},
	{"ratelimit-remaining", "RateLimit", `"x";r=5;t=99999999`, hintFallback},
	{"ratelimit-reset-negative", "RateLimit-Reset", "-5", hintFallback},
	{"ratelimit-reset-junk", "RateLimit-Reset", "later", hintFallback},
	{"x-ratelimit-reset-negative", "X-RateLimit-Reset", "-5", hintFallback},
	{"x-ratelimit-reset-junk", "X-RateLimit-Reset", "tomorrow", hintFallback},
	{"x-ratelimit-reset-past-epoch", "X-RateLimit-Reset", "1000000000", hintFallback},
}

// hintServer answers every request with status and one hint header
// (and, for a reset, a remaining count of 0).
func hintServer(t testing.TB, status int, header, value string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header()[header] = []string{value} // as sent, not canonicalised
		// A reset is a wait only for a spent quota (on a 503 too).
		switch header {
		case "RateLimit-Reset":
			w.Header().Set("RateLimit-Remaining", "0")
		case "X-RateLimit-Reset":
			w.Header().Set("X-RateLimit-Remaining", "0")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestFaultsHostileHints: MaxRetryAfter 300ms, no context deadline.
func TestFaultsHostileHints(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		for _, h := range hostileHints {
			t.Run(strconv.Itoa(status)+"/"+h.name, func(t *testing.T) {
				t.Parallel()
				srv, hits := hintServer(t, status, h.header, h.value)
				p := scaledDefault(5*time.Millisecond, 50*time.Millisecond)
				p.MaxRetryAfter = 300 * time.Millisecond
				c := dialClient(t, p, nil, 0)
				start := time.Now()
				resp, err := c.R().Get(srv.URL)
				elapsed := time.Since(start)
				t.Logf("%s: %q → hits=%d elapsed=%v err=%v", h.header, h.value, hits.Load(), elapsed, err)

				// Generous: the schedule itself is ~50ms at most.
				if elapsed > 3*time.Second {
					t.Errorf("returned after %v; the server's wait must not be slept", elapsed)
				}
				if resp == nil || resp.StatusCode() != status {
					t.Fatalf("resp = %v, want the %d response kept", resp, status)
				}
				switch h.kind {
				case hintTooLong:
					if !errors.Is(err, ErrWaitTooLong) {
						t.Errorf("err = %v, want ErrWaitTooLong", err)
					}
					if n := hits.Load(); n != 1 {
						t.Errorf("server hit %d times, want 1 (give up at once)", n)
					}
				case hintFallback:
					if err != nil {
						t.Errorf("err = %v, want none (retries used up on backoff)", err)
					}
					if n := hits.Load(); n != 4 {
						t.Errorf("server hit %d times, want 4 (backoff retries)", n)
					}
				}
			})
		}
	}
}

// TestFaultsHostileHintsDeadline: a policy that honours any server wait,
// with a 400ms context deadline: a huge wait must end at once with a
// give-up (ErrDeadline, or ErrWaitTooLong where the wait saturates the
// duration range) — never wrap around into an immediate retry, never sleep.
func TestFaultsHostileHintsDeadline(t *testing.T) {
	for _, h := range hostileHints {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			srv, hits := hintServer(t, http.StatusServiceUnavailable, h.header, h.value)
			p := scaledDefault(5*time.Millisecond, 50*time.Millisecond)
			p.MaxRetryAfter = time.Duration(math.MaxInt64)
			c := dialClient(t, p, nil, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
			defer cancel()
			start := time.Now()
			resp, err := c.R().SetContext(ctx).Get(srv.URL)
			elapsed := time.Since(start)
			t.Logf("%s: %q → hits=%d elapsed=%v err=%v", h.header, h.value, hits.Load(), elapsed, err)

			if elapsed > 3*time.Second {
				t.Errorf("returned after %v, past the 400ms deadline", elapsed)
			}
			if resp == nil || resp.StatusCode() != http.StatusServiceUnavailable {
				t.Fatalf("resp = %v, want the 503 kept", resp)
			}
			switch h.kind {
			case hintTooLong:
				if !errors.Is(err, ErrDeadline) && !errors.Is(err, ErrWaitTooLong) {
					t.Errorf("err = %v, want ErrDeadline (or ErrWaitTooLong)", err)
				}
				if errors.Is(err, ErrDeadline) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v: ErrDeadline must match context.DeadlineExceeded", err)
				}
				if n := hits.Load(); n != 1 {
					t.Errorf("server hit %d times, want 1", n)
				}
			case hintFallback:
				if err != nil {
					t.Errorf("err = %v, want none", err)
				}
				if n := hits.Load(); n != 4 {
					t.Errorf("server hit %d times, want 4", n)
				}
			}
		})
	}
}
