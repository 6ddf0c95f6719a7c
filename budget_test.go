package restyretry

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// drain withdraws until the bucket refuses and returns how many succeeded.
// limit guards against a bucket that never refuses.
func budDrain(t *testing.T, k *bucket, limit int) int {
	t.Helper()
	n := 0
	for k.withdraw() {
		n++
		if n > limit {
			t.Fatalf("bucket allowed more than %d withdrawals", limit)
		}
	}
	return n
}

func TestBucketZeroBudgetIsUnlimited(t *testing.T) {
	for _, b := range []Budget{
		{},
		{Ratio: 0, Reserve: 0},
		{Ratio: -1, Reserve: -5},
		{Ratio: math.NaN()},
	} {
		k := newBucket(b)
		if k != nil {
			t.Errorf("newBucket(%+v) = %+v, want nil (no limit)", b, k)
			continue
		}
		for i := range 10000 {
			k.onRequest()
			if !k.withdraw() {
				t.Fatalf("nil bucket refused withdrawal %d", i+1)
			}
		}
	}
}

func TestBucketArithmetic(t *testing.T) {
	k := newBucket(Budget{Ratio: 0.2, Reserve: 10})
	if k == nil {
		t.Fatal("newBucket returned nil for a real budget")
	}
	// Starts full: exactly Reserve retries before any deposit.
	if n := budDrain(t, k, 100); n != 10 {
		t.Fatalf("full bucket allowed %d withdrawals, want 10", n)
	}
	// Four deposits of 0.2 make 0.8 of a token: not enough.
	for range 4 {
		k.onRequest()
	}
	if k.withdraw() {
		t.Fatal("0.8 tokens allowed a withdrawal")
	}
	// The fifth makes exactly 1.
	k.onRequest()
	if !k.withdraw() {
		t.Fatal("1.0 token refused a withdrawal")
	}
	if k.withdraw() {
		t.Fatal("an empty bucket allowed a withdrawal")
	}
	// 1000 requests at 0.2 fund exactly 200 retries (cap not reached).
	for range 1000 {
		k.onRequest()
	}
	if n := budDrain(t, k, 1000); n != 10 {
		// Reserve 10 caps the bucket: 200 tokens deposited, 10 kept.
		t.Fatalf("after 1000 deposits the bucket allowed %d withdrawals, want 10 (the cap)", n)
	}

	k = newBucket(Budget{Ratio: 0.25, Reserve: 1000})
	budDrain(t, k, 2000)
	for range 1000 {
		k.onRequest()
	}
	if n := budDrain(t, k, 2000); n != 250 {
		t.Fatalf("1000 deposits of 0.25 allowed %d withdrawals, want 250", n)
	}

	// Ratio above 1 pays for several retries per request.
	k = newBucket(Budget{Ratio: 3, Reserve: 100})
	budDrain(t, k, 200)
	for range 10 {
		k.onRequest()
	}
	if n := budDrain(t, k, 200); n != 30 {
		t.Fatalf("10 deposits of 3 allowed %d withdrawals, want 30", n)
	}
}

func TestBucketCapAtReserve(t *testing.T) {
	k := newBucket(Budget{Ratio: 1, Reserve: 3})
	for range 100 {
		k.onRequest() // deposits into a full bucket are lost
	}
	if n := budDrain(t, k, 200); n != 3 {
		t.Fatalf("full bucket after 100 deposits allowed %d, want 3", n)
	}
	for range 100 {
		k.onRequest()
	}
	if n := budDrain(t, k, 200); n != 3 {
		t.Fatalf("drained bucket after 100 deposits of 1 allowed %d, want 3 (cap)", n)
	}
}

