package restyv3

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"resty.dev/v3"
)

// The hunt: the adapter as a resty v3 user drives it, on loopback servers.

// fast is a policy with millisecond waits and n retries.
func fast(n int) Policy {
	p := Default()
	p.MaxRetries = n
	p.BaseDelay = time.Millisecond
	p.MaxDelay = 5 * time.Millisecond
	p.Jitter = NoJitter
	return p
}

// hServer counts requests and answers with h(n, w, r), n 1-based.
type hServer struct {
	*httptest.Server
	n atomic.Int64
}

func huntServer(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) *hServer {
	t.Helper()
	s := &hServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(int(s.n.Add(1)), w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hServer) count() int { return int(s.n.Load()) }

// rawServer answers each connection with write(n, conn), n 1-based.
type rawServer struct {
	url   string
	n     atomic.Int64
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newRaw(t *testing.T, write func(n int, c net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{url: "http://" + ln.Addr().String(), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				// read the request head
				buf := make([]byte, 4096)
				var got []byte
				for !bytes.Contains(got, []byte("\r\n\r\n")) {
					k, err := c.Read(buf)
					if err != nil {
						return
					}
					got = append(got, buf[:k]...)
				}
				write(int(s.n.Add(1)), c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// untilClosed blocks until the peer closes c (or 5s pass).
func untilClosed(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, c)
}

func within(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s: still running after %v", what, limit)
	}
}

func newC(t *testing.T, p Policy, rec *recorder) *resty.Client {
	t.Helper()
	if rec != nil {
		p.OnDecision = rec.add
	}
	c := p.Apply(resty.New())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mustGiveUp(t *testing.T, err error, reason error) {
	t.Helper()
	if !errors.Is(err, ErrGaveUp) || (reason != nil && !errors.Is(err, reason)) {
		t.Fatalf("err = %v; want a give-up (%v)", err, reason)
	}
}

func TestHuntRetryAfterTooLong(t *testing.T) {
	for _, status := range []int{429, 503} {
		for _, v := range []string{"120", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)} {
			srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", v)
				w.WriteHeader(status)
			})
			c := newC(t, fast(3), nil)
			start := time.Now()
			res, err := c.R().Get(srv.URL)
			mustGiveUp(t, err, ErrWaitTooLong)
			if d := time.Since(start); d > time.Second {
				t.Errorf("%d %q: slept %v", status, v, d)
			}
			if srv.count() != 1 {
				t.Errorf("%d %q: %d requests, want 1", status, v, srv.count())
			}
			if res == nil || res.Header().Get("Retry-After") != v {
				t.Errorf("%d %q: the caller sees Retry-After %q", status, v, res.Header().Get("Retry-After"))
			}
		}
	}
}

func TestHuntRetryAfterHTTPDate(t *testing.T) {
	srv := huntServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "ok")
	})
	c := newC(t, fast(3), nil)
	res, err := c.R().Get(srv.URL)
	if err != nil || res.StatusCode() != 200 || srv.count() != 2 {
		t.Fatalf("%v %v after %d requests; want 200 after 2", res.StatusCode(), err, srv.count())
	}
}

func TestHunt401NotRetried(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) })
	c := newC(t, fast(3), nil)
	res, err := c.R().Get(srv.URL)
	if err != nil || res.StatusCode() != 401 || srv.count() != 1 {
		t.Fatalf("%v %v after %d requests", res.StatusCode(), err, srv.count())
	}
}

func TestHuntPostRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		ra     string
		want   int
	}{
		{"bare 503", nil, "", 1},
		{"503 Retry-After", nil, "0", 2},
		{"Idempotency-Key", http.Header{"Idempotency-Key": {"k1"}}, "", 2},
	} {
		srv := huntServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				if tc.ra != "" {
					w.Header().Set("Retry-After", tc.ra)
				}
				w.WriteHeader(503)
				return
			}
			w.WriteHeader(201)
		})
		c := newC(t, fast(3), nil)
		req := c.R().SetBody(`{"a":1}`)
		for k, vs := range tc.header {
			req.SetHeader(k, vs[0])
		}
		_, err := req.Post(srv.URL)
		if srv.count() != tc.want || err != nil {
			t.Errorf("%s: %d requests (%v), want %d", tc.name, srv.count(), err, tc.want)
		}
	}
}

func TestHuntAddIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := huntServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(201)
	})
	p := fast(3)
	p.AddIdempotencyKey = true
	c := newC(t, p, nil)
	req := c.R().SetBody("x")
	res, err := req.Post(srv.URL)
	if err != nil || res.StatusCode() != 201 {
		t.Fatalf("%v %v", res.StatusCode(), err)
	}
	if len(keys) != 3 || keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Errorf("keys %q; want one key thrice", keys)
	}
	if k := req.Header.Get("Idempotency-Key"); k != "" {
		t.Errorf("the request keeps the key %q after Execute", k)
	}
	// executed again: a new key
	keys = nil
	srv.n.Store(2)
	if _, err := req.Post(srv.URL); err != nil || len(keys) != 1 || keys[0] == "" {
		t.Errorf("again: %v, keys %q", err, keys)
	}
}

func TestHuntMaxElapsedInFlight(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	})
	var rec recorder
	p := fast(3)
	p.MaxElapsed = 200 * time.Millisecond
	c := newC(t, p, &rec)
	start := time.Now()
	res, err := c.R().Get(srv.URL)
	mustGiveUp(t, err, ErrTimeLimit)
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	rules := rec.rules()
	if len(rules) == 0 || rules[len(rules)-1] != RuleMaxElapsed {
		t.Errorf("rules %v; want RuleMaxElapsed last", rules)
	}
	// a follow-up on the request's context is not cancelled
	if res != nil && res.Request.Context().Err() != nil {
		t.Errorf("resp.Request.Context() is done after Execute: %v", res.Request.Context().Err())
	}
	// and the same for a streamed request
	_, err = c.R().SetResponseDoNotParse(true).Get(srv.URL)
	mustGiveUp(t, err, ErrTimeLimit)
}

func TestHuntContextDeadline(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(503)
	})
	c := newC(t, fast(3), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.R().SetContext(ctx).Get(srv.URL)
	mustGiveUp(t, err, ErrDeadline)
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("slept %v before giving up", d)
	}
}

func TestHuntFollowUpContext(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	p := fast(3)
	p.MaxElapsed = 100 * time.Millisecond
	c := newC(t, p, nil)
	res, err := c.R().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := res.Request.Context().Err(); err != nil {
		t.Fatalf("resp.Request.Context() done: %v", err)
	}
	if _, err := c.R().SetContext(res.Request.Context()).Get(srv.URL); err != nil {
		t.Fatalf("follow-up: %v", err)
	}
}

func TestHuntPace(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	srv := huntServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		io.WriteString(w, "ok")
	})
	p := fast(3)
	p.Pace = true
	p.MaxRetries = 0
	c := newC(t, p, nil)
	if res, _ := c.R().Get(srv.URL); res.StatusCode() != 429 {
		t.Fatalf("first: %d", res.StatusCode())
	}
	if res, err := c.R().Get(srv.URL); err != nil || res.StatusCode() != 200 {
		t.Fatalf("second: %v %v", res.StatusCode(), err)
	}
	if gap := at[1].Sub(at[0]); gap < 900*time.Millisecond {
		t.Errorf("the second request went %v after the 429 with Retry-After 1: not paced", gap)
	}
}

func TestHuntBudget(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	p := fast(3)
	p.Budget = Budget{Ratio: 0.1, Reserve: 2, Window: time.Minute}
	c := newC(t, p, nil)
	var err error
	for range 5 {
		if _, err = c.R().Get(srv.URL); errors.Is(err, ErrBudgetExhausted) {
			break
		}
	}
	mustGiveUp(t, err, ErrBudgetExhausted)
}

