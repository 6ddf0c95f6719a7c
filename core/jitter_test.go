package core

import (
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// The tests in this file pin down how long the policy waits: the exact
// arithmetic of Jitter.Spread and the backoff for a given random number, and
// the distribution of the waits drawn from the real random source.

// jitNearlyOne is the largest float64 below 1, the top of [0, 1).
var jitNearlyOne = math.Nextafter(1, 0)

func TestJitterSpreadExact(t *testing.T) {
	t.Parallel()
	const s = time.Second
	huge := time.Duration(math.MaxInt64)
	cases := []struct {
		name string
		j    Jitter
		d    time.Duration
		u    float64
		want time.Duration
	}{
		{"none u=0", NoJitter, s, 0, s},
		{"none u=.5", NoJitter, s, 0.5, s},
		{"none u→1", NoJitter, s, jitNearlyOne, s},
		{"full u=0", FullJitter, s, 0, 0},
		{"full u=.25", FullJitter, s, 0.25, 250 * time.Millisecond},
		{"full u=.5", FullJitter, s, 0.5, 500 * time.Millisecond},
		{"full u=.75 of 8s", FullJitter, 8 * s, 0.75, 6 * s},
		{"equal u=0", EqualJitter, s, 0, 500 * time.Millisecond},
		{"equal u=.5", EqualJitter, s, 0.5, 750 * time.Millisecond},
		{"equal u=.75 of 4s", EqualJitter, 4 * s, 0.75, 3500 * time.Millisecond},
		{"prop(.5) u=0", Proportional(0.5), s, 0, s},
		{"prop(.5) u=.5", Proportional(0.5), s, 0.5, 1250 * time.Millisecond},
		{"prop(.5) u=.25 of 2s", Proportional(0.5), 2 * s, 0.25, 2250 * time.Millisecond},
		{"prop(1) u=.5", Proportional(1), s, 0.5, 1500 * time.Millisecond},
		{"prop(0) u=.5", Proportional(0), s, 0.5, s},
		{"prop(-1) u=.5", Proportional(-1), s, 0.5, s},
		{"prop(NaN) u=.5", Proportional(math.NaN()), s, 0.5, s},
		{"custom [.25,.75) u=.5", Jitter{Low: 0.25, High: 0.75}, s, 0.5, 500 * time.Millisecond},
		{"1ns full u=.5", FullJitter, 1, 0.5, 0},
		{"3ns none", NoJitter, 3, 0.5, 3},

		// Repaired bounds.
		{"negative low", Jitter{Low: -1, High: 1}, s, 0.5, 500 * time.Millisecond},
		{"NaN low", Jitter{Low: math.NaN(), High: 1}, s, 0.5, 500 * time.Millisecond},
		{"-Inf low", Jitter{Low: math.Inf(-1), High: 1}, s, 0.5, 500 * time.Millisecond},
		{"NaN high", Jitter{Low: 1, High: math.NaN()}, s, 0.5, s},
		{"negative high", Jitter{Low: 0.5, High: -3}, s, 0.5, 500 * time.Millisecond},
		{"inverted", Jitter{Low: 2, High: 1}, s, 0.5, 2 * s},

		// u outside [0, 1).
		{"u<0 full", FullJitter, s, -0.5, 0},
		{"u<0 equal", EqualJitter, s, -1, 500 * time.Millisecond},
		{"u=-Inf equal", EqualJitter, s, math.Inf(-1), 500 * time.Millisecond},
		{"u=NaN full", FullJitter, s, math.NaN(), 0},
		{"u=NaN prop", Proportional(0.5), s, math.NaN(), s},

		// d ≤ 0.
		{"d=0", Proportional(0.5), 0, 0.5, 0},
		{"d<0", EqualJitter, -s, 0.5, 0},
		{"d=min", NoJitter, math.MinInt64, 0.5, 0},

		// Huge d saturates instead of overflowing.
		{"max none", NoJitter, huge, 0.5, huge},
		{"max prop u=0", Proportional(0.5), huge, 0, huge},
		{"max prop u→1", Proportional(0.5), huge, jitNearlyOne, huge},
		{"max full u=.5", FullJitter, huge, 0.5, 1 << 62},
		{"huge factors", Jitter{Low: 1e300, High: 1e301}, s, 0.5, huge},
		{"huge d huge factors", Jitter{Low: 1e300, High: 1e301}, huge, 0.5, huge},
	}
	for _, tc := range cases {
		if got := tc.j.Spread(tc.d, tc.u); got != tc.want {
			t.Errorf("%s: %+v.Spread(%v, %v) = %v (%d ns), want %v", tc.name, tc.j, tc.d, tc.u, got, int64(got), tc.want)
		}
	}
}

// TestJitterZeroValueIsNoJitter checks the documented promise "The zero
// Jitter is NoJitter": a Policy written as a literal without a Jitter must
// still wait its backoff.
func TestJitterZeroValueIsNoJitter(t *testing.T) {
	t.Parallel()
	var zero Jitter
	for _, u := range []float64{0, 0.5, jitNearlyOne} {
		if got, want := zero.Spread(time.Second, u), NoJitter.Spread(time.Second, u); got != want {
			t.Errorf("Jitter{}.Spread(1s, %v) = %v, want %v as NoJitter", u, got, want)
		}
	}
	p := Policy{MaxRetries: 3, BaseDelay: 100 * time.Millisecond, Multiplier: 2}
	if got, want := p.Delay(2), 200*time.Millisecond; got != want {
		t.Errorf("Policy without Jitter: Delay(2) = %v, want %v", got, want)
	}
}

// TestJitterSpreadEdgesOfU: u at or above 1 is treated as the top of
// [0, 1), and bounds that cannot be repaired into a finite interval neither
// panic, nor overflow, nor go negative or below a floor of 1.
func TestJitterSpreadEdgesOfU(t *testing.T) {
	t.Parallel()
	const d = time.Second
	for _, u := range []float64{1, 1.5, 1e9, math.Inf(1)} {
		for _, j := range []Jitter{NoJitter, FullJitter, EqualJitter, Proportional(0.5), Proportional(2)} {
			if got, want := j.Spread(d, u), j.Spread(d, jitNearlyOne); got != want {
				t.Errorf("%+v.Spread(1s, %v) = %v, want %v as for the largest u below 1", j, u, got, want)
			}
		}
	}
	for _, j := range []Jitter{
		{Low: 1, High: math.Inf(1)}, {Low: math.Inf(1), High: math.Inf(1)},
		{Low: math.Inf(-1), High: math.Inf(1)}, Proportional(math.Inf(1)),
		{Low: -2, High: -1}, {Low: math.NaN(), High: math.NaN()},
	} {
		for _, u := range []float64{0, 0.5, jitNearlyOne} {
			got := j.Spread(d, u)
			if got < 0 {
				t.Errorf("%+v.Spread(1s, %v) = %v, negative", j, u, got)
			}
			if j.Low == 1 && got < d {
				t.Errorf("%+v.Spread(1s, %v) = %v, below the floor 1s", j, u, got)
			}
		}
	}
}

// TestJitterSpreadUpperBoundExclusive checks the documented half-open
// interval [Low·d, High·d): even for the largest u that math/rand/v2's
// Float64 can return (1 − 2⁻⁵³), or a u ≥ 1 that is clamped to it, the wait
// stays strictly below High·d whenever the interval is at least 1ns wide.
func TestJitterSpreadUpperBoundExclusive(t *testing.T) {
	t.Parallel()
	for _, j := range []Jitter{FullJitter, EqualJitter, Proportional(0.5), Proportional(1), Proportional(0.1)} {
		var bad []string
		for _, d := range []time.Duration{time.Microsecond, time.Second, 3 * time.Second, 30 * time.Second, time.Hour} {
			top := time.Duration(j.High * float64(d)) // exact for these values
			for _, u := range []float64{jitNearlyOne, 1, 2} {
				if got := j.Spread(d, u); got >= top {
					bad = append(bad, fmt.Sprintf("Spread(%v, %v) = %v", d, u, got))
				}
			}
		}
		if len(bad) > 0 {
			t.Errorf("%+v: %d waits reach High·d, e.g. %s", j, len(bad), bad[0])
		}
	}
	p := Default()
	p.Rand = func() float64 { return jitNearlyOne }
	for retry, top := range []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second} {
		if got := p.Delay(retry + 1); got >= top {
			t.Errorf("Default() with Rand = 1−2⁻⁵³: Delay(%d) = %v, want < %v", retry+1, got, top)
		}
	}
}

