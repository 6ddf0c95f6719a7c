package otelretry

import (
	"context"
	"net"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Names of the observable gauges of budget and pacing state, read from
// restyretry.Hosts at every collection. The per-host ones have at most
// WithGaugeHosts series (20 by default) and one more, server.address
// "other", for the rest.
const (
	// MetricBudgetTokens is the retry tokens of a budget key (a host and a
	// route on it), its own and not the pool's: gauge, {token}; "other"
	// holds the sum of the rest.
	MetricBudgetTokens = "restyretry.budget.tokens"
	// MetricBudgetPool is the tokens of the budget's shared pool, summed
	// over the clients: gauge, {token}. Not reported while no client has
	// a pool or a host to show (no policy, or no budget and no traffic).
	MetricBudgetPool = "restyretry.budget.pool.tokens"
	// MetricBudgetFailing is how long a budget key's current failure
	// episode has lasted, 0 when none: gauge, s; "other" holds the longest
	// of the rest.
	MetricBudgetFailing = "restyretry.budget.failing.duration"
	// MetricPacingHeld is 1 while Pace holds a host's requests, 0 when it
	// does not: gauge, {host}; "other" counts the held hosts of the rest.
	// (Not restyretry.pace.*: restyretry.pace is a span event.)
	MetricPacingHeld = "restyretry.pacing.held"
	// MetricPacingRate is the rate Pace allows a host that it spreads
	// (a stated quota or AdaptivePace): gauge, {request}/s; only hosts
	// with a rate, "other" the sum of the rest.
	MetricPacingRate = "restyretry.pacing.rate"
)

// RouteKey is the budget route of a budget gauge's series: the request's
// Route, or the first segment of its path; absent when empty.
const RouteKey = attribute.Key("restyretry.budget.route")

// OtherHosts is server.address of the series that sums the hosts beyond
// the WithGaugeHosts most recently used.
const OtherHosts = "other"

// DefaultGaugeHosts is the number of per-host series of each gauge when
// WithGaugeHosts is not given.
const DefaultGaugeHosts = 20

// WithGaugeHosts sets how many budget keys (hosts and routes), the most
// recently used, have series of their own in the budget and pacing
// gauges; the rest are summed under server.address "other". n ≤ 0 keeps
// the default, DefaultGaugeHosts. Clients instrumented with one meter
// provider share the gauges: the largest n given applies.
func WithGaugeHosts(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.gaugeHosts = n
		}
	}
}

// allRows bounds the second look at a client's state, for "other".
const allRows = 1 << 16

// gaugeGroup is the gauges of one meter provider and the clients they
// observe. One callback reads them all, so that two clients calling one
// host add up instead of overwriting each other's observation.
type gaugeGroup struct {
	key any

	mu      sync.Mutex
	clients map[*gaugeClient]struct{}
	max     int

	tokens, pool, failing, rate metric.Float64ObservableGauge
	held                        metric.Int64ObservableGauge
	reg                         metric.Registration
}

type gaugeClient struct{ c weak.Pointer[resty.Client] }

var gaugeGroups struct {
	mu sync.Mutex
	m  map[any]*gaugeGroup
}

// observeState adds c to the gauges of mp's meter m, making them on the
// first call for mp. A client that is garbage collected leaves the group;
// the last one to leave unregisters the callback.
func observeState(c *resty.Client, mp metric.MeterProvider, m metric.Meter, n int) error {
	var key any = mp
	if t := reflect.TypeOf(mp); t == nil || !t.Comparable() {
		key = new(byte) // a group of its own
	}
	gaugeGroups.mu.Lock()
	defer gaugeGroups.mu.Unlock()
	g := gaugeGroups.m[key]
	if g == nil {
		var err error
		if g, err = newGaugeGroup(m); err != nil {
			return err
		}
		g.key = key
		if gaugeGroups.m == nil {
			gaugeGroups.m = make(map[any]*gaugeGroup)
		}
		gaugeGroups.m[key] = g
	}
	gc := &gaugeClient{c: weak.Make(c)}
	g.mu.Lock()
	g.clients[gc] = struct{}{}
	g.max = max(g.max, n)
	g.mu.Unlock()
	runtime.AddCleanup(c, g.leave, gc)
	return nil
}

func (g *gaugeGroup) leave(gc *gaugeClient) {
	gaugeGroups.mu.Lock()
	defer gaugeGroups.mu.Unlock()
	g.mu.Lock()
	delete(g.clients, gc)
	empty := len(g.clients) == 0
	g.mu.Unlock()
	if empty {
		delete(gaugeGroups.m, g.key)
		_ = g.reg.Unregister()
	}
}

