package restyv3

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/restyretry/restyretry/retrytest"
	"resty.dev/v3"
)

// recorder collects events.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) add(ev Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) rules() []Rule {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Rule
	for _, ev := range r.evs {
		out = append(out, ev.Rule)
	}
	return out
}

func TestHedgingIsReportedAndNotRetried(t *testing.T) {
	srv := retrytest.NewServer(t)
	srv.Script("/h", retrytest.Reply{Status: 503}, retrytest.Reply{Status: 200})
	for _, later := range []bool{false, true} {
		var rec recorder
		p := Default().TestMode(-1)
		p.OnDecision = rec.add
		c := resty.New().SetBaseURL(srv.URL)
		defer c.Close()
		if !later {
			c.SetHedging(resty.NewHedging())
		}
		p.Apply(c)
		if later {
			c.SetHedging(resty.NewHedging())
		}
		res, err := c.R().Get("/h")
		if err != nil || res.StatusCode() != 503 {
			t.Fatalf("later=%v: %v, %v; want the 503, not retried", later, res.StatusCode(), err)
		}
		got := rec.rules()
		if len(got) != 1 || got[0] != RuleDegraded || !errors.Is(rec.evs[0].Err, ErrHedging) {
			t.Errorf("later=%v: events %v; want one RuleDegraded with ErrHedging", later, got)
		}
		srv.Script("/h", retrytest.Reply{Status: 503}, retrytest.Reply{Status: 200})
	}
}

// resty's own retry conditions and hooks do not see a 429's Retry-After;
// the policy's conditions and the caller do.
func TestRetryAfterMovedAsideAndBack(t *testing.T) {
	srv := retrytest.NewServer(t)
	srv.Script("/r", retrytest.Reply{Status: 429, Header: http.Header{"Retry-After": {"2"}}})
	var policySaw, restySaw []string
	p := Default().TestMode(1).With(func(res *resty.Response, _ error) Verdict {
		policySaw = append(policySaw, res.Header().Get("Retry-After"))
		return Abstain
	})
	c := p.Apply(resty.New().SetBaseURL(srv.URL))
	defer c.Close()
	c.AddRetryHooks(func(res *resty.Response, _ error) { restySaw = append(restySaw, res.Header().Get("Retry-After")) })
	res, err := c.R().Get("/r")
	if err != nil || res.StatusCode() != 429 {
		t.Fatalf("%v, %v", res.StatusCode(), err)
	}
	if h := res.Header().Get("Retry-After"); h != "2" {
		t.Errorf("the caller sees Retry-After %q, want 2", h)
	}
	if len(policySaw) != 2 || policySaw[0] != "2" || policySaw[1] != "2" {
		t.Errorf("the policy's condition saw %q, want 2 twice", policySaw)
	}
	if len(restySaw) != 1 || restySaw[0] != "" {
		t.Errorf("resty's retry hook saw %q, want the header aside once", restySaw)
	}
}

func TestCloneTakesItsOwnCopy(t *testing.T) {
	srv := retrytest.NewServer(t)
	srv.Script("/c", retrytest.Reply{Status: 503})
	c := Default().TestMode(2).Apply(resty.New().SetBaseURL(srv.URL))
	defer c.Close()
	cl := c.Clone(context.Background())
	TestMode(cl, 0)
	if res, _ := cl.R().Get("/c"); res.StatusCode() != 503 || len(srv.Received("/c")) != 1 {
		t.Fatalf("clone: %d requests, want 1", len(srv.Received("/c")))
	}
	if _, _ = c.R().Get("/c"); len(srv.Received("/c")) != 4 {
		t.Fatalf("original: %d requests in all, want 1+3", len(srv.Received("/c")))
	}
	if n := countInflight(); n != 0 {
		t.Errorf("%d states left after Execute returned", n)
	}
}

func countInflight() int {
	n := 0
	inflight.Range(func(_, _ any) bool { n++; return true })
	return n
}
