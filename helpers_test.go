package restyretry

// Helpers shared by the package's tests: a quiet and a recording resty
// logger, millisecond-scale policies, client builders, a recording loopback
// server, a refused URL, an event recorder and golden-file comparison.
// Helpers used by one test file only live in that file.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/jarcoal/httpmock"
	"github.com/restyretry/restyretry/retrytest"
)

// update rewrites the golden files under testdata/ with what the tests
// produce instead of comparing: go test -run TestBodyReplayMatrix -update .
var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// ---------------------------------------------------------------------------
// Loggers

// nopLogger drops resty's log lines: the tests assert on outcomes, and the
// failures they provoke on purpose would flood the output.
type nopLogger struct{}

func (nopLogger) Errorf(string, ...any) {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Debugf(string, ...any) {}

// recLogger is a resty logger that records every call twice: its level and
// format string ("WARN %v"), and its level and formatted line
// ("WARN boom"). Safe for concurrent use.
type recLogger struct {
	mu    sync.Mutex
	fmts  []string
	lines []string
}

func (l *recLogger) add(level, format string, v ...any) {
	l.mu.Lock()
	l.fmts = append(l.fmts, level+" "+format)
	l.lines = append(l.lines, level+" "+fmt.Sprintf(format, v...))
	l.mu.Unlock()
}

func (l *recLogger) Errorf(format string, v ...any) { l.add("ERROR", format, v...) }
func (l *recLogger) Warnf(format string, v ...any)  { l.add("WARN", format, v...) }
func (l *recLogger) Debugf(format string, v ...any) { l.add("DEBUG", format, v...) }

// formats returns the level and format string of every call so far.
func (l *recLogger) formats() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.fmts)
}

// take returns the formatted lines logged since the last take and forgets
// them.
func (l *recLogger) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// ---------------------------------------------------------------------------
// Policies

// fastPolicy is Default with maxRetries retries after millisecond waits
// (5ms, doubling), no jitter and no retry budget: the number of attempts
// depends on the rules and maxRetries only, and every wait is exact.
// MaxDelay and MaxRetryAfter are Default's; a test that needs them lower
// sets them.
func fastPolicy(maxRetries int) Policy {
	p := Default()
	p.MaxRetries = maxRetries
	p.BaseDelay = 5 * time.Millisecond
	p.Jitter = NoJitter
	p.Budget = Budget{}
	return p
}

// ---------------------------------------------------------------------------
// Clients

// newClient returns a quiet resty client with p applied whose idle
// connections are closed when the test ends, so that goleak sees no
// transport goroutines. Each of before runs on the client before Apply (to
// set a transport, a hook or resty's own retry settings).
func newClient(t testing.TB, p Policy, before ...func(*resty.Client)) *resty.Client {
	t.Helper()
	c := bareClient(t)
	for _, f := range before {
		f(c)
	}
	p.Apply(c)
	return c
}

// bareClient is a quiet resty client with no policy applied, its idle
// connections closed when the test ends.
func bareClient(t testing.TB) *resty.Client {
	t.Helper()
	c := resty.New().SetLogger(nopLogger{})
	t.Cleanup(func() { c.GetClient().CloseIdleConnections() })
	return c
}

// mockClient returns a resty client with p applied and a private mock
// transport answering every method on condURL with r: no network, and no
// call counter shared between parallel tests.
func mockClient(p Policy, r httpmock.Responder) (*resty.Client, *httpmock.MockTransport) {
	mt := httpmock.NewMockTransport()
	mt.DontCheckMethod = true
	for _, m := range condMethods {
		mt.RegisterResponder(m, condURL, r)
	}
	c := resty.New().SetLogger(nopLogger{}).SetTransport(mt)
	p.Apply(c)
	return c, mt
}

// condURL is where a mockClient's transport answers.
const condURL = "http://restyretry.test/resource"

var condMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
	http.MethodPut, http.MethodDelete, http.MethodPost, http.MethodPatch,
}

// countingTransport returns a transport without keep-alives (so every
// attempt dials, and Go's transport never retries on its own: it only
// replays requests on reused connections) and a counter of its dials.
func countingTransport() (*http.Transport, *atomic.Int64) {
	var dials atomic.Int64
	var d net.Dialer
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
	return tr, &dials
}

// ---------------------------------------------------------------------------
// Servers

// serve starts a loopback server running h, closed when the test ends.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// reply answers attempt n (1-based) of one key of a testServer.
type reply func(w http.ResponseWriter, r *http.Request, n int)

// testServer is a loopback server that records when each call arrived and
// counts the calls of every logical request, keyed by keyOf (a header or
// the path; every call has the same key when keyOf is nil).
type testServer struct {
	*httptest.Server
	mu       sync.Mutex
	arrivals []time.Time
	hits     map[string]int
}

