package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/restyretry/restyretry/examples/internal/plot"
)

// ChartInfo is what the chart's subtitle says about the runs.
type ChartInfo struct {
	Runs  int
	Seed  uint64
	Scale float64
}

// style is how one strategy is drawn.
type style struct {
	color string
	dash  string // stroke-dasharray; "" for solid
	width float64
}

// styleOf gives each strategy its colour: the four jitter kinds solid (the
// two the comparison is about thicker), presets dashed, baselines dotted.
func styleOf(s Strategy) style {
	colors := map[string]string{
		"no backoff":        "#7f7f7f",
		"NoJitter":          "#e15759",
		"Proportional(0.5)": "#f28e2b",
		"EqualJitter":       "#b6992d",
		"FullJitter":        "#4e79a7",
		"resty built-in":    "#9c755f",
		"Default()":         "#d4618c",
		"Interactive()":     "#59a14f",
		"Background()":      "#499894",
		"Contention()":      "#8a5fb0",
	}
	st := style{color: colors[s.Name], width: 2}
	if st.color == "" {
		st.color = "#333333"
	}
	switch {
	case s.Name == "Proportional(0.5)" || s.Name == "FullJitter":
		st.width = 3
	case s.Group == "preset":
		st.dash = "7 4"
	case s.Name == "no backoff":
		st.dash = "2 3"
	case s.Group == "other":
		st.dash = "9 3 2 3"
	}
	return st
}

// tick is one gridline of a log axis.
type tick struct {
	v     float64
	label string
	major bool
}

// countTicks are 1-2-5 ticks for counts, majors at powers of ten.
func countTicks() []tick {
	var ts []tick
	for e := 0; e <= 9; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, float64(e))
			ts = append(ts, tick{v: v, label: countLabel(v), major: m == 1})
		}
	}
	return ts
}

func countLabel(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// timeTicks are human durations (in seconds) for a log time axis; the
// majors are 1ms, 10ms, 100ms, 1s, 10s, 1min, 10min, 1h.
func timeTicks() []tick {
	var ts []tick
	add := func(d time.Duration, major bool) {
		ts = append(ts, tick{v: d.Seconds(), label: plot.Dur(d), major: major})
	}
	for _, base := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		add(base, true)
		add(2*base, false)
		add(5*base, false)
	}
	add(10*time.Second, true)
	add(20*time.Second, false)
	add(30*time.Second, false)
	for _, base := range []time.Duration{time.Minute, 10 * time.Minute} {
		add(base, true)
		add(2*base, false)
		add(5*base, false)
	}
	add(time.Hour, true)
	return ts
}

// logAxis maps [lo, hi] (both majors) onto pixels [p0, p1].
type logAxis struct {
	lo, hi float64
	p0, p1 float64
	ticks  []tick
}

// newLogAxis picks the majors just outside [min, max] of the data.
func newLogAxis(cands []tick, min, max, p0, p1 float64) logAxis {
	a := logAxis{lo: cands[0].v, hi: cands[len(cands)-1].v, p0: p0, p1: p1}
	for _, t := range cands {
		if t.major && t.v <= min {
			a.lo = t.v
		}
	}
	for i := len(cands) - 1; i >= 0; i-- {
		if cands[i].major && cands[i].v >= max {
			a.hi = cands[i].v
		}
	}
	for _, t := range cands {
		if t.v >= a.lo && t.v <= a.hi {
			a.ticks = append(a.ticks, t)
		}
	}
	return a
}

func (a logAxis) pos(v float64) float64 {
	v = math.Min(math.Max(v, a.lo), a.hi)
	f := (math.Log(v) - math.Log(a.lo)) / (math.Log(a.hi) - math.Log(a.lo))
	return a.p0 + f*(a.p1-a.p0)
}

// Chart geometry.
const (
	chartW     = 1000
	plotLeft   = 84
	plotRight  = 700
	panelH     = 290
	panel1Top  = 104
	panelGap   = 86
	legendLeft = 730
)

