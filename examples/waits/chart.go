package main

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/restyretry/restyretry/examples/internal/plot"
)

// presetColor matches the colours of the storm chart.
var presetColor = map[string]string{
	"Default()":     "#d4618c",
	"Interactive()": "#59a14f",
	"Background()":  "#499894",
	"Contention()":  "#8a5fb0",
}

// Chart geometry.
const (
	chartW    = 1000
	labelR    = 206 // right edge of the row labels
	plotL     = 222
	plotR     = 972
	headerH   = 112
	rowH      = 21
	groupGap  = 18
	axisMin   = time.Millisecond
	axisMax   = 10 * time.Minute
	boxHalf   = 6
	footerTop = 44
)

// timeTick is a gridline on the time axis.
type timeTick struct {
	d     time.Duration
	major bool
}

func timeTicks() []timeTick {
	var ts []timeTick
	for _, base := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		ts = append(ts, timeTick{base, true}, timeTick{2 * base, false}, timeTick{5 * base, false})
	}
	ts = append(ts, timeTick{10 * time.Second, true}, timeTick{20 * time.Second, false}, timeTick{30 * time.Second, false})
	ts = append(ts, timeTick{time.Minute, true}, timeTick{2 * time.Minute, false}, timeTick{5 * time.Minute, false}, timeTick{10 * time.Minute, true})
	return ts
}

// xOf maps a duration to the log axis; values outside are pinned to its ends.
func xOf(d time.Duration) float64 {
	v := math.Min(math.Max(float64(d), float64(axisMin)), float64(axisMax))
	f := (math.Log(v) - math.Log(float64(axisMin))) / (math.Log(float64(axisMax)) - math.Log(float64(axisMin)))
	return plotL + f*(plotR-plotL)
}

