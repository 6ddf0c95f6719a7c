package restyretry_test

import (
	"testing"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/retrytest"
)

// TestBehaviour runs the behaviour table shared with the resty v3 adapter
// (restyv3) against this one, on the table's fake clock.
func TestBehaviour(t *testing.T) {
	retrytest.Run(t, retrytest.Adapter{Name: "resty v2", Client: v2Client})
}

func v2Client(_ testing.TB, cfg retrytest.Config) func(retrytest.Request) retrytest.Result {
	c := resty.New().SetBaseURL(cfg.BaseURL)
	restyretry.ApplyOnClock(restyretry.Policy(cfg.Policy), c, cfg.Clock)
	if cfg.TestMode {
		restyretry.TestMode(c, cfg.TestModeRetries)
	}
	restyretry.Observe(c, cfg.Observe)
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