// WriteChart draws total calls and completion time against the number of
// clients, one line per strategy, as a standalone SVG. grid[i][j] is
// strategy i at ns[j].
func WriteChart(w io.Writer, ss []Strategy, ns []int, grid [][]Summary, info ChartInfo) error {
	if len(ss) == 0 || len(ns) < 2 || len(grid) != len(ss) {
		return fmt.Errorf("chart: need strategies and at least two numbers of clients")
	}
	minCalls, maxCalls := math.Inf(1), 0.0
	minTime, maxTime := math.Inf(1), 0.0
	for i := range grid {
		if len(grid[i]) != len(ns) {
			return fmt.Errorf("chart: strategy %q has %d points, want %d", ss[i].Name, len(grid[i]), len(ns))
		}
		for _, p := range grid[i] {
			minCalls, maxCalls = math.Min(minCalls, p.Calls), math.Max(maxCalls, p.Calls)
			t := p.Completion.Seconds()
			minTime, maxTime = math.Min(minTime, t), math.Max(maxTime, t)
		}
	}
	panel2Top := float64(panel1Top + panelH + panelGap)
	height := panel2Top + panelH + 64

	var s plot.SVG
	s.F(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n",
		chartW, height, chartW, height)
	s.F(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	s.Text(plotLeft, 32, `font-size="19" font-weight="bold" fill="#222"`,
		"Retry storm: N clients updating one row with optimistic concurrency")
	s.Text(plotLeft, 54, `font-size="12" fill="#555"`,
		"Discrete-event simulation after the AWS Architecture Blog \"Exponential Backoff And Jitter\" (2015): every message takes |N(10ms, 2ms)|,")
	s.Text(plotLeft, 70, `font-size="12" fill="#555"`,
		fmt.Sprintf("a write fails if another landed since the read. Mean of %d runs per point, seed %d; presets and resty at scale %g (1 = as shipped).",
			info.Runs, info.Seed, info.Scale))

	xAxis := func(top float64) func(float64) float64 {
		lo, hi := 0.0, float64(ns[len(ns)-1])
		return func(n float64) float64 { return plotLeft + (n-lo)/(hi-lo)*(plotRight-plotLeft) }
	}
	panel := func(top float64, title, yLabel string, ax logAxis, value func(Summary) float64) {
		bottom := top + panelH
		x := xAxis(top)
		s.Text(plotLeft, top-12, `font-size="14" font-weight="bold" fill="#222"`, title)
		s.F(`<rect x="%d" y="%.1f" width="%d" height="%d" fill="#fafafa" stroke="none"/>`+"\n", plotLeft, top, plotRight-plotLeft, panelH)
		// Horizontal gridlines and y labels; minor labels only where they fit.
		lastLabelY := math.Inf(1)
		for _, t := range ax.ticks {
			y := ax.pos(t.v)
			stroke, sw := "#e4e4e4", 1.0
			if t.major {
				stroke = "#c8c8c8"
			}
			s.F(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%.1f"/>`+"\n", plotLeft, y, plotRight, y, stroke, sw)
			if t.major || lastLabelY-y >= 15 {
				weight := `fill="#777"`
				if t.major {
					weight = `fill="#333"`
				}
				s.Text(plotLeft-8, y+4, `font-size="11" text-anchor="end" `+weight, t.label)
				lastLabelY = y
			}
		}
		// Vertical gridlines and x labels.
		step := niceStep(float64(ns[len(ns)-1]), 10)
		for v := 0.0; v <= float64(ns[len(ns)-1])+1e-9; v += step {
			xx := x(v)
			s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ececec"/>`+"\n", xx, top, xx, bottom)
			s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", xx, bottom, xx, bottom+5)
			s.Text(xx, bottom+18, `font-size="11" text-anchor="middle" fill="#333"`, strconv.FormatFloat(v, 'f', -1, 64))
		}
		s.F(`<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", plotLeft, top, plotRight-plotLeft, panelH)
		s.Text((plotLeft+plotRight)/2, bottom+36, `font-size="12" text-anchor="middle" fill="#333"`, "clients contending (N)")
		cy := top + panelH/2
		s.Text(22, cy, fmt.Sprintf(`font-size="12" text-anchor="middle" fill="#333" transform="rotate(-90 22 %.1f)"`, cy), yLabel)
		// Lines: baselines first so that the jitter kinds stay on top.
		order := make([]int, 0, len(ss))
		for _, g := range []string{"other", "preset", "jitter"} {
			for i, st := range ss {
				if st.Group == g {
					order = append(order, i)
				}
			}
		}
		for _, i := range order {
			st := styleOf(ss[i])
			s.F(`<polyline fill="none" stroke="%s" stroke-width="%.1f" stroke-linejoin="round"`, st.color, st.width)
			if st.dash != "" {
				s.F(` stroke-dasharray="%s"`, st.dash)
			}
			s.F(` points="`)
			for j, p := range grid[i] {
				s.F("%.1f,%.1f ", x(float64(ns[j])), ax.pos(value(p)))
			}
			s.F(`"/>` + "\n")
			for j, p := range grid[i] {
				s.F(`<circle cx="%.1f" cy="%.1f" r="2.4" fill="%s"/>`+"\n", x(float64(ns[j])), ax.pos(value(p)), st.color)
			}
		}
	}

	callAxis := newLogAxis(countTicks(), minCalls, maxCalls, panel1Top+panelH, panel1Top)
	panel(panel1Top, "Total work: conditional writes sent to the row (log scale)", "calls", callAxis,
		func(p Summary) float64 { return p.Calls })
	timeAxis := newLogAxis(timeTicks(), minTime, maxTime, panel2Top+panelH, panel2Top)
	panel(panel2Top, "Completion: virtual time until the last client's write succeeded (log scale)", "time", timeAxis,
		func(p Summary) float64 { return p.Completion.Seconds() })

	// Legend, grouped.
	y := float64(panel1Top)
	groups := []struct{ key, title string }{
		{"jitter", "Jitter kinds (Policy.Delay)"},
		{"preset", "Presets (dashed)"},
		{"other", "Baselines"},
	}
	for _, g := range groups {
		s.Text(legendLeft, y, `font-size="12" font-weight="bold" fill="#222"`, g.title)
		y += 8
		for _, st := range ss {
			if st.Group != g.key {
				continue
			}
			sty := styleOf(st)
			s.F(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%.1f"`, legendLeft, y+8, legendLeft+30, y+8, sty.color, sty.width)
			if sty.dash != "" {
				s.F(` stroke-dasharray="%s"`, sty.dash)
			}
			s.F("/>\n")
			s.F(`<circle cx="%d" cy="%.1f" r="2.6" fill="%s"/>`+"\n", legendLeft+15, y+8, sty.color)
			s.Text(legendLeft+38, y+12, `font-size="12" fill="#222"`, st.Name)
			s.Text(legendLeft+38, y+26, `font-size="10" fill="#666"`, st.Schedule)
			y += 36
		}
		y += 14
	}
	s.Text(legendLeft, y, `font-size="10" fill="#666"`, "d: backoff before jitter;")
	s.Text(legendLeft, y+13, `font-size="10" fill="#666"`, "waits are drawn from the interval.")
	s.F("</svg>\n")
	_, err := w.Write(s.Bytes())
	return err
}

// niceStep returns a 1-2-5 step that cuts span into about n parts.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}
