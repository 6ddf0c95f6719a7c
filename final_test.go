package restyretry

// The final hunt: proxies, redirects, decoders, multipart, idempotency
// keys, per-request observers, give-ups, concurrency and clones, as a
// resty v2 user meets them on loopback.

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