// WriteChart draws one row per retry of each preset (and one for the
// total): a whisker from the shortest to the longest wait, a box over the
// middle half, a line at the median and a triangle at the backoff d before
// jitter, on a log time axis shared by all rows.
func WriteChart(w io.Writer, ps []PresetWaits, samples int, seed uint64) error {
	if len(ps) == 0 {
		return fmt.Errorf("chart: no presets")
	}
	rows := 0
	for _, p := range ps {
		rows += len(p.Retries) + 1
	}
	plotTop := float64(headerH)
	plotBottom := plotTop + float64(rows*rowH) + float64(len(ps)-1)*groupGap + 8
	height := plotBottom + footerTop + 56

	var s plot.SVG
	s.F(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n",
		chartW, height, chartW, height)
	s.F(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	s.Text(20, 32, `font-size="19" font-weight="bold" fill="#222"`, "How long the presets wait before each retry")
	s.Text(20, 54, `font-size="12" fill="#555"`,
		fmt.Sprintf("%d draws per retry from Policy.Delay (seed %d); log time axis. The backoff d doubles from BaseDelay up to MaxDelay,", samples, seed))
	s.Text(20, 70, `font-size="12" fill="#555"`,
		"then the jitter draws the wait from its interval. \"total\" sums all waits of a request that uses every retry.")

	// Gridlines and axis labels at top and bottom.
	for _, t := range timeTicks() {
		x := xOf(t.d)
		stroke := "#ededed"
		if t.major {
			stroke = "#cfcfcf"
		}
		s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x, plotTop-4, x, plotBottom, stroke)
		attrs := `font-size="10" text-anchor="middle" fill="#888"`
		if t.major {
			attrs = `font-size="11" text-anchor="middle" fill="#333"`
		}
		s.Text(x, plotTop-10, attrs, plot.Dur(t.d))
		s.Text(x, plotBottom+16, attrs, plot.Dur(t.d))
	}
	s.F(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#333"/>`+"\n", plotL, plotBottom, plotR, plotBottom)
	s.Text((plotL+plotR)/2, plotBottom+34, `font-size="12" text-anchor="middle" fill="#333"`, "wait before the retry (log scale)")

	y := plotTop + 4
	for _, p := range ps {
		color := presetColor[p.Name]
		if color == "" {
			color = "#555555"
		}
		n := len(p.Retries) + 1
		s.F(`<rect x="12" y="%.1f" width="%d" height="%d" fill="%s" fill-opacity="0.07" rx="4"/>`+"\n",
			y-2, plotR-8, n*rowH+4, color)
		s.Text(20, y+14, fmt.Sprintf(`font-size="13" font-weight="bold" fill="%s"`, color), p.Name)
		s.Text(20, y+30, `font-size="10" fill="#555"`, p.Jitter)
		s.Text(20, y+43, `font-size="10" fill="#555"`, fmt.Sprintf("%d retries, d %s→%s ×%g",
			p.Policy.MaxRetries, plot.Dur(p.Policy.BaseDelay), plot.Dur(p.Policy.MaxDelay), p.Policy.Multiplier))
		for i, d := range append(append([]Dist(nil), p.Retries...), p.Total) {
			cy := y + float64(i*rowH) + rowH/2
			label := fmt.Sprintf("retry %d", d.Retry)
			fill, opacity := color, 0.45
			if d.Retry == 0 {
				label = "total"
				fill, opacity = "#9a9a9a", 0.35
				s.F(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#bbb" stroke-dasharray="3 3"/>`+"\n",
					labelR-50, cy-rowH/2, plotR, cy-rowH/2)
			}
			s.Text(labelR, cy+4, `font-size="11" text-anchor="end" fill="#333"`, label)
			row(&s, d, cy, color, fill, opacity)
		}
		y += float64(n*rowH) + groupGap
	}

	// Legend.
	ly := plotBottom + footerTop + 8
	lx := float64(plotL)
	legendBox(&s, lx, ly)
	s.F("</svg>\n")
	_, err := w.Write(s.Bytes())
	return err
}

// row draws one distribution centred at height cy.
func row(s *plot.SVG, d Dist, cy float64, stroke, fill string, opacity float64) {
	x0, x25, x50, x75, x100 := xOf(d.Q[p0]), xOf(d.Q[p25]), xOf(d.Q[p50]), xOf(d.Q[p75]), xOf(d.Q[p100])
	s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>`+"\n", x0, cy, x100, cy, stroke)
	if d.Q[p0] < axisMin {
		// The shortest waits fall off the axis (FullJitter goes down to 0):
		// an arrow says the whisker goes on.
		s.F(`<path d="M%.1f %.1f l7 -4 v8 z" fill="%s"/>`+"\n", x0-2, cy, stroke)
	} else {
		s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>`+"\n", x0, cy-4, x0, cy+4, stroke)
	}
	s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>`+"\n", x100, cy-4, x100, cy+4, stroke)
	s.F(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s" fill-opacity="%.2f" stroke="%s"/>`+"\n",
		x25, cy-boxHalf, math.Max(x75-x25, 1), 2*boxHalf, fill, opacity, stroke)
	s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-width="2"/>`+"\n", x50, cy-boxHalf, x50, cy+boxHalf)
	xd := xOf(d.Backoff)
	s.F(`<path d="M%.1f %.1f l-4 -6 h8 z" fill="#222"/>`+"\n", xd, cy-boxHalf-1)
}

// legendBox explains the glyphs with a drawn example.
func legendBox(s *plot.SVG, x, y float64) {
	cy := y + 6
	s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-width="1.5"/>`+"\n", x, cy, x+90, cy)
	s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-width="1.5"/>`+"\n", x, cy-4, x, cy+4)
	s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-width="1.5"/>`+"\n", x+90, cy-4, x+90, cy+4)
	s.F(`<rect x="%.1f" y="%.1f" width="40" height="%d" fill="#999" fill-opacity="0.45" stroke="#555"/>`+"\n", x+25, cy-boxHalf, 2*boxHalf)
	s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-width="2"/>`+"\n", x+45, cy-boxHalf, x+45, cy+boxHalf)
	s.F(`<path d="M%.1f %.1f l-4 -6 h8 z" fill="#222"/>`+"\n", x+25, cy-boxHalf-1)
	s.Text(x+104, cy+4, `font-size="11" fill="#333"`,
		"whisker: shortest–longest wait · box: middle half (p25–p75) · bar: median · ▼: backoff d before jitter")
	s.F(`<path d="M%.1f %.1f l7 -4 v8 z" fill="#555"/>`+"\n", x, cy+22)
	s.Text(x+14, cy+26, `font-size="11" fill="#333"`,
		"at the left edge: the shortest waits are below 1ms (FullJitter draws from [0, d), so waits can be near zero)")
}