// newTestServer starts a testServer that answers call n of a key with
// h(w, r, n). The server is closed when the test ends.
func newTestServer(t *testing.T, keyOf func(*http.Request) string, h reply) *testServer {
	t.Helper()
	ts := &testServer{hits: map[string]int{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		k := ""
		if keyOf != nil {
			k = keyOf(r)
		}
		ts.mu.Lock()
		ts.arrivals = append(ts.arrivals, now)
		ts.hits[k]++
		n := ts.hits[k]
		ts.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// byTestID keys a testServer's calls by their X-Test-ID header.
func byTestID(r *http.Request) string { return r.Header.Get("X-Test-ID") }

// byPath keys a testServer's calls by their path.
func byPath(r *http.Request) string { return r.URL.Path }

// calls returns how many calls reached the server, all keys together.
func (ts *testServer) calls() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.arrivals)
}

// count returns how many calls reached the server for key.
func (ts *testServer) count(key string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.hits[key]
}

func (ts *testServer) times() []time.Time {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.arrivals)
}

// gaps returns the time between consecutive arrivals.
func (ts *testServer) gaps() []time.Duration {
	at := ts.times()
	var g []time.Duration
	for i := 1; i < len(at); i++ {
		g = append(g, at[i].Sub(at[i-1]))
	}
	return g
}

// statuses answers call n with codes[n-1] (the last code for later calls)
// and the body "attempt n", so a test can tell which attempt it got.
func statuses(codes ...int) reply {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		w.WriteHeader(codes[min(n, len(codes))-1])
		fmt.Fprintf(w, "attempt %d", n)
	}
}

// requestLog records, per key, what a handler saw: the number of attempts,
// their bodies and their Idempotency-Key headers.
type requestLog struct {
	mu     sync.Mutex
	hits   map[string]int
	bodies map[string][]string
	keys   map[string][]string // Idempotency-Key per attempt
}

func newRequestLog() *requestLog {
	return &requestLog{hits: map[string]int{}, bodies: map[string][]string{}, keys: map[string][]string{}}
}

// record reads r's body, counts one attempt of key and returns its number
// (1 is the first).
func (l *requestLog) record(key string, r *http.Request) int {
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hits[key]++
	l.bodies[key] = append(l.bodies[key], string(body))
	l.keys[key] = append(l.keys[key], r.Header.Get("Idempotency-Key"))
	return l.hits[key]
}

func (l *requestLog) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits[key]
}

func (l *requestLog) bodiesOf(key string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.bodies[key]...)
}

func (l *requestLog) keysOf(key string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.keys[key]...)
}

// rawServer is a loopback listener whose connection n (1-based) is served
// by h after the request's header was read: h writes a hand-made response,
// and may cut it, stall it or garble its framing. h returning closes the
// connection. Cleanup closes the listener and every connection and waits
// for the handlers.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int32
	url   string
}

func newRawServer(t *testing.T, h func(n int, req *http.Request, c net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, url: "http://" + ln.Addr().String()}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		open []net.Conn
	)
	spawn(&wg, func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1))
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			spawn(&wg, func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				h(n, req, c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// untilClosed blocks until the peer closes c (or the test's cleanup does).
func untilClosed(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// okResponse is a complete 200 (or status) answer that closes the
// connection.
func okResponse(status int, body string) string {
	return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// hijack takes over the connection of a call so that a test can answer with
// something that is not a complete HTTP response.
func hijack(t *testing.T, w http.ResponseWriter) (net.Conn, io.Writer) {
	t.Helper()
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return nil, nil
	}
	return conn, buf
}

// refusedURL returns a URL on 127.0.0.1 where nothing listens, without a
// trailing slash: the port of a TCP socket bound but never listening, held
// until the test ends, so a dial is refused and no other test's server,
// run in parallel, can take the port.
func refusedURL(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// ---------------------------------------------------------------------------
// Events, errors, timing

// eventLog collects the events a policy reports; safe for concurrent use.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (e *eventLog) record(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// all returns the events recorded so far.
func (e *eventLog) all() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.evs...)
}

// take returns the events recorded since the last take and forgets them.
func (e *eventLog) take() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.evs
	e.evs = nil
	return out
}

// eventClient is newClient with p's decisions recorded in the returned log.
func eventClient(t testing.TB, p Policy) (*resty.Client, *eventLog) {
	events := &eventLog{}
	p.OnDecision = events.record
	return newClient(t, p), events
}

// decidedClient is a quiet client with p applied in test mode on a fake
// clock reading the wall clock's now: every decision as in production,
// every wait skipped, each decided wait in its event's Wait. A Pace hold,
// the one wait slept on the clock, moves the clock instead of the test.
func decidedClient(t testing.TB, p Policy) (*resty.Client, *eventLog, *retrytest.Clock) {
	t.Helper()
	events := &eventLog{}
	p.OnDecision = events.record
	clock := retrytest.NewClock(time.Now())
	c := bareClient(t)
	ApplyOnClock(p, c, clock)
	TestMode(c, -1)
	return c, events, clock
}

// retryWaits returns the Wait of every Retry event: the waits decided.
func retryWaits(evs []Event) []time.Duration {
	var out []time.Duration
	for _, ev := range evs {
		if ev.Verdict == Retry {
			out = append(out, ev.Wait)
		}
	}
	return out
}

// handedWaits makes c tell resty to wait 1ns between attempts and
// records, per retry, the wait the policy applied on c handed resty to
// sleep: 1ns (resty's smallest: 0 means its own backoff) in test mode, the
// decided wait otherwise. It tells test mode
// from production without timing a request. Call it after Apply (and after
// Clone: a clone copies the callback it wraps).
func handedWaits(c *resty.Client) func() []time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	inner := c.RetryAfter
	c.SetRetryAfter(func(rc *resty.Client, resp *resty.Response) (time.Duration, error) {
		d, err := inner(rc, resp)
		if err != nil {
			return 0, err
		}
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return time.Nanosecond, nil
	})
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(waits)
	}
}

