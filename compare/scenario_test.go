package compare

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restyretry/restyretry"
)

// The scenarios run at SmallSize on DefaultSchedule. Assertions on
// restyretry are the properties issue 9 requires; assertions on the peers
// are facts measured with them, which keep the scenarios honest: a
// scenario that stopped producing its fault would break them.

func scenario(t *testing.T, name string) Scenario {
	t.Helper()
	for _, sc := range Scenarios(SmallSize(), DefaultSchedule) {
		if sc.Name == name {
			return sc
		}
	}
	t.Fatalf("no scenario %q", name)
	return Scenario{}
}

func library(t *testing.T, name string) Library {
	t.Helper()
	for _, l := range Libraries() {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("no library %q", name)
	return Library{}
}

// run puts the named libraries (all when none) through one scenario.
func run(t *testing.T, name string, libs ...string) map[string]Row {
	t.Helper()
	sc := scenario(t, name)
	var ls []Library
	if len(libs) == 0 {
		ls = Libraries()
	}
	for _, n := range libs {
		ls = append(ls, library(t, n))
	}
	res, err := Run(context.Background(), []Scenario{sc}, ls)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]Row{}
	for _, r := range res[0].Rows {
		rows[r.Library] = r
		t.Logf("%s: %d/%d ok, %d hits, %d retries (%d early, %d back to back), %d duplicates, %v, failures %v",
			r.Library, r.Succeeded, r.Requests, r.Hits, r.Retries, r.Early, r.BackToBack, r.Duplicates, r.Wall, r.Failures)
	}
	return rows
}

var peers = []string{"resty", "retryablehttp", "failsafe-go"}

func TestBursts(t *testing.T) {
	n := SmallSize().Burst
	for _, c := range []struct {
		name     string
		fails    int
		peerHits int // every peer retries each request until its 200
	}{
		{"burst-1", 1, 100},
		{"burst-2", 2, 150},
		{"burst-2-warm", 2, 150},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows := run(t, c.name)
			// Issue 9 §1: every request of the burst succeeds under Default.
			if r := rows["restyretry"]; r.Succeeded != n {
				t.Errorf("restyretry: %d/%d of the burst succeeded (failures %v), want all", r.Succeeded, n, r.Failures)
			}
			for _, p := range peers {
				r := rows[p]
				if r.Succeeded != n || r.Hits != c.peerHits || r.Retries != c.peerHits-n {
					t.Errorf("%s: %d/%d succeeded in %d hits (%d retries), want %d/%d in %d",
						p, r.Succeeded, n, r.Hits, r.Retries, n, n, c.peerHits)
				}
			}
		})
	}
}

// TestOutage: the closed-loop outage on the millisecond schedule. What the
// budget bounds there is not a steady state: the whole run (600 requests
// in about 200ms) fits in one budget window, and the episode's tolerance,
// sized to the compressed backoffs (21ms), is a tenth of it, so the
// requests that start within it are retried in full from the tokens and
// weigh on the whole-run figure (measured 1.30: 20 workers × 3 retries,
// then 0.2 × 600 paid by the traffic and one probe). The steady-state bound
// is checked with real waits in TestOutageOpenLoop; here, only that
// restyretry stays well below the peers, who send every attempt.
func TestOutage(t *testing.T) {
	n := SmallSize().Outage
	rows := run(t, "outage")
	r := rows["restyretry"]
	if r.Succeeded != 0 || r.Requests != n {
		t.Errorf("restyretry: %d/%d succeeded against a server that always fails", r.Succeeded, r.Requests)
	}
	if r.Hits < n {
		t.Errorf("restyretry: %d hits for %d requests: some were never sent", r.Hits, n)
	}
	// Every request that starts past the tolerance gets one retry at most,
	// paid by 20% of the traffic or the probe: far from the peers' 4.
	if h := r.HitsPerRequest(); h > 2 {
		t.Errorf("restyretry: %.3f hits per request (%d hits for %d requests), want ≤ 2", h, r.Hits, n)
	}
	// Every peer sends 1 + 3 attempts per request.
	for _, p := range peers {
		if r := rows[p]; r.Hits != 4*n || r.Succeeded != 0 {
			t.Errorf("%s: %d hits for %d requests (%d succeeded), want %d", p, r.Hits, n, r.Succeeded, 4*n)
		}
	}
}