func TestBucketRatioOnly(t *testing.T) {
	// No reserve: as Budget.Reserve documents, a Reserve below 1 counts as
	// 1 when Ratio is set, so the bucket holds one token (the least that
	// pays for a retry) and a Ratio-only budget retries at its ratio, one
	// retry at a time.
	k := newBucket(Budget{Ratio: 0.5})
	if k == nil {
		t.Fatal("Ratio-only budget was treated as unlimited")
	}
	if n := budDrain(t, k, 100); n != 1 {
		t.Fatalf("new Ratio-only bucket allowed %d withdrawals, want 1", n)
	}
	k.onRequest()
	if k.withdraw() {
		t.Fatal("0.5 tokens allowed a withdrawal")
	}
	k.onRequest()
	if !k.withdraw() {
		t.Fatal("two deposits of 0.5 refused a withdrawal")
	}
	for range 10 {
		k.onRequest()
	}
	if n := budDrain(t, k, 100); n != 1 {
		t.Fatalf("after 10 deposits of 0.5 the Ratio-only bucket allowed %d, want 1 (burst of one)", n)
	}
	// Long run: 1000 requests each followed by a retry attempt get 500.
	got := 0
	for range 1000 {
		k.onRequest()
		if k.withdraw() {
			got++
		}
	}
	if got != 500 {
		t.Fatalf("interleaved: %d retries of 1000 requests at ratio 0.5, want 500", got)
	}
}

func TestBucketReserveOnly(t *testing.T) {
	k := newBucket(Budget{Reserve: 3})
	if k == nil {
		t.Fatal("Reserve-only budget was treated as unlimited")
	}
	if n := budDrain(t, k, 100); n != 3 {
		t.Fatalf("Reserve-only bucket allowed %d withdrawals, want 3", n)
	}
	for range 10000 {
		k.onRequest() // no ratio: nothing is ever deposited
	}
	if k.withdraw() {
		t.Fatal("Reserve-only bucket refilled from requests")
	}
}

// TestBucketConcurrentInvariant: whatever the interleaving, successful
// withdrawals never exceed Reserve + Ratio·deposits.
func TestBucketConcurrentInvariant(t *testing.T) {
	const (
		workers = 16
		ops     = 2000
	)
	for _, b := range []Budget{{Ratio: 0.2, Reserve: 10}, {Ratio: 0.5}, {Reserve: 50}, {Ratio: 0.05, Reserve: 1}} {
		t.Run(strconv.FormatFloat(b.Ratio, 'g', -1, 64)+"/"+strconv.Itoa(b.Reserve), func(t *testing.T) {
			k := newBucket(b)
			var deposits, withdrawals atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(42, uint64(w)))
					for range ops {
						if rng.IntN(100) < 70 {
							k.onRequest()
							deposits.Add(1)
						} else if k.withdraw() {
							withdrawals.Add(1)
						}
					}
				})
			}
			wg.Wait()
			reserve := max(b.Reserve, 1)
			// In milli-tokens, as the bucket counts.
			limit := int64(reserve)*1000 + deposits.Load()*int64(b.Ratio*1000)
			if got := withdrawals.Load() * 1000; got > limit {
				t.Fatalf("%d withdrawals from %d deposits: %d milli-tokens spent, limit %d",
					withdrawals.Load(), deposits.Load(), got, limit)
			}
			if tok := k.tokens.Load(); tok < 0 || tok > int64(reserve)*1000 {
				t.Fatalf("bucket holds %d milli-tokens, outside [0, %d]", tok, reserve*1000)
			}
			t.Logf("deposits=%d withdrawals=%d", deposits.Load(), withdrawals.Load())
		})
	}
}

// TestBucketConcurrentExact: when the cap never binds, concurrent deposits
// and withdrawals account for every milli-token: the tokens deposited are
// exactly the withdrawals made.
func TestBucketConcurrentExact(t *testing.T) {
	k := newBucket(Budget{Ratio: 0.25, Reserve: 1000})
	var drained atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k.withdraw() {
				drained.Add(1)
			}
		})
	}
	wg.Wait()
	if drained.Load() != 1000 {
		t.Fatalf("8 goroutines drained %d tokens, want exactly 1000", drained.Load())
	}

	// 8 depositors × 500 requests at 0.25 = 1000 tokens, never above the
	// cap; 8 withdrawers take tokens as they come until the depositors are
	// done and the bucket is empty.
	var (
		deposit  sync.WaitGroup
		withdraw sync.WaitGroup
		done     atomic.Bool
		taken    atomic.Int64
	)
	for range 8 {
		deposit.Go(func() {
			for range 500 {
				k.onRequest()
			}
		})
		withdraw.Go(func() {
			for {
				finished := done.Load()
				if k.withdraw() {
					taken.Add(1)
					continue
				}
				if finished {
					return
				}
				runtime.Gosched() // let the depositors run on a busy machine
			}
		})
	}
	deposit.Wait()
	done.Store(true)
	withdraw.Wait()
	if taken.Load() != 1000 {
		t.Fatalf("4000 deposits of 0.25 paid for %d withdrawals, want exactly 1000", taken.Load())
	}
}

