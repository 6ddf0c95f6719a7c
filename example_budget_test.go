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

// A budget is kept per host: a host that is down spends its own reserve
// only, and the client still retries a healthy host.
func ExampleBudget_perHost() {
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable) // an outage
	}))
	defer dead.Close()
	var calls atomic.Int64
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
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

	for range 2 {
		resp, err := client.R().Get(dead.URL)
		fmt.Println("dead:", resp.Request.Attempt, "attempts, budget exhausted:", errors.Is(err, restyretry.ErrBudgetExhausted))
	}
	resp, err := client.R().Get(healthy.URL)
	fmt.Println("healthy:", resp.Request.Attempt, "attempts,", resp.StatusCode(), err)
	// Output:
	// dead: 3 attempts, budget exhausted: true
	// dead: 1 attempts, budget exhausted: true
	// healthy: 2 attempts, 200 <nil>
}
