package restyretry

// Regression tests of issue 15 (items 3–10, 12 and 13), each on a real
// loopback server, the way users call resty. Items 1, 2 and 11 are tested
// elsewhere.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"go.uber.org/goleak"
)

// hangLimit is how long a request may take before the test calls it a
// hang. It is no speed assertion: a request that works takes milliseconds.
const hangLimit = 10 * time.Second

// within runs f and fails the test if it has not returned after hangLimit.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(hangLimit):
		t.Fatalf("%s: still running after %v", what, hangLimit)
	}
}

// Item 3: a retried 503 whose streamed body stalls or trickles does not
// hold the request: it is drained a little, then its connection is closed.
func TestRegressionStreamedRetryBodyStallsNot(t *testing.T) {
	for name, write := range map[string]func(c net.Conn){
		"stalled": func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100000\r\n\r\nfirst bytes")
			untilClosed(c)
		},
		"trickling": func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100000\r\n\r\n")
			for {
				if _, err := io.WriteString(c, "x"); err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newRawServer(t, func(n int, _ *http.Request, c net.Conn) {
				if n == 1 {
					write(c)
					return
				}
				io.WriteString(c, okResponse(200, "second"))
			})
			c := newClient(t, fastPolicy(1))
			var (
				resp *resty.Response
				err  error
			)
			within(t, "streamed GET after a stalled 503", func() {
				resp, err = c.R().SetDoNotParseResponse(true).Get(s.url)
			})
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			body, _ := io.ReadAll(resp.RawBody())
			resp.RawBody().Close()
			if resp.StatusCode() != 200 || string(body) != "second" {
				t.Errorf("got %d %q, want 200 \"second\"", resp.StatusCode(), body)
			}
			if n := s.conns.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}

// Item 4: a status line came; a body cut short does not turn a final
// status into a network failure, and the server's verdict holds.
func TestRegressionCutBodyFinalStatusSentOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header string
	}{
		{"401", 401, ""},
		{"400", 400, ""},
		{"403", 403, ""},
		{"404", 404, ""},
		{"501", 501, ""},
		{"503 X-Should-Retry false", 503, "X-Should-Retry: false\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawServer(t, func(_ int, _ *http.Request, c net.Conn) {
				fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Length: 100\r\n\r\n0123456789",
					tc.status, http.StatusText(tc.status), tc.header)
			})
			c := newClient(t, fastPolicy(3))
			resp, err := c.R().Get(s.url)
			if n := s.conns.Load(); n != 1 {
				t.Errorf("sent %d times, want once", n)
			}
			if statusOf(resp) != tc.status {
				t.Errorf("status = %d, want %d", statusOf(resp), tc.status)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("err = %v, want the body's unexpected EOF", err)
			}
		})
	}
}

// Item 4: the other way round, a 2xx whose body is cut is retried (the
// body is what the caller wanted), and a POST refused with a 503 that asks
// for a retry is judged as that 503 whatever its body.
func TestRegressionCutBodyRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		first  string // the first answer, cut or garbled
	}{
		{"GET 200 cut", http.MethodGet,
			"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"},
		{"GET 200 cut chunked", http.MethodGet,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n"},
		{"GET 200 bad chunk size after data", http.MethodGet,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\nzz\r\n"},
		{"GET 200 cut before the first chunk", http.MethodGet,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"POST 503 Retry-After cut", http.MethodPost,
			"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 100\r\n\r\n0123456789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawServer(t, func(n int, req *http.Request, c net.Conn) {
				io.Copy(io.Discard, req.Body)
				if n == 1 {
					io.WriteString(c, tc.first)
					return
				}
				io.WriteString(c, okResponse(200, "whole"))
			})
			c := newClient(t, fastPolicy(3))
			resp, err := c.R().SetBody("order").Execute(tc.method, s.url)
			if n := s.conns.Load(); n != 2 {
				t.Errorf("sent %d times, want 2", n)
			}
			if err != nil || statusOf(resp) != 200 || resp.String() != "whole" {
				t.Errorf("got %d %q, err %v; want 200 \"whole\"", statusOf(resp), resp.String(), err)
			}
		})
	}
}

