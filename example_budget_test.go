package restyretry_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
)

// A budget is kept per host (and route): a host that is down spends the
// shared pool and its own tokens only, and a healthy host keeps the tokens
// its own successes deposited.
func ExampleBudget_perHost() {
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable) // an outage
	}))
	defer dead.Close()
	var calls atomic.Int64
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 6 {
			w.WriteHeader(http.StatusServiceUnavailable) // one transient failure
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer healthy.Close()

	p := restyretry.Default()
	p.BaseDelay = time.Millisecond
	p.Budget = restyretry.Budget{Ratio: 0.2, Reserve: 2, Window: time.Minute}
	client := p.Apply(resty.New())
	defer client.GetClient().CloseIdleConnections()

	// Five successes deposit 5 × 0.2 = 1 token into the healthy host.
	for range 5 {
		client.R().Get(healthy.URL)
	}
	// The dead host spends the pool's 2 tokens, then the client's one
	// probe for the window.
	for range 2 {
		resp, err := client.R().Get(dead.URL)
		fmt.Println("dead:", resp.Request.Attempt, "attempts, budget exhausted:", errors.Is(err, restyretry.ErrBudgetExhausted))
	}
	resp, err := client.R().Get(healthy.URL)
	fmt.Println("healthy:", resp.Request.Attempt, "attempts,", resp.StatusCode(), err)
	// Output:
	// dead: 3 attempts, budget exhausted: true
	// dead: 2 attempts, budget exhausted: true
	// healthy: 2 attempts, 200 <nil>
}
