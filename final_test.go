package restyretry

// The final hunt: proxies, redirects, decoders, multipart, idempotency
// keys, per-request observers, give-ups, concurrency and clones, as a
// resty v2 user meets them on loopback.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
)

// connectRefuser is a proxy that answers every CONNECT with 407 and
// counts them.
func connectRefuser(t *testing.T) (*rawServer, *atomic.Int32) {
	var connects atomic.Int32
	proxy := newRawServer(t, func(_ int, req *http.Request, c net.Conn) {
		if req.Method == http.MethodConnect {
			connects.Add(1)
		}
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
	})
	return proxy, &connects
}

func TestFinalProxy407CustomTransport(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			proxy, connects := connectRefuser(t)
			pu, _ := url.Parse(proxy.url)
			tr := &http.Transport{Proxy: func(r *http.Request) (*url.URL, error) {
				if r.URL.Scheme == "https" {
					return pu, nil
				}
				return nil, nil
			}}
			t.Cleanup(tr.CloseIdleConnections)
			c := newClient(t, fastPolicy(3), func(c *resty.Client) { c.SetTransport(tr) })
			_, err := c.R().Execute(method, "https://127.0.0.1:1/x")
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "proxyconnect" || errors.Is(err, ErrGaveUp) {
				t.Errorf("err = %v, want proxyconnect, no give-up", err)
			}
			if n := connects.Load(); n != 1 {
				t.Errorf("%d CONNECTs, want 1 (err %v)", n, err)
			}
		})
	}
}

func TestFinalProxy407SetProxyPost(t *testing.T) {
	proxy, connects := connectRefuser(t)
	c := newClient(t, fastPolicy(3)).SetProxy(proxy.url)
	_, err := c.R().SetBody("x").Post("https://127.0.0.1:1/x")
	if n := connects.Load(); n != 1 {
		t.Errorf("%d CONNECTs, want 1 (err %v)", n, err)
	}
}

func TestFinalProxyDown(t *testing.T) {
	for _, target := range []string{"http://127.0.0.1:1/x", "https://127.0.0.1:1/x"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(method+" "+target, func(t *testing.T) {
				tr, dials := countingTransport()
				c := newClient(t, fastPolicy(3), func(c *resty.Client) { c.SetTransport(tr) })
				c.SetProxy(refusedURL(t))
				_, err := c.R().Execute(method, target)
				var op *net.OpError
				if !errors.As(err, &op) || op.Op != "proxyconnect" {
					t.Errorf("err = %v, want proxyconnect", err)
				}
				if n := dials.Load(); n != 1 {
					t.Errorf("%d dials, want 1 (err %v)", n, err)
				}
			})
		}
	}
}

func TestFinalRedirectToDeadCDN(t *testing.T) {
	dead := refusedURL(t)
	api := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, _ int) {
		io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, dead+"/asset", http.StatusFound)
	})
	c := newClient(t, fastPolicy(2))
	_, err := c.R().Get(api.URL + "/a")
	if err == nil || api.calls() != 3 {
		t.Errorf("GET: api saw %d calls, want 3 (err %v)", api.calls(), err)
	}
	before := api.calls()
	_, err = c.R().SetBody("x").Post(api.URL + "/a")
	if err == nil || api.calls()-before != 1 {
		t.Errorf("POST → 302 → refused: api saw %d calls, want 1 (err %v)", api.calls()-before, err)
	}
}

func TestFinalRedirect307PostSameBody(t *testing.T) {
	log := newRequestLog()
	cdn := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record("cdn "+r.Header.Get("X-Test-ID"), r) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	api := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record("api "+r.Header.Get("X-Test-ID"), r)
		http.Redirect(w, r, cdn.URL+"/b", http.StatusTemporaryRedirect)
	})
	bodies := map[string]func(*resty.Request){
		"string": func(r *resty.Request) { r.SetBody("payload") },
		"reader": func(r *resty.Request) { r.SetBody(strings.NewReader("payload")) },
		"bytes":  func(r *resty.Request) { r.SetBody(bytes.NewReader([]byte("payload"))) },
		"json":   func(r *resty.Request) { r.SetBody(map[string]string{"a": "payload"}) },
	}
	for name, set := range bodies {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, fastPolicy(3))
			r := c.R().SetHeader("X-Test-ID", name)
			set(r)
			resp, err := r.Post(api.URL + "/a")
			if err != nil || resp.String() != "ok" {
				t.Errorf("%q, %v", resp.String(), err)
			}
		})
	}
	for name := range bodies {
		for _, k := range []string{"api " + name, "cdn " + name} {
			bs := log.bodiesOf(k)
			if len(bs) != 2 || bs[0] != bs[1] || bs[0] == "" {
				t.Errorf("%s bodies %q, want two, the same bytes", k, bs)
			}
		}
	}
}