func TestHuntDoNotParseGiveUpBodyClosed(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, strings.Repeat("x", 64<<10))
	})
	p := fast(2)
	p.ErrorOnExhausted = true
	c := newC(t, p, nil)
	res, err := c.R().SetResponseDoNotParse(true).Get(srv.URL)
	mustGiveUp(t, err, ErrRetriesExhausted)
	if res == nil || res.StatusCode() != 503 {
		t.Fatalf("res %v", res)
	}
	if b, err := io.ReadAll(res.Body); err == nil && len(b) > 0 {
		t.Errorf("the given-up body is open: %d bytes read", len(b))
	}
	_ = res.Body.Close()
}

func TestHuntDoNotParseStalledRetriedBody(t *testing.T) {
	for _, giveUp := range []bool{false, true} {
		s := newRaw(t, func(n int, c net.Conn) {
			if n == 1 || giveUp {
				io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100000\r\n\r\nfirst bytes")
				untilClosed(c)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
		})
		c := newC(t, fast(1), nil)
		var res *resty.Response
		var err error
		within(t, 3*time.Second, "a stalled retried 503 body", func() {
			res, err = c.R().SetResponseDoNotParse(true).Get(s.url)
		})
		if giveUp {
			if res == nil || res.StatusCode() != 503 {
				t.Errorf("give-up: %v %v", res, err)
			}
			if res != nil && res.Body != nil {
				res.Body.Close()
			}
			continue
		}
		if err != nil || res.StatusCode() != 200 {
			t.Fatalf("%v %v", res, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "second" {
			t.Errorf("body %q", b)
		}
	}
}

func TestHuntDoNotParseTransportError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := fast(2)
	p.ErrorOnExhausted = true
	var rec recorder
	c := newC(t, p, &rec)
	_, err := c.R().SetResponseDoNotParse(true).Get("http://" + addr)
	mustGiveUp(t, err, ErrRetriesExhausted)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err %v does not hold ECONNREFUSED", err)
	}
	if n := len(rec.rules()); n != 3 {
		t.Errorf("%d events %v, want 3", n, rec.rules())
	}
}

type result struct {
	A int `json:"a"`
}

func TestHuntResultOnEmptyAndGzip(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/empty":
		case "/empty500":
			w.WriteHeader(500)
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, `{"a":7}`)
			zw.Close()
		case "/gzipempty":
			w.Header().Set("Content-Encoding", "gzip")
		}
	})
	c := newC(t, fast(3), nil)
	for _, path := range []string{"/empty", "/gzip", "/gzipempty"} {
		before := srv.count()
		var out result
		var e map[string]any
		res, err := c.R().SetResult(&out).SetResultError(&e).Get(srv.URL + path)
		if n := srv.count() - before; n != 1 {
			t.Errorf("%s: %d requests (%v), want 1", path, n, err)
		}
		if errors.Is(err, ErrGaveUp) {
			t.Errorf("%s: gave up: %v", path, err)
		}
		if path == "/gzip" && (err != nil || out.A != 7 || res.StatusCode() != 200) {
			t.Errorf("gzip: %v %+v %v", res.StatusCode(), out, err)
		}
	}
	before := srv.count()
	res, err := c.R().SetResult(&result{}).SetResultError(&map[string]any{}).Get(srv.URL + "/empty500")
	if n := srv.count() - before; n != 4 || res.StatusCode() != 500 {
		t.Errorf("empty 500: %d requests, %v %v; want 4", n, res.StatusCode(), err)
	}
}

