package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
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

func TestEveryClientFinishes(t *testing.T) {
	const n = 30
	for _, s := range Strategies(1) {
		r := Simulate(n, s, 7, 0)
		if s.Limited() {
			// A preset's client either wins or gives up, never retries
			// past its limit.
			if r.Succeeded+r.GaveUp != n || r.Succeeded == 0 {
				t.Errorf("%s: %d succeeded and %d gave up of %d", s.Name, r.Succeeded, r.GaveUp, n)
			}
			if s.MaxRetries > 0 && r.MaxRetries > s.MaxRetries {
				t.Errorf("%s: a client made %d retries, more than its %d", s.Name, r.MaxRetries, s.MaxRetries)
			}
		} else if r.Succeeded != n || r.GaveUp != 0 {
			t.Errorf("%s has no limit but %d of %d clients succeeded, %d gave up", s.Name, r.Succeeded, n, r.GaveUp)
		}
		// Every client writes at least once, and every lost write is a
		// retry of its client.
		if r.Calls < n {
			t.Errorf("%s: %d calls for %d clients", s.Name, r.Calls, n)
		}
		if r.Completion <= 0 || r.Done < r.Completion {
			t.Errorf("%s: completion %v, last done %v", s.Name, r.Completion, r.Done)
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

func TestPresetLimitsAreEnforced(t *testing.T) {
	// 100 clients cannot all get through within Interactive's 2 retries:
	// most give up, and those that do stop calling.
	inter := strategy(t, "Interactive()")
	r := Simulate(100, inter, 1, 0)
	if r.GaveUp < 50 || r.GaveUp > 100 || r.Succeeded+r.GaveUp != 100 {
		t.Errorf("Interactive with 100 clients: %d gave up, %d succeeded", r.GaveUp, r.Succeeded)
	}
	if r.MaxRetries > inter.MaxRetries {
		t.Errorf("Interactive: a client made %d retries, more than %d", r.MaxRetries, inter.MaxRetries)
	}
	unlimited := inter
	unlimited.MaxRetries, unlimited.MaxElapsed = 0, 0
	u := Simulate(100, unlimited, 1, 0)
	if u.GaveUp != 0 || u.Succeeded != 100 || !(r.Calls < u.Calls) {
		t.Errorf("Interactive without limits: %d succeeded, %d gave up, %d calls (%d with limits)", u.Succeeded, u.GaveUp, u.Calls, r.Calls)
	}
	// Background's 8 retries are enough for 100 clients.
	if b := Simulate(100, strategy(t, "Background()"), 1, 0); b.GaveUp != 0 || b.Succeeded != 100 {
		t.Errorf("Background with 100 clients: %d gave up, %d succeeded", b.GaveUp, b.Succeeded)
	}

	s := Strategy{MaxRetries: 3, MaxElapsed: time.Second}
	for _, c := range []struct {
		retry    int
		now, w   time.Duration
		wantStop bool
	}{
		{3, 0, 0, false},
		{4, 0, 0, true},
		{1, 900 * time.Millisecond, 100 * time.Millisecond, false},
		{1, 900 * time.Millisecond, 101 * time.Millisecond, true},
	} {
		if got := s.givesUp(c.retry, c.now, c.w); got != c.wantStop {
			t.Errorf("givesUp(%d, %v, %v) = %v, want %v", c.retry, c.now, c.w, got, c.wantStop)
		}
	}
	if (Strategy{}).givesUp(1000, time.Hour, time.Hour) {
		t.Errorf("a strategy without limits gave up")
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
	// Two panels for a strategy without limits, three for a preset.
	want := 0
	for _, s := range ss {
		want += 2
		if s.Limited() {
			want++
		}
	}
	if lines := strings.Count(buf.String(), "<polyline"); lines != want {
		t.Errorf("%d polylines, want one per strategy per panel (%d)", lines, want)
	}
	for _, title := range []string{"Clients that gave up (% of N)", "No retry limit: every client retries until it wins"} {
		if !texts[title] {
			t.Errorf("chart lacks %q", title)
		}
	}
}

func TestNoSeriesHidesAnother(t *testing.T) {
	ss := Strategies(1)
	ns := []int{10, 20, 40, 60, 80, 100}
	grid := Sweep(ss, ns, 1, 2)
	panels, err := layout(ss, ns, grid)
	if err != nil {
		t.Fatal(err)
	}
	if len(panels) != 5 {
		t.Fatalf("%d panels, want 2 without limits and 3 for presets", len(panels))
	}
	inPanels := map[string]int{}
	for _, p := range panels {
		markers, dashes := map[string]string{}, map[string]string{}
		for a, sa := range p.series {
			name := ss[sa.strategy].Name
			inPanels[name]++
			if ss[sa.strategy].Limited() != (p.section == "B") {
				t.Errorf("%s drawn in section %s", name, p.section)
			}
			if other, dup := markers[sa.style.marker]; dup {
				t.Errorf("%q: %s and %s share the marker %q", p.title, other, name, sa.style.marker)
			}
			markers[sa.style.marker] = name
			if other, dup := dashes[sa.style.dash]; dup {
				t.Errorf("%q: %s and %s share the dash %q", p.title, other, name, sa.style.dash)
			}
			dashes[sa.style.dash] = name
			if len(sa.pts) != len(ns) {
				t.Fatalf("%q: %s has %d points", p.title, name, len(sa.pts))
			}
			// Even with equal values, no two markers share a spot.
			for _, sb := range p.series[a+1:] {
				for j := range ns {
					if d := math.Hypot(sa.pts[j].x-sb.pts[j].x, sa.pts[j].y-sb.pts[j].y); d < 2 {
						t.Errorf("%q, N=%d: %s and %s are %.1fpx apart", p.title, ns[j], name, ss[sb.strategy].Name, d)
					}
				}
			}
			for _, q := range sa.pts {
				if q.x < p.left-10 || q.x > p.left+panelW+10 || q.y < p.top || q.y > p.top+panelH {
					t.Errorf("%q: %s has a point outside the panel: %+v", p.title, name, q)
				}
			}
		}
	}
	for _, s := range ss {
		want := 2
		if s.Limited() {
			want = 3
		}
		if inPanels[s.Name] != want {
			t.Errorf("%s is in %d panels, want %d", s.Name, inPanels[s.Name], want)
		}
	}
	// The gave-up panel plots the share of clients that gave up: for
	// Interactive at 100 clients most of them, for Background none.
	share := panels[4]
	for _, sl := range share.series {
		got := share.y.pos(100 * grid[sl.strategy][5].GaveUp / 100)
		if math.Abs(got-sl.pts[5].y) > 1e-9 {
			t.Errorf("%s: gave-up point at %.1f, want %.1f", ss[sl.strategy].Name, sl.pts[5].y, got)
		}
		switch ss[sl.strategy].Name {
		case "Interactive()":
			if grid[sl.strategy][5].GaveUp < 50 {
				t.Errorf("Interactive: %.1f of 100 gave up", grid[sl.strategy][5].GaveUp)
			}
		case "Background()":
			if grid[sl.strategy][5].GaveUp != 0 {
				t.Errorf("Background: %.1f of 100 gave up", grid[sl.strategy][5].GaveUp)
			}
		}
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

// TestWritesNothingWithoutSVG runs the command as a user would, from a
// directory that looks like the repository root: without -svg it prints the
// table and leaves every file alone (the tracked docs/storm.svg among them);
// with -svg it writes exactly the file it was given.
func TestWritesNothingWithoutSVG(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	small := []string{"-clients", "8", "-runs", "1", "-sweep", "4,8"}
	var buf bytes.Buffer
	if err := runArgs(&buf, small); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "FullJitter") || strings.Contains(buf.String(), "wrote") {
		t.Errorf("without -svg: printed\n%s", buf.String())
	}
	if files := filesUnder(t, dir); len(files) != 0 {
		t.Errorf("without -svg it wrote %v", files)
	}

	buf.Reset()
	if err := runArgs(&buf, append(small, "-svg", "chart.svg")); err != nil {
		t.Fatal(err)
	}
	if files := filesUnder(t, dir); len(files) != 1 || files[0] != "chart.svg" {
		t.Errorf("with -svg chart.svg it wrote %v", files)
	}
	if !strings.Contains(buf.String(), "wrote chart.svg") {
		t.Errorf("with -svg: printed\n%s", buf.String())
	}
	if err := runArgs(&buf, []string{"-svg", "x.svg", "-sweep", ""}); err == nil {
		t.Errorf("-svg with an empty -sweep: no error")
	}
	if err := runArgs(&buf, []string{"extra"}); err == nil {
		t.Errorf("a stray argument: no error")
	}
}

// filesUnder lists the regular files under dir, relative to it.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files = append(files, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
