// Command storm simulates a retry storm: many clients race to update one
// database row under optimistic concurrency, and every client that loses
// backs off and tries again. It follows the model of the AWS Architecture
// Blog post "Exponential Backoff And Jitter" (Marc Brooker, 2015) and its
// simulator: each client reads the row's version and writes it back
// conditionally; the write fails when another write landed in between; every
// message takes |N(10ms, 2ms)| of virtual time. The simulation is a
// discrete-event one in virtual time (nothing sleeps) and fully determined
// by -seed.
//
// It compares no backoff at all, the four jitter kinds of restyretry on one
// schedule (the blog's: 10ms doubling to 2s, driven by Policy.Delay), the
// four presets as shipped, and resty's built-in backoff. It prints a table
// for -clients clients and draws an SVG chart against the number of clients
// (-svg, swept over -sweep) in two sections: the strategies without a retry
// limit (total calls, completion), and the presets with their limits
// enforced (total calls, time until the last client won or gave up, share
// of clients that gave up). Every series has its own colour, dash and
// marker shape, and the series of a panel are offset by a few pixels, so
// that none hides another where their values coincide.
//
// The trade-off it shows (seed 1, 20 runs per point). On one schedule
// (10ms doubling to 2s), Proportional(0.5), the jitter of Default, never
// waits less than the backoff d: waits are predictable and gentle on a
// struggling server, but they only stretch d by up to half, so clients that
// lost together stay bunched in [d, 1.5d) and keep colliding while their
// waits grow; at 100 clients the last one is done after 10.2s. FullJitter
// spreads the same clients over [0, d): the contended work is done about
// twice as fast at every N (4.8s at 100 clients) and with the least work up
// to about 100 clients (796 calls against 813; 101 against 109 at 20). Once
// most waits sit at the cap (200 clients) its shorter mean wait costs about
// 1% more calls (1887 against 1872), and some of its waits are near zero, so
// a client may call again almost at once: right for a busy but healthy
// resource (Contention), wrong for a failing server, where Default holds
// back. No backoff finishes soonest but does three times the work;
// NoJitter keeps the clients in lockstep and is the slowest by far.
//
// The presets run as shipped (-scale 1) on the same 10ms network; -scale
// multiplies all of their durations (and resty's wait bounds) by one
// factor, so they stay comparable with each other. Their limits are
// enforced as the library enforces them: a client gives up when it lost
// and another retry would pass MaxRetries, or its wait would end after
// MaxElapsed, and sends nothing more; the "gave up" column and the chart's
// third preset panel count those clients, and the presets' calls and times
// are those of the clients that remained. The jitter rows and the baselines
// have no limit and every client finishes. Each simulated client is its own
// process making one request, so the retry budget never binds before
// MaxRetries and is left out.
//
// Usage (from the repository root):
//
//	go run ./examples/storm [-clients 100] [-runs 20] [-seed 1] [-scale 1]
//	                        [-sweep 10:200:10] [-svg PATH]
//
// It prints the table and writes nothing unless -svg is given; the chart in
// the documentation was made with -svg docs/storm.svg.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/restyretry/restyretry/examples/internal/plot"
)

// maxClients bounds a storm; clients are numbered with int32.
const maxClients = 100000

func main() {
	if err := runArgs(os.Stdout, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(2)
	}
}

