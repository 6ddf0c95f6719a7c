package restyretry

// The final hunt: proxies, redirects, decoders, multipart, idempotency
// keys, per-request observers, give-ups, concurrency and clones, as a
// resty v2 user meets them on loopback.

import (
	"bytes"
	"errors"
	"io"
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
