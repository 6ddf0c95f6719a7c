package compare

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// The budget scenarios (issue 16) put the libraries through outages,
// bursts, many hosts, a dead path and a brownout with real waits: each
// library on its own server and fresh client, all libraries at once (the
// counts do not depend on timing to the millisecond, and one at a time the
// set would take a quarter of an hour). They are not among Scenarios:
// cmd/compare runs them with -budget.

// BudgetLibraries are the rows of the budget tables: the Libraries but
// restyretry+Pace, and restyretry's Background preset with its own
// schedule and 8 retries.
func BudgetLibraries() []Library {
	return []Library{
		{Name: "restyretry", New: newRestyRetry},
		{Name: "restyretry Background", New: newRestyRetryBackground},
		{Name: "resty", New: newResty},
		{Name: "retryablehttp", New: newRetryableHTTP},
		{Name: "failsafe-go", New: newFailsafe},
	}
}

// BudgetRow is one library's run of a budget scenario.
type BudgetRow struct {
	Library   string
	Requests  int
	Succeeded int
	Hits      int
	// Steady counts the requests that started in the scenario's steady
	// window, and SteadyHits their hits (open-loop scenarios).
	Steady, SteadyHits int
	// Subset is a second group of requests (the dead path of the shared
	// host scenario): how many, how many succeeded, their hits.
	Subset, SubsetOK, SubsetHits int
	Longest                      time.Duration // the longest request
	Wall                         time.Duration
	Failures                     map[string]int
}

// BudgetScenario is one budget scenario.
type BudgetScenario struct {
	Name, About string
	Run         func(ctx context.Context, lib Library) BudgetRow
}

// hitCounter counts hits per request ID.
type hitCounter struct {
	mu   sync.Mutex
	hits map[string]int
}

func (h *hitCounter) hit(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hits == nil {
		h.hits = map[string]int{}
	}
	h.hits[id]++
	return h.hits[id]
}

func (h *hitCounter) of(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[id]
}

// fate is the answer to attempt hit of request i.
type fate func(i, hit int, path string) int

type budgetReq struct {
	i     int
	at    time.Duration // when it started
	took  time.Duration
	out   Outcome
	group bool // in the subset
}

// runBudget sends n requests to url(i) through lib's client, request i at
// start(i) (open loop) or, with start nil, from workers goroutines (closed
// loop), the server answering fate; steady counts the requests that start
// at or after steadyFrom in Steady.
func runBudget(ctx context.Context, lib Library, cfg Config, n, workers int, start func(i int) time.Duration,
	url func(base string, i int) string, subset func(i int) bool, answer fate, steadyFrom time.Duration) BudgetRow {
	var hc hitCounter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(IDHeader)
		i, _ := strconv.Atoi(strings.TrimPrefix(id, "r"))
		w.WriteHeader(answer(i, hc.hit(id), r.URL.Path))
	}))
	defer srv.Close()
	if cfg.DialTo != "" {
		cfg.DialTo = srv.Listener.Addr().String()
	}
	c := lib.New(cfg)
	defer c.Close()
	reqs := make([]budgetReq, n)
	t0 := time.Now()
	do := func(i int) {
		r := &reqs[i]
		r.i, r.at = i, time.Since(t0)
		r.group = subset != nil && subset(i)
		r.out = c.Do(ctx, Request{Method: http.MethodGet, URL: url(srv.URL, i), ID: "r" + strconv.Itoa(i)})
		r.took = time.Since(t0) - r.at
	}
	var wg sync.WaitGroup
	if start != nil {
		for i := range n {
			if d := start(i) - time.Since(t0); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
			wg.Add(1)
			go func() { defer wg.Done(); do(i) }()
		}
	} else {
		next := make(chan int, n)
		for i := range n {
			next <- i
		}
		close(next)
		for range min(max(workers, 1), n) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					do(i)
				}
			}()
		}
	}
	wg.Wait()
	row := BudgetRow{Library: lib.Name, Requests: n, Wall: time.Since(t0), Failures: map[string]int{}}
	for _, r := range reqs {
		h := hc.of("r" + strconv.Itoa(r.i))
		row.Hits += h
		row.Longest = max(row.Longest, r.took)
		ok := r.out.OK()
		if ok {
			row.Succeeded++
		} else {
			row.Failures[FailureKind(r.out)]++
		}
		if start != nil && r.at >= steadyFrom {
			row.Steady++
			row.SteadyHits += h
		}
		if r.group {
			row.Subset++
			row.SubsetHits += h
			if ok {
				row.SubsetOK++
			}
		}
	}
	return row
}

