package core

import (
	"math"
	"math/rand/v2"
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
				p.block(budHost, budAt(b))
			}
			if got := p.hold(budHost, budAt(tc.at), tc.u); got != tc.want {
				t.Fatalf("hold = %v, want %v", got, tc.want)
			}
			if got := p.hold(budOther, budAt(tc.at), tc.u); got != 0 {
				t.Fatalf("another host held %v, want 0", got)
			}
		})
	}
}

func TestPacerNil(t *testing.T) {
	var p *pacer
	p.block(budHost, budAt(time.Hour))
	if got := p.hold(budHost, budAt(0), 0.5); got != 0 {
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
		p.hosts.remove(k)
		p.block(k, budAt(until))
		d := p.hold(k, budAt(now), rng.Float64())
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
	p.block(budHost, budAt(time.Second))
	rng := rand.New(rand.NewPCG(3, 4))
	var counts [10]int
	for range n {
		d := p.hold(budHost, budAt(0), rng.Float64())
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
	p.block(budHost, budAt(time.Second))
	if p.hold(budHost, budAt(2*time.Second), 0) != 0 || p.hosts.len() != 0 {
		t.Fatalf("a passed instant is kept: %d hosts", p.hosts.len())
	}
	// A host is not added by asking about it.
	if p.hold(budOther, budAt(0), 0) != 0 || p.hosts.len() != 0 {
		t.Fatal("hold added a host")
	}
}

func TestPacerBounded(t *testing.T) {
	p := newPacer()
	p.block(hk(0), budAt(time.Hour))
	for i := 1; i < 3*maxHosts; i++ {
		p.block(hk(i), budAt(time.Hour))
		if i%100 == 0 {
			p.hold(hk(0), budAt(0), 0) // keeps h0 recently used
		}
	}
	if p.hosts.len() != maxHosts {
		t.Fatalf("%d hosts held, want %d", p.hosts.len(), maxHosts)
	}
	if p.hold(hk(0), budAt(0), 0) != time.Hour {
		t.Error("h0, asked about all along, was evicted")
	}
	if p.hold(hk(1), budAt(0), 0) != 0 {
		t.Error("h1, least recently used, was kept")
	}
	if p.hold(hk(3*maxHosts-1), budAt(0), 0) != time.Hour {
		t.Error("the newest block is missing")
	}
}

func TestPacerAllocs(t *testing.T) {
	p := newPacer()
	now := budAt(0)
	p.block(budHost, budAt(time.Second))
	for name, f := range map[string]func(){
		"hold, held":     func() { p.hold(budHost, now, 0.5) },
		"hold, not held": func() { p.hold(budOther, now, 0.5) },
		"block, known":   func() { p.block(budHost, budAt(2*time.Second)) },
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
		goWG(&wg, func() {
			rng := rand.New(rand.NewPCG(5, uint64(w)))
			for i := range 2000 {
				k := hk(rng.IntN(4))
				if rng.IntN(2) == 0 {
					p.block(k, budAt(time.Duration(w*2000+i)*time.Millisecond))
				} else {
					p.hold(k, budAt(0), rng.Float64())
				}
			}
		})
	}
	wg.Wait()
	// The latest instant any worker could block is worker 7's last.
	for i := range 4 {
		d := p.hold(hk(i), budAt(0), 0)
		if d > time.Duration(7*2000+1999)*time.Millisecond || d < time.Duration(7*2000)*time.Millisecond {
			t.Errorf("h%d held %v, want the latest block, near 16s", i, d)
		}
	}
}