func TestFinalRedirectLoopNotRetried(t *testing.T) {
	var hits atomic.Int32
	var s string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, s+"/loop", http.StatusFound)
	})
	s = srv.URL
	for _, name := range []string{"default", "flexible"} {
		t.Run(name, func(t *testing.T) {
			hits.Store(0)
			c := newClient(t, fastPolicy(3))
			if name == "flexible" {
				c.SetRedirectPolicy(resty.FlexibleRedirectPolicy(4))
			}
			_, err := c.R().Get(srv.URL + "/loop")
			if err == nil {
				t.Fatal("no error")
			}
			want := int32(10)
			if name == "flexible" {
				want = 4
			}
			if n := hits.Load(); n != want {
				t.Errorf("%d hits, want %d (one attempt; err %v)", n, want, err)
			}
		})
	}
	_ = sync.Mutex{}
}

type finalResult struct {
	A string `json:"a" xml:"a"`
}

// Decoders on empty and garbage bodies: the status decides, never the
// decode error (a 2xx and a 4xx once, a 503 retried).
func TestFinalDecodersStatusDecides(t *testing.T) {
	type tc struct {
		ctype, enc, body string
	}
	cases := map[string]tc{
		"json empty":   {"application/json", "", ""},
		"json garbage": {"application/json", "", "{not json"},
		"xml empty":    {"application/xml", "", ""},
		"xml garbage":  {"application/xml", "", "<a><b"},
		"gzip garbage": {"application/json", "gzip", "definitely not gzip"},
		"gzip empty":   {"application/json", "gzip", ""},
	}
	for name, k := range cases {
		for _, status := range []int{200, 201, 400, 404, 503} {
			t.Run(name+" "+http.StatusText(status), func(t *testing.T) {
				t.Parallel()
				var hits atomic.Int32
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					w.Header().Set("Content-Type", k.ctype)
					if k.enc != "" {
						w.Header().Set("Content-Encoding", k.enc)
					}
					w.WriteHeader(status)
					io.WriteString(w, k.body)
				})
				c := newClient(t, fastPolicy(2))
				resp, err := c.R().SetResult(&finalResult{}).SetError(&finalResult{}).Get(srv.URL)
				want := int32(1)
				if status == 503 {
					want = 3
				}
				if n := hits.Load(); n != want {
					t.Errorf("%d attempts, want %d (err %v)", n, want, err)
				}
				if statusOf(resp) != status {
					t.Errorf("status %d, want %d (err %v)", statusOf(resp), status, err)
				}
				if errors.Is(err, ErrGaveUp) {
					t.Errorf("err = %v: retries used up or sent once is no give-up", err)
				}
			})
		}
	}
}

func TestFinalOnAfterResponseError(t *testing.T) {
	hookErr := errors.New("hook says no")
	for _, status := range []int{200, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var hits atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.WriteHeader(status)
				io.WriteString(w, "body")
			})
			c, events := eventClient(t, fastPolicy(2))
			c.OnAfterResponse(func(_ *resty.Client, resp *resty.Response) error { return hookErr })
			resp, err := c.R().Get(srv.URL)
			want := int32(1)
			if status == 503 {
				want = 3
			}
			if n := hits.Load(); n != want {
				t.Errorf("%d attempts, want %d (err %v)", n, want, err)
			}
			if !errors.Is(err, hookErr) {
				t.Errorf("err = %v, want the hook's", err)
			}
			if statusOf(resp) != status {
				t.Errorf("status %d, want %d", statusOf(resp), status)
			}
			evs := events.all()
			if len(evs) != int(want) {
				t.Errorf("%d events, want %d: %+v", len(evs), want, evs)
			}
		})
	}
}