// RealSchedule is Default's: 1s doubling, 30s cap.
var RealSchedule = Schedule{Base: time.Second, Max: 30 * time.Second}

func plainURL(base string, _ int) string { return base + "/" }

// OutageOpen: a new request every 1/rps, always 503, for run; the steady
// state is the requests started in the last 20s.
func OutageOpen(rps int, run time.Duration) BudgetScenario {
	gap := time.Second / time.Duration(rps)
	n := int(run / gap)
	return BudgetScenario{
		Name:  "outage-open-" + strconv.Itoa(rps) + "rps",
		About: fmt.Sprintf("open loop, a new GET every %v for %v (%d), always 503; steady: those started in the last 20s", gap, run, n),
		Run: func(ctx context.Context, lib Library) BudgetRow {
			return runBudget(ctx, lib, Config{Schedule: RealSchedule, AttemptTimeout: 5 * time.Second}, n, 0,
				func(i int) time.Duration { return time.Duration(i) * gap }, plainURL, nil,
				func(int, int, string) int { return http.StatusServiceUnavailable }, run-20*time.Second)
		},
	}
}

// Burst: n concurrent GETs on a fresh client, each answered 503 k times,
// then 200; real waits.
func Burst(n, k int) BudgetScenario {
	return BudgetScenario{
		Name:  fmt.Sprintf("burst-%dx%d", n, k),
		About: fmt.Sprintf("%d concurrent GETs on a fresh client, each answered 503 %s, then 200", n, times(k)),
		Run: func(ctx context.Context, lib Library) BudgetRow {
			return runBudget(ctx, lib, Config{Schedule: RealSchedule, AttemptTimeout: 30 * time.Second}, n, n, nil,
				plainURL, nil, func(_, hit int, _ string) int {
					if hit <= k {
						return http.StatusServiceUnavailable
					}
					return http.StatusOK
				}, 0)
		},
	}
}

// ManyHosts: hosts host names on one loopback server, all answering 503,
// perHost requests each in round robin from 32 goroutines, on a 1–4µs
// schedule.
func ManyHosts(hosts, perHost int) BudgetScenario {
	return BudgetScenario{
		Name:  "hosts-" + strconv.Itoa(hosts),
		About: fmt.Sprintf("%d host names, %d GETs each in round robin from 32 goroutines, always 503; 1–4µs schedule", hosts, perHost),
		Run: func(ctx context.Context, lib Library) BudgetRow {
			cfg := Config{Schedule: Schedule{Base: time.Microsecond, Max: 4 * time.Microsecond}, AttemptTimeout: 5 * time.Second, DialTo: "server"}
			return runBudget(ctx, lib, cfg, hosts*perHost, 32, nil, func(base string, i int) string {
				return "http://h" + strconv.Itoa(i%hosts) + ".test" + base[strings.LastIndex(base, ":"):] + "/"
			}, nil, func(int, int, string) int { return http.StatusServiceUnavailable }, 0)
		},
	}
}

