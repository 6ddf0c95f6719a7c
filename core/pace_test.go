package core

import (
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestPacerHold(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name   string
		blocks []time.Duration // block(budHost, budAt(d)) in order
		at     time.Duration
		u      float64
		want   time.Duration
	}{
		{"never blocked", nil, 0, 0.5, 0},
		{"u 0: exactly the instant", []time.Duration{500 * ms}, 0, 0, 500 * ms},
		{"u 0.5: half of a tenth more", []time.Duration{500 * ms}, 0, 0.5, 525 * ms},
		{"u 0.75: three quarters of a tenth more", []time.Duration{500 * ms}, 0, 0.75, 537500 * time.Microsecond},
		{"later in the hold: a tenth of what is left", []time.Duration{500 * ms}, 300 * ms, 0.5, 210 * ms},
		{"the spread is at most 1s", []time.Duration{60 * time.Second}, 0, 0.5, 60*time.Second + 500*ms},
		{"at the instant: free", []time.Duration{500 * ms}, 500 * ms, 0.5, 0},
		{"after the instant: free", []time.Duration{500 * ms}, 501 * ms, 0.5, 0},
		{"the later instant is kept", []time.Duration{800 * ms, 200 * ms}, 0, 0, 800 * ms},
		{"a later block extends", []time.Duration{200 * ms, 800 * ms}, 0, 0, 800 * ms},
		{"negative u counts as 0", []time.Duration{100 * ms}, 0, -3, 100 * ms},
		{"NaN u counts as 0", []time.Duration{100 * ms}, 0, math.NaN(), 100 * ms},
		{"u above 1 counts as 1", []time.Duration{100 * ms}, 0, 7, 110 * ms},
		{"a 1ns hold", []time.Duration{1}, 0, 0.9, 1},
		{"the longest hold saturates", []time.Duration{maxDuration}, 0, 0.9, maxDuration},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPacer()
			for _, b := range tc.blocks {
				blockAt(p, budHost, budAt(b))
			}
			if got := holdOf(p, budHost, budAt(tc.at), tc.u); got != tc.want {
				t.Fatalf("hold = %v, want %v", got, tc.want)
			}
			if got := holdOf(p, budOther, budAt(tc.at), tc.u); got != 0 {
				t.Fatalf("another host held %v, want 0", got)
			}
		})
	}
}

func TestPacerNil(t *testing.T) {
	var p *pacer
	blockAt(p, budHost, budAt(time.Hour))
	if got := holdOf(p, budHost, budAt(0), 0.5); got != 0 {
		t.Fatalf("nil pacer held %v", got)
	}
}

// TestPacerNeverEarly: whatever u and the instant asked at, a held request
// waits at least until the instant and at most a tenth (≤ 1s) more.
func TestPacerNeverEarly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := newPacer()
	for range 10000 {
		until := time.Duration(rng.Int64N(int64(2 * time.Minute)))
		now := time.Duration(rng.Int64N(int64(until) + 1))
		k := hk(rng.IntN(8))
		p.shard(k).hosts.remove(k)
		blockAt(p, k, budAt(until))
		d := holdOf(p, k, budAt(now), rng.Float64())
		left := until - now
		if left <= 0 {
			if d != 0 {
				t.Fatalf("free host held %v", d)
			}
			continue
		}
		if d < left || d > left+min(left/10, time.Second) {
			t.Fatalf("until %v, now %v: hold %v, want within [%v, %v]", until, now, d, left, left+min(left/10, time.Second))
		}
	}
}

// TestPacerSpread: requests held together come back spread uniformly over
// the tenth of the hold after the instant.
func TestPacerSpread(t *testing.T) {
	const n = 20000
	p := newPacer()
	blockAt(p, budHost, budAt(time.Second))
	rng := rand.New(rand.NewPCG(3, 4))
	var counts [10]int
	for range n {
		d := holdOf(p, budHost, budAt(0), rng.Float64())
		extra := d - time.Second
		if extra < 0 || extra >= 100*time.Millisecond {
			t.Fatalf("hold %v outside [1s, 1.1s)", d)
		}
		counts[extra/(10*time.Millisecond)]++
	}
	// Each tenth holds n/10 = 2000 ± 5σ (σ = √(n·0.1·0.9) ≈ 42).
	for i, c := range counts {
		if c < 2000-212 || c > 2000+212 {
			t.Errorf("tenth %d of the spread holds %d of %d, want 2000 ± 212", i, c, n)
		}
	}
}