// Multipart POSTs after a 503 with Retry-After: the same bytes and
// Content-Type on every attempt with the guard; refused without it.
func TestFinalMultipartRetryAfter(t *testing.T) {
	for _, via := range []string{"direct", "307"} {
		for _, hook := range []bool{false, true} {
			name := via
			if hook {
				name += " own hook"
			}
			t.Run(name, func(t *testing.T) {
				var mu sync.Mutex
				var bodies, types []string
				target := serve(t, func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					bodies, types = append(bodies, string(b)), append(types, r.Header.Get("Content-Type"))
					n := len(bodies)
					mu.Unlock()
					if n < 3 {
						w.Header().Set("Retry-After", "0")
						w.WriteHeader(http.StatusServiceUnavailable)
						return
					}
					io.WriteString(w, "ok")
				})
				u := target.URL + "/up"
				if via == "307" {
					api := serve(t, func(w http.ResponseWriter, r *http.Request) {
						io.Copy(io.Discard, r.Body)
						http.Redirect(w, r, target.URL+"/up", http.StatusTemporaryRedirect)
					})
					u = api.URL + "/up"
				}
				var before []func(*resty.Client)
				if hook {
					before = append(before, func(c *resty.Client) {
						c.SetPreRequestHook(func(*resty.Client, *http.Request) error { return nil })
					})
				}
				c := newClient(t, fastPolicy(3), before...)
				resp, err := c.R().
					SetFileReader("blob", "blob.bin", strings.NewReader(strings.Repeat("b", 10000))).
					SetMultipartFields(
						&resty.MultipartField{Param: "m1", Reader: strings.NewReader("one")},
						&resty.MultipartField{Param: "m2", Reader: strings.NewReader("two")},
						&resty.MultipartField{Param: "m3", Reader: strings.NewReader("three")},
					).
					SetFormData(map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}).
					Post(u)
				mu.Lock()
				defer mu.Unlock()
				if hook {
					if !errors.Is(err, ErrBodyNotReplayable) || len(bodies) != 1 {
						t.Errorf("own hook: %d attempts, err %v; want 1 and ErrBodyNotReplayable", len(bodies), err)
					}
					if statusOf(resp) != 503 {
						if ge := giveUpOf(t, err); statusOf(responseOf(ge)) != 503 {
							t.Errorf("last response %d, want the 503", statusOf(responseOf(ge)))
						}
					}
					return
				}
				if err != nil || resp.String() != "ok" || len(bodies) != 3 {
					t.Fatalf("%d attempts, %q, %v", len(bodies), resp.String(), err)
				}
				for i := range bodies {
					if bodies[i] != bodies[0] || types[i] != types[0] || len(bodies[i]) < 10000 {
						t.Errorf("attempt %d sent other bytes (%d vs %d) or type %q vs %q", i+1, len(bodies[i]), len(bodies[0]), types[i], types[0])
					}
				}
			})
		}
	}
}

// AddIdempotencyKey: the same key on every attempt of a POST retried
// after a 500, removed from r.Header afterwards, a new one on the next
// Execute of the same request.
func TestFinalIdempotencyKeyReused(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if n := log.record("k", r); n%3 != 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	c := newClient(t, p)
	r := c.R().SetBody("x")
	for round := range 2 {
		resp, err := r.Post(srv.URL)
		if err != nil || resp.String() != "ok" {
			t.Fatalf("round %d: %q, %v", round, resp.String(), err)
		}
		if h := r.Header.Get("Idempotency-Key"); h != "" {
			t.Errorf("round %d: r.Header keeps the key %q", round, h)
		}
		if h := resp.Request.RawRequest.Header.Get("Idempotency-Key"); h == "" {
			t.Errorf("round %d: RawRequest has no key", round)
		}
	}
	keys := log.keysOf("k")
	if len(keys) != 6 {
		t.Fatalf("keys %q, want 6 attempts", keys)
	}
	if keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] || keys[3] != keys[4] || keys[4] != keys[5] || keys[3] == keys[0] || keys[3] == "" {
		t.Errorf("keys %q: want one key per Execute, the same on its attempts", keys)
	}
	bs := log.bodiesOf("k")
	for i := range bs {
		if bs[i] != "x" {
			t.Errorf("bodies %q", bs)
		}
	}
}

