package otelretry_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/restyretry/restyretry"
	"github.com/restyretry/restyretry/otelretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// gauge returns the data points of a gauge by attribute set, and checks
// its unit.
func gauge[N int64 | float64](t *testing.T, ms map[string]metricdata.Metrics, name, unit string) map[string]N {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("%s not reported", name)
	}
	if m.Unit != unit {
		t.Errorf("%s: unit %q, want %q", name, m.Unit, unit)
	}
	if m.Description == "" {
		t.Errorf("%s: no description", name)
	}
	g, ok := m.Data.(metricdata.Gauge[N])
	if !ok {
		t.Fatalf("%s: data is %T, not a gauge of %T", name, m.Data, *new(N))
	}
	out := make(map[string]N)
	for _, dp := range g.DataPoints {
		out[key(dp.Attributes)] = dp.Value
	}
	return out
}

// budgetPolicy is fastPolicy with a budget of 5 pool tokens.
func budgetPolicy() restyretry.Policy {
	p := fastPolicy(2)
	p.Budget = restyretry.Budget{Ratio: 0.5, Reserve: 5}
	return p
}

// TestBudgetGauges: the budget gauges show each key's tokens and failure
// episode, per host and route, and the pool's tokens, as restyretry.Hosts
// says; with WithGaugeHosts(2), a third host goes to "other".
func TestBudgetGauges(t *testing.T) {
	tel := newTelemetry(t)
	c := otelretry.Instrument(newClient(t, budgetPolicy()), append(tel.options(), otelretry.WithGaugeHosts(2))...)
	var ports []int
	for i := range 3 {
		srv := newScript(t, func(string, int) int { return http.StatusOK })
		if i == 0 {
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
			})
		}
		ports = append(ports, srv.port(t))
		for range 4 {
			_, _ = c.R().Get(srv.URL + "/users/1")
		}
	}
	hosts, pool := restyretry.Hosts(c, 100)
	if len(hosts) != 3 {
		t.Fatalf("Hosts: %v, want 3 keys", hosts)
	}
	ms := tel.collect(t)
	tokens := gauge[float64](t, ms, otelretry.MetricBudgetTokens, "{token}")
	failing := gauge[float64](t, ms, otelretry.MetricBudgetFailing, "s")
	if got := gauge[float64](t, ms, otelretry.MetricBudgetPool, "{token}"); len(got) != 1 || got[""] != pool {
		t.Errorf("pool %v, want one unattributed point %v", got, pool)
	}
	if len(tokens) != 3 || len(failing) != 3 {
		t.Fatalf("tokens %v, failing %v: want 2 keys and other", tokens, failing)
	}
	want := map[string]float64{}
	other := 0.0
	for _, h := range hosts {
		port := h.Host[strings.LastIndexByte(h.Host, ':')+1:]
		k := fmt.Sprintf("restyretry.budget.route=%s,server.address=127.0.0.1,server.port=%s,url.scheme=http", h.Route, port)
		if _, ok := tokens[k]; ok {
			want[k] = h.Tokens
		} else {
			other += h.Tokens
		}
	}
	if len(want) != 2 {
		t.Fatalf("series %v: want 2 of Hosts' %v", tokens, hosts)
	}
	want["server.address=other"] = other
	for k, v := range want {
		if tokens[k] != v {
			t.Errorf("tokens %s = %v, want %v", k, tokens[k], v)
		}
	}
	t.Logf("tokens %v, failing %v, pool %v", tokens, failing, pool)
	down := fmt.Sprintf("restyretry.budget.route=users,server.address=127.0.0.1,server.port=%d,url.scheme=http", ports[0])
	if v, ok := failing[down]; ok && v <= 0 {
		t.Errorf("failing %s = %v, want the episode of the failing host", down, v)
	} else if !ok && failing["server.address=other"] <= 0 {
		t.Errorf("failing %v: the failing host's episode is nowhere", failing)
	}
	held := gauge[int64](t, ms, otelretry.MetricPacingHeld, "{host}")
	if len(held) != 3 {
		t.Errorf("held %v, want 2 hosts and other, all 0", held)
	}
	for k, v := range held {
		if v != 0 || strings.Contains(k, "restyretry.budget.route") {
			t.Errorf("held %s = %v, want 0 and no route", k, v)
		}
	}
}

// TestPacingHeldGauge: a host whose 429 asks for a wait longer than the
// policy takes is held by Pace; restyretry.pacing.held is 1 for it.
func TestPacingHeldGauge(t *testing.T) {
	tel := newTelemetry(t)
	p := fastPolicy(1)
	p.Pace = true
	c := otelretry.Instrument(newClient(t, p), tel.options()...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	_, _ = c.R().Get(srv.URL)
	hosts, _ := restyretry.Hosts(c, 10)
	if len(hosts) != 1 || hosts[0].PacedUntil.IsZero() {
		t.Fatalf("Hosts %v: want the host held", hosts)
	}
	held := gauge[int64](t, tel.collect(t), otelretry.MetricPacingHeld, "{host}")
	k := key(attribute.NewSet(attribute.String("server.address", "127.0.0.1"),
		attribute.Int("server.port", newScriptPort(t, srv)), attribute.String("url.scheme", "http")))
	if held[k] != 1 || len(held) != 1 {
		t.Errorf("held %v, want %s = 1", held, k)
	}
}

// TestGaugesShared: two clients on one meter provider calling one host
// add up in one series (a gauge keeps one value per attribute set).
func TestGaugesShared(t *testing.T) {
	tel := newTelemetry(t)
	a := otelretry.Instrument(newClient(t, budgetPolicy()), tel.options()...)
	b := otelretry.Instrument(newClient(t, budgetPolicy()), tel.options()...)
	srv := newScript(t, func(string, int) int { return http.StatusOK })
	for range 3 {
		_, _ = a.R().Get(srv.URL + "/x")
		_, _ = b.R().Get(srv.URL + "/x")
	}
	ha, pa := restyretry.Hosts(a, 10)
	hb, pb := restyretry.Hosts(b, 10)
	ms := tel.collect(t)
	tokens := gauge[float64](t, ms, otelretry.MetricBudgetTokens, "{token}")
	if len(tokens) != 1 || len(ha) != 1 || len(hb) != 1 {
		t.Fatalf("tokens %v, Hosts %v and %v: want one key", tokens, ha, hb)
	}
	for _, v := range tokens {
		if v != ha[0].Tokens+hb[0].Tokens {
			t.Errorf("tokens %v, want %v + %v", v, ha[0].Tokens, hb[0].Tokens)
		}
	}
	if got := gauge[float64](t, ms, otelretry.MetricBudgetPool, "{token}")[""]; got != pa+pb {
		t.Errorf("pool %v, want %v + %v", got, pa, pb)
	}
}

func newScriptPort(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	return (&script{Server: srv}).port(t)
}
