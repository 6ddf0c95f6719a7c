package compare

import (
	"context"
	"io"
	"net/http"

	"github.com/hashicorp/go-retryablehttp"
)

// retryableClient is go-retryablehttp with its DefaultRetryPolicy and
// DefaultBackoff (which honours a Retry-After in seconds on 429 and 503),
// RetryMax 3 and the schedule as RetryWaitMin/RetryWaitMax.
type retryableClient struct {
	c  *retryablehttp.Client
	tr *http.Transport
}

func newRetryableHTTP(cfg Config) Client {
	tr := transport(cfg)
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{Transport: cfg.roundTripper(tr), Timeout: cfg.AttemptTimeout}
	c.Logger = nil
	c.RetryMax = cfg.retries()
	c.RetryWaitMin = cfg.Base
	c.RetryWaitMax = cfg.Max
	return &retryableClient{c: c, tr: tr}
}

func (r *retryableClient) Do(ctx context.Context, q Request) Outcome {
	var body any
	if q.Body != nil {
		body = q.Body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, q.Method, q.URL, body)
	if err != nil {
		return Outcome{Err: err}
	}
	req.Header.Set(IDHeader, q.ID)
	resp, err := r.c.Do(req)
	return finish(resp, err)
}

func (r *retryableClient) Close() { r.tr.CloseIdleConnections() }

// finish reads and closes a response and reports its outcome.
func finish(resp *http.Response, err error) Outcome {
	o := Outcome{Err: err}
	if resp != nil {
		o.Status = resp.StatusCode
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return o
}