// TestOutageOpenLoop: issue 16's goal 1 with Default's real waits, as
// cmd/compare -budget outage runs it: a new request every 100ms for 45s,
// the server always 503; the requests started in the last 20s cost at most
// 1.25 hits each (the model's steady state is 1 + 0.2 + 0.1/10 = 1.21).
// It runs for about 47s of wall time, in parallel with the other tests.
func TestOutageOpenLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("45s of real waits")
	}
	t.Parallel()
	sc := OutageOpen(10, 45*time.Second)
	r := sc.Run(context.Background(), BudgetLibraries()[0])
	t.Logf("%s %s: %d requests, %d hits; steady %d requests, %d hits; longest %v; failures %v",
		r.Library, sc.Name, r.Requests, r.Hits, r.Steady, r.SteadyHits, r.Longest, r.Failures)
	if r.Succeeded != 0 || r.Requests != 450 || r.Steady < 190 {
		t.Fatalf("%d/%d succeeded, %d in the steady window: the scenario did not run as designed", r.Succeeded, r.Requests, r.Steady)
	}
	if h := float64(r.SteadyHits) / float64(r.Steady); h > 1.25 {
		t.Errorf("steady state %.3f hits per request (%d for %d), want ≤ 1.25", h, r.SteadyHits, r.Steady)
	}
}

func TestRateLimiterHints(t *testing.T) {
	for _, name := range []string{"httprate-1s", "httprate-500ms"} {
		t.Run(name, func(t *testing.T) {
			sz := SmallSize()
			rows := run(t, name)
			for lib, r := range rows {
				// The limiter lets exactly its limit through in the first
				// window, so everyone succeeds at least that often.
				if r.Succeeded < sz.RateLimit || r.Succeeded > r.Requests {
					t.Errorf("%s: %d/%d succeeded through a limit of %d", lib, r.Succeeded, r.Requests, sz.RateLimit)
				}
			}
			// Issue 9: no retry comes back before the server's hint.
			if r := rows["restyretry"]; r.Early != 0 {
				t.Errorf("restyretry: %d of %d retries came back before Retry-After", r.Early, r.Retries)
			}
			// retryablehttp and failsafe-go read Retry-After on 429.
			for _, p := range []string{"retryablehttp", "failsafe-go"} {
				if r := rows[p]; r.Early != 0 {
					t.Errorf("%s: %d of %d retries came back before Retry-After", p, r.Early, r.Retries)
				}
			}
			r := rows["resty"]
			if name == "httprate-1s" {
				// resty reads no Retry-After: every retry is early, and all
				// three come within the 1s window, so it makes 4 hits each.
				if r.Early == 0 || r.Early != r.Retries || r.Hits != 4*r.Requests-3*r.Succeeded {
					t.Errorf("resty: %d of %d retries early in %d hits, want every retry early", r.Early, r.Retries, r.Hits)
				}
			} else if r.Early != 0 {
				// Retry-After: 0 cannot be come back early to.
				t.Errorf("resty: %d retries early to Retry-After: 0", r.Early)
			}
			// resty follows its backoff (at least the 2ms base), whatever
			// the hint says.
			if r.BackToBack != 0 {
				t.Errorf("resty: %d retries back to back", r.BackToBack)
			}
			// Issue 9 §2: a hint of 0 is no reason to come back sooner than
			// the backoff.
			if r := rows["restyretry"]; r.BackToBack != 0 {
				t.Errorf("restyretry: %d of %d retries came back to back (%s)", r.BackToBack, r.Retries, name)
			}
		})
	}
}

func TestPOSTUnderResetsIsNeverDuplicated(t *testing.T) {
	n := SmallSize().Orders
	rows := run(t, "post-reset")
	r := rows["restyretry"]
	// Issue 9: a POST that may have been applied is never sent again.
	if r.Duplicates != 0 || r.Hits != n {
		t.Errorf("restyretry: %d duplicated orders, %d hits for %d orders, want 0 and %d", r.Duplicates, r.Hits, n, n)
	}
	// The fault is real: with half the responses reset, a request that was
	// never retried fails about half the time...
	if r.Succeeded == n || r.Succeeded == 0 {
		t.Errorf("restyretry: %d/%d orders succeeded with half the responses reset", r.Succeeded, n)
	}
	// ...and every peer re-sends a POST whose response was lost.
	for _, p := range peers {
		if r := rows[p]; r.Duplicates == 0 || r.Duplicates != r.Hits-n {
			t.Errorf("%s: %d duplicated orders in %d hits for %d orders, want some", p, r.Duplicates, r.Hits, n)
		}
	}
}

func TestDeadUpstreamComesBack(t *testing.T) {
	n := SmallSize().DeadTrials
	rows := run(t, "dead-upstream")
	// Issue 9 §4: a GET through a proxy whose upstream is down recovers
	// when the upstream comes back.
	if r := rows["restyretry"]; r.Succeeded != n {
		t.Errorf("restyretry: %d/%d recovered (failures %v), want all", r.Succeeded, n, r.Failures)
	}
	for _, p := range peers {
		// Measured 10/10; one may miss on a loaded machine, where the
		// upstream's restart can come late.
		if r := rows[p]; r.Succeeded < n-2 {
			t.Errorf("%s: %d/%d recovered", p, r.Succeeded, n)
		}
	}
}

