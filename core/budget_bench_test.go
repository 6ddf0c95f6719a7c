package core

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOutageHitsPerRequest measures the load a client fleet puts on a
// service that is down (every request answered 503): server hits per
// logical request, for many goroutines sharing one client, under Default
// on a fake clock that stands still (test mode: no wait is slept, and the
// budget's window never moves). With no success the budget allows its
// Reserve: 1 + 100/b.N. (The comparison with resty's own retry, always
// 4.0, is the adapter's benchmark.)
//
// Run with e.g. -bench OutageHitsPerRequest -benchtime 4000x.
func BenchmarkOutageHitsPerRequest(b *testing.B) {
	var hits, logical atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	c, _ := newCore(Default())
	c.SetTestMode(-1)

	b.SetParallelism(16) // 16 × GOMAXPROCS goroutines share c
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			logical.Add(1)
			if res := doHTTP(c, hc, httpReq{url: srv.URL}); res.status == 0 {
				b.Error(res.err) // the server was never reached
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(hits.Load())/float64(logical.Load()), "hits/req")
}

// BenchmarkBudgets measures the budget's calls under its one mutex, on one
// key and spread over many, alone and from every CPU: settle of a success
// (the success path's one call) and a withdrawal refunded (a retry given
// back). Time advances 1µs per call so that slots move on as they would.
func BenchmarkBudgets(b *testing.B) {
	urls := make([]*url.URL, 64)
	for i := range urls {
		urls[i] = budURL("https://h" + strconv.Itoa(i) + ".example.com/v1/items")
	}
	p := Default()
	for _, bc := range []struct {
		name string
		op   func(bs *budgets, u *url.URL, now time.Time)
	}{
		{"settle", func(bs *budgets, u *url.URL, now time.Time) {
			var t budgetTicket
			bs.settle(&t, u, now, 1, true)
		}},
		{"withdraw+refund", func(bs *budgets, u *url.URL, now time.Time) {
			var t budgetTicket
			if bs.withdraw(&t, u, now, 1, &p, now) {
				bs.refund(&t, now)
			}
		}},
	} {
		for _, hosts := range []int{1, 64} {
			name := bc.name + "/hosts=" + strconv.Itoa(hosts)
			b.Run(name, func(b *testing.B) {
				bs := newBudgets(defaultBudget())
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					bc.op(bs, urls[i%hosts], budAt(time.Duration(i)*time.Microsecond))
					i++
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				bs := newBudgets(defaultBudget())
				var seq atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := int(seq.Add(1)) * 7
					for pb.Next() {
						bc.op(bs, urls[i%hosts], budAt(time.Duration(i)*time.Microsecond))
						i++
					}
				})
			})
		}
	}
}

func BenchmarkKeyOf(b *testing.B) {
	u := budURL("https://api.example.com/v1/chat/completions?stream=true")
	var k budgetKey
	b.ReportAllocs()
	for b.Loop() {
		k = budgetKeyOf(u, "")
	}
	if k.host.port != "443" || k.route != "v1" {
		b.Fatal(k)
	}
}

func BenchmarkPacer(b *testing.B) {
	host := keyOf(budHostURL)
	for _, held := range []bool{false, true} {
		name := "hold/free"
		if held {
			name = "hold/held"
		}
		setup := func() *pacer {
			p := newPacer()
			if held {
				blockAt(p, host, budAt(time.Hour))
			}
			return p
		}
		b.Run(name, func(b *testing.B) {
			p := setup()
			b.ReportAllocs()
			for b.Loop() {
				holdOf(p, host, budT0, 0.5)
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			p := setup()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					holdOf(p, host, budT0, 0.5)
				}
			})
		})
	}
	b.Run("block", func(b *testing.B) {
		p := newPacer()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			blockAt(p, host, budAt(time.Duration(i)))
			i++
		}
	})
}