// SharedHost: n GETs from 20 goroutines to one host:port, one in ten to
// /dead (always 503), the others to /live, where one in five fails its
// first attempt; 10–40ms schedule.
func SharedHost(n int) BudgetScenario {
	return BudgetScenario{
		Name:  "shared-host",
		About: fmt.Sprintf("%d GETs from 20 goroutines to one host:port: 1 in 10 to /dead (always 503), the rest to /live (1 in 5 fails its first attempt); 10–40ms schedule", n),
		Run: func(ctx context.Context, lib Library) BudgetRow {
			cfg := Config{Schedule: Schedule{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond}, AttemptTimeout: 5 * time.Second}
			dead := func(i int) bool { return i%10 == 0 }
			return runBudget(ctx, lib, cfg, n, 20, nil, func(base string, i int) string {
				if dead(i) {
					return base + "/dead/" + strconv.Itoa(i)
				}
				return base + "/live/" + strconv.Itoa(i)
			}, dead, func(i, hit int, path string) int {
				if strings.HasPrefix(path, "/dead/") || hit == 1 && i%5 == 1 {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			}, 0)
		},
	}
}

// Brownout: open loop at rps for run, one attempt in five answered 503 at
// random (seeded).
func Brownout(rps int, run time.Duration) BudgetScenario {
	gap := time.Second / time.Duration(rps)
	n := int(run / gap)
	return BudgetScenario{
		Name:  "brownout",
		About: fmt.Sprintf("open loop, a new GET every %v for %v (%d); one attempt in five answered 503 at random", gap, run, n),
		Run: func(ctx context.Context, lib Library) BudgetRow {
			var mu sync.Mutex
			rng := rand.New(rand.NewPCG(16, 16))
			return runBudget(ctx, lib, Config{Schedule: RealSchedule, AttemptTimeout: 5 * time.Second}, n, 0,
				func(i int) time.Duration { return time.Duration(i) * gap }, plainURL, nil,
				func(int, int, string) int {
					mu.Lock()
					defer mu.Unlock()
					if rng.Float64() < 0.2 {
						return http.StatusServiceUnavailable
					}
					return http.StatusOK
				}, 0)
		},
	}
}

// BudgetScenarios returns the budget scenarios by name: outage (1, 10 and
// 100 rps, 45s), bursts (N in {100, 200, 500} × K in {1, 2, 3}, and
// 1000 × 2), hosts (10 and 2,000 hosts × 150), shared (4,000 GETs),
// brownout (50 rps, 60s).
func BudgetScenarios(group string) []BudgetScenario {
	switch group {
	case "outage":
		return []BudgetScenario{OutageOpen(1, 45*time.Second), OutageOpen(10, 45*time.Second), OutageOpen(100, 45*time.Second)}
	case "bursts":
		var out []BudgetScenario
		for _, n := range []int{100, 200, 500} {
			for _, k := range []int{1, 2, 3} {
				out = append(out, Burst(n, k))
			}
		}
		return append(out, Burst(1000, 2))
	case "hosts":
		return []BudgetScenario{ManyHosts(10, 150), ManyHosts(2000, 150)}
	case "shared":
		return []BudgetScenario{SharedHost(4000)}
	case "brownout":
		return []BudgetScenario{Brownout(50, 60*time.Second)}
	}
	return nil
}

// BudgetGroups are the names BudgetScenarios knows.
var BudgetGroups = []string{"outage", "bursts", "hosts", "shared", "brownout"}

// RunBudget runs sc for every library at once and returns the rows in
// libs' order.
func RunBudget(ctx context.Context, sc BudgetScenario, libs []Library) []BudgetRow {
	rows := make([]BudgetRow, len(libs))
	var wg sync.WaitGroup
	for i, lib := range libs {
		wg.Add(1)
		go func() { defer wg.Done(); rows[i] = sc.Run(ctx, lib) }()
	}
	wg.Wait()
	return rows
}

// WriteBudgetTable prints one budget scenario's rows.
func WriteBudgetTable(w io.Writer, sc BudgetScenario, rows []BudgetRow) error {
	fmt.Fprintf(w, "%s: %s\n", sc.Name, sc.About)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-21s\tsucceeded\thits/request\tsteady hits/request\tsubset ok\tsubset hits/request\tlongest\twall\tfailures\t\n", "library")
	for _, r := range rows {
		steady, sub, subOK := "-", "-", "-"
		if r.Steady > 0 {
			steady = fmt.Sprintf("%.3f (%d)", float64(r.SteadyHits)/float64(r.Steady), r.Steady)
		}
		if r.Subset > 0 {
			sub = fmt.Sprintf("%.3f", float64(r.SubsetHits)/float64(r.Subset))
			subOK = fmt.Sprintf("%d/%d", r.SubsetOK, r.Subset)
		}
		fmt.Fprintf(tw, "%-21s\t%d/%d\t%.3f\t%s\t%s\t%s\t%v\t%v\t%s\t\n", r.Library, r.Succeeded, r.Requests,
			float64(r.Hits)/float64(max(r.Requests, 1)), steady, subOK, sub, r.Longest.Round(time.Millisecond),
			r.Wall.Round(time.Millisecond), failureList(r.Failures))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

func failureList(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range []string{"budget", "gave up", "503", "error"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	for k, v := range m {
		if k != "budget" && k != "gave up" && k != "503" && k != "error" {
			parts = append(parts, fmt.Sprintf("%d %s", v, k))
		}
	}
	return strings.Join(parts, ", ")
}
