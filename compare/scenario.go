package compare

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/restyretry/restyretry"
)

// Row is what one library did in one scenario.
type Row struct {
	Library   string
	Requests  int // logical requests sent
	Succeeded int // ended in a 2xx without an error
	Counts        // what the server saw
	// Duplicates counts orders applied more than once: every application
	// of a POST beyond its first (only for POST scenarios).
	Duplicates int
	Wall       time.Duration // the scenario's duration for this library
	PaceCounts               // refusals and early arrivals (pace scenario only)
	// Failures counts the requests that did not succeed by how they
	// ended (see FailureKind).
	Failures map[string]int
}

// HitsPerRequest is server hits per logical request.
func (r Row) HitsPerRequest() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Hits) / float64(r.Requests)
}

// Scenario is one situation every library is put through.
type Scenario struct {
	Name  string // short, for the table's title and for tests
	About string // what the server does and what is sent
	POST  bool   // the requests are POSTs: the table shows Duplicates
	Pace  bool   // the table shows PaceCounts
	// Run puts one library through the scenario, on its own servers and a
	// fresh client.
	Run func(ctx context.Context, lib Library) (Row, error)
}

// Size sets how much traffic each scenario sends.
type Size struct {
	Burst         int // concurrent GETs of a burst
	Warm          int // successful requests before the warm burst
	Outage        int // requests against the always-503 server
	OutageWorkers int // goroutines sending them
	RateLimit     int // requests per window the limiter allows
	RateRequests  int // concurrent requests sent at the limiter
	Faults        int // GETs through each toxiproxy fault
	FaultWorkers  int // goroutines sending them
	DeadTrials    int // GETs sent while the upstream is dead, one at a time
	Orders        int // POSTs under connection resets
	PaceRequests  int // GETs of the pace scenario
	PaceWorkers   int // goroutines sending them, one request at a time each
	PaceLimit     int // requests per 1s window its limiter allows
	PaceRetries   int // retries each client may make there
}

// FullSize is the size of the published tables.
func FullSize() Size {
	return Size{
		Burst: 50, Warm: 1000, Outage: 4000, OutageWorkers: 20,
		RateLimit: 20, RateRequests: 60,
		Faults: 100, FaultWorkers: 4, DeadTrials: 10, Orders: 100,
		PaceRequests: 40, PaceWorkers: 20, PaceLimit: 5, PaceRetries: 10,
	}
}

// SmallSize keeps every scenario's shape at a size for tests.
func SmallSize() Size {
	s := FullSize()
	s.Warm = 300
	s.Outage = 600
	s.RateLimit = 10
	s.RateRequests = 30
	s.Faults = 30
	s.Orders = 30
	return s
}

// DefaultSchedule is the schedule of the published tables: 2ms, 4ms, 8ms.
var DefaultSchedule = Schedule{Base: 2 * time.Millisecond, Max: 20 * time.Millisecond}

// Scenarios returns every scenario at size sz, each client configured
// with schedule s.
func Scenarios(sz Size, s Schedule) []Scenario {
	return []Scenario{
		burst(sz, s, 1, 0),
		burst(sz, s, 2, 0),
		burst(sz, s, 2, sz.Warm),
		outage(sz, s),
		rateLimited(sz, s, time.Second),
		rateLimited(sz, s, 500*time.Millisecond),
		resetPeer(sz, s),
		stalled(sz, s),
		deadUpstream(sz, s),
		ordersReset(sz, s),
		paced(sz, s),
	}
}

