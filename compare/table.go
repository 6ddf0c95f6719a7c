package compare

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is every library's row in one scenario.
type Result struct {
	Scenario Scenario
	Rows     []Row
}

// Run puts every library through every scenario, one library at a time.
func Run(ctx context.Context, scenarios []Scenario, libs []Library) ([]Result, error) {
	var out []Result
	for _, sc := range scenarios {
		res := Result{Scenario: sc}
		for _, lib := range libs {
			row, err := sc.Run(ctx, lib)
			if err != nil {
				return out, fmt.Errorf("%s, %s: %w", sc.Name, lib.Name, err)
			}
			res.Rows = append(res.Rows, row)
		}
		out = append(out, res)
	}
	return out, nil
}

// WriteTable prints one scenario's rows: requests that succeeded, server
// hits (and per request), wall time, retries that came back before the
// server's Retry-After (of all retries), retries back to back (sooner than
// half the schedule's base after the previous answer), for POST duplicated
// orders, and how the failed requests ended.
func WriteTable(w io.Writer, r Result) error {
	fmt.Fprintf(w, "%s: %s\n", r.Scenario.Name, r.Scenario.About)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	width := len("library")
	for _, row := range r.Rows {
		width = max(width, len(row.Library))
	}
	// Library names align left: padded to one width, the right alignment
	// of the other columns leaves them in place.
	fmt.Fprintf(tw, "%-*s\tsucceeded\tserver hits\thits/request\twall\tretries before hint\tback to back\t", width, "library")
	if r.Scenario.POST {
		fmt.Fprint(tw, "duplicated orders\t")
	}
	if r.Scenario.Pace {
		fmt.Fprint(tw, "refused (429)\tearly new\tearly retries\t")
	}
	fmt.Fprintln(tw, "  failures")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%-*s\t%d/%d\t%d\t%.2f\t%s\t%d/%d\t%d\t", width, row.Library, row.Succeeded, row.Requests, row.Hits,
			row.HitsPerRequest(), wall(row.Wall), row.Early, row.Retries, row.BackToBack)
		if r.Scenario.POST {
			fmt.Fprintf(tw, "%d\t", row.Duplicates)
		}
		if r.Scenario.Pace {
			fmt.Fprintf(tw, "%d\t%d\t%d\t", row.Refused, row.NewEarly, row.RetriesEarly)
		}
		fmt.Fprintln(tw, "  "+failures(row.Failures))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

// failures lists failure counts by kind, most frequent first, e.g.
// "31 budget, 4 503"; "-" for none.
func failures(m map[string]int) string {
	kinds := make([]string, 0, len(m))
	for k, n := range m {
		if n > 0 {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return "-"
	}
	sort.Slice(kinds, func(i, j int) bool {
		if m[kinds[i]] != m[kinds[j]] {
			return m[kinds[i]] > m[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = strconv.Itoa(m[k]) + " " + k
	}
	return strings.Join(parts, ", ")
}

// wall rounds a duration for the table: milliseconds, or tenths of a
// second from 10s.
func wall(d time.Duration) string {
	if d >= 10*time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