// TestJitterSpreadMonotonic: for a fixed Jitter the wait grows with u and
// with d, and stays in [Low·d, High·d].
func TestJitterSpreadMonotonic(t *testing.T) {
	t.Parallel()
	for _, j := range []Jitter{NoJitter, FullJitter, EqualJitter, Proportional(0.5), Proportional(3)} {
		for _, d := range []time.Duration{1, 7, time.Microsecond, 3 * time.Second, time.Hour} {
			prev := time.Duration(-1)
			for i := 0; i <= 1000; i++ {
				u := float64(i) / 1000
				if i == 1000 {
					u = jitNearlyOne
				}
				got := j.Spread(d, u)
				if got < prev {
					t.Fatalf("%+v.Spread(%v, %v) = %v < %v for a smaller u", j, d, u, got, prev)
				}
				lo := time.Duration(math.Floor(j.Low * float64(d)))
				hi := time.Duration(math.Ceil(j.High * float64(d)))
				if got < lo-1 || got > hi {
					t.Fatalf("%+v.Spread(%v, %v) = %v outside [%v, %v]", j, d, u, got, lo, hi)
				}
				prev = got
			}
		}
	}
}

func TestJitterBackoff(t *testing.T) {
	t.Parallel()
	const s = time.Second
	huge := time.Duration(math.MaxInt64)
	def := Default()
	noCap := Default()
	noCap.MaxDelay = 0
	withMul := func(m float64) Policy {
		p := Default()
		p.Multiplier = m
		return p
	}
	lowCap := Default()
	lowCap.MaxDelay = 500 * time.Millisecond
	fast := Policy{BaseDelay: 100 * time.Millisecond, Multiplier: 1.5}
	hugeBase := Policy{BaseDelay: huge, Multiplier: 2}

	cases := []struct {
		name  string
		p     Policy
		retry int
		want  time.Duration
	}{
		{"default 1", def, 1, s},
		{"default 2", def, 2, 2 * s},
		{"default 3", def, 3, 4 * s},
		{"default 4", def, 4, 8 * s},
		{"default 5", def, 5, 16 * s},
		{"default 6 capped", def, 6, 30 * s},
		{"default 7 capped", def, 7, 30 * s},
		{"default 100 capped", def, 100, 30 * s},
		{"default 10000 capped", def, 10_000, 30 * s},
		{"default maxint capped", def, math.MaxInt, 30 * s},
		{"default 0", def, 0, 0},
		{"default -1", def, -1, 0},
		{"default minint", def, math.MinInt, 0},
		{"no cap 34", noCap, 34, 8589934592 * s},
		{"no cap 35 saturates", noCap, 35, huge},
		{"no cap 64 saturates", noCap, 64, huge},
		{"no cap 10000 saturates", noCap, 10_000, huge},
		{"no cap maxint saturates", noCap, math.MaxInt, huge},
		{"cap below base", lowCap, 1, 500 * time.Millisecond},
		{"cap below base 5", lowCap, 5, 500 * time.Millisecond},
		{"×1.5 1", fast, 1, 100 * time.Millisecond},
		{"×1.5 2", fast, 2, 150 * time.Millisecond},
		{"×1.5 3", fast, 3, 225 * time.Millisecond},
		{"×0.5 is ×1", withMul(0.5), 3, s},
		{"×0 is ×1", withMul(0), 5, s},
		{"×-2 is ×1", withMul(-2), 4, s},
		{"×NaN is ×1", withMul(math.NaN()), 4, s},
		{"×-Inf is ×1", withMul(math.Inf(-1)), 4, s},
		{"×1", withMul(1), 9, s},
		{"zero base", Policy{Multiplier: 2}, 3, 0},
		{"negative base", Policy{BaseDelay: -s, Multiplier: 2}, 1, 0},
		{"huge base 1", hugeBase, 1, huge},
		{"huge base 2", hugeBase, 2, huge},
	}
	for _, tc := range cases {
		if got := tc.p.backoff(tc.retry); got != tc.want {
			t.Errorf("%s: backoff(%d) = %v (%d ns), want %v", tc.name, tc.retry, got, int64(got), tc.want)
		}
	}

	// An infinite Multiplier must neither overflow nor pass the cap; retry 1
	// is BaseDelay whatever the multiplier.
	inf := withMul(math.Inf(1))
	for retry := 1; retry <= 70; retry++ {
		got := inf.backoff(retry)
		if got < inf.BaseDelay || got > inf.MaxDelay {
			t.Errorf("×+Inf: backoff(%d) = %v, want within [%v, %v]", retry, got, inf.BaseDelay, inf.MaxDelay)
		}
	}
	if got := inf.backoff(1); got != inf.BaseDelay {
		t.Errorf("×+Inf: backoff(1) = %v, want %v", got, inf.BaseDelay)
	}

	// Without a cap the schedule never decreases and never goes negative.
	prev := time.Duration(0)
	for retry := 1; retry <= 10_000; retry++ {
		got := noCap.backoff(retry)
		if got < prev {
			t.Fatalf("no cap: backoff(%d) = %v < backoff(%d) = %v", retry, got, retry-1, prev)
		}
		prev = got
	}
}

