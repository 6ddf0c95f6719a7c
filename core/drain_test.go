package core

import (
	"io"
	"strings"
	"testing"
	"time"
)

// stalled is a body that never ends until it is closed.
type stalled struct{ closed chan struct{} }

func (s *stalled) Read([]byte) (int, error) { <-s.closed; return 0, io.ErrClosedPipe }
func (s *stalled) Close() error {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	return nil
}

// TestDrain: a short body is read to its end and closed; a stalled one is
// closed by the time bound, so Drain returns (a hang would time out here).
func TestDrain(t *testing.T) {
	short := &readCounter{r: strings.NewReader(strings.Repeat("x", 100))}
	Drain(short)
	if short.n != 100 || !short.closed {
		t.Errorf("short body: read %d of 100, closed %v", short.n, short.closed)
	}
	long := &readCounter{r: strings.NewReader(strings.Repeat("x", 3*DrainLimit))}
	Drain(long)
	if long.n != DrainLimit || !long.closed {
		t.Errorf("long body: read %d, want the limit %d; closed %v", long.n, DrainLimit, long.closed)
	}
	done := make(chan struct{})
	s := &stalled{closed: make(chan struct{})}
	go func() { Drain(s); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a hang detector, not a speed target
		t.Fatal("Drain of a stalled body did not return")
	}
	Drain(nil) // no body: nothing to do
}

type readCounter struct {
	r      io.Reader
	n      int
	closed bool
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func (c *readCounter) Close() error { c.closed = true; return nil }