// Item 5: an error of a decoder or a middleware on a complete, empty 2xx
// is no network failure: the request is sent once.
func TestRegressionEmpty2xxDecodeErrorSentOnce(t *testing.T) {
	chunkedEmpty := func(header http.Header) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(200)
			w.(http.Flusher).Flush() // chunked, with no chunk
		}
	}
	for _, tc := range []struct {
		name    string
		method  string
		handler http.HandlerFunc
		setup   func(*resty.Client, *resty.Request)
	}{
		{"SetResult on an empty chunked XML 200", http.MethodGet,
			chunkedEmpty(http.Header{"Content-Type": {"application/xml"}}),
			func(_ *resty.Client, r *resty.Request) { r.SetResult(&struct{ A string }{}) }},
		{"SetResult on an empty XML 200 with Content-Length 0", http.MethodGet,
			func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Content-Type", "application/xml") },
			func(_ *resty.Client, r *resty.Request) { r.SetResult(&struct{ A string }{}) }},
		{"json.Decoder hook on an empty 200 to a DELETE", http.MethodDelete,
			chunkedEmpty(nil),
			func(c *resty.Client, _ *resty.Request) {
				c.OnAfterResponse(func(_ *resty.Client, resp *resty.Response) error {
					var v map[string]any
					return json.NewDecoder(bytes.NewReader(resp.Body())).Decode(&v)
				})
			}},
		{"gzip reader on an empty gzip 200", http.MethodGet,
			chunkedEmpty(http.Header{"Content-Encoding": {"gzip"}}),
			func(*resty.Client, *resty.Request) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, _ int) { tc.handler(w, r) })
			c := newClient(t, fastPolicy(3))
			// resty's own gzip reader, not the transport's transparent one.
			c.GetClient().Transport.(*http.Transport).DisableCompression = true
			r := c.R()
			tc.setup(c, r)
			resp, err := r.Execute(tc.method, ts.URL)
			if n := ts.calls(); n != 1 {
				t.Errorf("sent %d times, want once (err %v)", n, err)
			}
			if !errors.Is(err, io.EOF) || errors.Is(err, ErrGaveUp) {
				t.Errorf("err = %v, want the decoder's io.EOF", err)
			}
			if statusOf(resp) != 200 {
				t.Errorf("status = %d, want 200", statusOf(resp))
			}
		})
	}
}

// Item 6: a proxy that refuses the CONNECT (407) is a configuration error:
// nothing reached the server, and it is not retried.
func TestRegressionProxyConnect407NotRetried(t *testing.T) {
	var connects atomic.Int32
	proxy := newRawServer(t, func(_ int, req *http.Request, c net.Conn) {
		if req.Method == http.MethodConnect {
			connects.Add(1)
		}
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
	})
	c := newClient(t, fastPolicy(3)).SetProxy(proxy.url)
	_, err := c.R().Get("https://127.0.0.1:1/")
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "proxyconnect" || errors.Is(err, ErrGaveUp) {
		t.Errorf("err = %v, want net/http's proxyconnect form, no give-up", err)
	}
	if n := connects.Load(); n != 1 {
		t.Errorf("%d CONNECTs, want 1 (err %v)", n, err)
	}
}