func newGaugeGroup(m metric.Meter) (*gaugeGroup, error) {
	g := &gaugeGroup{clients: make(map[*gaugeClient]struct{})}
	var err error
	if g.tokens, err = m.Float64ObservableGauge(MetricBudgetTokens, metric.WithUnit("{token}"),
		metric.WithDescription("Retry tokens of a budget key (host and route), its own, not the shared pool's.")); err != nil {
		return nil, err
	}
	if g.pool, err = m.Float64ObservableGauge(MetricBudgetPool, metric.WithUnit("{token}"),
		metric.WithDescription("Retry tokens of the budget's shared pool.")); err != nil {
		return nil, err
	}
	if g.failing, err = m.Float64ObservableGauge(MetricBudgetFailing, metric.WithUnit("s"),
		metric.WithDescription("How long a budget key's current failure episode has lasted; 0 when none.")); err != nil {
		return nil, err
	}
	if g.held, err = m.Int64ObservableGauge(MetricPacingHeld, metric.WithUnit("{host}"),
		metric.WithDescription("1 while pacing holds the host's requests, 0 otherwise.")); err != nil {
		return nil, err
	}
	if g.rate, err = m.Float64ObservableGauge(MetricPacingRate, metric.WithUnit("{request}/s"),
		metric.WithDescription("The rate pacing allows the host, from its stated quota or adaptive rate.")); err != nil {
		return nil, err
	}
	if g.reg, err = m.RegisterCallback(g.observe, g.tokens, g.pool, g.failing, g.held, g.rate); err != nil {
		return nil, err
	}
	return g, nil
}

// stateRow is one series of the per-key gauges, summed over the clients.
type stateRow struct {
	host, route string
	tokens      float64
	failing     float64 // seconds
	held        int64
	rate        float64
	primary     bool // the host's first row, which carries its pacing state
}

func (r *stateRow) add(h *restyretry.HostState) {
	r.tokens += h.Tokens
	r.failing = max(r.failing, h.FailingFor.Seconds())
	if !h.PacedUntil.IsZero() {
		if r.host == OtherHosts {
			r.held++ // a count of the held hosts
		} else {
			r.held = 1
		}
	}
	r.rate += h.PaceRate
}

// observe reads every client's state: the max most recently used keys
// (over all clients) get series of their own, the others go to "other".
func (g *gaugeGroup) observe(_ context.Context, o metric.Observer) error {
	g.mu.Lock()
	clients := make([]*gaugeClient, 0, len(g.clients))
	for gc := range g.clients {
		clients = append(clients, gc)
	}
	n := g.max
	g.mu.Unlock()

	type rowKey struct{ host, route string }
	var rows []stateRow
	index := make(map[rowKey]int)
	other := stateRow{host: OtherHosts}
	folded := false
	pool, withState := 0.0, false
	for _, gc := range clients {
		c := gc.c.Value()
		if c == nil {
			continue
		}
		top, p := restyretry.Hosts(c, n)
		pool += p
		// No policy, or no budget and nothing paced: no state to show
		// (a budget's pool is full until its hosts spend it).
		withState = withState || len(top) > 0 || p > 0
		mine := make(map[rowKey]bool, len(top))
		for i := range top {
			h := &top[i]
			k := rowKey{h.Host, h.Route}
			mine[k] = true
			j, ok := index[k]
			if !ok && len(rows) < n {
				j, ok = len(rows), true
				index[k] = j
				rows = append(rows, stateRow{host: h.Host, route: h.Route})
			}
			if !ok {
				other.add(h)
				folded = true
				continue
			}
			rows[j].add(h)
		}
		if len(top) < n {
			continue // everything is in top
		}
		all, _ := restyretry.Hosts(c, allRows)
		for i := range all {
			if h := &all[i]; !mine[rowKey{h.Host, h.Route}] {
				other.add(h)
				folded = true
			}
		}
	}
	if !withState {
		return nil
	}
	o.ObserveFloat64(g.pool, pool)
	seen := make(map[string]int, len(rows)) // host → its row with the pacing state
	for i := range rows {
		r := &rows[i]
		if j, ok := seen[r.host]; ok {
			rows[j].held = max(rows[j].held, r.held)
			rows[j].rate += r.rate
			continue
		}
		seen[r.host] = i
		r.primary = true
	}
	for i := range rows {
		r := &rows[i]
		hostAttrs := hostAttributes(r.host)
		budget := hostAttrs
		if r.route != "" {
			budget = append(hostAttrs[:len(hostAttrs):len(hostAttrs)], RouteKey.String(r.route))
		}
		bopt := metric.WithAttributes(budget...)
		o.ObserveFloat64(g.tokens, r.tokens, bopt)
		o.ObserveFloat64(g.failing, r.failing, bopt)
		if !r.primary {
			continue
		}
		hopt := metric.WithAttributes(hostAttrs...)
		o.ObserveInt64(g.held, r.held, hopt)
		if r.rate > 0 {
			o.ObserveFloat64(g.rate, r.rate, hopt)
		}
	}
	if folded {
		opt := metric.WithAttributes(semconv.ServerAddress(OtherHosts))
		o.ObserveFloat64(g.tokens, other.tokens, opt)
		o.ObserveFloat64(g.failing, other.failing, opt)
		o.ObserveInt64(g.held, other.held, opt)
		if other.rate > 0 {
			o.ObserveFloat64(g.rate, other.rate, opt)
		}
	}
	return nil
}

// hostAttributes are server.address, server.port and url.scheme of a
// HostState's Host, "scheme://host:port".
func hostAttributes(host string) []attribute.KeyValue {
	scheme, hp, ok := strings.Cut(host, "://")
	if !ok {
		return []attribute.KeyValue{semconv.ServerAddress(host)}
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		h = hp
	}
	attrs = append(attrs, semconv.ServerAddress(h))
	if port, err := strconv.Atoi(p); err == nil && port > 0 {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	if scheme != "" {
		attrs = append(attrs, semconv.URLScheme(scheme))
	}
	return attrs
}