func TestPacerExpiredDropped(t *testing.T) {
	p := newPacer()
	blockAt(p, budHost, budAt(time.Second))
	if holdOf(p, budHost, budAt(2*time.Second), 0) != 0 || !p.shard(budHost).hosts.find(budHost).until.IsZero() {
		t.Fatal("a passed instant is kept")
	}
	// A host is not added by asking about it.
	if holdOf(p, budOther, budAt(0), 0) != 0 || p.shard(budOther).hosts.find(budOther) != nil {
		t.Fatal("hold added a host")
	}
}

func TestPacerBounded(t *testing.T) {
	p := newPacer()
	blockAt(p, hk(0), budAt(time.Hour))
	for i := 1; i < 3*maxHosts; i++ {
		blockAt(p, hk(i), budAt(time.Hour))
		if i%100 == 0 {
			holdOf(p, hk(0), budAt(0), 0) // keeps h0 recently used
		}
	}
	n := 0
	for i := range p.shards {
		n += p.shards[i].hosts.len()
	}
	if n > maxHosts {
		t.Fatalf("%d hosts held, want at most %d", n, maxHosts)
	}
	if holdOf(p, hk(0), budAt(0), 0) != time.Hour {
		t.Error("h0, asked about all along, was evicted")
	}
	if holdOf(p, hk(3*maxHosts-1), budAt(0), 0) != time.Hour {
		t.Error("the newest block is missing")
	}
}

func TestPacerAllocs(t *testing.T) {
	p := newPacer()
	pol := Default()
	pol.Pace = true
	quotaHeader := http.Header{"X-Ratelimit-Limit": {"5"}, "X-Ratelimit-Remaining": {"3"}, "X-Ratelimit-Reset": {"1"},
		"Ratelimit": {`"burst";r=3;t=1`}, "Ratelimit-Policy": {`"burst";q=5;w=1`}}
	now := budAt(0)
	blockAt(p, budHost, budAt(time.Second))
	for name, f := range map[string]func(){
		"hold, held":     func() { holdOf(p, budHost, now, 0.5) },
		"hold, not held": func() { holdOf(p, budOther, now, 0.5) },
		"block, known":   func() { blockAt(p, budHost, budAt(2*time.Second)) },
		"note, no quota": func() { p.noteQuota(budHost, &outcome{status: 200, header: http.Header{}}, now, &pol, false) },
		"note, quota": func() {
			p.noteQuota(budHost, &outcome{status: 200, header: quotaHeader}, now, &pol, false)
		},
		"reserve": func() { p.reserve(budHost, now, now, time.Time{}) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

// TestPacerConcurrent: under -race, concurrent blocks and holds keep the
// latest instant of every host.
func TestPacerConcurrent(t *testing.T) {
	p := newPacer()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(5, uint64(w)))
			for i := range 2000 {
				k := hk(rng.IntN(4))
				if rng.IntN(2) == 0 {
					blockAt(p, k, budAt(time.Duration(w*2000+i)*time.Millisecond))
				} else {
					holdOf(p, k, budAt(0), rng.Float64())
				}
			}
		}()
	}
	wg.Wait()
	// The latest instant any worker could block is worker 7's last.
	for i := range 4 {
		d := holdOf(p, hk(i), budAt(0), 0)
		if d > time.Duration(7*2000+1999)*time.Millisecond || d < time.Duration(7*2000)*time.Millisecond {
			t.Errorf("h%d held %v, want the latest block, near 16s", i, d)
		}
	}
}

// blockAt blocks k until until, noted at budT0 by a policy that honours
// any wait.
func blockAt(p *pacer, k hostKey, until time.Time) { p.block(k, budT0, until, maxDuration, false) }

// holdOf is how long a first attempt to k with no slot and no limit on its
// hold is held at now.
func holdOf(p *pacer, k hostKey, now time.Time, u float64) time.Duration {
	return p.look(k, now, time.Time{}, maxDuration, u).wait
}