// Item 7: api → 302 → cdn. cdn's 429 holds new requests to cdn, not to
// api.
func TestRegressionPaceChargesTheHostThatAnswered(t *testing.T) {
	cdn := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "cdn")
	})
	api := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Path == "/direct" {
			io.WriteString(w, "api")
			return
		}
		http.Redirect(w, r, cdn.URL+"/asset", http.StatusFound)
	})
	p := fastPolicy(0)
	p.Pace = true
	c, events := eventClient(t, p.TestMode(-1))

	resp, err := c.R().Get(api.URL + "/asset")
	if err != nil || resp.StatusCode() != http.StatusTooManyRequests {
		t.Fatalf("first: %d, %v; want cdn's 429", statusOf(resp), err)
	}
	events.take()
	apiHost, cdnHost := strings.TrimPrefix(api.URL, "http://"), strings.TrimPrefix(cdn.URL, "http://")

	if resp, err := c.R().Get(api.URL + "/direct"); err != nil || resp.String() != "api" {
		t.Fatalf("api: %q, %v", resp.String(), err)
	}
	for _, ev := range events.take() {
		if ev.Rule == RulePace {
			t.Errorf("a request to api was held for cdn's 429: %+v", ev)
		}
	}
	if resp, err := c.R().Get(cdn.URL + "/asset"); err != nil || resp.String() != "cdn" {
		t.Fatalf("cdn: %q, %v", resp.String(), err)
	}
	var held []string
	for _, ev := range events.take() {
		if ev.Rule == RulePace {
			u, _ := url.Parse(ev.URL)
			held = append(held, u.Host)
		}
	}
	if len(held) != 1 || held[0] != cdnHost {
		t.Errorf("holds %v, want one on cdn %s (api is %s)", held, cdnHost, apiHost)
	}
}

// Item 7: a dead redirect target spends its own retry budget, not the
// origin's: the healthy origin keeps its retries.
func TestRegressionDeadRedirectTargetSpendsItsBudget(t *testing.T) {
	dead := refusedURL(t)
	api := newTestServer(t, byPath, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/flaky/moved":
			http.Redirect(w, r, dead+"/gone", http.StatusFound)
		case "/flaky/warm":
			io.WriteString(w, "ok")
		default:
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok")
		}
	})
	p := fastPolicy(3)
	// The pool of 2 tokens is shared by every key; what is the origin's
	// alone is what its successes deposited: 2 × 0.5, one retry.
	p.Budget = Budget{Reserve: 2, Ratio: 0.5, Window: time.Minute}
	c := newClient(t, p.TestMode(-1))
	for range 2 {
		if _, err := c.R().Get(api.URL + "/flaky/warm"); err != nil {
			t.Fatal(err)
		}
	}

	_, err := c.R().Get(api.URL + "/flaky/moved")
	if !errors.Is(err, ErrBudgetExhausted) {
		t.Fatalf("redirect to a dead host: err = %v, want ErrBudgetExhausted after 2 retries (the pool)", err)
	}
	if n := api.count("/flaky/moved"); n != 3 {
		t.Errorf("api saw /flaky/moved %d times, want 3 (2 retries)", n)
	}
	resp, err := c.R().Get(api.URL + "/flaky")
	if err != nil || resp.String() != "ok" {
		t.Errorf("api itself: %q, %v; want its retry paid by its own budget", resp.String(), err)
	}
}

// opaqueCtx is a context of a type the context package does not know: a
// context derived from it is watched by a goroutine of its own until
// either ends.
type opaqueCtx struct{ done chan struct{} }

func (opaqueCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c opaqueCtx) Done() <-chan struct{}     { return c.done }
func (c opaqueCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}
func (opaqueCtx) Value(any) any { return nil }

// Item 8: a streamed request under MaxElapsed that ends with no body (a
// transport error, a refusal before sending) leaves no timer, context
// registration or goroutine behind.
func TestRegressionStreamedNoBodyDisarmsMaxElapsed(t *testing.T) {
	dead := refusedURL(t)
	limited := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	for _, tc := range []struct {
		name string
		run  func(c *resty.Client, ctx context.Context) error
	}{
		{"transport error", func(c *resty.Client, ctx context.Context) error {
			_, err := c.R().SetContext(ctx).SetDoNotParseResponse(true).Get(dead)
			return err
		}},
		{"Pace refusal", func(c *resty.Client, ctx context.Context) error {
			_, err := c.R().SetContext(ctx).SetDoNotParseResponse(true).Get(limited.URL)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fastPolicy(1)
			p.MaxElapsed = 15 * time.Minute
			p.Pace = true
			p.MaxRetryAfter = time.Second
			c := newClient(t, p)
			if tc.name == "Pace refusal" {
				// The 429 asks for an hour: the next request is refused
				// before sending.
				resp, err := c.R().SetDoNotParseResponse(true).Get(limited.URL)
				if !errors.Is(err, ErrWaitTooLong) {
					t.Fatalf("setup: err = %v", err)
				}
				if resp != nil && resp.RawBody() != nil {
					resp.RawBody().Close()
				}
			}
			ignore := goleak.IgnoreCurrent()
			ctx := opaqueCtx{done: make(chan struct{})}
			defer close(ctx.done)
			if err := tc.run(c, ctx); !errors.Is(err, ErrGaveUp) && !isRefused(err) {
				t.Fatalf("err = %v", err)
			}
			c.GetClient().CloseIdleConnections()
			if err := goleak.Find(ignore); err != nil {
				t.Errorf("left behind after the request ended: %v", err)
			}
		})
	}
}