// A per-request OnDecision and the client's: each once per decision, the
// request's first; ReplaceOnDecision drops the client's; observers see all.
func TestFinalPerRequestOnDecision(t *testing.T) {
	srv := newTestServer(t, byTestID, statuses(503, 503, 200))
	for _, replace := range []bool{false, true} {
		t.Run(map[bool]string{false: "both", true: "replace"}[replace], func(t *testing.T) {
			var mu sync.Mutex
			var order []string
			rec := func(who string) func(Event) {
				return func(ev Event) {
					mu.Lock()
					order = append(order, who+":"+ev.Verdict.String())
					mu.Unlock()
				}
			}
			cp := fastPolicy(3)
			cp.OnDecision = rec("client")
			c := newClient(t, cp)
			Observe(c, rec("observer"))
			rp := fastPolicy(3)
			rp.OnDecision = rec("request")
			rp.ReplaceOnDecision = replace
			id := "odec-" + map[bool]string{false: "both", true: "replace"}[replace]
			resp, err := c.R().SetHeader("X-Test-ID", id).SetContext(WithPolicy(t.Context(), rp)).Get(srv.URL)
			if err != nil || resp.StatusCode() != 200 {
				t.Fatalf("%d, %v", statusOf(resp), err)
			}
			var want []string
			for _, v := range []string{"retry", "retry", "stop"} {
				want = append(want, "request:"+v)
				if !replace {
					want = append(want, "client:"+v)
				}
				want = append(want, "observer:"+v)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(order, " ") != strings.Join(want, " ") {
				t.Errorf("calls\n %v\nwant\n %v", order, want)
			}
		})
	}
}

// WithoutRetry: a 503 is reported once, under RuleRetriesOff, at Debug.
func TestFinalWithoutRetryLogsDebug(t *testing.T) {
	srv := newTestServer(t, nil, statuses(503))
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewTextHandler(&lockedWriter{&buf, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	p := fastPolicy(3)
	p.OnDecision = LogEvents(slog.New(h))
	events := &eventLog{}
	c := newClient(t, p)
	Observe(c, events.record)
	resp, err := c.R().SetContext(WithoutRetry(t.Context())).Get(srv.URL)
	if err != nil || statusOf(resp) != 503 || srv.calls() != 1 {
		t.Fatalf("%d, %v, %d calls", statusOf(resp), err, srv.calls())
	}
	evs := events.all()
	if len(evs) != 1 || evs[0].Rule != RuleRetriesOff || evs[0].GiveUp != nil {
		t.Errorf("events %+v, want one RuleRetriesOff without give-up", evs)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "rule="+string(RuleRetriesOff)) {
		t.Errorf("log %q, want one DEBUG line under %s", out, RuleRetriesOff)
	}
	// With ErrorOnExhausted, and with WithoutRetry on an error: still Debug?
	buf.Reset()
	p.ErrorOnExhausted = true
	p.Apply(c)
	resp, err = c.R().SetContext(WithoutRetry(t.Context())).Get(srv.URL)
	mu.Lock()
	out = buf.String()
	mu.Unlock()
	if statusOf(resp) != 503 || strings.Contains(out, "level=WARN") {
		t.Errorf("ErrorOnExhausted + WithoutRetry: %d, %v, log %q", statusOf(resp), err, out)
	}
}

// Every give-up that follows a response: errors.Is ErrGaveUp and its
// reason, the last status readable, and a streamed body closed.
func TestFinalGiveUpsKeepLastResponse(t *testing.T) {
	type tc struct {
		reason error
		policy func(*Policy)
		reply  func(w http.ResponseWriter, n int)
		ctx    func(t *testing.T) context.Context
		method string
	}
	const longBody = "0123456789"
	cases := map[string]tc{
		"exhausted": {reason: ErrRetriesExhausted, policy: func(p *Policy) { p.ErrorOnExhausted = true },
			reply: func(w http.ResponseWriter, _ int) { w.WriteHeader(503); io.WriteString(w, longBody) }},
		"wait too long": {reason: ErrWaitTooLong,
			reply: func(w http.ResponseWriter, _ int) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(503)
				io.WriteString(w, longBody)
			}},
		"budget": {reason: ErrBudgetExhausted, policy: func(p *Policy) { p.Budget = Budget{Reserve: 1, Ratio: 0.1, Window: time.Minute} },
			reply: func(w http.ResponseWriter, _ int) { w.WriteHeader(503); io.WriteString(w, longBody) }},
		"time limit": {reason: ErrTimeLimit, policy: func(p *Policy) { p.MaxElapsed = 20 * time.Millisecond; p.BaseDelay = 50 * time.Millisecond },
			reply: func(w http.ResponseWriter, _ int) { w.WriteHeader(503); io.WriteString(w, longBody) }},
		"deadline": {reason: ErrDeadline, policy: func(p *Policy) { p.BaseDelay = time.Second },
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			reply: func(w http.ResponseWriter, _ int) { w.WriteHeader(503); io.WriteString(w, longBody) }},
		"exhausted 429": {reason: ErrRetriesExhausted, policy: func(p *Policy) { p.ErrorOnExhausted = true }, method: http.MethodPost,
			reply: func(w http.ResponseWriter, _ int) {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(429)
				io.WriteString(w, longBody)
			}},
	}
	for name, k := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", name, stream), func(t *testing.T) {
				t.Parallel()
				srv := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) { k.reply(w, n) })
				p := fastPolicy(2)
				if k.policy != nil {
					k.policy(&p)
				}
				c := newClient(t, p)
				ctx := t.Context()
				if k.ctx != nil {
					ctx = k.ctx(t)
				}
				method := k.method
				if method == "" {
					method = http.MethodGet
				}
				resp, err := c.R().SetContext(ctx).SetDoNotParseResponse(stream).SetBody("b").Execute(method, srv.URL)
				if !errors.Is(err, ErrGaveUp) || !errors.Is(err, k.reason) {
					t.Fatalf("err = %v, want ErrGaveUp and %v", err, k.reason)
				}
				ge := giveUpOf(t, err)
				last := resp
				if last == nil {
					last = responseOf(ge)
				}
				want := 503
				if name == "exhausted 429" {
					want = 429
				}
				if statusOf(last) != want || ge.Status != want {
					t.Errorf("status %d, GiveUpError.Status %d, want %d", statusOf(last), ge.Status, want)
				}
				if stream {
					if last == nil || last.RawBody() == nil {
						t.Fatal("no raw body")
					}
					if _, rerr := last.RawBody().Read(make([]byte, 1)); rerr == nil || rerr == io.EOF && false {
						t.Errorf("streamed body readable after a give-up (err %v)", rerr)
					}
				} else if last.String() != longBody {
					t.Errorf("body %q, want %q", last.String(), longBody)
				}
			})
		}
	}
}

