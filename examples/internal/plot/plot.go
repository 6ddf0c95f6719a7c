// Package plot holds the helpers that the example programs storm and waits
// share for printing durations and writing SVG charts, so that their tables
// and charts format numbers the same way from one copy of the code.
package plot

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Dur prints a duration with three significant digits in the largest unit
// that keeps the number at least 1 ("999.9ms" rounds up to "1s"). The
// examples print waits that span nanoseconds to hours in narrow table
// columns and axis labels, where time.Duration.String ("1m4.123456789s") is
// too long and too precise to read.
func Dur(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	units := []struct {
		size time.Duration
		name string
	}{
		{time.Nanosecond, "ns"}, {time.Microsecond, "µs"}, {time.Millisecond, "ms"},
		{time.Second, "s"}, {time.Minute, "min"}, {time.Hour, "h"},
	}
	for i, u := range units[:len(units)-1] {
		next := units[i+1].size
		if d >= next {
			continue
		}
		s := sig(float64(d) / float64(u.size))
		if v, _ := strconv.ParseFloat(s, 64); v < float64(next/u.size) {
			return s + u.name
		}
	}
	return sig(d.Hours()) + "h"
}

// sig formats v > 0 with three significant digits, without trailing zeros.
func sig(v float64) string {
	dec := max(0, 2-int(math.Floor(math.Log10(v))))
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// SVG is a small writer of SVG elements into its buffer. The charts are
// written by hand, element by element, so that the examples need no
// dependency beyond the standard library and their output is byte for byte
// reproducible.
type SVG struct{ bytes.Buffer }

// F appends format, filled in as by fmt.Fprintf. It is the one way the
// charts write raw markup, so that every element goes through the buffer
// without an error to check at each call (writes to a bytes.Buffer do not
// fail).
func (s *SVG) F(format string, args ...any) { fmt.Fprintf(&s.Buffer, format, args...) }

// Text writes a text element at (x, y) with the given attributes (written
// as they are) and body. The body is XML-escaped, so that callers can pass
// any label as it is: a '<' or '&' in it would otherwise break the document.
func (s *SVG) Text(x, y float64, attrs, body string) {
	s.F(`<text x="%.1f" y="%.1f" %s>`, x, y, attrs)
	xml.EscapeText(&s.Buffer, []byte(body))
	s.F("</text>\n")
}
