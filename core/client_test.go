package core

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestClientDegradedReported: a degraded adapter is reported at once and
// again at every SetPolicy, to the client policy's OnDecision and the
// observers, as a RuleDegraded stop carrying the error.
func TestClientDegradedReported(t *testing.T) {
	var own, observed eventLog
	p := Default()
	p.OnDecision = own.record
	c, _ := newCore(p)
	c.Observe(observed.record)
	why := errors.New("no field X")
	c.Degraded(why)
	c.SetPolicy(p)
	for name, l := range map[string]*eventLog{"OnDecision": &own, "observer": &observed} {
		evs := l.all()
		if len(evs) != 2 {
			t.Fatalf("%s: %d events, want 2 (at once, then at SetPolicy)", name, len(evs))
		}
		for i, ev := range evs {
			if ev.Rule != RuleDegraded || ev.Verdict != Stop || !errors.Is(ev.Err, why) || ev.GiveUp != nil {
				t.Errorf("%s event %d = %+v, want a RuleDegraded stop with the error", name, i, ev)
			}
		}
	}
}

// TestClientHosts: the budget and pacing state of every upstream a client
// has answers from, as a copy, sorted by host.
func TestClientHosts(t *testing.T) {
	p := Default()
	p.Pace = true
	p.Rand = fixed(0.5)
	c, clk := newCore(p)
	if hosts, pool := c.Hosts(10); len(hosts) != 0 || pool != float64(DefaultBudgetReserve) {
		t.Fatalf("fresh client: %v hosts, pool %v; want none and a full pool of %d", hosts, pool, DefaultBudgetReserve)
	}
	// A 503 retried on one host, a 429 asking for 30s on another.
	e := start(t, c, context.Background(), http.MethodGet)
	step(e, clk, resp(1, 503))
	e.Next(ended(1, nil))
	e2 := start(t, c, context.Background(), http.MethodGet)
	o := resp(1, 429, "Retry-After", "30")
	o.URL = mustURL("https://limited.example.com/v1/x")
	e2.Next(o) // the caller gives up at once: the hold is seen from the 429's instant
	e2.Next(ended(1, nil))

	hosts, _ := c.Hosts(10)
	if len(hosts) != 2 {
		t.Fatalf("hosts = %+v, want 2", hosts)
	}
	byHost := map[string]HostState{}
	for _, h := range hosts {
		byHost[h.Host] = h
	}
	lim, ok := byHost["https://limited.example.com:443"]
	if !ok || !lim.PacedUntil.After(clk.Now()) || lim.PacedUntil.Sub(clk.Now()) > 30*time.Second {
		t.Errorf("limited host = %+v (ok %v), want paced for at most 30s from now", lim, ok)
	}
	if h, ok := byHost[testURL.Scheme+"://"+testURL.Hostname()+":443"]; !ok || h.FailingFor < 0 {
		t.Errorf("retried host = %+v (ok %v), want its budget row", h, ok)
	}
	if hosts, _ := c.Hosts(1); len(hosts) != 1 {
		t.Errorf("Hosts(1) gave %d rows, want 1", len(hosts))
	}
}

// TestClientRouteFromContext: WithRoute names the budget key of a request,
// whatever its path.
func TestClientRouteFromContext(t *testing.T) {
	c, _ := newCore(Default())
	e := c.Start(WithRoute(context.Background(), "billing"), nil, Request{Method: http.MethodGet})
	defer e.Close()
	if e.bud.route != "billing" {
		t.Errorf("route = %q, want billing", e.bud.route)
	}
	if got := RouteFrom(context.Background()); got != "" {
		t.Errorf("RouteFrom(background) = %q, want empty", got)
	}
}

// TestEventContextIsTheRequests: an event carries the request's context at
// the decision (with what its hooks added), or the caller's when the
// adapter gives none.
func TestEventContextIsTheRequests(t *testing.T) {
	type key struct{}
	var log eventLog
	p := Default()
	p.OnDecision = log.record
	c, clk := newCore(p)
	caller := context.Background()
	e := start(t, c, caller, http.MethodGet)
	o := resp(1, 503)
	o.Context = context.WithValue(caller, key{}, "hook")
	step(e, clk, o)
	step(e, clk, resp(2, 200))
	evs := log.all()
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	if evs[0].Context.Value(key{}) != "hook" {
		t.Errorf("event 1 context lacks the hook's value")
	}
	if evs[1].Context != caller {
		t.Errorf("event 2 context is %v, want the caller's", evs[1].Context)
	}
}