// burst: n concurrent GETs, each answered 503 fails times, then 200; warm
// successful requests first on the same client.
func burst(sz Size, s Schedule, fails, warm int) Scenario {
	name := "burst-" + strconv.Itoa(fails)
	about := fmt.Sprintf("%d concurrent GETs on a fresh client; each answered 503 %s, then 200", sz.Burst, times(fails))
	if warm > 0 {
		name += "-warm"
		about = fmt.Sprintf("%d concurrent GETs after %d successful ones on the same client; each answered 503 %s, then 200",
			sz.Burst, warm, times(fails))
	}
	return Scenario{Name: name, About: about, Run: func(ctx context.Context, lib Library) (Row, error) {
		rec := &Recorder{Soon: s.Base / 2}
		srv := httptest.NewServer(rec.Wrap(func(w http.ResponseWriter, r *http.Request, hit int) {
			if r.URL.Path == "/burst" && hit <= fails {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		defer srv.Close()
		c := lib.New(Config{Schedule: s, AttemptTimeout: 5 * time.Second})
		defer c.Close()
		fire(ctx, c, warm, 20, func(i int) Request {
			return Request{Method: http.MethodGet, URL: srv.URL + "/ok", ID: "warm-" + strconv.Itoa(i)}
		})
		before := rec.Counts()
		start := time.Now()
		_, outs := fire(ctx, c, sz.Burst, sz.Burst, func(i int) Request {
			return Request{Method: http.MethodGet, URL: srv.URL + "/burst", ID: "b-" + strconv.Itoa(i)}
		})
		return newRow(lib, outs, time.Since(start), rec.Counts().sub(before)), nil
	}}
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	if n == 2 {
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}

// outage: a server that answers every request 503, without a hint.
func outage(sz Size, s Schedule) Scenario {
	return Scenario{
		Name:  "outage",
		About: fmt.Sprintf("%d GETs from %d goroutines; the server answers every one 503", sz.Outage, sz.OutageWorkers),
		Run: func(ctx context.Context, lib Library) (Row, error) {
			rec := &Recorder{Soon: s.Base / 2}
			srv := httptest.NewServer(rec.Wrap(func(w http.ResponseWriter, r *http.Request, hit int) {
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			c := lib.New(Config{Schedule: s, AttemptTimeout: 5 * time.Second})
			defer c.Close()
			start := time.Now()
			_, outs := fire(ctx, c, sz.Outage, sz.OutageWorkers, func(i int) Request {
				return Request{Method: http.MethodGet, URL: srv.URL, ID: strconv.Itoa(i)}
			})
			return newRow(lib, outs, time.Since(start), rec.Counts()), nil
		},
	}
}

// newRow summarises one library's run.
func newRow(lib Library, outs []Outcome, wall time.Duration, c Counts) Row {
	ok, fails := tally(outs)
	return Row{Library: lib.Name, Requests: len(outs), Succeeded: ok, Counts: c, Wall: wall, Failures: fails}
}

// sub returns the counts seen since before.
func (c Counts) sub(before Counts) Counts {
	return Counts{Hits: c.Hits - before.Hits, Retries: c.Retries - before.Retries,
		Early: c.Early - before.Early, BackToBack: c.BackToBack - before.BackToBack, IDs: c.IDs - before.IDs}
}

// FailureKind names how a request that did not succeed ended:
// "budget" (restyretry's retry budget refused a retry), "gave up"
// (restyretry stopped early for another reason), the last HTTP status when
// one was returned, else "error" (an error without a response, which is how
// go-retryablehttp reports exhausted retries, and how transport errors
// end); where the library tells how many attempts it made, "error, not
// retried" or "error after k attempts". It returns "" for a success.
func FailureKind(o Outcome) string {
	switch {
	case o.OK():
		return ""
	case errors.Is(o.Err, restyretry.ErrBudgetExhausted):
		return "budget"
	case errors.Is(o.Err, restyretry.ErrGaveUp):
		return "gave up"
	case o.Status != 0:
		return strconv.Itoa(o.Status)
	case o.Attempts == 1:
		return "error, not retried"
	case o.Attempts > 1:
		return "error after " + strconv.Itoa(o.Attempts) + " attempts"
	}
	return "error"
}

// tally counts outcomes: successes, and failures by FailureKind.
func tally(outs []Outcome) (int, map[string]int) {
	ok, fails := 0, map[string]int{}
	for _, o := range outs {
		if k := FailureKind(o); k == "" {
			ok++
		} else {
			fails[k]++
		}
	}
	return ok, fails
}

// fire sends n requests from workers goroutines, which all start
// together, and returns how many succeeded and every outcome by index.
func fire(ctx context.Context, c Client, n, workers int, req func(i int) Request) (int, []Outcome) {
	out := make([]Outcome, n)
	if n <= 0 {
		return 0, out
	}
	workers = min(max(workers, 1), n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-gate
			for i := range next {
				out[i] = c.Do(ctx, req(i))
			}
		})
	}
	close(gate)
	wg.Wait()
	ok, _ := tally(out)
	return ok, out
}