// jitFixed returns a Rand that always answers u, and counts its calls.
func jitFixed(u float64, calls *atomic.Int64) func() float64 {
	return func() float64 {
		if calls != nil {
			calls.Add(1)
		}
		return u
	}
}

func TestJitterPolicyDelayFixedRand(t *testing.T) {
	t.Parallel()
	const s = time.Second
	ms := time.Millisecond
	with := func(p Policy, u float64) Policy {
		p.Rand = jitFixed(u, nil)
		return p
	}
	cases := []struct {
		name string
		p    Policy
		want []time.Duration // Delay(1), Delay(2), ...
	}{
		{"default u=.5", with(Default(), 0.5), []time.Duration{1250 * ms, 2500 * ms, 5 * s, 10 * s, 20 * s, 37500 * ms, 37500 * ms}},
		{"default u=0", with(Default(), 0), []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s}},
		{"default u=.25", with(Default(), 0.25), []time.Duration{1125 * ms, 2250 * ms, 4500 * ms}},
		{"default u=-3 clamps", with(Default(), -3), []time.Duration{s, 2 * s, 4 * s}},
		{"interactive u=0", with(Interactive(), 0), []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		{"interactive u=.5", with(Interactive(), 0.5), []time.Duration{75 * ms, 150 * ms}},
		{"background u=0", with(Background(), 0), []time.Duration{500 * ms, s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s}},
		{"contention u=.5", with(Contention(), 0.5), []time.Duration{25 * ms, 50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2500 * ms, 2500 * ms}},
		{"no jitter", with(Policy{BaseDelay: 10 * ms, Multiplier: 3, Jitter: NoJitter}, 0.9), []time.Duration{10 * ms, 30 * ms, 90 * ms}},
	}
	for _, tc := range cases {
		for i, want := range tc.want {
			if got := tc.p.Delay(i + 1); got != want {
				t.Errorf("%s: Delay(%d) = %v, want %v", tc.name, i+1, got, want)
			}
		}
		if got := tc.p.Delay(0); got != 0 {
			t.Errorf("%s: Delay(0) = %v, want 0", tc.name, got)
		}
	}

	// u at or above 1 stays at the top of the interval (the strict upper
	// bound is TestJitterSpreadUpperBoundExclusive's business).
	for _, u := range []float64{jitNearlyOne, 1, 7} {
		p := with(Default(), u)
		if got := p.Delay(1); got < 1500*ms-time.Nanosecond || got > 1500*ms {
			t.Errorf("default u=%v: Delay(1) = %v, want 1.5s or just below", u, got)
		}
	}

	// The policy's source is the one used.
	var calls atomic.Int64
	p := Default()
	p.Rand = jitFixed(0.5, &calls)
	_ = p.Delay(1)
	if calls.Load() == 0 {
		t.Error("Delay did not draw from Policy.Rand")
	}

	// The zero Policy never waits.
	if got := (Policy{}).Delay(1); got != 0 {
		t.Errorf("Policy{}.Delay(1) = %v, want 0", got)
	}
}

