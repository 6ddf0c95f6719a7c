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

// style is how one strategy is drawn: colour, dash, line width and the
// shape of its markers. Within one section of the chart no two strategies
// share a marker shape or a dash pattern, so that a series that runs on top
// of another (EqualJitter and Proportional(0.5) do the same work, so do
// Default() and Background()) still shows.
type style struct {
	color  string
	dash   string // stroke-dasharray; "" for solid
	width  float64
	marker string // circle, square, triangle, diamond, down, plus
}

// styles gives every strategy its style, keyed by name.
var styles = map[string]style{
	"no backoff":        {color: "#7f7f7f", dash: "2 3", width: 2, marker: "plus"},
	"NoJitter":          {color: "#e15759", dash: "4 2", width: 2, marker: "square"},
	"Proportional(0.5)": {color: "#f28e2b", width: 3, marker: "triangle"},
	"EqualJitter":       {color: "#b6992d", dash: "6 3", width: 2, marker: "diamond"},
	"FullJitter":        {color: "#4e79a7", dash: "12 3", width: 3, marker: "circle"},
	"resty built-in":    {color: "#9c755f", dash: "9 3 2 3", width: 2, marker: "down"},
	"Default()":         {color: "#d4618c", width: 3, marker: "triangle"},
	"Interactive()":     {color: "#59a14f", dash: "7 4", width: 2, marker: "diamond"},
	"Background()":      {color: "#499894", dash: "2 3", width: 2.5, marker: "square"},
	"Contention()":      {color: "#8a5fb0", dash: "9 3 2 3", width: 2, marker: "circle"},
}

func styleOf(s Strategy) style {
	if st, ok := styles[s.Name]; ok {
		return st
	}
	return style{color: "#333333", width: 2, marker: "circle"}
}

