package core

import (
	"io"
	"time"
)

// Drain reads what is left of the body of a response that is retried (or
// given up while streamed), at most DrainLimit bytes for at most DrainTime,
// then closes it: a short body keeps its connection for reuse, a long or
// stalled one costs its connection instead of holding the request. Closing a
// body that was read already does nothing. Adapters call it; the decision to
// retry is the Execution's.
func Drain(body io.ReadCloser) {
	if body == nil {
		return
	}
	t := time.AfterFunc(DrainTime, func() { _ = body.Close() })
	_, _ = io.CopyN(io.Discard, body, DrainLimit)
	t.Stop()
	_ = body.Close()
}

// The bounds of Drain.
const (
	DrainLimit = 8 << 10
	DrainTime  = 100 * time.Millisecond
)
