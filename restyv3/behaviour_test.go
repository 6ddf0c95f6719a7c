package restyv3

import (
	"testing"

	"github.com/restyretry/restyretry/core"
	"github.com/restyretry/restyretry/retrytest"
	"resty.dev/v3"
)

// TestBehaviour runs the behaviour table shared with the resty v2 adapter
// (the root package) against this one, on the table's fake clock.
func TestBehaviour(t *testing.T) {
	retrytest.Run(t, retrytest.Adapter{Name: "resty v3", Client: v3Client})
}

func v3Client(t testing.TB, cfg retrytest.Config) func(retrytest.Request) retrytest.Result {
	c := resty.New().SetBaseURL(cfg.BaseURL)
	t.Cleanup(func() { _ = c.Close() })
	adopt(c, true, cfg.Clock).core.SetPolicy(cfg.Policy)
	if cfg.TestMode {
		TestMode(c, cfg.TestModeRetries)
	}
	Observe(c, cfg.Observe)
	return func(r retrytest.Request) retrytest.Result {
		req := c.R().SetContext(r.Context)
		for k, vs := range r.Header {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		if r.Body != nil {
			req.SetBody(r.Body)
		}
		resp, err := req.Execute(r.Method, r.Path)
		res := retrytest.Result{Err: err}
		if resp != nil && resp.RawResponse != nil {
			res.Status = resp.StatusCode()
		}
		return res
	}
}

var _ core.Clock = (*retrytest.Clock)(nil)
