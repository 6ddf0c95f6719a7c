package compare

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Recorder counts what reaches a server: every hit, the retries among them
// (a hit whose IDHeader was seen before), and the retries that came back
// before the hint the server gave that request.
//
// The hint is the Retry-After (delay-seconds) on the previous response to
// the same request: its attempt may not come back before the instant the
// server wrote the response plus that delay. The instant is taken when the
// handler returns, before the client can have read the header, so a client
// that honours the hint from the moment it reads it is never counted early.
// X-RateLimit-Reset and other fields are not hints here.
//
// A retry is also counted as back to back when it arrives less than Soon
// after the previous response to the same request was written: sooner
// than any of the compared schedules waits, so it followed no backoff.
type Recorder struct {
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Soon is the gap under which a retry counts as back to back; 0
	// counts none.
	Soon time.Duration

	mu         sync.Mutex
	hits       int
	early      int
	backToBack int
	ids        map[string]*seen
}

type seen struct {
	hits      int
	notBefore time.Time // zero: no hint outstanding
	answered  time.Time // when the last response was written
}

// Counts is what a Recorder saw.
type Counts struct {
	Hits    int // requests that reached the handler
	Retries int // hits of a request already seen
	Early   int // retries that arrived before the previous response's Retry-After
	// BackToBack counts retries that arrived less than Recorder.Soon
	// after the previous response.
	BackToBack int
	IDs        int // distinct logical requests seen
}

// HandlerFunc is a handler that is told which hit of its logical request
// it serves (1 for the first).
type HandlerFunc func(w http.ResponseWriter, r *http.Request, hit int)

func (c *Recorder) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Wrap returns a handler that records every hit and passes it to h.
func (c *Recorder) Wrap(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(IDHeader)
		at := c.now()
		c.mu.Lock()
		if c.ids == nil {
			c.ids = map[string]*seen{}
		}
		s := c.ids[id]
		if s == nil {
			s = &seen{}
			c.ids[id] = s
		}
		s.hits++
		hit := s.hits
		c.hits++
		if !s.notBefore.IsZero() && at.Before(s.notBefore) {
			c.early++
		}
		if hit > 1 && !s.answered.IsZero() && at.Sub(s.answered) < c.Soon {
			c.backToBack++
		}
		s.notBefore = time.Time{}
		c.mu.Unlock()

		h(w, r, hit)

		done := c.now()
		d, hinted := retryAfterSeconds(w.Header().Get("Retry-After"))
		c.mu.Lock()
		s.answered = done
		if hinted {
			s.notBefore = done.Add(d)
		}
		c.mu.Unlock()
	})
}

// Counts returns what the recorder has seen so far.
func (c *Recorder) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Counts{Hits: c.hits, Retries: c.hits - len(c.ids), Early: c.early, BackToBack: c.backToBack, IDs: len(c.ids)}
}

// retryAfterSeconds reads a delay-seconds Retry-After; it saturates at a
// day rather than overflowing.
func retryAfterSeconds(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(min(n, 86400)) * time.Second, true
}
