package restyretry

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/jarcoal/httpmock"
)

// BenchmarkRetryMemory is the memory of one retried PUT with a 1 MB []byte
// body (503, then 200), side by side: resty's own retry loop and Apply. It
// runs over httpmock (the mock reads the whole body, as a server would), so
// the figures are the clients' alone. B/op is what one logical request
// allocates; retained-B/op is what is still reachable after it returned,
// with its response kept, as a caller keeps it.
//
//	go test -run '^$' -bench RetryMemory -benchmem
func BenchmarkRetryMemory(b *testing.B) {
	for _, v := range memVariants {
		b.Run(v.name, func(b *testing.B) {
			put := memClient(b, v.setup)
			put()
			const kept = 16
			var keep [kept]*resty.Response
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range keep {
				keep[i] = put()
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			retained := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / kept
			runtime.KeepAlive(keep)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				put()
			}
			b.ReportMetric(float64(max(retained, 0)), "retained-B/op")
		})
	}
}

// TestRetryMemoryMatchesResty holds a retried 1 MiB PUT to what resty's own
// retry loop allocates, measured in the same run, plus 5%: the body is
// fingerprinted by streaming it into a hash, never copied, and only
// multipart bodies keep the first attempt's bytes.
func TestRetryMemoryMatchesResty(t *testing.T) {
	const requests = 8
	total := map[string]uint64{}
	for _, v := range memVariants {
		put := memClient(t, v.setup)
		put()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range requests {
			put()
		}
		runtime.ReadMemStats(&after)
		total[v.name] = (after.TotalAlloc - before.TotalAlloc) / requests
	}
	resty, applied := total["resty-retry"], total["applied"]
	t.Logf("bytes allocated per retried 1 MiB PUT: resty %d, applied %d", resty, applied)
	if applied > resty+resty/20 {
		t.Errorf("applied allocates %d bytes per retried PUT, resty's own loop %d: more than 5%% over", applied, resty)
	}
}

// memBody is the 1 MiB body of the memory measurements.
var memBody = bytes.Repeat([]byte("0123456789abcdef"), 1<<16)

// memVariants retry once after a 503 without waiting: resty's own loop,
// and Apply in test mode.
var memVariants = []struct {
	name  string
	setup func(*resty.Client) *resty.Client
}{
	{"resty-retry", func(c *resty.Client) *resty.Client {
		return c.SetRetryCount(1).SetRetryWaitTime(time.Nanosecond).SetRetryMaxWaitTime(time.Nanosecond).
			AddRetryCondition(func(r *resty.Response, err error) bool { return r.StatusCode() == 503 })
	}},
	{"applied", func(c *resty.Client) *resty.Client {
		p := Default().TestMode(1)
		p.Budget = Budget{}
		return p.Apply(c)
	}},
}

// memClient returns a function that sends one PUT of memBody through a
// client built by setup, over an httpmock transport that reads the whole
// body and answers 503, then 200.
func memClient(tb testing.TB, setup func(*resty.Client) *resty.Client) func() *resty.Response {
	var calls atomic.Int64
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPut, bnMockURL, func(r *http.Request) (*http.Response, error) {
		n, _ := io.Copy(io.Discard, r.Body)
		if n != int64(len(memBody)) {
			tb.Errorf("server read %d bytes, want %d", n, len(memBody))
		}
		if calls.Add(1)%2 == 1 {
			return httpmock.NewStringResponse(http.StatusServiceUnavailable, ""), nil
		}
		return httpmock.NewStringResponse(http.StatusOK, "ok"), nil
	})
	c := setup(resty.New().SetTransport(mt).SetLogger(nopLogger{}))
	return func() *resty.Response {
		resp, err := c.R().SetBody(memBody).Put(bnMockURL)
		if err != nil || resp.StatusCode() != http.StatusOK {
			tb.Fatalf("PUT: %v, %v", resp, err)
		}
		return resp
	}
}
