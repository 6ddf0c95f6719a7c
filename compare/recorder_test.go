package compare

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// fakeClock is a settable clock for a Recorder.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestRecorderCountsRetriesAndEarlyOnes(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	rec := &Recorder{Now: clock.now, Soon: time.Millisecond}
	var hits []int
	h := rec.Wrap(func(w http.ResponseWriter, r *http.Request, hit int) {
		hits = append(hits, hit)
		if r.URL.Query().Get("hint") != "" {
			w.Header().Set("Retry-After", r.URL.Query().Get("hint"))
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	send := func(id, query string, advance time.Duration) {
		clock.t = clock.t.Add(advance)
		req := httptest.NewRequest(http.MethodGet, "/?"+query, nil)
		req.Header.Set(IDHeader, id)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	send("a", "hint=2", 0)                     // a#1: come back in 2s
	send("a", "hint=1", 1999*time.Millisecond) // a#2: 1ms early; come back in 1s
	send("a", "", time.Second)                 // a#3: on time
	send("b", "", 0)                           // b#1
	send("b", "", 0)                           // b#2: no hint was given
	send("c", "hint=0", 0)                     // c#1: Retry-After: 0
	send("c", "", 0)                           // c#2: not early
	send("d", "hint=junk", 0)                  // d#1: not a hint
	send("d", "", 0)                           // d#2: not early
	send("d", "", time.Millisecond)            // d#3: not back to back

	got := rec.Counts()
	// Back to back: b#2, c#2 and d#2 came less than 1ms after an answer.
	want := Counts{Hits: 10, Retries: 6, Early: 1, BackToBack: 3, IDs: 4}
	if got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	wantHits := []int{1, 2, 3, 1, 2, 1, 2, 1, 2, 3}
	if len(hits) != len(wantHits) {
		t.Fatalf("handler saw hits %v, want %v", hits, wantHits)
	}
	for i := range hits {
		if hits[i] != wantHits[i] {
			t.Fatalf("handler saw hits %v, want %v", hits, wantHits)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{"120", 120 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"Fri, 31 Dec 1999 23:59:59 GMT", 0, false},
		{"99999999999999999999999", 0, false},
		{"9999999999", 86400 * time.Second, true},
	} {
		got, ok := retryAfterSeconds(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfterSeconds(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
