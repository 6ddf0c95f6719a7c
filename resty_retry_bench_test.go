package restyretry

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/jarcoal/httpmock"
	"github.com/restyretry/restyretry/core"
)

// Benchmarks of the cost the package adds to a request.
//
// BenchmarkSuccessPath and BenchmarkSuccessPathMock compare one GET that
// succeeds at once on three clients: a bare resty client, resty's own retry
// (SetRetryCount(3) and a condition, the usual way to retry with resty),
// and Apply. resty runs a different loop when RetryCount > 0 (Backoff), which
// costs 2 allocations per request whoever sets the count (its Options struct
// escapes, and Execute copies the conditions into a new slice), so applied
// vs bare includes resty's own loop; applied vs resty-retry is our cost.
// The mock variant removes the loopback network, whose noise hides the
// difference. BenchmarkDecision measures our code alone: one decision with
// a hand-built response, no resty loop and no network.
//
// Reproduce (2-core machine):
//
//	go test -run '^$' -bench 'SuccessPath|Decision' -benchmem -count 5 -benchtime 1s

// bnBody is the small body every success-path server answers with.
const bnBody = `{"ok":true,"items":[1,2,3]}`

// bnMockURL is the URL the httpmock transport answers; nothing resolves it.
const bnMockURL = "http://bench.invalid/ok"

// bnVariants are the clients compared by the success-path benchmarks.
var bnVariants = []struct {
	name  string
	setup func(*resty.Client) *resty.Client
}{
	{"bare", func(c *resty.Client) *resty.Client { return c }},
	{"resty-retry", func(c *resty.Client) *resty.Client {
		return c.SetRetryCount(3).
			SetRetryWaitTime(100 * time.Millisecond).
			SetRetryMaxWaitTime(2 * time.Second).
			AddRetryCondition(func(r *resty.Response, err error) bool {
				return err != nil || r.StatusCode() == http.StatusTooManyRequests || r.StatusCode() >= 500
			})
	}},
	{"applied", Apply},
}

// BenchmarkSuccessPath sends GETs that succeed to a loopback server over
// one keep-alive connection.
func BenchmarkSuccessPath(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, bnBody)
	}))
	defer srv.Close()
	for _, v := range bnVariants {
		b.Run(v.name, func(b *testing.B) {
			c := v.setup(resty.New())
			defer c.GetClient().CloseIdleConnections()
			bnLoop(b, c, srv.URL)
		})
	}
}

// BenchmarkSuccessPathMock is BenchmarkSuccessPath over an httpmock
// transport: no sockets, so the per-request CPU cost of each variant shows.
func BenchmarkSuccessPathMock(b *testing.B) {
	for _, v := range bnVariants {
		b.Run(v.name, func(b *testing.B) {
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodGet, bnMockURL, httpmock.NewStringResponder(http.StatusOK, bnBody))
			c := v.setup(resty.New().SetTransport(mt))
			bnLoop(b, c, bnMockURL)
			if n := mt.GetTotalCallCount(); n < b.N {
				b.Fatalf("mock transport saw %d calls for %d requests", n, b.N)
			}
		})
	}
}

// bnLoop times GETs to u. The first request, before the loop, opens the
// keep-alive connection and is not timed (b.Loop resets the timer).
func bnLoop(b *testing.B, c *resty.Client, u string) {
	bnGet(b, c, u)
	b.ReportAllocs()
	for b.Loop() {
		bnGet(b, c, u)
	}
}

func bnGet(b *testing.B, c *resty.Client, u string) {
	resp, err := c.R().Get(u)
	if err != nil || resp.StatusCode() != http.StatusOK || string(resp.Body()) != bnBody {
		b.Fatalf("GET %s: %v, %v", u, resp, err)
	}
}

// bnDecision is one applied client and a hand-built response to decide on.
type bnDecision struct {
	c    *resty.Client
	in   *installation
	p    *core.Policy
	cond resty.RetryConditionFunc
	resp *resty.Response
}

