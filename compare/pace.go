package compare

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/httprate"
)

// Headers of the pace scenario, which let the server judge each arrival by
// what the client had been told when it sent it.
const (
	// NamedHeader, on a 429, is the instant its Retry-After names: when
	// the server wrote the status, plus the delay, in Unix nanoseconds.
	NamedHeader = "X-Named-Until"
	// KnownHeader, on every attempt, is the latest instant named by an
	// answer the client had received before sending it (Unix nanoseconds;
	// 0 for none): NamedHeader of a 429, or X-RateLimit-Reset of an answer
	// whose X-RateLimit-Remaining is 0 or less.
	KnownHeader = "X-Known-Until"
)

// PaceCounts is what the pace scenario's server saw beyond Counts.
type PaceCounts struct {
	Refused int // answers 429
	// NewEarly and RetriesEarly count first attempts and retries that
	// arrived before the instant in their KnownHeader: sent after the
	// client had been told the quota was spent until then.
	NewEarly     int
	RetriesEarly int
}

// paced is the pacing scenario: sz.PaceRequests GETs from sz.PaceWorkers
// goroutines through one client, each goroutine sending its next request
// as soon as the last one ends, against go-chi/httprate allowing
// sz.PaceLimit per 1s window by IP (LimitBy with a local counter, so the
// windows are aligned to whole seconds of the wall clock). A refused
// request gets 429 with Retry-After: 1; every answer carries
// X-RateLimit-Limit, -Remaining and -Reset (the next window's start, in
// Unix seconds). Clients get sz.PaceRetries retries, enough to get through.
func paced(sz Size, s Schedule) Scenario {
	const window = time.Second
	return Scenario{
		Name: "httprate-pace",
		About: fmt.Sprintf("%d GETs from %d goroutines, one at a time each, through go-chi/httprate, %d per %v by IP; %d retries",
			sz.PaceRequests, sz.PaceWorkers, sz.PaceLimit, window, sz.PaceRetries),
		Pace: true,
		Run: func(ctx context.Context, lib Library) (Row, error) {
			rec := &Recorder{Soon: s.Base / 2}
			var pc paceCounter
			limited := httprate.LimitBy(sz.PaceLimit, window, keyByIP,
				httprate.WithLimitCounter(httprate.NewLocalLimitCounter(window)),
			)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
			}))
			srv := httptest.NewServer(rec.Wrap(func(w http.ResponseWriter, r *http.Request, hit int) {
				pc.arrive(r, hit, time.Now())
				limited.ServeHTTP(&namingWriter{ResponseWriter: w, pc: &pc}, r)
			}))
			defer srv.Close()
			kt := knownTracker{onDecision: lib.ReportsDecisions}
			cfg := Config{Schedule: s, AttemptTimeout: 5 * time.Second, Retries: sz.PaceRetries, Wrap: kt.wrap}
			if lib.ReportsDecisions {
				cfg.Decided = kt.decided
			}
			c := lib.New(cfg)
			defer c.Close()
			start := time.Now()
			_, outs := fire(ctx, c, sz.PaceRequests, sz.PaceWorkers, func(i int) Request {
				return Request{Method: http.MethodGet, URL: srv.URL, ID: strconv.Itoa(i)}
			})
			row := newRow(lib, outs, time.Since(start), rec.Counts())
			row.PaceCounts = pc.counts()
			return row, nil
		},
	}
}

// paceCounter is the server's side of the pace scenario.
type paceCounter struct {
	mu sync.Mutex
	PaceCounts
}

// arrive judges one arrival at at: early when before the instant its
// KnownHeader carries.
func (p *paceCounter) arrive(r *http.Request, hit int, at time.Time) {
	known, err := strconv.ParseInt(r.Header.Get(KnownHeader), 10, 64)
	if err != nil || known == 0 || at.UnixNano() >= known {
		return
	}
	p.mu.Lock()
	if hit == 1 {
		p.NewEarly++
	} else {
		p.RetriesEarly++
	}
	p.mu.Unlock()
}

func (p *paceCounter) counts() PaceCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.PaceCounts
}

// namingWriter counts 429s and stamps each with NamedHeader: the instant
// it is written plus its Retry-After.
type namingWriter struct {
	http.ResponseWriter
	pc *paceCounter
}

func (w *namingWriter) WriteHeader(code int) {
	if code == http.StatusTooManyRequests {
		if d, ok := retryAfterSeconds(w.Header().Get("Retry-After")); ok {
			w.Header().Set(NamedHeader, strconv.FormatInt(time.Now().Add(d).UnixNano(), 10))
		}
		w.pc.mu.Lock()
		w.pc.Refused++
		w.pc.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

// knownTracker is the client's side: a transport wrapper that remembers
// the latest instant the server has named in an answer the library has
// read, and sends it with every attempt as KnownHeader. An answer counts as
// read when the library reports a decision on its request (restyretry's
// OnDecision, which comes after it has noted the answer for pacing); for a
// library that reports none, when the transport returns it. The client
// cannot act on an answer before it has read it: an attempt that left while
// the answer was still on its way through resty is not held to it.
type knownTracker struct {
	onDecision bool // wait for decided before counting an answer as read

	mu      sync.Mutex
	until   int64            // Unix nanoseconds; 0 for none
	pending map[string]int64 // by request ID: the instant of its last answer, not yet read
}

func (k *knownTracker) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		k.mu.Lock()
		until := k.until
		k.mu.Unlock()
		r = r.Clone(r.Context())
		r.Header.Set(KnownHeader, strconv.FormatInt(until, 10))
		resp, err := next.RoundTrip(r)
		if resp != nil {
			k.received(r.Header.Get(IDHeader), named(resp.StatusCode, resp.Header))
		}
		return resp, err
	})
}

// received notes the instant an answer to request id names.
func (k *knownTracker) received(id string, at int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.onDecision {
		k.until = max(k.until, at)
		return
	}
	if k.pending == nil {
		k.pending = map[string]int64{}
	}
	k.pending[id] = at
}

// decided counts the last answer to request id as read.
func (k *knownTracker) decided(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if at, ok := k.pending[id]; ok {
		k.until = max(k.until, at)
		delete(k.pending, id)
	}
}

// named is the latest instant an answer names (Unix nanoseconds, 0 for
// none): NamedHeader, and X-RateLimit-Reset when the status is 429 or
// X-RateLimit-Remaining is 0 or less. The reset is in whole Unix seconds,
// which is exact here: the limiter's windows are 1s long and aligned to
// whole seconds, so no rounding is allowed for.
func named(status int, h http.Header) int64 {
	var at int64
	if n, err := strconv.ParseInt(h.Get(NamedHeader), 10, 64); err == nil && n > 0 {
		at = n
	}
	rem, remErr := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if status == http.StatusTooManyRequests || (remErr == nil && rem <= 0) {
		if sec, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && sec > 0 && sec < 1<<33 {
			at = max(at, time.Unix(sec, 0).UnixNano())
		}
	}
	return at
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