// 300 concurrent requests over 30 hosts, 200s, 503s and 429s with
// Retry-After mixed, under Default and Background (Pace on), in test mode:
// every request accounted for, no real wait, nothing left running.
func TestFinalConcurrentHosts(t *testing.T) {
	for _, preset := range []string{"Default", "Background", "Default+Pace"} {
		t.Run(preset, func(t *testing.T) {
			var hosts []*testServer
			for range 30 {
				hosts = append(hosts, newTestServer(t, byTestID, func(w http.ResponseWriter, r *http.Request, n int) {
					switch {
					case strings.HasPrefix(r.URL.Path, "/flaky") && n == 1:
						w.WriteHeader(503)
					case strings.HasPrefix(r.URL.Path, "/limited") && n == 1:
						w.Header().Set("Retry-After", "2")
						w.WriteHeader(429)
					default:
						io.WriteString(w, "ok")
					}
				}))
			}
			p := Default()
			switch preset {
			case "Background":
				p = Background()
			case "Default+Pace":
				p.Pace = true
			}
			if !p.Pace && preset != "Default" {
				t.Fatal("Background without Pace")
			}
			events := &eventLog{}
			c := newClient(t, p.TestMode(-1))
			Observe(c, events.record)
			start := time.Now()
			var wg sync.WaitGroup
			var ok, gaveUp, other atomic.Int32
			paths := []string{"/ok", "/flaky", "/limited"}
			for i := range 300 {
				spawn(&wg, func() {
					h := hosts[i%30]
					resp, err := c.R().SetContext(safetyNet(t)).SetHeader("X-Test-ID", fmt.Sprint(i)).
						Get(h.URL + paths[i%3])
					switch {
					case err == nil && resp.StatusCode() == 200:
						ok.Add(1)
					case errors.Is(err, ErrGaveUp):
						gaveUp.Add(1)
					default:
						other.Add(1)
						t.Errorf("request %d: %d, %v", i, statusOf(resp), err)
					}
				})
			}
			wg.Wait()
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v: test mode waited for real", el)
			}
			if ok.Load()+gaveUp.Load() != 300 || ok.Load() < 250 {
				t.Errorf("ok %d, gave up %d, other %d", ok.Load(), gaveUp.Load(), other.Load())
			}
			calls := 0
			for _, h := range hosts {
				calls += h.calls()
			}
			if calls > 500 {
				t.Errorf("%d calls for 300 requests, 200 failures at most once", calls)
			}
			rules := map[Rule]int{}
			for _, ev := range events.all() {
				rules[ev.Rule]++
			}
			t.Logf("rules %v", rules)
			t.Logf("ok %d, gave up %d, %d calls, %d events, %v", ok.Load(), gaveUp.Load(), calls, len(events.all()), time.Since(start))
		})
	}
}

