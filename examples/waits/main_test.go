package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// backoff is the schedule written out independently of the library:
// BaseDelay·Multiplier^(n−1), capped at MaxDelay.
func backoff(p Preset, n int) time.Duration {
	d := float64(p.Policy.BaseDelay) * math.Pow(p.Policy.Multiplier, float64(n-1))
	return time.Duration(math.Min(d, float64(p.Policy.MaxDelay)))
}

func TestWaitsStayInTheJitterInterval(t *testing.T) {
	const samples = 4000
	for _, pw := range Sample(Presets(), samples, 3) {
		j := pw.Policy.Jitter
		if len(pw.Retries) != pw.Policy.MaxRetries {
			t.Errorf("%s: %d retries sampled, want %d", pw.Name, len(pw.Retries), pw.Policy.MaxRetries)
		}
		var sumLo, sumHi time.Duration
		for _, d := range pw.Retries {
			want := backoff(pw.Preset, d.Retry)
			if d.Backoff != want {
				t.Errorf("%s retry %d: backoff %v, want %v", pw.Name, d.Retry, d.Backoff, want)
			}
			lo := time.Duration(j.Low * float64(want))
			hi := time.Duration(j.High * float64(want))
			for k := 1; k < len(d.Q); k++ {
				if d.Q[k] < d.Q[k-1] {
					t.Errorf("%s retry %d: quantiles out of order %v", pw.Name, d.Retry, d.Q)
				}
			}
			if d.Q[p0] < lo || d.Q[p100] > hi {
				t.Errorf("%s retry %d: waits %v..%v outside [%v, %v)", pw.Name, d.Retry, d.Q[p0], d.Q[p100], lo, hi)
			}
			// Uniform waits: the median sits mid-interval and the extremes
			// reach close to both ends.
			mid := (lo + hi) / 2
			tol := (hi - lo) / 20
			if diff := d.Q[p50] - mid; diff < -tol || diff > tol {
				t.Errorf("%s retry %d: median %v, want about %v", pw.Name, d.Retry, d.Q[p50], mid)
			}
			if d.Q[p0]-lo > tol || hi-d.Q[p100] > tol {
				t.Errorf("%s retry %d: waits %v..%v do not span [%v, %v)", pw.Name, d.Retry, d.Q[p0], d.Q[p100], lo, hi)
			}
			sumLo += d.Q[p0]
			sumHi += d.Q[p100]
		}
		if pw.Total.Q[p0] < sumLo || pw.Total.Q[p100] > sumHi {
			t.Errorf("%s: total %v..%v outside the sum of the extremes %v..%v", pw.Name, pw.Total.Q[p0], pw.Total.Q[p100], sumLo, sumHi)
		}
	}
}

func TestDefaultNeverWaitsLessThanTheBackoff(t *testing.T) {
	for _, pw := range Sample(Presets(), 2000, 9) {
		if pw.Name != "Default()" {
			continue
		}
		for _, d := range pw.Retries {
			if d.Q[p0] < d.Backoff {
				t.Errorf("Default retry %d waited %v, less than its backoff %v", d.Retry, d.Q[p0], d.Backoff)
			}
		}
		return
	}
	t.Fatal("no Default preset")
}

func TestReproducible(t *testing.T) {
	out := func(seed uint64) (string, []byte) {
		path := filepath.Join(t.TempDir(), "docs", "waits.svg")
		var buf bytes.Buffer
		if err := run(&buf, 500, seed, path); err != nil {
			t.Fatal(err)
		}
		svg, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(buf.String(), path, "PATH"), svg
	}
	t1, s1 := out(4)
	t2, s2 := out(4)
	if t1 != t2 || !bytes.Equal(s1, s2) {
		t.Errorf("same seed, different output")
	}
	if t3, _ := out(5); t3 == t1 {
		t.Errorf("seeds 4 and 5 printed the same table")
	}
	for _, p := range Presets() {
		if !strings.Contains(t1, p.Name) {
			t.Errorf("table lacks %s:\n%s", p.Name, t1)
		}
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	ps := Sample(Presets(), 200, 1)
	var buf bytes.Buffer
	if err := WriteChart(&buf, ps, 200, 1); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&buf)
	texts := map[string]int{}
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
			texts[strings.TrimSpace(string(tok))]++
		}
	}
	if root != "svg" || depth != 0 {
		t.Fatalf("root %q, final depth %d", root, depth)
	}
	retries := 0
	for _, p := range ps {
		retries += len(p.Retries)
		if texts[p.Name] != 1 {
			t.Errorf("%q appears %d times, want once", p.Name, texts[p.Name])
		}
	}
	if texts["total"] != len(ps) || texts["retry 1"] != len(ps) {
		t.Errorf("%d total rows and %d retry-1 rows, want %d each", texts["total"], texts["retry 1"], len(ps))
	}
}

// TestWritesNothingWithoutSVG runs the command as a user would, from a
// directory that looks like the repository root: without -svg it prints the
// table and leaves every file alone (the tracked docs/waits.svg among them);
// with -svg it writes exactly the file it was given.
func TestWritesNothingWithoutSVG(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := runArgs(&buf, []string{"-samples", "50"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Contention()") || strings.Contains(buf.String(), "wrote") {
		t.Errorf("without -svg: printed\n%s", buf.String())
	}
	if files := filesUnder(t, dir); len(files) != 0 {
		t.Errorf("without -svg it wrote %v", files)
	}

	buf.Reset()
	if err := runArgs(&buf, []string{"-samples", "50", "-svg", "chart.svg"}); err != nil {
		t.Fatal(err)
	}
	if files := filesUnder(t, dir); len(files) != 1 || files[0] != "chart.svg" {
		t.Errorf("with -svg chart.svg it wrote %v", files)
	}
	if !strings.Contains(buf.String(), "wrote chart.svg") {
		t.Errorf("with -svg: printed\n%s", buf.String())
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
