package restyretry

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/jarcoal/httpmock"
)

// Benchmarks of issue 17's costs: the success path under Pace and
// MaxElapsed, side by side with bare resty, resty's own retry and Default,
// and a PUT retried once, against resty's own retry.
//
// Reproduce:
//
//	go test -run '^$' -bench 'PaceCost|RetriedBody' -benchmem .
//
// and the instruction counts with callgrind, as docs/benchmarks.md says.

// pcVariants are the clients of BenchmarkPaceCost.
var pcVariants = []struct {
	name  string
	setup func(*resty.Client) *resty.Client
}{
	{"bare", func(c *resty.Client) *resty.Client { return c }},
	{"resty-retry", bnVariants[1].setup},
	{"default", Apply},
	{"default+pace", func(c *resty.Client) *resty.Client {
		p := Default()
		p.Pace = true
		return p.Apply(c)
	}},
	{"background", Background().Apply}, // MaxElapsed and Pace
}

// BenchmarkPaceCost sends GETs that succeed at once over an httpmock
// transport (no sockets, so the per-request CPU cost of each variant shows).
func BenchmarkPaceCost(b *testing.B) {
	for _, v := range pcVariants {
		b.Run(v.name, func(b *testing.B) {
			mt := httpmock.NewMockTransport()
			mt.RegisterResponder(http.MethodGet, bnMockURL, httpmock.NewStringResponder(http.StatusOK, bnBody))
			c := v.setup(resty.New().SetTransport(mt))
			bnLoop(b, c, bnMockURL)
		})
	}
}

// TestPaceSuccessPathAllocations holds the success path's allocations: Pace
// adds none to Default's. MaxElapsed costs what bounding the attempt in
// flight costs: a cancelable context with its timer and Done channel, the
// request's state, and what net/http and the transport spend on a request
// whose context can end (about 7 of the 15); issue 17's target of 2 is not
// reachable while the attempt in flight is bounded by its context, so the
// test holds today's count against regressions.
func TestPaceSuccessPathAllocations(t *testing.T) {
	allocs := map[string]float64{}
	for _, v := range pcVariants {
		mt := httpmock.NewMockTransport()
		mt.RegisterResponder(http.MethodGet, bnMockURL, httpmock.NewStringResponder(http.StatusOK, bnBody))
		c := v.setup(resty.New().SetTransport(mt))
		allocs[v.name] = testing.AllocsPerRun(200, func() {
			if resp, err := c.R().Get(bnMockURL); err != nil || resp.StatusCode() != http.StatusOK {
				t.Fatalf("GET: %v, %v", resp, err)
			}
		})
	}
	if d := allocs["default+pace"] - allocs["default"]; d > 0 {
		t.Errorf("Pace adds %v allocations (%v)", d, allocs)
	}
	if d := allocs["background"] - allocs["default"]; d > 15 {
		t.Errorf("MaxElapsed adds %v allocations, want ≤ 15 (%v)", d, allocs)
	}
}

// rbTransport answers every other request 503 (the first attempt of each
// PUT), the others 200, reading every request's body whole as a server
// would.
type rbTransport struct{ n atomic.Int64 }

func (t *rbTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	status := http.StatusOK
	if t.n.Add(1)%2 == 1 {
		status = http.StatusServiceUnavailable
	}
	return &http.Response{StatusCode: status, Status: strconv.Itoa(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Length": {"0"}}, Body: http.NoBody, ContentLength: 0, Request: r}, nil
}

// BenchmarkRetriedBody is a PUT of a []byte body answered 503 once, then
// 200: restyretry's Default (with a 1ns backoff) against resty's own
// retry.
func BenchmarkRetriedBody(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20, 10 << 20} {
		body := bytes.Repeat([]byte("x"), size)
		for _, v := range []struct {
			name  string
			setup func(*resty.Client) *resty.Client
		}{
			{"resty-retry", func(c *resty.Client) *resty.Client {
				return c.SetRetryCount(3).SetRetryWaitTime(time.Nanosecond).SetRetryMaxWaitTime(time.Nanosecond).
					AddRetryCondition(func(r *resty.Response, err error) bool {
						return err != nil || r.StatusCode() >= 500
					})
			}},
			{"default", func(c *resty.Client) *resty.Client {
				p := Default()
				p.BaseDelay, p.MaxDelay = time.Nanosecond, time.Nanosecond
				p.AddIdempotencyKey = false
				return p.Apply(c)
			}},
		} {
			b.Run(strconv.Itoa(size>>10)+"KiB/"+v.name, func(b *testing.B) {
				c := v.setup(resty.New().SetTransport(&rbTransport{}))
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					resp, err := c.R().SetBody(body).Put("http://bench.invalid/put")
					if err != nil || resp.StatusCode() != http.StatusOK {
						b.Fatalf("PUT: %v, %v", resp, err)
					}
				}
			})
		}
	}
}
