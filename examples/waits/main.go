// Command waits shows what the presets actually wait before each retry. It
// draws many waits per retry from each preset's Policy.Delay (with a seeded
// Rand, so the same seed always gives the same output), prints the
// backoff and the p0/p50/p100 of the waits per retry, and draws the
// distributions into an SVG chart on a log time axis (the presets span
// milliseconds to minutes).
//
// Each preset also gets a "total" row: the time spent waiting by a request
// that uses every retry, which bounds how long the retries can stretch a
// call beyond its attempts.
//
// Usage (from the repository root):
//
//	go run ./examples/waits [-samples 10000] [-seed 1] [-svg PATH]
//
// It prints the table and writes nothing unless -svg is given; the chart in
// the documentation was made with -svg docs/waits.svg.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/examples/internal/plot"
)

func main() {
	if err := runArgs(os.Stdout, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "waits:", err)
		os.Exit(2)
	}
}

// runArgs reads the command line and runs.
func runArgs(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("waits", flag.ContinueOnError)
	var (
		samples = fs.Int("samples", 10000, "waits drawn per retry")
		seed    = fs.Uint64("seed", 1, "random seed; the same seed gives the same output")
		svgPath = fs.String("svg", "", "also write the chart as SVG to this `path` (docs/waits.svg is the documentation's); none by default")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return run(w, *samples, *seed, *svgPath)
}

func run(w io.Writer, samples int, seed uint64, svgPath string) error {
	if samples < 2 {
		return fmt.Errorf("need -samples ≥ 2")
	}
	ps := Sample(Presets(), samples, seed)
	printTable(w, ps, samples, seed)
	if svgPath == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(svgPath), 0o755); err != nil {
		return err
	}
	f, err := os.Create(svgPath)
	if err != nil {
		return err
	}
	if err := WriteChart(f, ps, samples, seed); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s\n", svgPath)
	return nil
}

// Preset is a named policy.
type Preset struct {
	Name   string
	Jitter string // the jitter in words
	Policy restyretry.Policy
}

// Presets returns the library's presets in the order of the README.
func Presets() []Preset {
	return []Preset{
		{"Default()", "Proportional(0.5): [d, 1.5d)", restyretry.Default()},
		{"Interactive()", "EqualJitter: [d/2, d)", restyretry.Interactive()},
		{"Background()", "EqualJitter: [d/2, d)", restyretry.Background()},
		{"Contention()", "FullJitter: [0, d)", restyretry.Contention()},
	}
}

// Dist summarises the waits before one retry (Retry ≥ 1) or, for Retry 0,
// the total of all of a request's waits.
type Dist struct {
	Retry   int
	Backoff time.Duration // d, the backoff before jitter (the sum of them for a total)
	Q       [5]time.Duration
}

// Quantiles in Dist.Q: min, lower quartile, median, upper quartile, max.
const (
	p0 = iota
	p25
	p50
	p75
	p100
)

// PresetWaits is the distribution of every retry of one preset, and the
// total.
type PresetWaits struct {
	Preset
	Retries []Dist
	Total   Dist
}

// Sample draws samples requests per preset, each waiting before every one of
// the preset's retries, from Policy.Delay with Rand bound to a source seeded
// by seed and the preset's position.
func Sample(ps []Preset, samples int, seed uint64) []PresetWaits {
	out := make([]PresetWaits, len(ps))
	for i, pr := range ps {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		p := pr.Policy
		p.Rand = rng.Float64
		bare := pr.Policy
		bare.Jitter = restyretry.NoJitter // Delay is then exactly the backoff d
		n := p.MaxRetries
		waits := make([][]time.Duration, n)
		for r := range waits {
			waits[r] = make([]time.Duration, samples)
		}
		totals := make([]time.Duration, samples)
		for s := range samples {
			for r := range n {
				d := p.Delay(r + 1)
				waits[r][s] = d
				totals[s] += d
			}
		}
		out[i] = PresetWaits{Preset: pr, Retries: make([]Dist, n)}
		var sumBackoff time.Duration
		for r := range n {
			d := bare.Delay(r + 1)
			sumBackoff += d
			out[i].Retries[r] = summarize(r+1, d, waits[r])
		}
		out[i].Total = summarize(0, sumBackoff, totals)
	}
	return out
}

// summarize sorts ws and reads its quantiles (nearest rank).
func summarize(retry int, backoff time.Duration, ws []time.Duration) Dist {
	slices.Sort(ws)
	d := Dist{Retry: retry, Backoff: backoff}
	for k, q := range []float64{0, 0.25, 0.5, 0.75, 1} {
		d.Q[k] = ws[int(math.Round(q*float64(len(ws)-1)))]
	}
	return d
}

func printTable(w io.Writer, ps []PresetWaits, samples int, seed uint64) {
	fmt.Fprintf(w, "Waits before each retry: %d draws per retry from Policy.Delay, seed %d.\n", samples, seed)
	fmt.Fprintln(w, "d is the backoff before jitter; total is the sum of all waits of a request that uses every retry.")
	fmt.Fprintln(w)
	// Text columns align left; durations are padded so that they align
	// right.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "preset\tjitter\tretry\t%8s\t%8s\t%8s\t%8s\n", "d", "p0", "p50", "p100")
	for _, p := range ps {
		for i, d := range p.Retries {
			name, jit := "", ""
			if i == 0 {
				name, jit = p.Name, p.Jitter
			}
			fmt.Fprintf(tw, "%s\t%s\t%5d\t%8s\t%8s\t%8s\t%8s\n", name, jit, d.Retry,
				plot.Dur(d.Backoff), plot.Dur(d.Q[p0]), plot.Dur(d.Q[p50]), plot.Dur(d.Q[p100]))
		}
		t := p.Total
		fmt.Fprintf(tw, "\t\ttotal\t%8s\t%8s\t%8s\t%8s\n", plot.Dur(t.Backoff), plot.Dur(t.Q[p0]), plot.Dur(t.Q[p50]), plot.Dur(t.Q[p100]))
	}
	tw.Flush()
}
