package restyretry_test

import (
	"fmt"
	"time"

	"github.com/restyretry/restyretry"
)

// Spread is pure: for a given number u in [0, 1) it returns an exact wait,
// Low·d + u·(High−Low)·d. Here u = 0.5, the middle of each interval.
func ExampleJitter_Spread() {
	const d = time.Second
	for _, j := range []struct {
		name string
		j    restyretry.Jitter
	}{
		{"NoJitter", restyretry.NoJitter},
		{"FullJitter", restyretry.FullJitter},
		{"EqualJitter", restyretry.EqualJitter},
		{"Proportional(0.5)", restyretry.Proportional(0.5)},
	} {
		fmt.Printf("%s: %v\n", j.name, j.j.Spread(d, 0.5))
	}
	// Output:
	// NoJitter: 1s
	// FullJitter: 500ms
	// EqualJitter: 750ms
	// Proportional(0.5): 1.25s
}

// Proportional treats the computed backoff as a floor and adds up to a
// fraction of it: Proportional(0.5) of 2s waits between 2s and 3s.
func ExampleProportional() {
	j := restyretry.Proportional(0.5)
	for _, u := range []float64{0, 0.25, 0.5, 0.75} {
		fmt.Printf("u=%.2f: %v\n", u, j.Spread(2*time.Second, u))
	}
	// Output:
	// u=0.00: 2s
	// u=0.25: 2.25s
	// u=0.50: 2.5s
	// u=0.75: 2.75s
}

// Delay shows a policy's schedule. Rand is fixed here to make it
// deterministic; left nil, each wait is drawn from math/rand/v2. The
// backoff doubles from BaseDelay and is capped at MaxDelay before the
// jitter is added.
func ExamplePolicy_Delay() {
	p := restyretry.Default()
	p.MaxDelay = 5 * time.Second
	p.Rand = func() float64 { return 0.5 }
	for retry := 1; retry <= 4; retry++ {
		fmt.Printf("before retry %d: %v\n", retry, p.Delay(retry))
	}
	// Output:
	// before retry 1: 1.25s
	// before retry 2: 2.5s
	// before retry 3: 5s
	// before retry 4: 6.25s
}
