package restyretry

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
)

// BenchmarkOutageHitsPerRequest measures the load a client fleet puts on a
// service that is down (every request answered 503): server hits per
// logical request, for many goroutines sharing one client.
//
//   - restyretry: Default policy at 1ms backoff; the budget holds it near
//     1 + Ratio = 1.2 (plus Reserve/b.N).
//   - resty: resty's own retry, 3 retries at 1ms: always 4.0.
//
// Run with e.g. -bench OutageHitsPerRequest -benchtime 4000x.
func BenchmarkOutageHitsPerRequest(b *testing.B) {
	b.Run("restyretry", func(b *testing.B) {
		p := Default()
		p.BaseDelay = time.Millisecond
		benchOutage(b, func(c *resty.Client) { p.Apply(c) })
	})
	b.Run("resty", func(b *testing.B) {
		benchOutage(b, func(c *resty.Client) {
			c.SetRetryCount(3).
				SetRetryWaitTime(time.Millisecond).
				SetRetryMaxWaitTime(time.Millisecond).
				AddRetryCondition(func(r *resty.Response, err error) bool {
					return err != nil || r.StatusCode() == http.StatusServiceUnavailable
				})
		})
	})
}

func benchOutage(b *testing.B, setup func(*resty.Client)) {
	var hits, logical atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}
	defer tr.CloseIdleConnections()
	c := resty.New().SetTransport(tr).SetLogger(prfQuiet{})
	setup(c)

	b.SetParallelism(16) // 16 × GOMAXPROCS goroutines share c
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			logical.Add(1)
			if _, err := c.R().Get(srv.URL); err != nil && hits.Load() == 0 {
				b.Error(err) // the server was never reached
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(hits.Load())/float64(logical.Load()), "hits/req")
}
