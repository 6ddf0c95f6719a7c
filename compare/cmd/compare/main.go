// Command compare runs every scenario of package compare against
// restyretry, resty's own retry, go-retryablehttp and failsafe-go, in one
// process, and prints a table per scenario.
//
// Usage (inside compare/):
//
//	go run ./cmd/compare [-small] [-only name,name] [-base 2ms] [-max 20ms]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/restyretry/restyretry/compare"
)

func main() {
	small := flag.Bool("small", false, "run the reduced sizes the tests use")
	only := flag.String("only", "", "comma-separated scenario names to run; empty for all")
	base := flag.Duration("base", compare.DefaultSchedule.Base, "every library's first backoff")
	maxd := flag.Duration("max", compare.DefaultSchedule.Max, "every library's backoff cap")
	flag.Parse()
	if *base <= 0 || *maxd < *base {
		fmt.Fprintln(os.Stderr, "compare: need 0 < -base ≤ -max")
		os.Exit(2)
	}
	size := compare.FullSize()
	if *small {
		size = compare.SmallSize()
	}
	scs := compare.Scenarios(size, compare.Schedule{Base: *base, Max: *maxd})
	if *only != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
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
			fmt.Fprintf(os.Stderr, "compare: unknown scenarios %v\n", keys(want))
			os.Exit(2)
		}
		scs = kept
	}
	fmt.Printf("%s %s/%s, %d CPUs; %d retries everywhere, backoff %v doubling, cap %v\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), compare.Retries, *base, *maxd)
	start := time.Now()
	for _, sc := range scs {
		res, err := compare.Run(context.Background(), []compare.Scenario{sc}, compare.Libraries())
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		if err := compare.WriteTable(os.Stdout, res[0]); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("total %v\n", time.Since(start).Round(time.Millisecond))
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