// Behaviour of the budget on a live client.

// budPolicy is Default (and its budget) at millisecond scale.
func budPolicy() Policy {
	p := Default()
	p.BaseDelay = time.Millisecond
	p.MaxDelay = 4 * time.Millisecond
	return p
}

// TestBudgetIsolatedFailuresAllRetried: when 10% of requests fail once, the
// default budget (20% ratio) retries every one of them.
func TestBudgetIsolatedFailuresAllRetried(t *testing.T) {
	const (
		logical = 600
		workers = 8
	)
	rng := rand.New(rand.NewPCG(7, 11))
	failOnce := make([]bool, logical)
	nFail := 0
	for i := range failOnce {
		if rng.IntN(10) == 0 {
			failOnce[i] = true
			nFail++
		}
	}
	var (
		mu    sync.Mutex
		seen  = map[int]int{}
		total atomic.Int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		id, err := strconv.Atoi(r.Header.Get("X-Bud-ID"))
		if err != nil || id < 0 || id >= logical {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[id]++
		n := seen[id]
		mu.Unlock()
		if failOnce[id] && n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c := prfClient(t, budPolicy(), nil)

	var (
		wg     sync.WaitGroup
		failed atomic.Int64
		next   atomic.Int64
	)
	for range workers {
		wg.Go(func() {
			for {
				id := int(next.Add(1) - 1)
				if id >= logical {
					return
				}
				resp, err := c.R().SetHeader("X-Bud-ID", strconv.Itoa(id)).Get(srv.URL)
				if err != nil || resp == nil || resp.StatusCode() != http.StatusOK {
					failed.Add(1)
					t.Errorf("request %d (fails once: %v): resp %v, err %v", id, failOnce[id], resp, err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d requests failed once; server hits %d", nFail, logical, total.Load())
	if nFail < logical/20 || nFail > logical*3/20 {
		t.Fatalf("seeded draw gave %d failures; the test wants about 10%%", nFail)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed; every isolated failure should be retried", failed.Load())
	}
	if got, want := total.Load(), int64(logical+nFail); got != want {
		t.Fatalf("server hits %d, want %d (one retry per isolated failure)", got, want)
	}
}

// TestBudgetOutage: during a full outage 64 goroutines sharing one client
// send at most 1 + Ratio requests per logical request (plus the Reserve
// once), not 1 + MaxRetries.
func TestBudgetOutage(t *testing.T) {
	const (
		logical = 2000
		workers = 64
	)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	p := budPolicy()
	c := prfClient(t, p, nil)

	var (
		wg                 sync.WaitGroup
		next               atomic.Int64
		refused, exhausted atomic.Int64
		unexpected         atomic.Int64
		refusedAtFirst     atomic.Int64 // refused before any retry
		refusedSlowest     atomic.Int64 // ns, of those
	)
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= logical {
				start := time.Now()
				resp, err := c.R().Get(srv.URL)
				took := time.Since(start)
				switch {
				case resp == nil || resp.StatusCode() != http.StatusServiceUnavailable:
					unexpected.Add(1)
					t.Errorf("resp %v, err %v: want the 503 kept", resp, err)
				case err == nil:
					exhausted.Add(1) // every retry spent, from the reserve
				case errors.Is(err, ErrBudgetExhausted):
					refused.Add(1)
					var ge *GiveUpError
					if !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable {
						unexpected.Add(1)
						t.Errorf("err %v: want a *GiveUpError with status 503", err)
					}
					if ge != nil && ge.Attempt == 1 {
						refusedAtFirst.Add(1)
						for {
							old := refusedSlowest.Load()
							if int64(took) <= old || refusedSlowest.CompareAndSwap(old, int64(took)) {
								break
							}
						}
					}
				default:
					unexpected.Add(1)
					t.Errorf("unexpected err %v", err)
				}
			}
		})
	}
	wg.Wait()
	perReq := float64(hits.Load()) / logical
	t.Logf("outage: %d logical requests, %d server hits = %.3f hits/request; %d refused by the budget (%d at attempt 1, slowest %v), %d used every retry",
		logical, hits.Load(), perReq, refused.Load(), refusedAtFirst.Load(), time.Duration(refusedSlowest.Load()), exhausted.Load())
	if unexpected.Load() != 0 {
		t.Fatalf("%d unexpected outcomes", unexpected.Load())
	}
	// The token bucket's own bound: every retry is paid for by the reserve
	// or by a deposit of Ratio.
	bound := logical + int64(p.Budget.Reserve) + int64(p.Budget.Ratio*logical)
	if hits.Load() > bound {
		t.Errorf("%d server hits exceed logical + Reserve + Ratio·logical = %d", hits.Load(), bound)
	}
	if perReq > 1.3 {
		t.Errorf("%.3f server hits per logical request, want ≤ 1.3", perReq)
	}
	if refused.Load() == 0 {
		t.Error("no request was refused by the budget during a full outage")
	}
}

// TestBudgetRefusalIsPrompt: once the budget is spent, a failing request
// returns at once, with ErrBudgetExhausted and its 503 response, instead of
// sleeping the backoff it would otherwise wait.
func TestBudgetRefusalIsPrompt(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	// A 10s backoff with FullJitter; the random source gives 0 (no wait)
	// while the budget is being spent, then 0.99 (a ~10s wait).
	var slow atomic.Bool
	p := Default()
	p.BaseDelay = 10 * time.Second
	p.Jitter = FullJitter
	p.Budget = Budget{Reserve: 2}
	p.Rand = func() float64 {
		if slow.Load() {
			return 0.99
		}
		return 0
	}
	c := prfClient(t, p, nil)

	resp, err := c.R().Get(srv.URL)
	if !errors.Is(err, ErrBudgetExhausted) || hits.Load() != 3 {
		t.Fatalf("first request: %d hits, err %v; want 3 hits (2 retries from the reserve) then ErrBudgetExhausted", hits.Load(), err)
	}
	if resp == nil || resp.StatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("first request: resp %v, want the 503 kept", resp)
	}

	slow.Store(true)
	for i := range 5 {
		before := hits.Load()
		start := time.Now()
		resp, err := c.R().Get(srv.URL)
		took := time.Since(start)
		if took > 2*time.Second {
			t.Errorf("refused request %d took %v; it must not sleep a backoff", i, took)
		}
		if !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, ErrGaveUp) {
			t.Errorf("request %d: err %v, want ErrBudgetExhausted", i, err)
		}
		var ge *GiveUpError
		if !errors.As(err, &ge) || ge.Attempt != 1 || ge.Status != http.StatusServiceUnavailable {
			t.Errorf("request %d: err %#v, want a *GiveUpError for attempt 1, status 503", i, ge)
		}
		if resp == nil || resp.StatusCode() != http.StatusServiceUnavailable {
			t.Errorf("request %d: resp %v, want the 503 kept", i, resp)
		}
		if n := hits.Load() - before; n != 1 {
			t.Errorf("request %d reached the server %d times, want 1", i, n)
		}
	}
}

// TestBudgetResetOnApply: applying a policy again gives a fresh, full
// bucket.
func TestBudgetResetOnApply(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	p := budPolicy()
	p.Budget = Budget{Reserve: 2}
	c := prfClient(t, p, nil)
	for range 3 {
		c.R().Get(srv.URL)
	}
	if got := hits.Load(); got != 5 {
		t.Fatalf("3 requests with a 2-retry reserve hit %d times, want 5", got)
	}
	p.Apply(c)
	hits.Store(0)
	if _, err := c.R().Get(srv.URL); !errors.Is(err, ErrBudgetExhausted) || hits.Load() != 3 {
		t.Fatalf("after re-Apply: %d hits, err %v; want 3 hits (a full reserve of 2) then ErrBudgetExhausted", hits.Load(), err)
	}
}