// bnSetup applies Default with a budget whose reserve cannot drain during a
// benchmark, so that every 503 decision takes the budget's mutex
// and is granted, and builds a response of the given status and headers
// (status 0: a transport error, no http.Response) to a GET on attempt 1.
// h is added to the headers every net/http response carries.
func bnSetup(tb testing.TB, status int, h http.Header) *bnDecision {
	p := Default()
	p.Budget = Budget{Ratio: DefaultBudgetRatio, Reserve: 1 << 40}
	c := p.Apply(resty.New())
	in := lookup(c)
	if in == nil || len(c.RetryConditions) != 1 {
		tb.Fatalf("Apply installed %d conditions, installation %v", len(c.RetryConditions), in)
	}
	req := c.R()
	req.Method = http.MethodGet
	req.URL = "http://bench.invalid/x"
	req.Attempt = 1
	req.Time = time.Now() // resty stamps the start of every attempt
	resp := &resty.Response{Request: req}
	if status != 0 {
		// The headers net/http's server sends with every small response, so
		// that header lookups pay for a realistic, non-empty map.
		hh := http.Header{
			"Content-Type":   {"text/plain; charset=utf-8"},
			"Content-Length": {"19"},
			"Date":           {"Sat, 28 Nov 2026 12:00:00 GMT"},
		}
		for k, v := range h {
			hh[k] = v
		}
		resp.RawResponse = &http.Response{StatusCode: status, Header: hh}
	}
	return &bnDecision{c: c, in: in, p: in.core.Policy(), cond: c.RetryConditions[0], resp: resp}
}

// bnRefused is the error net/http returns for a refused connection.
func bnRefused() error {
	return &url.Error{Op: "Get", URL: "http://127.0.0.1:1/x", Err: &net.OpError{
		Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1},
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED),
	}}
}

// Expected waits for attempt 1 under Default: the backoff 1s spread by
// Proportional(0.5), and a 2s Retry-After spread upward by at most 10%.
const (
	bnBackoffMin    = time.Second
	bnBackoffMax    = 1500 * time.Millisecond
	bnRetryAfter    = "2"
	bnRetryAfterMin = 2 * time.Second
	bnRetryAfterMax = 2200 * time.Millisecond
)

// BenchmarkDecision measures one retry decision of our code, with no resty
// loop and no network.
//
//   - 200-success: the installed condition on a success (resty asks it after
//     every attempt). Must not allocate.
//   - 200-success-all-hooks: everything the package runs for a successful
//     GET: the before-request hook, the pre-request hook and the condition.
//   - 503-first: the first retry decision of a request, through the
//     condition: it creates the request's state (a context value and the
//     state struct), once per logical request.
//   - 503-core: the outcome and the core's decision (verdict + limits) on
//     an existing state. Target: < 200 ns, 0 allocs.
//   - 503-repeat: the condition again on a request that already has its
//     state (a later attempt's decision).
//   - 429-retry-after-core / 429-retry-after: as 503-core and 503-repeat, with
//     Retry-After: 2; the second also runs retryAfter, the RetryAfter hook
//     resty calls next, which commits the decision.
//   - refused-condition: the condition on that error (existing state).
func BenchmarkDecision(b *testing.B) {
	b.Run("200-success", func(b *testing.B) {
		s := bnSetup(b, http.StatusOK, nil)
		b.ReportAllocs()
		for b.Loop() {
			if s.cond(s.resp, nil) {
				b.Fatal("200 retried")
			}
		}
	})
	b.Run("200-success-all-hooks", func(b *testing.B) {
		s := bnSetup(b, http.StatusOK, nil)
		raw, err := http.NewRequest(http.MethodGet, s.resp.Request.URL, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := s.in.beforeRequest(s.c, s.resp.Request); err != nil {
				b.Fatal(err)
			}
			if err := s.in.guardBody(s.c, raw); err != nil {
				b.Fatal(err)
			}
			if s.cond(s.resp, nil) {
				b.Fatal("200 retried")
			}
		}
	})
	b.Run("503-first", func(b *testing.B) {
		s := bnSetup(b, http.StatusServiceUnavailable, nil)
		req := s.resp.Request
		b.ReportAllocs()
		for b.Loop() {
			req.SetContext(context.Background()) // a new logical request: no state yet
			if !s.cond(s.resp, nil) {
				b.Fatal("503 not retried")
			}
		}
		if st, _ := s.in.stateOf(req); st == nil || st.nextAttempt != 1 || st.next.Action != core.ActionRetry {
			b.Fatalf("state after the decision: %+v", st)
		}
	})
	b.Run("503-core", func(b *testing.B) {
		bnCore(b, bnSetup(b, http.StatusServiceUnavailable, nil), bnBackoffMin, bnBackoffMax)
	})
	b.Run("503-repeat", func(b *testing.B) {
		bnRepeat(b, bnSetup(b, http.StatusServiceUnavailable, nil), false)
	})
	b.Run("429-retry-after-core", func(b *testing.B) {
		s := bnSetup(b, http.StatusTooManyRequests, http.Header{"Retry-After": {bnRetryAfter}})
		bnCore(b, s, bnRetryAfterMin, bnRetryAfterMax)
	})
	b.Run("429-retry-after", func(b *testing.B) {
		bnRepeat(b, bnSetup(b, http.StatusTooManyRequests, http.Header{"Retry-After": {bnRetryAfter}}), true)
	})
	b.Run("refused-condition", func(b *testing.B) {
		s := bnSetup(b, 0, nil)
		err := bnRefused()
		s.state()
		b.ReportAllocs()
		for b.Loop() {
			if !s.cond(s.resp, err) {
				b.Fatal("refused connection not retried")
			}
		}
	})
}

