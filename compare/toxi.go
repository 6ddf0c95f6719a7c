package compare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// faultTimeout bounds each attempt in the toxiproxy scenarios.
const faultTimeout = 100 * time.Millisecond

// toxicity is the share of connections a toxic affects; keep-alives are
// off in these scenarios, so every attempt draws again.
const toxicity = 0.5

// proxy is an in-process toxiproxy (v2.5.0) listening on 127.0.0.1 in
// front of upstream.
type proxy struct {
	p *toxiproxy.Proxy
}

func startProxy(upstream string) (*proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "compare", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, err
	}
	return &proxy{p: p}, nil
}

// URL is the proxy's address as an http URL.
func (x *proxy) URL() string { return "http://" + x.p.Listen }

// toxic adds a toxic of the given type to one stream ("upstream": client
// to server, "downstream": server to client).
func (x *proxy) toxic(typ, stream string, tox float64, timeoutMS int) error {
	js := fmt.Sprintf(`{"type":%q,"stream":%q,"toxicity":%g,"attributes":{"timeout":%d}}`, typ, stream, tox, timeoutMS)
	_, err := x.p.Toxics.AddToxicJson(strings.NewReader(js))
	return err
}

func (x *proxy) stop() { x.p.Stop() }

// upstream is an HTTP server on a fixed 127.0.0.1 port that can be taken
// down and brought back.
type upstream struct {
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func newUpstream(h http.Handler) (*upstream, error) {
	u := &upstream{addr: "127.0.0.1:0", h: h}
	if err := u.up(); err != nil {
		return nil, err
	}
	return u, nil
}

// up starts serving on u.addr (the port chosen the first time).
func (u *upstream) up() error {
	ln, err := net.Listen("tcp", u.addr)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.addr = ln.Addr().String()
	u.srv = &http.Server{Handler: u.h, ReadHeaderTimeout: 5 * time.Second}
	go func(s *http.Server) { _ = s.Serve(ln) }(u.srv)
	return nil
}

// down closes the listener and every connection: the port refuses.
func (u *upstream) down() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv != nil {
		_ = u.srv.Close()
		u.srv = nil
	}
}

// proxiedOK starts an upstream that records every request in rec and
// answers 200, and a toxiproxy in front of it; stop takes both down.
func proxiedOK(rec *Recorder) (up *upstream, px *proxy, stop func(), err error) {
	up, err = newUpstream(rec.Wrap(func(w http.ResponseWriter, r *http.Request, hit int) {
		w.WriteHeader(http.StatusOK)
	}))
	if err != nil {
		return nil, nil, nil, err
	}
	if px, err = startProxy(up.addr); err != nil {
		up.down()
		return nil, nil, nil, err
	}
	return up, px, func() { px.stop(); up.down() }, nil
}

// faultScenario sends sz.Faults requests from sz.FaultWorkers goroutines
// through a toxiproxy in front of a handler that applies each request and
// answers 200, with one toxic added.
func faultScenario(name, about string, sz Size, s Schedule, method, typ, stream string, timeoutMS int) Scenario {
	post := method == http.MethodPost
	return Scenario{Name: name, About: about, POST: post, Run: func(ctx context.Context, lib Library) (Row, error) {
		rec := &Recorder{Soon: s.Base / 2}
		_, px, stop, err := proxiedOK(rec)
		if err != nil {
			return Row{}, err
		}
		defer stop()
		if err := px.toxic(typ, stream, toxicity, timeoutMS); err != nil {
			return Row{}, err
		}
		c := lib.New(Config{Schedule: s, AttemptTimeout: faultTimeout, DisableKeepAlives: true})
		defer c.Close()
		n := sz.Faults
		var body []byte
		if post {
			n = sz.Orders
			body = []byte(`{"item":"book","quantity":1}`)
		}
		start := time.Now()
		_, outs := fire(ctx, c, n, sz.FaultWorkers, func(i int) Request {
			return Request{Method: method, URL: px.URL() + "/orders", ID: "o-" + strconv.Itoa(i), Body: body}
		})
		row := newRow(lib, outs, time.Since(start), rec.Counts())
		if post {
			row.Duplicates = row.Retries // every hit applies the order
		}
		return row, nil
	}}
}

// resetPeer: half the connections are reset (RST) when the request
// arrives, before the server sees it.
func resetPeer(sz Size, s Schedule) Scenario {
	return faultScenario("reset_peer",
		fmt.Sprintf("%d GETs through toxiproxy; reset_peer (upstream, toxicity %g) resets half the connections before the server sees the request", sz.Faults, toxicity),
		sz, s, http.MethodGet, "reset_peer", "upstream", 0)
}

// stalled: half the connections stop passing data and stay open; each
// attempt is bounded by faultTimeout.
func stalled(sz Size, s Schedule) Scenario {
	return faultScenario("timeout",
		fmt.Sprintf("%d GETs through toxiproxy; timeout (upstream, toxicity %g, never closes) stalls half the connections; each attempt times out after %v", sz.Faults, toxicity, faultTimeout),
		sz, s, http.MethodGet, "timeout", "upstream", 0)
}

// ordersReset: every order is applied by the server, and half the
// responses are reset (RST) on their way back.
func ordersReset(sz Size, s Schedule) Scenario {
	return faultScenario("post-reset",
		fmt.Sprintf("%d POSTs through toxiproxy; the server applies every order, reset_peer (downstream, toxicity %g) resets half the responses", sz.Orders, toxicity),
		sz, s, http.MethodPost, "reset_peer", "downstream", 0)
}

// deadUpstream: toxiproxy stays up while the server behind it is down, so
// every connection is accepted and then closed without a response; the
// server comes back downFor after the request was sent. One request at a
// time, sz.DeadTrials times.
func deadUpstream(sz Size, s Schedule) Scenario {
	downFor := 2*s.Base + s.Base/2
	return Scenario{
		Name: "dead-upstream",
		About: fmt.Sprintf("%d GETs, one at a time, through toxiproxy to a server that is down and comes back %v after each is sent",
			sz.DeadTrials, downFor),
		Run: func(ctx context.Context, lib Library) (Row, error) {
			rec := &Recorder{Soon: s.Base / 2}
			up, px, stop, err := proxiedOK(rec)
			if err != nil {
				return Row{}, err
			}
			defer stop()
			c := lib.New(Config{Schedule: s, AttemptTimeout: time.Second})
			defer c.Close()
			outs := make([]Outcome, sz.DeadTrials)
			start := time.Now()
			for i := range sz.DeadTrials {
				up.down()
				done := make(chan Outcome, 1)
				go func() {
					done <- c.Do(ctx, Request{Method: http.MethodGet, URL: px.URL(), ID: "d-" + strconv.Itoa(i)})
				}()
				time.Sleep(downFor)
				if err := up.up(); err != nil {
					<-done
					return Row{}, errors.Join(errors.New("upstream did not come back"), err)
				}
				outs[i] = <-done
			}
			return newRow(lib, outs, time.Since(start), rec.Counts()), nil
		},
	}
}