func TestConnectionFaultsNeverReachTheServer(t *testing.T) {
	// reset_peer and timeout act on the request's way in: a request that
	// reached the server succeeded, and none reached it twice.
	for _, name := range []string{"reset_peer", "timeout"} {
		t.Run(name, func(t *testing.T) {
			rows := run(t, name)
			for lib, r := range rows {
				if r.Hits != r.Succeeded || r.Retries != 0 {
					t.Errorf("%s: %d hits, %d retries at the server, %d/%d succeeded", lib, r.Hits, r.Retries, r.Succeeded, r.Requests)
				}
			}
			// Every peer retries connection faults: with half the attempts
			// failing and 3 retries, about 1 request in 16 fails, 2 of 30.
			for _, p := range peers {
				if r := rows[p]; r.Succeeded < r.Requests*2/3 {
					t.Errorf("%s: %d/%d succeeded", p, r.Succeeded, r.Requests)
				}
			}
		})
	}
}

func TestFailureKind(t *testing.T) {
	giveUp := &restyretry.GiveUpError{Reason: restyretry.ErrBudgetExhausted}
	for _, c := range []struct {
		o    Outcome
		want string
	}{
		{Outcome{Status: 200}, ""},
		{Outcome{Status: 204}, ""},
		{Outcome{Status: 503}, "503"},
		{Outcome{Status: 200, Err: errors.New("x")}, "200"},
		{Outcome{Err: errors.New("x")}, "error"},
		{Outcome{Err: errors.New("x"), Attempts: 4}, "error after 4 attempts"},
		{Outcome{Err: errors.New("x"), Attempts: 1}, "error, not retried"},
		{Outcome{Status: 503, Err: giveUp}, "budget"},
		{Outcome{Status: 429, Err: &restyretry.GiveUpError{Reason: restyretry.ErrWaitTooLong}}, "gave up"},
	} {
		if got := FailureKind(c.o); got != c.want {
			t.Errorf("FailureKind(%+v) = %q, want %q", c.o, got, c.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	res := Result{
		Scenario: Scenario{Name: "post-reset", About: "orders", POST: true},
		Rows: []Row{
			{Library: "restyretry", Requests: 30, Succeeded: 16, Counts: Counts{Hits: 30}, Wall: 12 * time.Millisecond,
				Failures: map[string]int{"error": 14}},
			{Library: "resty", Requests: 30, Succeeded: 29, Counts: Counts{Hits: 57, Retries: 27, BackToBack: 5}, Duplicates: 27,
				Wall: 12300 * time.Millisecond, Failures: map[string]int{"error": 1, "503": 1, "budget": 3}},
		},
	}
	var b bytes.Buffer
	if err := WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	want := [][]string{
		{"post-reset:", "orders"},
		{"library", "succeeded", "back to back", "duplicated orders", "failures"},
		{"restyretry", "16/30", "30", "1.00", "12ms", "0/0", "0", "14 error"},
		{"resty", "29/30", "57", "1.90", "12.3s", "0/27", "5", "27", "3 budget, 1 503, 1 error"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, parts := range want {
		for _, p := range parts {
			if !strings.Contains(lines[i], p) {
				t.Errorf("line %d lacks %q:\n%s", i, p, lines[i])
			}
		}
	}
}

func TestScenariosAreDistinctAndDescribed(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range Scenarios(FullSize(), DefaultSchedule) {
		if sc.Name == "" || sc.About == "" || sc.Run == nil || seen[sc.Name] {
			t.Errorf("scenario %q: empty, undescribed or repeated", sc.Name)
		}
		seen[sc.Name] = true
	}
	if len(seen) != 11 {
		t.Errorf("%d scenarios, want 11", len(seen))
	}
}

func TestClientsSucceedOnAHealthyServer(t *testing.T) {
	// Every adapter sends method, body and ID as given.
	var got []string
	srv := http.NewServeMux()
	srv.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		got = append(got, r.Method+" "+r.Header.Get(IDHeader)+" "+b.String())
		w.WriteHeader(http.StatusCreated)
	})
	ts := newTestServer(t, srv)
	for _, lib := range Libraries() {
		got = nil
		c := lib.New(Config{Schedule: DefaultSchedule, AttemptTimeout: time.Second})
		o := c.Do(context.Background(), Request{Method: http.MethodPost, URL: ts, ID: "x1", Body: []byte("hello")})
		c.Close()
		if !o.OK() || o.Status != http.StatusCreated || len(got) != 1 || got[0] != "POST x1 hello" {
			t.Errorf("%s: %+v, server saw %q", lib.Name, o, got)
		}
	}
}