// isRefused reports whether err is a refused connection.
func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Item 9: a streamed give-up returns the give-up error with the body
// closed; status and headers stay readable.
func TestRegressionStreamedGiveUpClosesBody(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, big)
	})
	c := newClient(t, fastPolicy(3))
	resp, err := c.R().SetDoNotParseResponse(true).Get(ts.URL)
	if !errors.Is(err, ErrWaitTooLong) {
		t.Fatalf("err = %v, want ErrWaitTooLong", err)
	}
	if n := ts.calls(); n != 1 {
		t.Errorf("sent %d times, want once", n)
	}
	if statusOf(resp) != 503 || resp.Header().Get("Retry-After") != "3600" {
		t.Fatalf("status %d, Retry-After %q; want both readable", statusOf(resp), resp.Header().Get("Retry-After"))
	}
	// Open, the 64 KiB body would give bytes; net/http's closed body says
	// "http: read on closed response body".
	if n, rerr := resp.RawBody().Read(make([]byte, 16)); n != 0 || rerr == nil || rerr == io.EOF ||
		!strings.Contains(rerr.Error(), "closed") {
		t.Errorf("reading the body: %d bytes, %v; want it closed", n, rerr)
	}
}

// Item 10: a server wait that fits before the deadline is not turned into
// ErrDeadline by the library's own spread: 500ms asked, 530ms left, the
// spread at its highest.
func TestRegressionSpreadClippedToTimeLeft(t *testing.T) {
	ts := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After-Ms", "500")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	p := fastPolicy(3)
	p.Rand = func() float64 { return 0.999 } // the spread would make it ~550ms
	// On a fake clock that stands still, so that the time the first attempt
	// takes under load does not eat the 30ms the test leaves.
	c, events, _ := decidedClient(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 530*time.Millisecond)
	defer cancel()
	resp, err := c.R().SetContext(ctx).Get(ts.URL)
	if err != nil || resp.String() != "ok" {
		t.Fatalf("got %q, %v; want the retry's ok, not ErrDeadline", resp.String(), err)
	}
	evs := events.all()
	if len(evs) != 2 || evs[0].Verdict != Retry || evs[0].Wait < 500*time.Millisecond || evs[0].Wait >= 530*time.Millisecond {
		t.Errorf("events %+v, want a retry after 500ms..530ms, then success", evs)
	}
}