// jitCheckUniform draws n waits and checks that they lie in [lo, hi), that
// their mean is that of U(lo, hi) within 5 standard errors, and that each of
// ten equal buckets holds a tenth of them within 5 binomial standard
// deviations. The probability of a false failure is below 1e-5.
func jitCheckUniform(t *testing.T, name string, n int, lo, hi time.Duration, draw func() time.Duration) {
	t.Helper()
	const buckets = 10
	var counts [buckets]int
	width := float64(hi - lo)
	var sum float64
	for i := 0; i < n; i++ {
		w := draw()
		if w < lo || w >= hi {
			t.Fatalf("%s: draw %d = %v outside [%v, %v)", name, i, w, lo, hi)
		}
		x := float64(w - lo)
		sum += x
		b := int(x / width * buckets)
		counts[min(b, buckets-1)]++
	}
	mean := sum / float64(n)
	se := width / math.Sqrt(12) / math.Sqrt(float64(n))
	if diff := math.Abs(mean - width/2); diff > 5*se {
		t.Errorf("%s: mean %v, want %v ± %v", name,
			lo+time.Duration(mean), lo+time.Duration(width/2), time.Duration(5*se))
	}
	p := 1.0 / buckets
	tol := 5 * math.Sqrt(float64(n)*p*(1-p))
	for b, c := range counts {
		if math.Abs(float64(c)-float64(n)*p) > tol {
			t.Errorf("%s: bucket %d holds %d of %d draws, want %.0f ± %.0f", name, b, c, n, float64(n)*p, tol)
		}
	}
}

func TestJitterDefaultScheduleDistribution(t *testing.T) {
	t.Parallel()
	const n = 20_000
	p := Default()
	for retry, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		retry++
		jitCheckUniform(t, "Default().Delay("+strconv.Itoa(retry)+")", n, base, base+base/2,
			func() time.Duration { return p.Delay(retry) })
	}
}

func TestJitterDistributions(t *testing.T) {
	t.Parallel()
	const (
		n = 20_000
		d = 800 * time.Millisecond
	)
	cases := []struct {
		name   string
		j      Jitter
		lo, hi time.Duration
	}{
		{"FullJitter", FullJitter, 0, d},
		{"EqualJitter", EqualJitter, d / 2, d},
		{"Proportional(1)", Proportional(1), d, 2 * d},
	}
	for _, tc := range cases {
		p := Policy{BaseDelay: d, Multiplier: 2, Jitter: tc.j}
		jitCheckUniform(t, tc.name+" via Delay", n, tc.lo, tc.hi, func() time.Duration { return p.Delay(1) })
	}
	// The presets draw from the same source.
	c := Contention()
	jitCheckUniform(t, "Contention().Delay(3)", n, 0, 200*time.Millisecond, func() time.Duration { return c.Delay(3) })
}
