package compare

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The budget scenarios run with real waits from cmd/compare -budget; here
// their runner is checked on a millisecond schedule.
func TestBudgetRunnerSharedHost(t *testing.T) {
	dead := func(i int) bool { return i%10 == 0 }
	url := func(base string, i int) string {
		if dead(i) {
			return base + "/dead/" + strconv.Itoa(i)
		}
		return base + "/live/" + strconv.Itoa(i)
	}
	answer := func(i, hit int, path string) int {
		if strings.HasPrefix(path, "/dead/") || hit == 1 && i%5 == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	// Issue 16's scenario for this goal: 4,000 GETs, a tenth to the dead
	// path, on a 10–40 ms schedule (with fewer requests or a shorter
	// schedule, the dead requests sent within the first failure episode's
	// tolerance, which are retried in full, weigh more).
	cfg := Config{Schedule: Schedule{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond}, AttemptTimeout: 5 * time.Second}
	for _, lib := range []Library{BudgetLibraries()[0], BudgetLibraries()[2]} {
		row := runBudget(context.Background(), lib, cfg, 4000, 20, nil, url, dead, answer, 0)
		if row.Subset != 400 || row.Succeeded != 3600 {
			t.Errorf("%s: %d/%d succeeded, subset %d; want 3600/4000, 400", lib.Name, row.Succeeded, row.Requests, row.Subset)
		}
		dh := float64(row.SubsetHits) / float64(row.Subset)
		if lib.Name == "restyretry" && dh > 1.5 {
			t.Errorf("restyretry: dead path %.2f hits per request, want ≤ 1.5", dh)
		}
		if lib.Name == "resty" && dh != 4 {
			t.Errorf("resty: dead path %.2f hits per request, want 4", dh)
		}
	}
}

func TestBudgetRunnerOpenLoopAndTable(t *testing.T) {
	sc := BudgetScenario{Name: "tiny", About: "a test", Run: func(ctx context.Context, lib Library) BudgetRow {
		cfg := Config{Schedule: Schedule{Base: time.Millisecond, Max: 2 * time.Millisecond}, AttemptTimeout: 5 * time.Second}
		return runBudget(ctx, lib, cfg, 40, 0, func(i int) time.Duration { return time.Duration(i) * time.Millisecond },
			plainURL, nil, func(int, int, string) int { return http.StatusServiceUnavailable }, 20*time.Millisecond)
	}}
	rows := RunBudget(context.Background(), sc, BudgetLibraries()[2:3])
	if r := rows[0]; r.Hits != 160 || r.Steady == 0 || r.Steady >= 40 || r.SteadyHits != 4*r.Steady {
		t.Fatalf("resty on an outage: %+v; want 4 hits for each of 40", r)
	}
	var b bytes.Buffer
	if err := WriteBudgetTable(&b, sc, rows); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "tiny: a test") || !strings.Contains(out, "0/40") ||
		!strings.Contains(out, "4.000") || !strings.Contains(out, "40 503") {
		t.Fatalf("table:\n%s", out)
	}
	for _, g := range BudgetGroups {
		if len(BudgetScenarios(g)) == 0 {
			t.Errorf("group %s is empty", g)
		}
	}
	if BudgetScenarios("nosuch") != nil {
		t.Error("an unknown group has scenarios")
	}
}
