package restyretry

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
)

func TestConditionsClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range condErrors {
		want := fatal
		switch {
		case tc.get && tc.post:
			want = notSent
		case tc.get:
			want = maybeSent
		}
		wrapped := []struct {
			how string
			err error
		}{
			{"bare", tc.err},
			{"url.Error", &url.Error{Op: "Get", URL: condURL, Err: tc.err}},
			{"fmt %w", fmt.Errorf("attempt 2: %w", tc.err)},
		}
		for _, w := range wrapped {
			if got := classify(w.err); got != want {
				t.Errorf("classify(%s %s) = %v, want %v", w.how, tc.name, got, want)
			}
		}
	}
}

// TestClassifyAllocationFree keeps the transport-error rules off the heap:
// errors.AsType needs no pointer target that escapes.
func TestClassifyAllocationFree(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	reset := &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{
		Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}}
	var a, b errClass
	n := testing.AllocsPerRun(200, func() {
		a, b = classify(refused), classify(reset)
	})
	if a != notSent || b != maybeSent {
		t.Errorf("classify = %v, %v; want notSent, maybeSent", a, b)
	}
	if n != 0 {
		t.Errorf("classify allocates %v times", n)
	}
}