// checkWaits checks that evs hold exactly one Retry, whose wait came from
// source and is in [lo, hi].
func checkWaits(t *testing.T, evs []Event, source string, lo, hi time.Duration) {
	t.Helper()
	var retries []Event
	for _, ev := range evs {
		if ev.Verdict == Retry {
			retries = append(retries, ev)
		}
	}
	if len(retries) != 1 {
		t.Fatalf("%d retries %+v, want 1", len(retries), retries)
	}
	if ev := retries[0]; ev.WaitSource != source || ev.Wait < lo || ev.Wait > hi {
		t.Errorf("decided wait %v from %q, want in [%v, %v] from %q", ev.Wait, ev.WaitSource, lo, hi, source)
	}
}

// attemptsOf returns the Attempt of every event.
func attemptsOf(evs []Event) []int {
	out := make([]int, len(evs))
	for i, ev := range evs {
		out[i] = ev.Attempt
	}
	return out
}

// safetyNet returns a context that ends a request after 10s, so that a
// regression that honours an hour-long Retry-After fails the test instead
// of hanging it.
func safetyNet(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// giveUpOf returns the *GiveUpError inside err, failing the test if there is
// none.
func giveUpOf(t *testing.T, err error) *GiveUpError {
	t.Helper()
	var ge *GiveUpError
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) holds no *GiveUpError", err, err)
	}
	return ge
}

// responseOf returns ge.Response as the *resty.Response it must be, nil if
// it is nil or of another type.
func responseOf(ge *GiveUpError) *resty.Response {
	r, _ := ge.Response.(*resty.Response)
	return r
}

// statusOf returns resp's status, 0 when there is no response.
func statusOf(resp *resty.Response) int {
	if resp == nil || resp.RawResponse == nil {
		return 0
	}
	return resp.StatusCode()
}

// checkGaps checks that each gap between arrivals is at least lower[i]
// (less 1ms for clock granularity) and below upper[i].
func checkGaps(t *testing.T, gaps, lower, upper []time.Duration) {
	t.Helper()
	if len(gaps) != len(lower) {
		t.Fatalf("got %d gaps %v, want %d", len(gaps), gaps, len(lower))
	}
	for i, g := range gaps {
		// The server sees attempt i+1 at least wait after it answered
		// attempt i; 1ms covers clock granularity.
		if g < lower[i]-time.Millisecond {
			t.Errorf("gap before retry %d = %v, want >= %v (all gaps %v)", i+1, g, lower[i], gaps)
		}
		if g >= upper[i] {
			t.Errorf("gap before retry %d = %v, want < %v (all gaps %v)", i+1, g, upper[i], gaps)
		}
	}
}

// ---------------------------------------------------------------------------
// Golden files

// checkGolden compares got with the file testdata/name, or rewrites the
// file with got when the test runs with -update. A difference fails the
// test and names the first line that differs.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Errorf("%s differs from what the test produced (go test -update rewrites it); first at line %d:\n got %q\nwant %q", path, i+1, gl, wl)
			return
		}
	}
}

// spawn runs f in a goroutine counted by wg (sync.WaitGroup.Go, which
// needs go 1.25; go.mod says 1.24).
func spawn(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
}