// Clone after Apply, then TestMode and Observe on the clone only: the
// original keeps its policy, its waits and no observer.
func TestFinalCloneTestModeObserve(t *testing.T) {
	srv := newTestServer(t, byTestID, statuses(503))
	for _, order := range []string{"testmode first", "observe first"} {
		t.Run(order, func(t *testing.T) {
			p := fastPolicy(2)
			origEvents := &eventLog{}
			p.OnDecision = origEvents.record
			orig := newClient(t, p)
			clone := orig.Clone()
			var seen eventLog
			if order == "testmode first" {
				TestMode(clone, 0)
				Observe(clone, seen.record)
			} else {
				Observe(clone, seen.record)
				TestMode(clone, 0)
			}
			origWaits := handedWaits(orig)
			cloneWaits := handedWaits(clone)

			resp, err := orig.R().SetHeader("X-Test-ID", order+" orig").Get(srv.URL)
			if err != nil || statusOf(resp) != 503 || srv.count(order+" orig") != 3 {
				t.Errorf("original: %d, %v, %d calls; want 3 calls", statusOf(resp), err, srv.count(order+" orig"))
			}
			if w := origWaits(); len(w) != 2 || w[0] != 5*time.Millisecond || w[1] != 10*time.Millisecond {
				t.Errorf("original's waits %v, want [5ms 10ms]: it went into test mode", w)
			}
			if n := len(seen.all()); n != 0 {
				t.Errorf("the clone's observer saw %d events of the original", n)
			}
			if n := len(origEvents.take()); n != 3 {
				t.Errorf("original's OnDecision saw %d events, want 3", n)
			}

			resp, err = clone.R().SetHeader("X-Test-ID", order+" clone").Get(srv.URL)
			if err != nil || statusOf(resp) != 503 || srv.count(order+" clone") != 1 {
				t.Errorf("clone: %d, %v, %d calls; want 1 (test mode, 0 retries)", statusOf(resp), err, srv.count(order+" clone"))
			}
			if n := len(seen.all()); n != 1 {
				t.Errorf("the clone's observer saw %d events, want 1", n)
			}
			if w := cloneWaits(); len(w) != 0 {
				t.Errorf("clone's waits %v", w)
			}
		})
	}
}

// wrapRT is a RoundTripper that wraps another, as logging and tracing
// wrappers do: it hides the *http.Transport and its Proxy.
type wrapRT struct{ rt http.RoundTripper }

func (w wrapRT) RoundTrip(r *http.Request) (*http.Response, error) { return w.rt.RoundTrip(r) }

// Behind a wrapping RoundTripper a CONNECT refusal cannot be told from an
// unknown transport error (docs/safety.md): a POST is still sent once, and
// a dead proxy is still proxyconnect, sent once.
func TestFinalProxyBehindWrapper(t *testing.T) {
	proxy, connects := connectRefuser(t)
	pu, _ := url.Parse(proxy.url)
	tr := &http.Transport{Proxy: http.ProxyURL(pu)}
	t.Cleanup(tr.CloseIdleConnections)
	c := newClient(t, fastPolicy(3), func(c *resty.Client) { c.SetTransport(wrapRT{tr}) })
	if _, err := c.R().SetBody("x").Post("https://127.0.0.1:1/x"); connects.Load() != 1 {
		t.Errorf("POST: %d CONNECTs, want 1 (err %v)", connects.Load(), err)
	}

	dead, _ := url.Parse(refusedURL(t))
	var dials atomic.Int32
	var d net.Dialer
	tr2 := &http.Transport{Proxy: http.ProxyURL(dead), DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}}
	c2 := newClient(t, fastPolicy(3), func(c *resty.Client) { c.SetTransport(wrapRT{tr2}) })
	_, err := c2.R().Get("https://127.0.0.1:1/x")
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "proxyconnect" || dials.Load() != 1 {
		t.Errorf("dead proxy behind a wrapper: %d dials, err %v; want 1, proxyconnect", dials.Load(), err)
	}
}
