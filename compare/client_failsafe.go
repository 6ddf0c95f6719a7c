package compare

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
)

// failsafeClient is failsafe-go's failsafehttp.NewRetryPolicyBuilder (which
// retries errors, 429 and 5xx but 501, and waits a Retry-After in seconds
// on 429 and 503) with 3 retries and the schedule as WithBackoff, run
// around an http.Client with failsafehttp.NewRequest, so that the client's
// timeout bounds each attempt.
type failsafeClient struct {
	policy retrypolicy.RetryPolicy[*http.Response]
	hc     *http.Client
	tr     *http.Transport
}

func newFailsafe(cfg Config) Client {
	tr := transport(cfg)
	p := failsafehttp.NewRetryPolicyBuilder().
		WithMaxRetries(cfg.retries()).
		WithBackoff(cfg.Base, cfg.Max).
		// failsafe-go leaves the body of a response it retries open; close
		// it, as a user must, so the connection can be reused.
		OnRetryScheduled(func(e failsafe.ExecutionScheduledEvent[*http.Response]) {
			if r := e.LastResult(); r != nil {
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
		}).
		Build()
	return &failsafeClient{policy: p, hc: &http.Client{Transport: cfg.roundTripper(tr), Timeout: cfg.AttemptTimeout}, tr: tr}
}

func (f *failsafeClient) Do(ctx context.Context, q Request) Outcome {
	var body io.Reader
	if q.Body != nil {
		body = bytes.NewReader(q.Body)
	}
	req, err := http.NewRequestWithContext(ctx, q.Method, q.URL, body)
	if err != nil {
		return Outcome{Err: err}
	}
	req.Header.Set(IDHeader, q.ID)
	resp, err := failsafehttp.NewRequest(req, f.hc, f.policy).Do()
	return finish(resp, err)
}

func (f *failsafeClient) Close() { f.tr.CloseIdleConnections() }
