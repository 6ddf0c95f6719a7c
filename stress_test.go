package restyretry

import (
	"errors"
	"io"
	"math/rand/v2"
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
	fate503               // 503, no hint
	fate429               // 429 with Retry-After: 0
	fateTruncated         // headers and part of the body, then RST
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
	c := dialClient(t, p, nil, 0).SetTimeout(20 * time.Second)

	results := make([]stressResult, stressLogical)
	var wg sync.WaitGroup
	for w := range stressWorkers {
		wg.Go(func() {
			for i := range stressPerWorker {
				id := w*stressPerWorker + i
				resp, err := c.R().Get(s.URL + stressPath(id))
				res := stressResult{err: err, attempts: -1}
				if resp != nil {
					res.status, res.body = resp.StatusCode(), resp.String()
					if resp.Request != nil {
						res.attempts = resp.Request.Attempt
					}
				}
				results[id] = res
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
	p := scaledDefault(time.Millisecond, 4*time.Millisecond)
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

// TestStressDefaultBudget: the same load with the default budget. Retries
// are refused once the budget runs dry, so outcomes depend on scheduling;
// what must hold: a request ends as its fates dictate, or earlier because
// the budget refused a retry, and the retries made are paid for.
//
// How a refusal surfaces depends on how the last attempt failed. After a
// response (503, 429) the caller gets a *GiveUpError; after a transport
// error, a *url.Error holding one; either way errors.Is(err,
// ErrBudgetExhausted). After a body-read error (the status line arrived,
// then the reset) resty returns the read error as it is, and the reason is
// only in the final Event's GiveUp (see GiveUpError). In every case the
// final event gives up with ErrBudgetExhausted, and the server saw no
// attempt beyond the client's.
func TestStressDefaultBudget(t *testing.T) {
	const seed = 77
	s := stressListen(t, seed)
	p := stressPolicy()
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
			var ue *url.Error
			var ge *GiveUpError
			switch {
			case errors.As(res.err, &ue):
				// A transport error: the give-up rides inside it.
				refusedTransport++
				if !errors.Is(res.err, ErrBudgetExhausted) || fate != fateTruncated {
					t.Errorf("id %d: refused after a fate-%d attempt with transport err %v, want ErrBudgetExhausted", id, fate, res.err)
				}
			case errors.As(res.err, &ge):
				// A response: the give-up is the error next to it.
				refusedResp++
				if !errors.Is(res.err, ErrBudgetExhausted) {
					t.Errorf("id %d: err %v, want ErrBudgetExhausted", id, res.err)
				}
				if fate == fate503 && res.status != 503 || fate == fate429 && res.status != 429 || fate != fate503 && fate != fate429 {
					t.Errorf("id %d: refused after a fate-%d attempt but got status %d", id, fate, res.status)
				}
			default:
				// A body-read error, returned as it is.
				refusedBody++
				if fate != fateTruncated || !stressTornDown(res.err) || errors.Is(res.err, ErrGaveUp) {
					t.Errorf("id %d: refused after a fate-%d attempt with err %v (%T), want the body-read error as it is", id, fate, res.err, res.err)
				}
				if !stressTornDown(final.Err) || !errors.Is(final.GiveUp, final.Err) {
					t.Errorf("id %d: final event err %v, give-up %v; want the body-read error in both", id, final.Err, final.GiveUp)
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
	// The run is far shorter than the budget's window: every retry that
	// failed was paid for by the reserve or by a deposit of Ratio per
	// success; every retry that succeeded was refunded.
	limit := p.Budget.Reserve + int(p.Budget.Ratio*float64(ok)+0.5) + okRetried
	refused := refusedResp + refusedTransport + refusedBody
	t.Logf("%d logical requests in %v: %d ok, %d failed after all retries, %d refused by the budget (%d after a response, %d after a transport error, %d after a body-read error); %d retries (limit %d)",
		stressLogical, elapsed, ok, full, refused, refusedResp, refusedTransport, refusedBody, retries, limit)
	if retries > limit {
		t.Errorf("%d retries exceed Reserve + Ratio·successes + retries that succeeded = %d", retries, limit)
	}
	// The seeded fates fail far more first attempts than the budget can
	// retry, so refusals are certain; about a quarter of them follow a
	// truncated body, so at least one of those is certain in practice
	// (the chance of none among hundreds is below 1e-30).
	if refusedResp == 0 || refusedBody == 0 {
		t.Errorf("refusals after a response: %d, after a body-read error: %d; the load should produce both", refusedResp, refusedBody)
	}
}