// state returns the request's state, creating it as a first failure does.
func (s *bnDecision) state() *reqState {
	r := s.resp.Request
	if st, _ := s.in.stateOf(r); st != nil {
		return st
	}
	return s.in.newState(s.c, r, s.in.start(s.c, r, s.p, r.Time))
}

// bnCore times building the outcome and the core's decision on an existing
// state, and checks the wait lies in [lo, hi].
func bnCore(b *testing.B, s *bnDecision, lo, hi time.Duration) {
	st := s.state()
	b.ReportAllocs()
	for b.Loop() {
		d := st.exec.Next(outcomeOf(s.resp, nil, st.attempt(), s.in.guard))
		if d.Action != core.ActionRetry || d.Err != nil || d.Wait < lo || d.Wait > hi {
			b.Fatalf("decision %+v; want retry after %v–%v", d, lo, hi)
		}
	}
}

// bnRepeat times the installed condition on a request that already has its
// state and, if commit, the retryAfter hook resty calls after it.
func bnRepeat(b *testing.B, s *bnDecision, commit bool) {
	s.state()
	b.ReportAllocs()
	for b.Loop() {
		if !s.cond(s.resp, nil) {
			b.Fatal("not retried")
		}
		if commit {
			w, err := s.in.retryAfter(s.c, s.resp)
			if err != nil || w < bnRetryAfterMin || w > bnRetryAfterMax {
				b.Fatalf("retryAfter = %v, %v; want %v–%v", w, err, bnRetryAfterMin, bnRetryAfterMax)
			}
		}
	}
}

// TestSuccessPathAllocationFree holds the package's per-request work on a
// success (the three hooks resty calls) to zero allocations, the premise
// of BenchmarkSuccessPath, and checks the decision is "do not retry".
func TestSuccessPathAllocationFree(t *testing.T) {
	s := bnSetup(t, http.StatusOK, nil)
	raw, err := http.NewRequest(http.MethodGet, s.resp.Request.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	retried := false
	n := testing.AllocsPerRun(200, func() {
		_ = s.in.beforeRequest(s.c, s.resp.Request)
		_ = s.in.guardBody(s.c, raw)
		retried = retried || s.cond(s.resp, nil)
	})
	if retried {
		t.Error("a 200 was retried")
	}
	if n != 0 {
		t.Errorf("success path allocates %v times per request", n)
	}
}

// TestDecisionCoreAllocationFree holds a backoff decision on an existing
// request state to zero allocations.
func TestDecisionCoreAllocationFree(t *testing.T) {
	s := bnSetup(t, http.StatusServiceUnavailable, nil)
	st := s.state()
	var d core.Decision
	n := testing.AllocsPerRun(200, func() {
		d = st.exec.Next(outcomeOf(s.resp, nil, st.attempt(), s.in.guard))
	})
	if d.Action != core.ActionRetry || d.Err != nil || d.Wait < bnBackoffMin || d.Wait > bnBackoffMax {
		t.Errorf("decision %+v, want a retry after %v–%v", d, bnBackoffMin, bnBackoffMax)
	}
	if n != 0 {
		t.Errorf("decision core allocates %v times", n)
	}
}
