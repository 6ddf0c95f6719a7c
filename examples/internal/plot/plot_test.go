package plot

import (
	"testing"
	"time"
)

func TestDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                       "0",
		1500 * time.Nanosecond:                  "1.5µs",
		999_900 * time.Microsecond:              "1s",
		1234567 * time.Microsecond:              "1.23s",
		64 * time.Second:                        "1.07min",
		59_999 * time.Millisecond:               "1min",
		2 * time.Hour:                           "2h",
		100*time.Millisecond + time.Microsecond: "100ms",
	} {
		if got := Dur(d); got != want {
			t.Errorf("Dur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSVGText(t *testing.T) {
	var s SVG
	s.F(`<g id="%s">`+"\n", "a")
	s.Text(1, 2.5, `font-size="12"`, `a < b & "c"`)
	s.F("</g>\n")
	want := "<g id=\"a\">\n" +
		`<text x="1.0" y="2.5" font-size="12">a &lt; b &amp; &#34;c&#34;</text>` + "\n" +
		"</g>\n"
	if got := s.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
