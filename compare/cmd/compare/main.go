// Command compare runs every scenario of package compare against
// restyretry, resty's own retry, go-retryablehttp and failsafe-go, in one
// process, and prints a table per scenario.
//
// Usage (inside compare/):
//
//	go run ./cmd/compare [-small] [-only name,name] [-base 2ms] [-max 20ms]
//	go run ./cmd/compare -budget outage,bursts,hosts,shared,brownout
//	go run ./cmd/compare -limiters all
//
// -budget runs the budget scenarios of issue 16 instead, with real waits
// (all libraries at once, minutes per group; see docs/budget.md), and
// nothing else: they are never part of the default run nor of -small.
// -limiters runs issue 17's limiter scenarios instead (go-chi/httprate,
// ulule/limiter, golang.org/x/time/rate, a fixed-window server), in real
// time, all libraries at once, under 30s per scenario; see docs/pacing.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/restyretry/restyretry/compare"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks errors in the command line.
var errUsage = errors.New("usage")

// run parses args, runs the chosen scenarios and writes their tables to w.
func run(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	small := fs.Bool("small", false, "run the reduced sizes the tests use")
	only := fs.String("only", "", "comma-separated scenario names to run; empty for all")
	base := fs.Duration("base", compare.DefaultSchedule.Base, "every library's first backoff")
	maxd := fs.Duration("max", compare.DefaultSchedule.Max, "every library's backoff cap")
	budget := fs.String("budget", "", "comma-separated budget scenario groups to run with real waits ("+
		strings.Join(compare.BudgetGroups, ", ")+", or all); runs only those")
	libs := fs.String("libs", "", "with -budget: comma-separated library names to run (e.g. restyretry); empty for all")
	limiters := fs.String("limiters", "", "comma-separated limiter scenarios to run in real time ("+
		strings.Join(limiterNames(), ", ")+", or all); runs only those")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *limiters != "" {
		return runLimiters(ctx, w, *limiters)
	}
	if *budget != "" {
		return runBudget(ctx, w, *budget, *libs)
	}
	if *base <= 0 || *maxd < *base {
		return fmt.Errorf("%w: need 0 < -base ≤ -max", errUsage)
	}
	size := compare.FullSize()
	if *small {
		size = compare.SmallSize()
	}
	scs, err := pick(compare.Scenarios(size, compare.Schedule{Base: *base, Max: *maxd}), *only)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %s/%s, %d CPUs; %d retries everywhere, backoff %v doubling, cap %v\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), compare.Retries, *base, *maxd)
	start := time.Now()
	for _, sc := range scs {
		res, err := compare.Run(ctx, []compare.Scenario{sc}, compare.Libraries())
		if err != nil {
			return err
		}
		if err := compare.WriteTable(w, res[0]); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "total %v\n", time.Since(start).Round(time.Millisecond))
	return err
}

// pick keeps the scenarios named in only (comma-separated), in their
// usual order; an empty list keeps all.
func pick(scs []compare.Scenario, only string) ([]compare.Scenario, error) {
	if strings.TrimSpace(only) == "" {
		return scs, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var kept []compare.Scenario
	for _, sc := range scs {
		if want[sc.Name] {
			kept = append(kept, sc)
			delete(want, sc.Name)
		}
	}
	if len(want) > 0 {
		var unknown []string
		for k := range want {
			unknown = append(unknown, k)
		}
		slices.Sort(unknown)
		return nil, fmt.Errorf("%w: unknown scenarios %s", errUsage, strings.Join(unknown, ", "))
	}
	return kept, nil
}

// runBudget runs the budget scenario groups named in list.
func runBudget(ctx context.Context, w io.Writer, list, libNames string) error {
	libs := compare.BudgetLibraries()
	if strings.TrimSpace(libNames) != "" {
		var keep []compare.Library
		for _, l := range libs {
			for _, n := range strings.Split(libNames, ",") {
				if strings.TrimSpace(n) == l.Name {
					keep = append(keep, l)
				}
			}
		}
		if len(keep) == 0 {
			return fmt.Errorf("%w: no library named in -libs %q", errUsage, libNames)
		}
		libs = keep
	}
	var groups []string
	for _, g := range strings.Split(list, ",") {
		g = strings.TrimSpace(g)
		if g == "all" {
			groups = append(groups, compare.BudgetGroups...)
			continue
		}
		if !slices.Contains(compare.BudgetGroups, g) {
			return fmt.Errorf("%w: unknown budget group %q", errUsage, g)
		}
		groups = append(groups, g)
	}
	fmt.Fprintf(w, "%s %s/%s, %d CPUs; budget scenarios, real waits, libraries at once\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	start := time.Now()
	for _, g := range groups {
		for _, sc := range compare.BudgetScenarios(g) {
			if err := compare.WriteBudgetTable(w, sc, compare.RunBudget(ctx, sc, libs)); err != nil {
				return err
			}
		}
	}
	_, err := fmt.Fprintf(w, "total %v\n", time.Since(start).Round(time.Millisecond))
	return err
}

func limiterNames() []string {
	var names []string
	for _, sc := range compare.LimiterScenarios() {
		names = append(names, sc.Name)
	}
	return names
}

// runLimiters runs the limiter scenarios named in list.
func runLimiters(ctx context.Context, w io.Writer, list string) error {
	var scs []compare.LimiterScenario
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, sc := range compare.LimiterScenarios() {
			if n == "all" || sc.Name == n {
				scs, found = append(scs, sc), true
			}
		}
		if !found {
			return fmt.Errorf("%w: unknown limiter scenario %q", errUsage, n)
		}
	}
	fmt.Fprintf(w, "%s %s/%s, %d CPUs; limiter scenarios, real time, libraries at once\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	start := time.Now()
	for _, sc := range scs {
		if err := compare.WriteLimiterTable(w, sc, compare.RunLimiter(ctx, sc, compare.Libraries())); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "total %v\n", time.Since(start).Round(time.Millisecond))
	return err
}