// marker draws shape st.marker centred on (x, y): hollow (white inside), so
// that two markers on the same spot both show their outlines.
func marker(s *plot.SVG, st style, x, y float64) {
	const r = 3.6
	attrs := fmt.Sprintf(`fill="#ffffff" stroke="%s" stroke-width="1.5"`, st.color)
	switch st.marker {
	case "square":
		s.F(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" %s/>`+"\n", x-r*0.85, y-r*0.85, 1.7*r, 1.7*r, attrs)
	case "triangle":
		s.F(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" %s/>`+"\n", x, y-r*1.1, x+r, y+r*0.75, x-r, y+r*0.75, attrs)
	case "down":
		s.F(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" %s/>`+"\n", x, y+r*1.1, x+r, y-r*0.75, x-r, y-r*0.75, attrs)
	case "diamond":
		s.F(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ" %s/>`+"\n", x, y-r*1.2, x+r, y, x, y+r*1.2, x-r, y, attrs)
	case "plus":
		s.F(`<path d="M%.1f %.1fH%.1fM%.1f %.1fV%.1f" stroke="%s" stroke-width="1.8" fill="none"/>`+"\n",
			x-r, y, x+r, x, y-r, y+r, st.color)
	default:
		s.F(`<circle cx="%.1f" cy="%.1f" r="%.1f" %s/>`+"\n", x, y, r*0.9, attrs)
	}
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

// Chart geometry: two sections, each a row of panels side by side.
const (
	chartW    = 1180
	panelW    = 300
	panelH    = 230
	col0      = 78    // left edge of the first column of panels
	colStep   = 390   // from one column's left edge to the next
	secATop   = 156.0 // top of section A's panels
	secBTop   = secATop + panelH + 140
	dodgeStep = 3.0 // horizontal offset between the series of a panel, px
)

// yAxis maps a value onto a panel's vertical pixels and lists its
// gridlines.
type yAxis interface {
	pos(v float64) float64
	gridTicks() []tick
}

func (a logAxis) gridTicks() []tick { return a.ticks }

// linAxis is a linear axis from lo to hi, onto pixels [p0, p1].
type linAxis struct {
	lo, hi, p0, p1 float64
	ticks          []tick
}

func (a linAxis) pos(v float64) float64 {
	v = math.Min(math.Max(v, a.lo), a.hi)
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

func (a linAxis) gridTicks() []tick { return a.ticks }

// pt is a point in pixels.
type pt struct{ x, y float64 }

// seriesLayout is one strategy's line in one panel.
type seriesLayout struct {
	strategy int // index into the strategies
	style    style
	pts      []pt // one per number of clients, dodged
}

// panelLayout is one panel: where it is, its axis and its series.
type panelLayout struct {
	section   string // "A" (no retry limit) or "B" (presets, limits enforced)
	title     string
	yLabel    string
	left, top float64
	y         yAxis
	series    []seriesLayout
}

// metric is one panel's quantity.
type metric struct {
	title, yLabel string
	kind          string // "calls", "time" or "share"
	value         func(Summary) float64
}

// layout places every panel and every series' points. Section A holds the
// strategies without limits (jitter kinds and baselines), section B those
// with limits (the presets), with a third panel for the clients their
// limits stopped. Within a panel, series i of k is shifted by (i − (k−1)/2)·dodgeStep pixels, so
// that two series with the same values never put their markers on the
// same spot.
func layout(ss []Strategy, ns []int, grid [][]Summary) ([]panelLayout, error) {
	if len(ss) == 0 || len(ns) < 2 || len(grid) != len(ss) {
		return nil, fmt.Errorf("chart: need strategies and at least two numbers of clients")
	}
	for i := range grid {
		if len(grid[i]) != len(ns) {
			return nil, fmt.Errorf("chart: strategy %q has %d points, want %d", ss[i].Name, len(grid[i]), len(ns))
		}
	}
	calls := func(p Summary) float64 { return p.Calls }
	sections := []struct {
		key     string
		top     float64
		member  func(Strategy) bool
		metrics []metric
	}{
		{"A", secATop, func(s Strategy) bool { return !s.Limited() }, []metric{
			{"Total work: conditional writes (log)", "calls", "calls", calls},
			{"Completion: the last client's write succeeded (log)", "time", "time",
				func(p Summary) float64 { return p.Completion.Seconds() }},
		}},
		{"B", secBTop, func(s Strategy) bool { return s.Limited() }, []metric{
			{"Total work: conditional writes (log)", "calls", "calls", calls},
			{"Last client done: won or gave up (log)", "time", "time",
				func(p Summary) float64 { return p.Done.Seconds() }},
			{"Clients that gave up (% of N)", "gave up", "share",
				func(p Summary) float64 { return 100 * p.GaveUp / float64(max(p.Clients, 1)) }},
		}},
	}
	nMax := float64(ns[len(ns)-1])
	var panels []panelLayout
	for _, sec := range sections {
		var members []int
		for i, s := range ss {
			if sec.member(s) {
				members = append(members, i)
			}
		}
		if len(members) == 0 {
			continue
		}
		for c, m := range sec.metrics {
			p := panelLayout{section: sec.key, title: m.title, yLabel: m.yLabel,
				left: float64(col0 + c*colStep), top: sec.top}
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, i := range members {
				for _, sum := range grid[i] {
					v := m.value(sum)
					if m.kind != "share" && !(v > 0) {
						continue // a log axis cannot show 0
					}
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
			if math.IsInf(lo, 1) {
				lo, hi = 1, 10
			}
			bottom := p.top + panelH
			switch m.kind {
			case "calls":
				p.y = newLogAxis(countTicks(), lo, hi, bottom, p.top)
			case "time":
				p.y = newLogAxis(timeTicks(), lo, hi, bottom, p.top)
			default:
				var ts []tick
				for v := 0; v <= 100; v += 25 {
					ts = append(ts, tick{v: float64(v), label: strconv.Itoa(v) + "%", major: true})
				}
				p.y = linAxis{lo: 0, hi: 100, p0: bottom, p1: p.top, ticks: ts}
			}
			k := len(members)
			for j, i := range members {
				sl := seriesLayout{strategy: i, style: styleOf(ss[i])}
				dx := (float64(j) - float64(k-1)/2) * dodgeStep
				for q, sum := range grid[i] {
					x := p.left + float64(ns[q])/nMax*panelW + dx
					sl.pts = append(sl.pts, pt{x: x, y: p.y.pos(m.value(sum))})
				}
				p.series = append(p.series, sl)
			}
			panels = append(panels, p)
		}
	}
	return panels, nil
}

// WriteChart draws, as a standalone SVG, two sections of panels against the
// number of clients: the strategies without a retry limit (total calls,
// completion), and the presets with their limits enforced (total calls,
// time until the last client won or gave up, share of clients that gave
// up). grid[i][j] is strategy i at ns[j].
func WriteChart(w io.Writer, ss []Strategy, ns []int, grid [][]Summary, info ChartInfo) error {
	panels, err := layout(ss, ns, grid)
	if err != nil {
		return err
	}
	legendBTop := secBTop + panelH + 64
	height := legendBTop + 52

	var s plot.SVG
	s.F(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n",
		chartW, height, chartW, height)
	s.F(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	s.Text(col0, 30, `font-size="19" font-weight="bold" fill="#222"`,
		"Retry storm: N clients updating one row with optimistic concurrency")
	s.Text(col0, 52, `font-size="12" fill="#555"`,
		"Discrete-event simulation after the AWS Architecture Blog \"Exponential Backoff And Jitter\" (2015): every message takes |N(10ms, 2ms)|, a write fails if")
	s.Text(col0, 68, `font-size="12" fill="#555"`,
		fmt.Sprintf("another landed since the read. Mean of %d runs per point, seed %d; presets and resty at scale %g (1 = as shipped). Series that coincide are offset by %gpx.",
			info.Runs, info.Seed, info.Scale, dodgeStep))
	s.Text(col0, secATop-52, `font-size="15" font-weight="bold" fill="#222"`,
		"No retry limit: every client retries until it wins")
	s.Text(col0, secATop-34, `font-size="12" fill="#555"`,
		"The four jitter kinds on one schedule (10ms doubling to 2s), no backoff at all, and resty's built-in backoff.")
	s.Text(col0, secBTop-52, `font-size="15" font-weight="bold" fill="#222"`,
		"Presets as shipped, limits enforced: a client gives up as the library would, and sends nothing more")
	s.Text(col0, secBTop-34, `font-size="12" fill="#555"`,
		"It gives up when it lost and another retry would pass MaxRetries, or its wait would end after MaxElapsed. Calls and times count the clients that remained.")

	for _, p := range panels {
		drawPanel(&s, p, ns)
	}

	// Legends: section A's in the free third column, section B's in a row
	// below its panels.
	entry := func(x, y float64, st Strategy) {
		sty := styleOf(st)
		s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"`, x, y+8, x+34, y+8, sty.color, sty.width)
		if sty.dash != "" {
			s.F(` stroke-dasharray="%s"`, sty.dash)
		}
		s.F("/>\n")
		marker(&s, sty, x+17, y+8)
		s.Text(x+42, y+12, `font-size="12" fill="#222"`, st.Name)
		s.Text(x+42, y+26, `font-size="10" fill="#666"`, st.Schedule)
	}
	lx, ly := float64(col0+2*colStep), secATop
	s.Text(lx, ly-6, `font-size="12" font-weight="bold" fill="#222"`, "No retry limit")
	for _, st := range ss {
		if !st.Limited() {
			entry(lx, ly+4, st)
			ly += 36
		}
	}
	s.Text(lx, ly+16, `font-size="10" fill="#666"`, "d: backoff before jitter; waits are drawn")
	s.Text(lx, ly+29, `font-size="10" fill="#666"`, "from the interval.")
	bx := float64(col0)
	for _, st := range ss {
		if st.Limited() {
			entry(bx, legendBTop, st)
			bx += 270
		}
	}
	s.F("</svg>\n")
	_, err = w.Write(s.Bytes())
	return err
}

// drawPanel draws one panel's frame, gridlines, labels and series: all
// lines first, then all markers, so that no line covers a marker.
func drawPanel(s *plot.SVG, p panelLayout, ns []int) {
	bottom := p.top + panelH
	right := p.left + panelW
	nMax := float64(ns[len(ns)-1])
	s.Text(p.left, p.top-10, `font-size="13" font-weight="bold" fill="#222"`, p.title)
	s.F(`<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="#fafafa" stroke="none"/>`+"\n", p.left, p.top, panelW, panelH)
	lastLabelY := math.Inf(1)
	for _, t := range p.y.gridTicks() {
		y := p.y.pos(t.v)
		stroke := "#e4e4e4"
		if t.major {
			stroke = "#c8c8c8"
		}
		s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.0"/>`+"\n", p.left, y, right, y, stroke)
		if t.major || lastLabelY-y >= 15 {
			fill := `fill="#777"`
			if t.major {
				fill = `fill="#333"`
			}
			s.Text(p.left-7, y+4, `font-size="11" text-anchor="end" `+fill, t.label)
			lastLabelY = y
		}
	}
	step := niceStep(nMax, 5)
	for v := 0.0; v <= nMax+1e-9; v += step {
		xx := p.left + v/nMax*panelW
		s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ececec"/>`+"\n", xx, p.top, xx, bottom)
		s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", xx, bottom, xx, bottom+5)
		s.Text(xx, bottom+18, `font-size="11" text-anchor="middle" fill="#333"`, strconv.FormatFloat(v, 'f', -1, 64))
	}
	s.F(`<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", p.left, p.top, panelW, panelH)
	s.Text(p.left+panelW/2, bottom+34, `font-size="12" text-anchor="middle" fill="#333"`, "clients contending (N)")
	cy := p.top + panelH/2
	lx := p.left - 52
	s.Text(lx, cy, fmt.Sprintf(`font-size="12" text-anchor="middle" fill="#333" transform="rotate(-90 %.1f %.1f)"`, lx, cy), p.yLabel)
	for _, sl := range p.series {
		s.F(`<polyline fill="none" stroke="%s" stroke-width="%.1f" stroke-linejoin="round"`, sl.style.color, sl.style.width)
		if sl.style.dash != "" {
			s.F(` stroke-dasharray="%s"`, sl.style.dash)
		}
		s.F(` points="`)
		for _, q := range sl.pts {
			s.F("%.1f,%.1f ", q.x, q.y)
		}
		s.F(`"/>` + "\n")
	}
	for _, sl := range p.series {
		for _, q := range sl.pts {
			marker(s, sl.style, q.x, q.y)
		}
	}
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
