package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func strategy(t *testing.T, name string) Strategy {
	t.Helper()
	for _, s := range Strategies(1) {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no strategy %q", name)
	return Strategy{}
}

func TestEveryClientSucceeds(t *testing.T) {
	const n = 30
	for _, s := range Strategies(1) {
		r := Simulate(n, s, 7, 0)
		if r.Succeeded != n {
			t.Errorf("%s: %d of %d clients succeeded", s.Name, r.Succeeded, n)
		}
		// Every client writes at least once, and every lost write is a
		// retry of its client.
		if r.Calls < n {
			t.Errorf("%s: %d calls for %d clients", s.Name, r.Calls, n)
		}
		if r.Completion <= 0 {
			t.Errorf("%s: completion %v", s.Name, r.Completion)
		}
		if r.OverLimit < 0 || r.OverLimit > n {
			t.Errorf("%s: %d clients over the limit of %d", s.Name, r.OverLimit, n)
		}
		if s.MaxRetries == 0 && s.MaxElapsed == 0 && r.OverLimit != 0 {
			t.Errorf("%s has no limits but counts %d clients over them", s.Name, r.OverLimit)
		}
	}
}

func TestOneClientNeverCollides(t *testing.T) {
	for _, s := range Strategies(1) {
		r := Simulate(1, s, 3, 0)
		if r.Calls != 1 || r.MaxRetries != 0 || r.Succeeded != 1 {
			t.Errorf("%s: one client made %d calls with %d retries, succeeded %d", s.Name, r.Calls, r.MaxRetries, r.Succeeded)
		}
		// read + write, two messages each way, each about 10ms.
		if r.Completion < 20*time.Millisecond || r.Completion > 80*time.Millisecond {
			t.Errorf("%s: one client took %v", s.Name, r.Completion)
		}
	}
}

func TestWorkIsQuadraticWithoutBackoff(t *testing.T) {
	// With no backoff the first round makes n calls and one wins, so the
	// work grows much faster than n.
	none := strategy(t, "no backoff")
	small := Average(20, none, 1, 3).Calls
	large := Average(80, none, 1, 3).Calls
	if large < 8*small {
		t.Errorf("no backoff: %.0f calls at 20 clients, %.0f at 80: want superlinear growth", small, large)
	}
}

func TestFullJitterVersusNoBackoffAndProportional(t *testing.T) {
	const n, runs = 100, 4
	full := Average(n, strategy(t, "FullJitter"), 1, runs)
	none := Average(n, strategy(t, "no backoff"), 1, runs)
	bare := Average(n, strategy(t, "NoJitter"), 1, runs)
	prop := Average(n, strategy(t, "Proportional(0.5)"), 1, runs)
	if !(full.Calls < none.Calls) {
		t.Errorf("FullJitter made %.0f calls, no backoff %.0f: want fewer", full.Calls, none.Calls)
	}
	if !(full.Calls < bare.Calls) {
		t.Errorf("FullJitter made %.0f calls, NoJitter %.0f: want fewer", full.Calls, bare.Calls)
	}
	// The trade-off the README states: on the same schedule FullJitter
	// finishes the contended work much sooner than Proportional(0.5).
	if !(full.Completion < prop.Completion*3/4) {
		t.Errorf("FullJitter completed in %v, Proportional(0.5) in %v: want clearly sooner", full.Completion, prop.Completion)
	}
	// And backoff buys less work at the price of time.
	if !(none.Completion < full.Completion) {
		t.Errorf("no backoff completed in %v, FullJitter in %v: want no backoff sooner", none.Completion, full.Completion)
	}
}

func TestPresetLimitsAreCounted(t *testing.T) {
	// 100 clients cannot all get through within Interactive's 2 retries.
	r := Simulate(100, strategy(t, "Interactive()"), 1, 0)
	if r.OverLimit == 0 || r.OverLimit > 100 {
		t.Errorf("Interactive with 100 clients: %d over the limit", r.OverLimit)
	}
	s := Strategy{MaxRetries: 3, MaxElapsed: time.Second}
	for _, c := range []struct {
		retry    int
		now, w   time.Duration
		wantOver bool
	}{
		{3, 0, 0, false},
		{4, 0, 0, true},
		{1, 900 * time.Millisecond, 100 * time.Millisecond, false},
		{1, 900 * time.Millisecond, 101 * time.Millisecond, true},
	} {
		if got := s.overLimit(c.retry, c.now, c.w); got != c.wantOver {
			t.Errorf("overLimit(%d, %v, %v) = %v, want %v", c.retry, c.now, c.w, got, c.wantOver)
		}
	}
}

func TestRestyWaitMatchesRetryGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const min, max = 100 * time.Millisecond, 2 * time.Second
	for i := 0; i < 2000; i++ {
		// attempt 0: temp = 100ms, 50ms + U[0, 50ms) is floored to 100ms.
		if w := restyWait(rng, min, max, 1); w != min {
			t.Fatalf("retry 1 waited %v, want exactly %v", w, min)
		}
		for retry, temp := range map[int]time.Duration{2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: 1600 * time.Millisecond, 6: max, 30: max} {
			w := restyWait(rng, min, max, retry)
			if w < temp/2 || w >= temp {
				t.Fatalf("retry %d waited %v, want in [%v, %v)", retry, w, temp/2, temp)
			}
		}
	}
}

