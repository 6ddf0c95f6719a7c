package core

import (
	"net"
	"sort"
	"time"
)

// HostState is what a Client holds for one upstream at an instant: a row
// of a gauge of budget and pacing state. Host is "scheme://host:port";
// Route is the budget's route on it ("" for a host only Pace knows).
type HostState struct {
	Host, Route string
	// Tokens is the key's own retry tokens (see Budget); FailingFor is how
	// long its current failure episode has lasted, 0 when none.
	Tokens     float64
	FailingFor time.Duration
	// PacedUntil is when Pace's hold on the host ends, zero when none;
	// PaceRate is its adaptive rate in requests per second, 0 when none.
	PacedUntil time.Time
	PaceRate   float64
}

// Hosts returns the state of at most max upstreams (the most recently used
// budget keys, then hosts only Pace holds), sorted by host, and the tokens
// of the budget's shared pool. It takes each table's lock once; the result
// is a copy.
func (c *Client) Hosts(max int) (hosts []HostState, pool float64) {
	now := c.clock.Now()
	byHost := map[hostKey]int{}
	if b := c.budget.Load(); b != nil {
		b.mu.Lock()
		pool = float64(b.pool) / milli
		b.keys.each(func(k budgetKey, v *keyBudget) bool {
			if len(hosts) >= max {
				return false
			}
			s := HostState{Host: k.host.String(), Route: k.route, Tokens: float64(v.own) / milli}
			if !v.failAt.IsZero() {
				s.FailingFor = max0(now.Sub(v.failAt))
			}
			if _, seen := byHost[k.host]; !seen {
				byHost[k.host] = len(hosts)
			}
			hosts = append(hosts, s)
			return true
		})
		b.mu.Unlock()
	}
	if c.pacer != nil {
		for i := range c.pacer.shards {
			sh := &c.pacer.shards[i]
			sh.mu.Lock()
			sh.hosts.each(func(k hostKey, h *paceHost) bool {
				until := h.until
				if !until.After(now) {
					until = time.Time{}
				}
				if until.IsZero() && h.rate == 0 {
					return true
				}
				if j, ok := byHost[k]; ok {
					hosts[j].PacedUntil, hosts[j].PaceRate = until, h.rate
				} else if len(hosts) < max {
					byHost[k] = len(hosts)
					hosts = append(hosts, HostState{Host: k.String(), PacedUntil: until, PaceRate: h.rate})
				}
				return true
			})
			sh.mu.Unlock()
		}
	}
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].Host < hosts[j].Host })
	return hosts, pool
}

func max0(d time.Duration) time.Duration { return max(d, 0) }

// String is the key as "scheme://host:port".
func (k hostKey) String() string {
	return k.scheme + "://" + net.JoinHostPort(k.host, k.port)
}

// each calls f for every entry, the most recently used first, until f
// returns false. It does not change the order of use.
func (t *keyTable[K, V]) each(f func(K, *V) bool) {
	for e := t.ring.next; e != &t.ring; e = e.next {
		if !f(e.key, &e.val) {
			return
		}
	}
}