// A body cut short: a 401 is sent once, a 200 GET is retried, whether resty
// decoded it (SetResult), read it (no decoder) or left it for String.
func TestHuntCutBody(t *testing.T) {
	for _, tc := range []struct {
		status int
		parse  bool
		want   int
		text   bool
	}{{401, false, 1, false}, {401, true, 1, false}, {200, false, 2, false}, {200, true, 2, false}, {200, false, 2, true}} {
		s := newRaw(t, func(n int, c net.Conn) {
			if n == 1 {
				ct := "application/json"
				if tc.text {
					ct = "text/plain"
				}
				fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: 100\r\n\r\n{\"a\":", tc.status, http.StatusText(tc.status), ct)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
		})
		c := newC(t, fast(2), nil)
		req := c.R()
		var out result
		if tc.parse {
			req.SetResult(&out)
		}
		res, err := req.Get(s.url)
		if tc.status == 200 && (err != nil || (tc.parse && out.A != 1) || (!tc.parse && res.String() != `{"a":1}`)) {
			t.Errorf("200 parse=%v text=%v: %v %q", tc.parse, tc.text, err, res.String())
		}
		_ = res.Body.Close() // resty v3 leaves a body no one read open
		if got := int(s.n.Load()); got != tc.want {
			t.Errorf("%d parse=%v text=%v: sent %d times (%v %v), want %d", tc.status, tc.parse, tc.text, got, res.StatusCode(), err, tc.want)
		}
	}
}

func TestHuntRedirectChargedToAnswerer(t *testing.T) {
	var rec recorder
	b := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	a := huntServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, b.URL+"/there", http.StatusFound)
	})
	c := newC(t, fast(1), &rec)
	if _, err := c.R().Get(a.URL + "/here"); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, ev := range rec.evs {
		if !strings.HasPrefix(ev.URL, b.URL) {
			t.Errorf("event for %s, want %s", ev.URL, b.URL)
		}
	}
}

func TestHuntCloneWithAndWithoutApply(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	var recO, recC recorder
	c := newC(t, fast(1), &recO)
	cl := c.Clone(context.Background())
	if _, err := cl.R().Get(srv.URL); err != nil || srv.count() != 2 {
		t.Fatalf("clone without Apply: %d requests, %v", srv.count(), err)
	}
	p := fast(2)
	p.OnDecision = recC.add
	p.Apply(cl)
	srv.n.Store(0)
	if _, err := cl.R().Get(srv.URL); err != nil || srv.count() != 3 {
		t.Fatalf("clone with Apply: %d requests, %v", srv.count(), err)
	}
	srv.n.Store(0)
	if _, err := c.R().Get(srv.URL); err != nil || srv.count() != 2 {
		t.Fatalf("original after the clone's Apply: %d requests, %v", srv.count(), err)
	}
	if n, m := len(recO.rules()), len(recC.rules()); n != 4 || m != 3 {
		t.Errorf("original saw %d events, clone's policy %d; want 4 and 3", n, m)
	}
}

func TestHuntRequestExecutedTwice(t *testing.T) {
	srv := huntServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n%2 == 1 {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "ok")
	})
	var rec recorder
	c := newC(t, fast(3), &rec)
	req := c.R()
	for i := range 3 {
		res, err := req.Get(srv.URL)
		if err != nil || res.StatusCode() != 200 {
			t.Fatalf("run %d: %v %v", i, res.StatusCode(), err)
		}
	}
	if srv.count() != 6 {
		t.Errorf("%d requests, want 6", srv.count())
	}
	rec.mu.Lock()
	for i, ev := range rec.evs {
		if want := i%2 + 1; ev.Attempt != want {
			t.Errorf("event %d: attempt %d, want %d", i, ev.Attempt, want)
		}
	}
	rec.mu.Unlock()
	if n := countInflight(); n != 0 {
		t.Errorf("%d states left", n)
	}
}