func TestReproducible(t *testing.T) {
	for _, s := range Strategies(1) {
		a, b := Simulate(40, s, 11, 2), Simulate(40, s, 11, 2)
		if a != b {
			t.Errorf("%s: same seed gave %+v and %+v", s.Name, a, b)
		}
	}
	full := strategy(t, "FullJitter")
	if Simulate(40, full, 11, 0) == Simulate(40, full, 12, 0) {
		t.Errorf("FullJitter: seeds 11 and 12 gave the same storm")
	}

	out := func(seed uint64) (string, []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sub", "storm.svg")
		var buf bytes.Buffer
		if err := run(&buf, 12, 2, seed, 1, "4,8,12", path); err != nil {
			t.Fatal(err)
		}
		svg, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(buf.String(), path, "PATH"), svg
	}
	table1, svg1 := out(5)
	table2, svg2 := out(5)
	if table1 != table2 || !bytes.Equal(svg1, svg2) {
		t.Errorf("same seed, different output")
	}
	table3, _ := out(6)
	if table3 == table1 {
		t.Errorf("seeds 5 and 6 printed the same table")
	}
	for _, s := range Strategies(1) {
		if !strings.Contains(table1, s.Name) {
			t.Errorf("table lacks %s:\n%s", s.Name, table1)
		}
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	ss := Strategies(1)
	ns := []int{2, 5, 10}
	var buf bytes.Buffer
	if err := WriteChart(&buf, ss, ns, Sweep(ss, ns, 1, 2), ChartInfo{Runs: 2, Seed: 1, Scale: 1}); err != nil {
		t.Fatal(err)
	}
	texts := checkXML(t, buf.Bytes())
	for _, s := range ss {
		if !texts[s.Name] {
			t.Errorf("legend lacks %q", s.Name)
		}
	}
	lines := strings.Count(buf.String(), "<polyline")
	if lines != 2*len(ss) {
		t.Errorf("%d polylines, want one per strategy per panel (%d)", lines, 2*len(ss))
	}
}

// checkXML decodes the whole document, checks that its root is an svg
// element, and returns the set of its text contents.
func checkXML(t *testing.T, doc []byte) map[string]bool {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	texts := map[string]bool{}
	depth, root := 0, ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = tok.Name.Local
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				texts[s] = true
			}
		}
	}
	if root != "svg" || depth != 0 {
		t.Fatalf("root %q, final depth %d", root, depth)
	}
	return texts
}

func TestParseSweep(t *testing.T) {
	got, err := parseSweep("10:50:20")
	if err != nil || len(got) != 3 || got[0] != 10 || got[1] != 30 || got[2] != 50 {
		t.Errorf("10:50:20 = %v, %v", got, err)
	}
	got, err = parseSweep("5, 9,30")
	if err != nil || len(got) != 3 || got[2] != 30 {
		t.Errorf("5, 9,30 = %v, %v", got, err)
	}
	for _, bad := range []string{"10", "x:1:2", "0:10:5", "10:5:1", "1:10:0", "3,2", "1,-4", "1,1000000"} {
		if _, err := parseSweep(bad); err == nil {
			t.Errorf("parseSweep(%q) accepted", bad)
		}
	}
}
