package core

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"math/rand/v2"
)

// Live budget tests, ported from the model before issue 16: a core Client
// on a fake clock (in test mode where noted: no wait is slept and the
// clock stands still, so no episode outlives its tolerance and no window
// moves), with doHTTP playing the adapter over loopback.

// budClient returns a client in test mode under p, on a fake clock that
// stands still under p, and an http.Client.
func budClient(t *testing.T, p Policy) (*Client, *http.Client) {
	t.Helper()
	c, _ := newCore(p)
	c.SetTestMode(-1)
	return c, dialHTTP(t, nil, 0)
}

// budGet sends a GET to rawURL with the X-Bud-ID header id ("" for none).
func budGet(c *Client, hc *http.Client, rawURL, id string) httpResult {
	r := httpReq{url: rawURL}
	if id != "" {
		r.header = http.Header{"X-Bud-Id": {id}}
	}
	return doHTTP(c, hc, r)
}

// TestBudgetRefusalIsPrompt: once the budget is spent, a failing request
// returns at once, with ErrBudgetExhausted and its 503 response, instead of
// sleeping the backoff it would otherwise wait: the fake clock does not
// move.
func TestBudgetRefusalIsPrompt(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	// A 10s backoff with FullJitter; the random source gives 0 (no wait)
	// while the budget is being spent, then 0.99 (a ~10s wait).
	var slow atomic.Bool
	p := Default()
	p.BaseDelay = 10 * time.Second
	p.Jitter = FullJitter
	p.Budget = Budget{Reserve: 2}
	p.Rand = func() float64 {
		if slow.Load() {
			return 0.99
		}
		return 0
	}
	c, clk := newCore(p)
	hc := dialHTTP(t, nil, 0)

	res := budGet(c, hc, srv.URL, "")
	resp, err := res.status, res.err
	if !errors.Is(err, ErrBudgetExhausted) || hits.Load() != 3 {
		t.Fatalf("first request: %d hits, err %v; want 3 hits (2 retries from the reserve) then ErrBudgetExhausted", hits.Load(), err)
	}
	if resp != http.StatusServiceUnavailable {
		t.Fatalf("first request: status %d, want the 503 kept", resp)
	}

	slow.Store(true)
	for i := range 5 {
		before := hits.Load()
		start := clk.Now()
		res := budGet(c, hc, srv.URL, "")
		resp, err := res.status, res.err
		if took := clk.Now().Sub(start); took != 0 {
			t.Errorf("refused request %d took %v; it must not sleep a backoff", i, took)
		}
		if !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, ErrGaveUp) {
			t.Errorf("request %d: err %v, want ErrBudgetExhausted", i, err)
		}
		var ge *GiveUpError
		if !errors.As(err, &ge) || ge.Attempt != 1 || ge.Status != http.StatusServiceUnavailable {
			t.Errorf("request %d: err %#v, want a *GiveUpError for attempt 1, status 503", i, ge)
		}
		if resp != http.StatusServiceUnavailable {
			t.Errorf("request %d: status %d, want the 503 kept", i, resp)
		}
		if n := hits.Load() - before; n != 1 {
			t.Errorf("request %d reached the server %d times, want 1", i, n)
		}
	}
}

// Stress: one applied client shared by 300 goroutines against a flaky
// server, under the race detector. Every logical request carries a unique
// ID in its path (so that the policy's events, which carry the path but no
// header or query, can be told apart per request); the server counts the attempts per ID and decides each attempt's fate
// from a PCG source seeded with (test seed, ID, attempt), so the fate of
// every attempt — and, without a budget, the exact outcome of every logical
// request — is known in advance whatever the scheduling.

const (
	stressWorkers    = 300
	stressPerWorker  = 4
	stressLogical    = stressWorkers * stressPerWorker
	stressMaxRetries = 3
)

type stressFate int

