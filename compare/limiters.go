package compare

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/go-chi/httprate"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	"github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"
)

// Issue 17's limiter scenarios, in real time: 60 GETs from 20 goroutines
// (each sending its next request when the last one ends), through one
// client per library, against a limiter allowing 5 requests per second by
// client IP. Every library gets 10 retries and the tables' schedule; the
// libraries run at once, each against its own server (the limiters are
// per server), so that a scenario takes the time of its slowest library,
// and each is bounded by LimiterTimeout.
//
// The limiters:
//
//   - httprate: go-chi/httprate's sliding window (LimitBy with its local
//     counter), X-RateLimit-Limit, -Remaining and -Reset on every answer,
//     Retry-After on a 429.
//   - ulule: ulule/limiter's stdlib middleware on its memory store ("5-S":
//     a window opened by the first request), X-RateLimit-* on every
//     answer, no Retry-After.
//   - xrate: a golang.org/x/time/rate token bucket (5 per second, burst 5),
//     the way a handler that uses it usually answers: 429 with Retry-After
//     (the bucket's delay to its next token, rounded up to whole seconds)
//     and nothing else.
//   - fixed-window: windows on whole seconds of the wall clock, 5 per
//     window, limit, remaining and reset on every answer: X-RateLimit-*
//     (reset in Unix seconds) or IETF draft 06 (RateLimit-Limit,
//     -Remaining, -Reset in delta seconds, RateLimit-Policy: 5;w=1); a 429
//     carries Retry-After too.

// LimiterTimeout bounds one library's run of a limiter scenario.
const LimiterTimeout = 30 * time.Second

// The sizes of the limiter scenarios.
const (
	limiterRequests = 60
	limiterWorkers  = 20
	limiterRate     = 5
	limiterRetries  = 10
)

// LimiterRow is what one library did against one limiter.
type LimiterRow struct {
	Library   string
	Requests  int
	Succeeded int
	Hits      int           // server hits
	Refused   int           // 429s
	Later     int           // 429s after the first wave: all but those of the first attempts of the first Workers requests
	Wall      time.Duration // first request sent to the last one ended
	Failures  map[string]int
}

// LimiterScenario is one limiter.
type LimiterScenario struct {
	Name, About string
	handler     func() http.Handler // a fresh limiter in front of a 200
}

// LimiterScenarios returns the limiter scenarios, in their usual order.
func LimiterScenarios() []LimiterScenario {
	about := fmt.Sprintf("%d GETs from %d goroutines, %d per second by IP; %d retries", limiterRequests, limiterWorkers,
		limiterRate, limiterRetries)
	return []LimiterScenario{
		{Name: "httprate", About: "go-chi/httprate (sliding window, X-RateLimit-*), " + about, handler: httprateHandler},
		{Name: "ulule", About: "ulule/limiter v3 (memory store, X-RateLimit-*), " + about, handler: ululeHandler},
		{Name: "xrate", About: "golang.org/x/time/rate (token bucket, burst 5, Retry-After only), " + about, handler: xrateHandler},
		{Name: "fixed-window", About: "fixed windows on whole seconds, X-RateLimit-* on every answer, " + about,
			handler: func() http.Handler { return fixedWindow(false) }},
		{Name: "fixed-window-06", About: "fixed windows on whole seconds, IETF draft 06 fields on every answer, " + about,
			handler: func() http.Handler { return fixedWindow(true) }},
	}
}

func okHandler(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

func httprateHandler() http.Handler {
	return httprate.LimitBy(limiterRate, time.Second, keyByIP,
		httprate.WithLimitCounter(httprate.NewLocalLimitCounter(time.Second)),
	)(http.HandlerFunc(okHandler))
}

func ululeHandler() http.Handler {
	l := limiter.New(memory.NewStore(), limiter.Rate{Period: time.Second, Limit: limiterRate})
	return stdlib.NewMiddleware(l).Handler(http.HandlerFunc(okHandler))
}

func xrateHandler() http.Handler {
	l := rate.NewLimiter(rate.Limit(limiterRate), limiterRate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		res := l.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		okHandler(w, r)
	})
}