func TestHuntUserMiddlewares(t *testing.T) {
	srv := huntServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n%3 != 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, r.Header.Get("X-Before")+r.Header.Get("X-After"))
	})
	var reqBefore, reqAfter, resBefore, resAfter atomic.Int64
	var sawRA []string
	var mu sync.Mutex
	c := resty.New()
	defer c.Close()
	c.AddRequestMiddleware(func(_ *resty.Client, r *resty.Request) error {
		reqBefore.Add(1)
		r.SetHeader("X-Before", "b")
		return nil
	})
	c.AddResponseMiddleware(func(_ *resty.Client, res *resty.Response) error {
		resBefore.Add(1)
		return nil
	})
	fast(3).Apply(c)
	c.AddRequestMiddleware(func(_ *resty.Client, r *resty.Request) error {
		reqAfter.Add(1)
		r.SetHeader("X-After", "a")
		return nil
	})
	c.AddResponseMiddleware(func(_ *resty.Client, res *resty.Response) error {
		resAfter.Add(1)
		mu.Lock()
		sawRA = append(sawRA, res.Header().Get("Retry-After"))
		mu.Unlock()
		return nil
	})
	res, err := c.R().Get(srv.URL)
	if err != nil || res.StatusCode() != 200 || res.String() != "ba" {
		t.Fatalf("%v %q %v", res.StatusCode(), res.String(), err)
	}
	if reqBefore.Load() != 3 || reqAfter.Load() != 3 || resBefore.Load() != 3 || resAfter.Load() != 3 {
		t.Errorf("middlewares ran %d %d %d %d times, want 3 each", reqBefore.Load(), reqAfter.Load(), resBefore.Load(), resAfter.Load())
	}
	_ = sawRA
	// a user's response middleware error on a 200 is not a give-up
	c2 := fast(3).Apply(resty.New())
	defer c2.Close()
	boom := errors.New("boom")
	c2.AddResponseMiddleware(func(_ *resty.Client, res *resty.Response) error { return boom })
	srv.n.Store(2)
	_, err = c2.R().Get(srv.URL)
	if !errors.Is(err, boom) || errors.Is(err, ErrGaveUp) {
		t.Errorf("middleware error: %v", err)
	}
	// a user's request middleware refusing: not sent, not retried, no state left
	c3 := fast(3).Apply(resty.New())
	defer c3.Close()
	c3.AddRequestMiddleware(func(_ *resty.Client, r *resty.Request) error { return boom })
	before := srv.count()
	_, err = c3.R().Get(srv.URL)
	if !errors.Is(err, boom) || srv.count() != before {
		t.Errorf("refusing middleware: %v, %d sent", err, srv.count()-before)
	}
	if n := countInflight(); n != 0 {
		t.Errorf("%d states left", n)
	}
}

func TestHuntConcurrent(t *testing.T) {
	var seen sync.Map
	srv := huntServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if _, again := seen.LoadOrStore(r.URL.Path, true); !again {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "ok")
	})
	c := newC(t, fast(5), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := c.R()
			if i%2 == 0 {
				req.SetResponseDoNotParse(true)
			}
			res, err := req.Get(srv.URL + "/" + strconv.Itoa(i))
			if err != nil {
				errs <- err
				return
			}
			if res.StatusCode() != 200 {
				errs <- fmt.Errorf("status %d", res.StatusCode())
			}
			if i%2 == 0 {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countInflight(); n != 0 {
		t.Errorf("%d states left", n)
	}
}

// A whole 200 body of bad JSON is the server's answer, not a cut: sent once.
func TestHuntBadJSONNotTruncated(t *testing.T) {
	body := `{"a":x` + strings.Repeat(" ", 20<<10) + `}`
	srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
	c := newC(t, fast(2), nil)
	_, err := c.R().SetResult(&result{}).Get(srv.URL)
	if err == nil || srv.count() != 1 {
		t.Errorf("sent %d times (%v), want once with the syntax error", srv.count(), err)
	}
}

// The caller sees the Retry-After of the response Execute returns, however
// the request ended.
func TestHuntRetryAfterVisibleAtTheEnd(t *testing.T) {
	srv := huntServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(429)
	})
	for _, n := range []int{0, 1} {
		c := newC(t, fast(n), nil)
		res, err := c.R().Get(srv.URL)
		if res == nil || res.Header().Get("Retry-After") != "0" {
			t.Errorf("MaxRetries %d: Retry-After %q (%v)", n, res.Header().Get("Retry-After"), err)
		}
		res, err = c.R().SetContext(WithoutRetry(context.Background())).Get(srv.URL)
		if res == nil || res.Header().Get("Retry-After") != "0" {
			t.Errorf("WithoutRetry: Retry-After %q (%v)", res.Header().Get("Retry-After"), err)
		}
	}
	var saw []string
	c := newC(t, fast(1), nil)
	c.AddResponseMiddleware(func(_ *resty.Client, res *resty.Response) error {
		saw = append(saw, res.Header().Get("Retry-After"))
		return nil
	})
	c.R().Get(srv.URL)
	t.Logf("a response middleware added after Apply saw %q", saw)
}