// runArgs reads the command line and runs.
func runArgs(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	var (
		clients = fs.Int("clients", 100, "clients in the table's storm")
		runs    = fs.Int("runs", 20, "runs averaged per strategy and number of clients")
		seed    = fs.Uint64("seed", 1, "random seed; the same seed gives the same output")
		scale   = fs.Float64("scale", 1, "multiplies every duration of the presets and of resty's backoff (1: as shipped)")
		sweep   = fs.String("sweep", "10:200:10", `numbers of clients for the -svg chart, "from:to:step" or a comma list`)
		svgPath = fs.String("svg", "", "also write the chart, swept over -sweep, as SVG to this `path` (docs/storm.svg is the documentation's); none by default")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return run(w, *clients, *runs, *seed, *scale, *sweep, *svgPath)
}

func run(w io.Writer, clients, runs int, seed uint64, scale float64, sweep, svgPath string) error {
	if clients < 1 || clients > maxClients || runs < 1 || !(scale > 0) || math.IsInf(scale, 0) {
		return fmt.Errorf("need 1 ≤ -clients ≤ %d, -runs ≥ 1 and a positive -scale", maxClients)
	}
	ss := Strategies(scale)
	rows := make([]Summary, len(ss))
	for i, s := range ss {
		rows[i] = Average(clients, s, seed, runs)
	}
	printTable(w, ss, rows, runs, seed, scale)

	if svgPath == "" {
		return nil
	}
	ns, err := parseSweep(sweep)
	if err != nil {
		return err
	}
	grid := Sweep(ss, ns, seed, runs)
	if err := os.MkdirAll(filepath.Dir(svgPath), 0o755); err != nil {
		return err
	}
	f, err := os.Create(svgPath)
	if err != nil {
		return err
	}
	if err := WriteChart(f, ss, ns, grid, ChartInfo{Runs: runs, Seed: seed, Scale: scale}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s: %d strategies × N = %s, %d runs each\n", svgPath, len(ss), sweep, runs)
	return nil
}

// Sweep averages every strategy at every number of clients: grid[i][j] is
// strategy i at ns[j]. Cells run in parallel; each has its own random
// streams, so the result does not depend on scheduling.
func Sweep(ss []Strategy, ns []int, seed uint64, runs int) [][]Summary {
	grid := make([][]Summary, len(ss))
	cells := make(chan [2]int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range cells {
				grid[c[0]][c[1]] = Average(ns[c[1]], ss[c[0]], seed, runs)
			}
		}()
	}
	for i := range ss {
		grid[i] = make([]Summary, len(ns))
	}
	// Largest storms first, so that no worker is left with one at the end.
	for j := len(ns) - 1; j >= 0; j-- {
		for i := range ss {
			cells <- [2]int{i, j}
		}
	}
	close(cells)
	wg.Wait()
	return grid
}

func printTable(w io.Writer, ss []Strategy, rows []Summary, runs int, seed uint64, scale float64) {
	fmt.Fprintf(w, "Storm: %d clients race to update one row (optimistic concurrency); every message takes |N(10ms, 2ms)|.\n", rows[0].Clients)
	fmt.Fprintf(w, "Mean of %d runs, seed %d; presets and resty at scale %g (1 = as shipped). Calls = conditional writes.\n\n", runs, seed, scale)
	// Text columns align left; numbers are padded to their header's width
	// so that they align right.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "strategy\tschedule\t%6s\t%12s\t%10s\t%10s\t%11s\t%7s\n",
		"calls", "calls/client", "completion", "last done", "max retries", "gave up")
	for i, s := range ss {
		r := rows[i]
		gaveUp := "-"
		if s.Limited() {
			gaveUp = strconv.FormatFloat(r.GaveUp, 'f', 1, 64)
		}
		if r.Failed > 0 {
			gaveUp += fmt.Sprintf(" (%d runs unfinished!)", r.Failed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%6.0f\t%12.2f\t%10s\t%10s\t%11d\t%7s\n",
			s.Name, s.Schedule, r.Calls, r.Calls/float64(r.Clients), plot.Dur(r.Completion), plot.Dur(r.Done), r.MaxRetries, gaveUp)
	}
	tw.Flush()
	fmt.Fprintln(w, "\ncompletion: the last success; last done: the last client that won or gave up.")
	fmt.Fprintln(w, "gave up: mean clients a preset's limits stopped (a retry past MaxRetries, or a wait ending past")
	fmt.Fprintln(w, "MaxElapsed), as the library stops them; '-': no limit, every client retries until it wins.")
}

// parseSweep reads "from:to:step" or "a,b,c".
func parseSweep(s string) ([]int, error) {
	var ns []int
	if parts := strings.Split(s, ":"); len(parts) == 3 {
		var v [3]int
		for i, p := range parts {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return nil, fmt.Errorf("bad -sweep %q: %v", s, err)
			}
			v[i] = n
		}
		if v[0] < 1 || v[1] < v[0] || v[1] > maxClients || v[2] < 1 {
			return nil, fmt.Errorf("bad -sweep %q: need 1 ≤ from ≤ to ≤ %d and step ≥ 1", s, maxClients)
		}
		for n := v[0]; n <= v[1]; n += v[2] {
			ns = append(ns, n)
		}
	} else {
		for _, p := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 1 || n > maxClients {
				return nil, fmt.Errorf("bad -sweep %q: want from:to:step or a comma list of positive numbers", s)
			}
			ns = append(ns, n)
		}
	}
	if len(ns) < 2 {
		return nil, fmt.Errorf("bad -sweep %q: need at least two points", s)
	}
	for i := 1; i < len(ns); i++ {
		if ns[i] <= ns[i-1] {
			return nil, fmt.Errorf("bad -sweep %q: numbers must increase", s)
		}
	}
	return ns, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