// fixedWindow counts requests per whole second of the wall clock.
func fixedWindow(draft06 bool) http.Handler {
	var mu sync.Mutex
	var window int64
	var used int
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		mu.Lock()
		if s := now.Unix(); s != window {
			window, used = s, 0
		}
		used++
		n := used
		mu.Unlock()
		remaining := max(limiterRate-n, 0)
		reset := time.Unix(window+1, 0)
		h := w.Header()
		if draft06 {
			h.Set("RateLimit-Limit", strconv.Itoa(limiterRate))
			h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
			h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(reset.Sub(now).Seconds()))))
			h.Set("RateLimit-Policy", strconv.Itoa(limiterRate)+";w=1")
		} else {
			h.Set("X-RateLimit-Limit", strconv.Itoa(limiterRate))
			h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
			h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		}
		if n > limiterRate {
			h.Set("Retry-After", strconv.Itoa(int(math.Ceil(reset.Sub(now).Seconds()))))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		okHandler(w, r)
	})
}

// RunLimiter puts every library through sc at once, each against its own
// server.
func RunLimiter(ctx context.Context, sc LimiterScenario, libs []Library) []LimiterRow {
	rows := make([]LimiterRow, len(libs))
	var wg sync.WaitGroup
	for i, lib := range libs {
		wg.Go(func() { rows[i] = runLimiter(ctx, sc, lib) })
	}
	wg.Wait()
	return rows
}

func runLimiter(ctx context.Context, sc LimiterScenario, lib Library) LimiterRow {
	ctx, cancel := context.WithTimeout(ctx, LimiterTimeout)
	defer cancel()
	limited := sc.handler()
	var mu sync.Mutex
	hits, refused, later := 0, 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &codeWriter{ResponseWriter: w}
		limited.ServeHTTP(cw, r)
		id, _ := strconv.Atoi(r.Header.Get(IDHeader))
		mu.Lock()
		defer mu.Unlock()
		hits++
		if cw.code == http.StatusTooManyRequests {
			refused++
			if r.Header.Get(attemptHeader) != "1" || id >= limiterWorkers {
				later++
			}
		}
	}))
	defer srv.Close()
	var at attemptCounter
	c := lib.New(Config{Schedule: DefaultSchedule, AttemptTimeout: 5 * time.Second, Retries: limiterRetries, Wrap: at.wrap})
	defer c.Close()
	start := time.Now()
	_, outs := fire(ctx, c, limiterRequests, limiterWorkers, func(i int) Request {
		return Request{Method: http.MethodGet, URL: srv.URL, ID: strconv.Itoa(i)}
	})
	wall := time.Since(start)
	ok, fails := tally(outs)
	mu.Lock()
	defer mu.Unlock()
	return LimiterRow{Library: lib.Name, Requests: len(outs), Succeeded: ok, Hits: hits, Refused: refused, Later: later,
		Wall: wall, Failures: fails}
}

// attemptHeader numbers a request's attempts, as the client's transport
// sends them (so that the server knows a first attempt whatever the
// library).
const attemptHeader = "X-Attempt"

type attemptCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *attemptCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		id := r.Header.Get(IDHeader)
		a.mu.Lock()
		if a.n == nil {
			a.n = map[string]int{}
		}
		a.n[id]++
		n := a.n[id]
		a.mu.Unlock()
		r = r.Clone(r.Context())
		r.Header.Set(attemptHeader, strconv.Itoa(n))
		return next.RoundTrip(r)
	})
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// WriteLimiterTable prints one limiter scenario's rows.
func WriteLimiterTable(w io.Writer, sc LimiterScenario, rows []LimiterRow) error {
	fmt.Fprintf(w, "%s: %s\n", sc.Name, sc.About)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	width := len("library")
	for _, row := range rows {
		width = max(width, len(row.Library))
	}
	fmt.Fprintf(tw, "%-*s\tsucceeded\tserver hits\trefused (429)\tafter first wave\twall\t  failures\n", width, "library")
	for _, row := range rows {
		fmt.Fprintf(tw, "%-*s\t%d/%d\t%d\t%d\t%d\t%v\t  %s\n", width, row.Library, row.Succeeded, row.Requests, row.Hits,
			row.Refused, row.Later, row.Wall.Round(10*time.Millisecond), failureList(row.Failures))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}