const (
	fateOK        stressFate = iota
	fate503                  // 503, no hint
	fate429                  // 429 with Retry-After: 0
	fateTruncated            // headers and part of the body, then RST
)

// stressFateOf is the fate of one attempt: 25% 503, 5% 429, 10% truncated by
// a reset, the rest 200.
func stressFateOf(seed uint64, id, attempt int) stressFate {
	r := rand.New(rand.NewPCG(seed, uint64(id)<<8|uint64(attempt)))
	switch x := r.IntN(100); {
	case x < 25:
		return fate503
	case x < 30:
		return fate429
	case x < 40:
		return fateTruncated
	}
	return fateOK
}

// stressExpect is the outcome of a logical request when every retry the policy
// allows is made: the attempts used and the fate of the last one.
func stressExpect(seed uint64, id int) (attempts int, last stressFate) {
	for a := 1; a <= stressMaxRetries+1; a++ {
		last = stressFateOf(seed, id, a)
		if last == fateOK {
			return a, last
		}
	}
	return stressMaxRetries + 1, last
}

// stressServer is the flaky server. attempts[id] counts the attempts per ID;
// total counts all.
type stressServer struct {
	*httptest.Server
	seed     uint64
	attempts [stressLogical]atomic.Int32
	total    atomic.Int64
	bad      atomic.Int64 // requests with a missing or bad ID
}