// Item 12: a POST or PATCH is retried after a 503 only when the server
// asked for it or the request carries an Idempotency-Key; a 429 is
// retried.
func TestRegressionPost503(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		status int
		header http.Header // the 503's
		key    bool        // the request carries an Idempotency-Key
		sent   int
	}{
		{"POST bare 503", http.MethodPost, 503, nil, false, 1},
		{"PATCH bare 503", http.MethodPatch, 503, nil, false, 1},
		{"POST 503 Retry-After", http.MethodPost, 503, http.Header{"Retry-After": {"0"}}, false, 2},
		{"POST 503 X-Should-Retry true", http.MethodPost, 503, http.Header{"X-Should-Retry": {"true"}}, false, 2},
		{"POST 503 Idempotency-Key", http.MethodPost, 503, nil, true, 2},
		{"PATCH 503 Idempotency-Key", http.MethodPatch, 503, nil, true, 2},
		{"POST 429", http.MethodPost, 429, nil, false, 2},
		{"GET bare 503", http.MethodGet, 503, nil, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newRequestLog()
			ts := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if log.record("k", r) == 1 {
					for k, v := range tc.header {
						w.Header()[k] = v
					}
					w.WriteHeader(tc.status)
					io.WriteString(w, "upstream connect error or disconnect/reset before headers")
					return
				}
				w.WriteHeader(http.StatusCreated)
			})
			c := newClient(t, fastPolicy(3).TestMode(-1))
			r := c.R().SetBody(`{"order":1}`)
			if tc.key {
				r.SetHeader("Idempotency-Key", "order-1")
			}
			resp, err := r.Execute(tc.method, ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			if n := log.count("k"); n != tc.sent {
				t.Errorf("sent %d times, want %d", n, tc.sent)
			}
			want := http.StatusCreated
			if tc.sent == 1 {
				want = tc.status
			}
			if resp.StatusCode() != want {
				t.Errorf("status = %d, want %d", resp.StatusCode(), want)
			}
			if bodies := log.bodiesOf("k"); tc.sent == 2 && bodies[1] != bodies[0] {
				t.Errorf("bodies %q, want the same twice", bodies)
			}
		})
	}
}

// Item 13: ErrRetriesExhausted (ErrorOnExhausted) matches ErrGaveUp.
func TestRegressionRetriesExhaustedIsGaveUp(t *testing.T) {
	ts := newTestServer(t, nil, statuses(503))
	p := fastPolicy(2)
	p.ErrorOnExhausted = true
	c := newClient(t, p.TestMode(-1))
	resp, err := c.R().Get(ts.URL)
	if !errors.Is(err, ErrRetriesExhausted) || !errors.Is(err, ErrGaveUp) {
		t.Errorf("err = %v: ErrRetriesExhausted %v, ErrGaveUp %v; want both", err,
			errors.Is(err, ErrRetriesExhausted), errors.Is(err, ErrGaveUp))
	}
	if ge := giveUpOf(t, err); ge.Status != 503 || ge.Attempt != 3 {
		t.Errorf("give-up %+v, want status 503 at attempt 3", ge)
	}
	if n := ts.calls(); n != 3 || statusOf(resp) != 503 {
		t.Errorf("sent %d times, status %d; want 3 and 503", n, statusOf(resp))
	}
}

// Hunt: a hook that derives the request's context from the library's (a
// span) keeps its value in the success and error hooks when the policy
// needs state from the first attempt (MaxElapsed, an Idempotency-Key), and
// a follow-up made with resp.Request.Context() is not ended by the closed
// MaxElapsed bound.
func TestRegressionHookContextSurvivesEnd(t *testing.T) {
	type spanKey struct{}
	ts := newTestServer(t, nil, statuses(503, 200))
	p := fastPolicy(3)
	p.MaxElapsed = time.Minute
	p.AddIdempotencyKey = true
	c := newClient(t, p.TestMode(-1))
	var seen atomic.Value
	c.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
		if r.Context().Value(spanKey{}) == nil {
			r.SetContext(context.WithValue(r.Context(), spanKey{}, "span-1"))
		}
		return nil
	})
	c.OnSuccess(func(_ *resty.Client, resp *resty.Response) {
		seen.Store(fmt.Sprint(resp.Request.Context().Value(spanKey{})))
	})
	resp, err := c.R().SetHeader("Idempotency-Key", "k").SetBody("b").Post(ts.URL)
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got %d, %v", statusOf(resp), err)
	}
	if got := seen.Load(); got != "span-1" {
		t.Errorf("the success hook saw %v, want span-1", got)
	}
	ctx := resp.Request.Context()
	if ctx.Err() != nil || ctx.Value(spanKey{}) != "span-1" {
		t.Fatalf("the response's context: err %v, span %v; want live, span-1", ctx.Err(), ctx.Value(spanKey{}))
	}
	if resp, err := c.R().SetContext(ctx).Get(ts.URL); err != nil || resp.StatusCode() != 200 {
		t.Errorf("follow-up: %d, %v", statusOf(resp), err)
	}
	if n := ts.calls(); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}