func stressListen(t *testing.T, seed uint64) *stressServer {
	s := &stressServer{seed: seed}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// stressPath is the path of logical request id.
func stressPath(id int) string { return "/stress/" + strconv.Itoa(id) }

// stressID is the ID in a request path or event URL, or -1.
func stressID(path string) int {
	i := strings.LastIndex(path, "/stress/")
	if i < 0 {
		return -1
	}
	id, err := strconv.Atoi(path[i+len("/stress/"):])
	if err != nil || id < 0 || id >= stressLogical {
		return -1
	}
	return id
}

func (s *stressServer) serve(w http.ResponseWriter, r *http.Request) {
	s.total.Add(1)
	id := stressID(r.URL.Path)
	if id < 0 {
		s.bad.Add(1)
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	attempt := int(s.attempts[id].Add(1))
	switch stressFateOf(s.seed, id, attempt) {
	case fate503:
		w.WriteHeader(http.StatusServiceUnavailable)
	case fate429:
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
	case fateTruncated:
		// The reset comes after the headers, so the client has a response
		// and fails reading its body: the transport never retries this on
		// its own, which keeps the server's count equal to the client's.
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		buf.Flush()
		faultReset(conn)
	default:
		w.Write([]byte("ok-" + strconv.Itoa(id)))
	}
}

type stressResult struct {
	attempts int
	status   int
	body     string
	err      error
	events   []Event // the policy's decisions for this request, in order
}

// stressRun sends stressLogical GETs through c from stressWorkers goroutines, and
// collects the events the policy reports for each.
func stressRun(t *testing.T, s *stressServer, p Policy) []stressResult {
	var (
		mu     sync.Mutex
		events = make([][]Event, stressLogical)
		stray  atomic.Int64 // events whose URL names no request
	)
	p.OnDecision = func(ev Event) {
		id := stressID(ev.URL)
		if id < 0 {
			stray.Add(1)
			return
		}
		mu.Lock()
		events[id] = append(events[id], ev)
		mu.Unlock()
	}
	c, hc := budClient(t, p)
	hc.Timeout = 20 * time.Second

	results := make([]stressResult, stressLogical)
	var wg sync.WaitGroup
	for w := range stressWorkers {
		goWG(&wg, func() {
			for i := range stressPerWorker {
				id := w*stressPerWorker + i
				r := doHTTP(c, hc, httpReq{url: s.URL + stressPath(id)})
				results[id] = stressResult{err: r.err, attempts: r.attempts, status: r.status, body: r.body}
			}
		})
	}
	wg.Wait()
	if n := stray.Load(); n != 0 {
		t.Errorf("%d events with no request ID in their URL", n)
	}
	for id := range results {
		results[id].events = events[id]
	}
	return results
}

func stressPolicy() Policy {
	p := Default()
	p.MaxRetries = stressMaxRetries
	return p
}

// stressCheckCommon checks what holds with or without a budget, and returns
// the number of retries made.
func stressCheckCommon(t *testing.T, s *stressServer, results []stressResult) (retries int) {
	t.Helper()
	if n := s.bad.Load(); n != 0 {
		t.Errorf("%d requests reached the server without a valid ID", n)
	}
	sum := int64(0)
	for id, res := range results {
		server := int(s.attempts[id].Load())
		sum += int64(server)
		if server < 1 || server > stressMaxRetries+1 {
			t.Errorf("id %d: server saw %d attempts, want 1..%d", id, server, stressMaxRetries+1)
		}
		if res.attempts != server {
			t.Errorf("id %d: client reports %d attempts, server saw %d", id, res.attempts, server)
		}
		// One decision per attempt: Retry for all but the last, then Stop.
		if len(res.events) != res.attempts {
			t.Errorf("id %d: %d events for %d attempts", id, len(res.events), res.attempts)
		} else {
			for i, ev := range res.events {
				want := Retry
				if i == len(res.events)-1 {
					want = Stop
				}
				if ev.Attempt != i+1 || ev.Verdict != want || ev.Method != http.MethodGet {
					t.Errorf("id %d: event %d is %s attempt %d %v, want GET attempt %d %v",
						id, i, ev.Method, ev.Attempt, ev.Verdict, i+1, want)
				}
			}
		}
		retries += server - 1
	}
	if sum != s.total.Load() {
		t.Errorf("per-ID attempts add up to %d, server counted %d", sum, s.total.Load())
	}
	return retries
}

// stressTornDown reports whether err is the error of a response whose
// connection was reset under it.
func stressTornDown(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// TestStressUnlimited: no budget, so every logical request's outcome is
// exactly the one its seeded fates dictate.
func TestStressUnlimited(t *testing.T) {
	const seed = 20240601
	s := stressListen(t, seed)
	p := stressPolicy()
	p.Budget = Budget{}
	start := time.Now()
	results := stressRun(t, s, p)
	elapsed := time.Since(start)

	var ok, failed503, failed429, failedTorn int
	for id, res := range results {
		want, last := stressExpect(seed, id)
		for _, ev := range res.events {
			if ev.GiveUp != nil {
				t.Errorf("id %d: event %+v gives up, with no limit set", id, ev)
			}
		}
		if res.attempts != want {
			t.Errorf("id %d: %d attempts, want %d (last fate %d)", id, res.attempts, want, last)
			continue
		}
		switch last {
		case fateOK:
			if res.err != nil || res.status != http.StatusOK || res.body != "ok-"+strconv.Itoa(id) {
				t.Errorf("id %d: got (%d %q, %v), want 200 ok-%d", id, res.status, res.body, res.err, id)
			}
			ok++
		case fate503, fate429:
			// Retries used up: the last response, no error.
			wantStatus := map[stressFate]int{fate503: 503, fate429: 429}[last]
			if res.err != nil || res.status != wantStatus {
				t.Errorf("id %d: got (%d, %v), want (%d, nil) after %d attempts", id, res.status, res.err, wantStatus, want)
			}
			if last == fate503 {
				failed503++
			} else {
				failed429++
			}
		case fateTruncated:
			if !stressTornDown(res.err) || errors.Is(res.err, ErrGaveUp) {
				t.Errorf("id %d: err %v, want the body read error", id, res.err)
			}
			failedTorn++
		}
	}
	retries := stressCheckCommon(t, s, results)
	t.Logf("%d logical requests in %v: %d ok, %d ended 503, %d ended 429, %d ended torn; %d server hits (%d retries)",
		stressLogical, elapsed, ok, failed503, failed429, failedTorn, s.total.Load(), retries)
	if ok < stressLogical*9/10 {
		t.Errorf("only %d of %d succeeded; the seeded fates should give ~97%%", ok, stressLogical)
	}
}

// TestStressBudget: the same load with a budget of 100 tokens. Retries
// are refused once the budget runs dry, so outcomes depend on scheduling;
// what must hold: a request ends as its fates dictate, or earlier because
// the budget refused a retry, and the retries made are paid for.
//
// A refusal is a *GiveUpError with ErrBudgetExhausted: after a response
// (503, 429) with its status; after a body-read error (the status line
// arrived, then the reset) with the status and the read error; after a
// transport error with the transport error. (How an adapter hands each to
// its caller is the adapter's test.) In every case the final event gives up
// with ErrBudgetExhausted, and the server saw no attempt beyond the
// client's.
func TestStressBudget(t *testing.T) {
	const seed = 77
	s := stressListen(t, seed)
	p := stressPolicy()
	// A pool of 100 tokens: 1,200 requests, about 40% failing their first
	// attempt, need far more, so refusals are certain (Default's 1,500
	// would pay them all).
	p.Budget = Budget{Ratio: DefaultBudgetRatio, Reserve: 100, Window: DefaultBudgetWindow}
	start := time.Now()
	results := stressRun(t, s, p)
	elapsed := time.Since(start)

	var ok, okRetried, full, refusedResp, refusedTransport, refusedBody int
	for id, res := range results {
		want, last := stressExpect(seed, id)
		var final Event
		if n := len(res.events); n > 0 {
			final = res.events[n-1]
		}
		switch {
		case res.attempts < 1 || res.attempts > want:
			t.Errorf("id %d: %d attempts, want 1..%d", id, res.attempts, want)
		case res.attempts < want:
			// Cut short: only the budget may do that here.
			if final.Attempt != res.attempts || final.Verdict != Stop || !errors.Is(final.GiveUp, ErrBudgetExhausted) {
				t.Errorf("id %d: stopped after %d of %d attempts; final event attempt %d %v, give-up %v; want a give-up with ErrBudgetExhausted",
					id, res.attempts, want, final.Attempt, final.Verdict, final.GiveUp)
			}
			fate := stressFateOf(seed, id, res.attempts)
			ge, isGU := asType[*GiveUpError](res.err)
			if !isGU || !errors.Is(res.err, ErrBudgetExhausted) || ge.Attempt != res.attempts {
				t.Errorf("id %d: err %v, want a *GiveUpError with ErrBudgetExhausted for attempt %d", id, res.err, res.attempts)
				break
			}
			switch {
			case fate == fateTruncated && res.status == 0:
				refusedTransport++
				if !stressTornDown(ge.Err) {
					t.Errorf("id %d: refused after a transport error with cause %v", id, ge.Err)
				}
			case fate == fateTruncated:
				refusedBody++
				if !stressTornDown(ge.Err) || ge.Status != http.StatusOK {
					t.Errorf("id %d: refused after a body-read error with %+v, want status 200 and the read error", id, ge)
				}
				if !stressTornDown(final.Err) || !errors.Is(final.GiveUp, final.Err) {
					t.Errorf("id %d: final event err %v, give-up %v; want the body-read error in both", id, final.Err, final.GiveUp)
				}
			default:
				refusedResp++
				if fate == fate503 && res.status != 503 || fate == fate429 && res.status != 429 || fate != fate503 && fate != fate429 {
					t.Errorf("id %d: refused after a fate-%d attempt but got status %d", id, fate, res.status)
				}
				if ge.Status != res.status {
					t.Errorf("id %d: GiveUpError status %d, response %d", id, ge.Status, res.status)
				}
			}
		case last == fateOK:
			if res.err != nil || res.body != "ok-"+strconv.Itoa(id) {
				t.Errorf("id %d: got (%d %q, %v), want 200 ok-%d", id, res.status, res.body, res.err, id)
			}
			ok++
			if res.attempts > 1 {
				okRetried++ // a retry that succeeded: refunded
			}
		default:
			full++
			if last == fateTruncated && !stressTornDown(res.err) || last != fateTruncated && res.err != nil {
				t.Errorf("id %d: all %d attempts failed (last fate %d) but err = %v", id, want, last, res.err)
			}
		}
		if res.attempts == want {
			for _, ev := range res.events {
				if ev.GiveUp != nil {
					t.Errorf("id %d: ran its full course but event %+v gives up", id, ev)
				}
			}
		}
	}
	retries := stressCheckCommon(t, s, results)
	// The clock stands still, so the run is one window and one episode
	// within its tolerance: every retry that failed was paid by the pool, a
	// deposit of Ratio per success, Ratio of the requests (first retries
	// once the tokens are out) or the window's one probe; every retry that
	// succeeded was given back.
	limit := p.Budget.Reserve + int(p.Budget.Ratio*float64(ok)+0.5) + okRetried +
		int(p.Budget.Ratio*stressLogical) + 1
	refused := refusedResp + refusedTransport + refusedBody
	t.Logf("%d logical requests in %v: %d ok, %d failed after all retries, %d refused by the budget (%d after a response, %d after a transport error, %d after a body-read error); %d retries (limit %d)",
		stressLogical, elapsed, ok, full, refused, refusedResp, refusedTransport, refusedBody, retries, limit)
	if retries > limit {
		t.Errorf("%d retries exceed Reserve + Ratio·successes + retries that succeeded + Ratio·requests + a probe = %d", retries, limit)
	}
	// The seeded fates fail far more first attempts than the budget can
	// retry, so refusals are certain; about a quarter of them follow a
	// truncated body, so at least one of those is certain in practice
	// (the chance of none among hundreds is below 1e-30).
	if refusedResp == 0 || refusedBody == 0 {
		t.Errorf("refusals after a response: %d, after a body-read error: %d; the load should produce both", refusedResp, refusedBody)
	}
}

// A paid retry is settled once, when its attempt's outcome arrives, never
// refunded a second time (the adapter's test adds a hook that replaces the
// request's context on every attempt). Budget{Reserve: 3, Ratio: 0},
// MaxRetries 1: /dead and /flaky are two routes of one host sharing the
// pool of 3. The dead route's first two rounds take a token each; the
// flaky route's first retry takes the third, and every flaky retry
// succeeds and gives its token back to the flaky route's own, which pays
// the next. A refund too many would push the flaky route's own over
// Reserve and overflow into the pool, where the dead route would spend it.
func TestBudgetDoubleRefund(t *testing.T) {
	var flakyHits, deadHits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dead" {
			deadHits.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if flakyHits.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	p := Default()
	p.MaxRetries = 1
	p.Budget = Budget{Reserve: 3, Ratio: 0, Window: time.Hour}
	c, hc := budClient(t, p)
	const rounds = 20
	for i := range rounds {
		budGet(c, hc, srv.URL+"/dead", "")
		res := budGet(c, hc, srv.URL+"/flaky", "")
		if res.err != nil {
			t.Fatalf("round %d, flaky: status %d, err %v; want 200", i, res.status, res.err)
		}
		if res.err == nil && res.status != http.StatusOK {
			t.Fatalf("round %d, flaky: status %d without an error", i, res.status)
		}
	}
	if failed := deadHits.Load() - rounds; failed != 2 {
		t.Errorf("failed retries to the dead route: %d, want 2 (the pool of 3, less the flaky route's token)", failed)
	}
	if got := flakyHits.Load(); got != 2*rounds {
		t.Errorf("flaky route: %d hits, want %d (every request retried once, on its own token)", got, 2*rounds)
	}
}
