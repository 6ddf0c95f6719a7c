package restyretry

// Regression tests for issue 8 ("Behaviour to fix"): the library used the
// way ordinary resty code uses a client — redirects, Clone, a request
// reused in a polling loop, streaming responses, error-raising middleware,
// test mode, hot reload, a client logger, the retry budget, and a follow-up
// request made with resp.Request.Context(). Every test talks to a real
// loopback server.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
)

// ---------------------------------------------------------------------------
// helpers

// retriesLeft is what the client's retry budget allows for rawURL's host
// now, in thousandths of a retry, read through its installation.
func retriesLeft(t *testing.T, c *resty.Client, rawURL string) int64 {
	t.Helper()
	own, _ := find(c)
	if own == nil {
		t.Fatal("client has no installation of its own")
	}
	b := own.budget.Load()
	if b == nil {
		t.Fatal("client has no budget")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	h, _ := b.slot(keyOf(u), time.Now(), true)
	return b.reserve + h.depSum - h.wdSum
}

// ---------------------------------------------------------------------------
// 1. A POST already applied is never re-sent after a redirect.

func TestUsageRedirectedPostNotResent(t *testing.T) {
	refused := refusedURL(t)
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther} {
		for _, final := range []string{"503", "429", "refused"} {
			for _, mode := range []string{"plain", "idempotency-key", "retry-all-methods"} {
				t.Run(fmt.Sprintf("%d/%s/%s", code, final, mode), func(t *testing.T) {
					log := newRequestLog()
					var srv *httptest.Server
					srv = serve(t, func(w http.ResponseWriter, r *http.Request) {
						switch r.URL.Path {
						case "/orders":
							log.record("POST "+r.Method, r)
							target := srv.URL + "/result"
							if final == "refused" {
								target = refused + "/result"
							}
							w.Header().Set("Location", target)
							w.WriteHeader(code)
						case "/result":
							log.record("GET "+r.Method, r)
							status, _ := strconv.Atoi(final)
							w.WriteHeader(status)
						}
					})
					p := fastPolicy(3)
					p.RetryAllMethods = mode == "retry-all-methods"
					c := newClient(t, p)
					req := c.R().SetBody(`{"item":1}`)
					if mode == "idempotency-key" {
						req.SetHeader("Idempotency-Key", "order-1")
					}
					resp, err := req.Post(srv.URL + "/orders")

					want := 1 // the order is created once
					if mode != "plain" {
						want = 1 + p.MaxRetries // the whole chain, retried
					}
					if got := log.count("POST POST"); got != want {
						t.Errorf("POST sent %d times, want %d", got, want)
					}
					wantGets := want
					if final == "refused" {
						wantGets = 0
					}
					if got := log.count("GET GET"); got != wantGets {
						t.Errorf("redirected GET sent %d times, want %d", got, wantGets)
					}
					if final == "refused" {
						if err == nil {
							t.Errorf("refused redirect target: nil error")
						}
					} else {
						if err != nil {
							t.Errorf("err = %v", err)
						}
						if status, _ := strconv.Atoi(final); resp == nil || resp.StatusCode() != status {
							t.Errorf("final status = %v, want %d", statusOf(resp), status)
						}
					}
				})
			}
		}
	}
}

// After 307 and 308 net/http re-sends the same method and body: the final
// response judges that re-sent POST as usual (a POST on 503 is retried),
// and every attempt carries the same bytes.
func TestUsageRedirect307ResendsSameBody(t *testing.T) {
	const payload = `{"order":"same bytes every time"}`
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, kind := range []string{"string", "bytes", "reader"} {
			t.Run(fmt.Sprintf("%d/%s", code, kind), func(t *testing.T) {
				log := newRequestLog()
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					switch r.URL.Path {
					case "/orders":
						log.record("orders "+r.Method, r)
						w.Header().Set("Location", "/again")
						w.WriteHeader(code)
					case "/again":
						if log.record("again "+r.Method, r) == 1 {
							w.WriteHeader(http.StatusServiceUnavailable)
							return
						}
						w.WriteHeader(http.StatusCreated)
					}
				})
				c := newClient(t, fastPolicy(3))
				req := c.R()
				switch kind {
				case "string":
					req.SetBody(payload)
				case "bytes":
					req.SetBody([]byte(payload))
				case "reader":
					req.SetBody(strings.NewReader(payload))
				}
				resp, err := req.Post(srv.URL + "/orders")
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if resp.StatusCode() != http.StatusCreated {
					t.Errorf("status = %d, want 201", resp.StatusCode())
				}
				want := []string{payload, payload}
				if got := log.bodiesOf("orders POST"); !slices.Equal(got, want) {
					t.Errorf("bodies at /orders = %q, want %q", got, want)
				}
				if got := log.bodiesOf("again POST"); !slices.Equal(got, want) {
					t.Errorf("bodies at /again = %q, want %q", got, want)
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// 2. Clone() of an applied client is independent.

// A clone given its own policy retries by it; the original keeps its own.
func TestUsageCloneApplyIndependent(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header.Get("X-Who"), r)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	var origEvents, cloneEvents eventLog
	po := fastPolicy(3)
	po.MaxRetries = 3
	po.OnDecision = origEvents.record
	orig := newClient(t, po)

	clone := orig.Clone()
	pc := fastPolicy(3)
	pc.MaxRetries = 1
	pc.OnDecision = cloneEvents.record
	pc.Apply(clone)

	for round := range 2 {
		if _, err := clone.R().SetHeader("X-Who", "clone").Get(srv.URL); err != nil {
			t.Fatal(err)
		}
		if _, err := orig.R().SetHeader("X-Who", "orig").Get(srv.URL); err != nil {
			t.Fatal(err)
		}
		if got, want := log.count("orig"), 4*(round+1); got != want {
			t.Errorf("round %d: original sent %d attempts in all, want %d (its own MaxRetries 3)", round, got, want)
		}
		if got, want := log.count("clone"), 2*(round+1); got != want {
			t.Errorf("round %d: clone sent %d attempts in all, want %d (its own MaxRetries 1)", round, got, want)
		}
	}
	if got, want := attemptsOf(origEvents.take()), []int{1, 2, 3, 4, 1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("original's events: attempts %v, want %v", got, want)
	}
	if got, want := attemptsOf(cloneEvents.take()), []int{1, 2, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("clone's events: attempts %v, want %v", got, want)
	}
}

// A clone that was never given its own policy shares its original's policy
// and budget: it follows an Apply on the original, and draws from the same
// bucket. Once the clone is applied it has its own (and a fresh budget).
func TestUsageCloneSharesUntilAdopted(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header.Get("X-Who"), r)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	p := fastPolicy(3)
	orig := newClient(t, p)
	clone := orig.Clone() // not applied: served by the original's installation

	get := func(c *resty.Client, who string) (int, error) {
		t.Helper()
		before := log.count(who)
		_, err := c.R().SetHeader("X-Who", who).Get(srv.URL)
		return log.count(who) - before, err
	}
	if n, err := get(clone, "clone"); n != 4 || err != nil {
		t.Errorf("clone before any change: %d attempts, err %v; want 4, nil (the original's policy)", n, err)
	}

	// The original's new policy serves the clone too.
	p.MaxRetries = 1
	p.Budget = Budget{Reserve: 2}
	p.Apply(orig)
	if n, err := get(clone, "clone"); n != 2 || err != nil {
		t.Errorf("clone after Apply on the original: %d attempts, err %v; want 2, nil", n, err)
	}
	// It drew one token of the shared reserve of 2; the original's request
	// takes the other, and the clone's next retry is refused.
	if n, err := get(orig, "orig"); n != 2 || err != nil {
		t.Errorf("original: %d attempts, err %v; want 2, nil", n, err)
	}
	n, err := get(clone, "clone")
	if n != 1 || !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("clone on the drained shared budget: %d attempts, err %v; want 1, ErrBudgetExhausted", n, err)
	}

	// Applied, the clone has its own budget; the original's stays empty.
	p.Apply(clone)
	if n, err := get(clone, "clone"); n != 2 || err != nil {
		t.Errorf("applied clone: %d attempts, err %v; want 2, nil (a fresh budget)", n, err)
	}
	if n, err := get(orig, "orig"); n != 1 || !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("original after the clone's Apply: %d attempts, err %v; want 1, ErrBudgetExhausted", n, err)
	}
}

// TestMode on a clone skips the clone's waits and caps the clone's
// retries, not the original's.
func TestUsageCloneTestModeIndependent(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header.Get("X-Who"), r)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.BaseDelay, p.MaxDelay, p.Jitter = 250*time.Millisecond, 250*time.Millisecond, NoJitter
	orig := newClient(t, p)
	const prodMin = 500 * time.Millisecond // two waits of 250ms

	clone := orig.Clone()
	TestMode(clone, -1)
	start := time.Now()
	if _, err := clone.R().SetHeader("X-Who", "clone").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= prodMin {
		t.Errorf("clone in test mode took %v, want well under %v (no waits)", took, prodMin)
	}
	if got := log.count("clone"); got != 3 {
		t.Errorf("clone sent %d attempts, want 3", got)
	}

	start = time.Now()
	if _, err := orig.R().SetHeader("X-Who", "orig").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < prodMin {
		t.Errorf("original took %v, want at least %v: the clone's test mode skipped its waits", took, prodMin)
	}
	if got := log.count("orig"); got != 3 {
		t.Errorf("original sent %d attempts, want 3", got)
	}

	clone2 := orig.Clone()
	TestMode(clone2, 0)
	if _, err := clone2.R().SetHeader("X-Who", "clone2").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := log.count("clone2"); got != 1 {
		t.Errorf("clone capped at 0 retries sent %d attempts, want 1", got)
	}
	start = time.Now()
	if _, err := orig.R().SetHeader("X-Who", "orig2").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := log.count("orig2"); got != 3 {
		t.Errorf("original after the clone's cap sent %d attempts, want 3", got)
	}
	if took := time.Since(start); took < prodMin {
		t.Errorf("original took %v after the clone's TestMode, want at least %v", took, prodMin)
	}
}

// multipartServer records the length of the "file" part of every
// attempt per X-Who and answers 503 to each key's first attempt.
func multipartServer(t *testing.T) (*httptest.Server, *sync.Mutex, map[string][]int, map[string][]string) {
	var mu sync.Mutex
	parts := map[string][]int{}
	hooks := map[string][]string{}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		who := r.Header.Get("X-Who")
		n := -1 // no file part at all
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				part, err := mr.NextPart()
				if err != nil {
					break
				}
				if part.FormName() == "file" {
					b, _ := io.ReadAll(part)
					n = len(b)
				}
			}
		}
		mu.Lock()
		parts[who] = append(parts[who], n)
		hooks[who] = append(hooks[who], r.Header.Get("X-Hook"))
		first := len(parts[who]) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	return srv, &mu, parts, hooks
}

// A clone with its own pre-request hook loses the body guard: its
// multipart retry is either refused or sent with the full bytes, never
// with an empty part. The original keeps its guard and its hook slot.
func TestUsageClonePreRequestHookNoEmptyPart(t *testing.T) {
	srv, mu, parts, hooks := multipartServer(t)
	payload := bytes.Repeat([]byte("0123456789"), 300)
	orig := newClient(t, fastPolicy(3))
	clone := orig.Clone()
	clone.SetPreRequestHook(func(_ *resty.Client, r *http.Request) error {
		r.Header.Set("X-Hook", "clone")
		return nil
	})

	send := func(c *resty.Client, who string) (*resty.Response, error) {
		return c.R().SetHeader("X-Who", who).
			SetFileReader("file", "data.bin", bytes.NewReader(payload)).
			Post(srv.URL)
	}
	cresp, cerr := send(clone, "clone")
	oresp, oerr := send(orig, "orig")

	mu.Lock()
	defer mu.Unlock()
	for i, n := range parts["clone"] {
		if n != len(payload) {
			t.Errorf("clone attempt %d sent a file part of %d bytes, want %d", i+1, n, len(payload))
		}
	}
	switch len(parts["clone"]) {
	case 1:
		if !errors.Is(cerr, ErrBodyNotReplayable) {
			t.Errorf("clone not retried: err = %v, want ErrBodyNotReplayable", cerr)
		}
	case 2:
		if cerr != nil || cresp.StatusCode() != http.StatusCreated {
			t.Errorf("clone retried: status %d, err %v; want 201, nil", statusOf(cresp), cerr)
		}
	default:
		t.Errorf("clone sent %d attempts, want 1 or 2", len(parts["clone"]))
	}
	if got := hooks["clone"]; len(got) == 0 || got[0] != "clone" {
		t.Errorf("clone's hook did not run: X-Hook %q", got)
	}

	// The original's guard is intact: the multipart retry carries the
	// first attempt's bytes, and the clone's hook never runs for it.
	if got, want := parts["orig"], []int{len(payload), len(payload)}; !slices.Equal(got, want) {
		t.Errorf("original's file parts = %v, want %v", got, want)
	}
	if oerr != nil || oresp.StatusCode() != http.StatusCreated {
		t.Errorf("original: status %d, err %v; want 201, nil", statusOf(oresp), oerr)
	}
	for _, h := range hooks["orig"] {
		if h != "" {
			t.Errorf("the clone's pre-request hook ran for the original")
		}
	}
}

// The same with a clone that also got its own policy (Apply after
// SetPreRequestHook, and SetPreRequestHook after Apply).
func TestUsageClonePreRequestHookApplied(t *testing.T) {
	srv, mu, parts, _ := multipartServer(t)
	payload := bytes.Repeat([]byte("abcdefghij"), 300)
	orig := newClient(t, fastPolicy(3))
	hook := func(_ *resty.Client, r *http.Request) error { return nil }

	before := orig.Clone()
	before.SetPreRequestHook(hook)
	fastPolicy(3).Apply(before)
	after := orig.Clone()
	fastPolicy(3).Apply(after)
	after.SetPreRequestHook(hook)

	for who, c := range map[string]*resty.Client{"before": before, "after": after, "orig": orig} {
		resp, err := c.R().SetHeader("X-Who", who).
			SetFileReader("file", "data.bin", bytes.NewReader(payload)).Post(srv.URL)
		mu.Lock()
		got := append([]int(nil), parts[who]...)
		mu.Unlock()
		for i, n := range got {
			if n != len(payload) {
				t.Errorf("%s: attempt %d sent a file part of %d bytes, want %d", who, i+1, n, len(payload))
			}
		}
		switch {
		case len(got) == 1 && errors.Is(err, ErrBodyNotReplayable) && who != "orig":
		case len(got) == 2 && err == nil && resp.StatusCode() == http.StatusCreated:
		default:
			t.Errorf("%s: %d attempts, status %d, err %v", who, len(got), statusOf(resp), err)
		}
	}
}

// ---------------------------------------------------------------------------
// 3. A reused *resty.Request behaves as a new logical request on every
// Execute.

func TestUsageReusedRequestPolling(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Path + " " + r.Header.Get("X-Poll")
		n := log.record(key, r)
		if r.URL.Path == "/down" || n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := newClient(t, p)

	t.Run("attempts from 1", func(t *testing.T) {
		req := c.R()
		for i := range 4 {
			req.SetHeader("X-Poll", strconv.Itoa(i))
			resp, err := req.Get(srv.URL + "/flaky")
			if err != nil || resp.StatusCode() != http.StatusOK {
				t.Errorf("poll %d: status %d, err %v", i, statusOf(resp), err)
			}
			if got := attemptsOf(events.take()); !slices.Equal(got, []int{1, 2}) {
				t.Errorf("poll %d: event attempts %v, want [1 2]", i, got)
			}
		}
	})
	t.Run("MaxRetries per Execute", func(t *testing.T) {
		req := c.R()
		for i := range 3 {
			req.SetHeader("X-Poll", strconv.Itoa(i))
			if _, err := req.Get(srv.URL + "/down"); err != nil {
				t.Errorf("poll %d: %v", i, err)
			}
			if got := log.count("/down " + strconv.Itoa(i)); got != 1+p.MaxRetries {
				t.Errorf("poll %d: %d attempts, want %d", i, got, 1+p.MaxRetries)
			}
			if got := attemptsOf(events.take()); !slices.Equal(got, []int{1, 2, 3, 4}) {
				t.Errorf("poll %d: event attempts %v, want [1 2 3 4]", i, got)
			}
		}
	})
	t.Run("new body", func(t *testing.T) {
		req := c.R()
		for i, kind := range []string{"string", "reader", "bytes", "string"} {
			body := fmt.Sprintf("body of poll %d", i)
			switch kind {
			case "string":
				req.SetBody(body)
			case "reader":
				req.SetBody(strings.NewReader(body))
			case "bytes":
				req.SetBody([]byte(body))
			}
			req.SetHeader("X-Poll", strconv.Itoa(i))
			resp, err := req.Put(srv.URL + "/body")
			if err != nil || resp.StatusCode() != http.StatusOK {
				t.Errorf("poll %d (%s): status %d, err %v", i, kind, statusOf(resp), err)
			}
			if got := log.bodiesOf("/body " + strconv.Itoa(i)); !slices.Equal(got, []string{body, body}) {
				t.Errorf("poll %d (%s): bodies %q, want the new body twice", i, kind, got)
			}
			events.take()
		}
	})
	t.Run("fresh Idempotency-Key", func(t *testing.T) {
		pk := fastPolicy(3)
		pk.AddIdempotencyKey = true
		ck := newClient(t, pk)
		req := ck.R().SetBody("order")
		seen := map[string]bool{}
		for i := range 3 {
			req.SetHeader("X-Poll", strconv.Itoa(i))
			if _, err := req.Post(srv.URL + "/key"); err != nil {
				t.Fatal(err)
			}
			keys := log.keysOf("/key " + strconv.Itoa(i))
			if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
				t.Errorf("poll %d: keys %q, want one fresh key on both attempts", i, keys)
				continue
			}
			if seen[keys[0]] {
				t.Errorf("poll %d: key %q reused from an earlier Execute", i, keys[0])
			}
			seen[keys[0]] = true
		}
		// A key the caller set is the caller's: kept on every Execute.
		req = ck.R().SetBody("order").SetHeader("Idempotency-Key", "mine")
		for i := range 2 {
			req.SetHeader("X-Poll", "mine"+strconv.Itoa(i))
			if _, err := req.Post(srv.URL + "/key"); err != nil {
				t.Fatal(err)
			}
			if got := log.keysOf("/key mine" + strconv.Itoa(i)); !slices.Equal(got, []string{"mine", "mine"}) {
				t.Errorf("caller's key, poll %d: %q", i, got)
			}
		}
	})
}

// ResendCount, read by a transport, counts from 0 on each Execute of a
// reused request.
func TestUsageReusedRequestResendCount(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record(r.Header.Get("X-Poll"), r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	rt := &resendTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(rt.base.CloseIdleConnections)
	c := resty.New().SetLogger(nopLogger{}).SetTransport(rt)
	fastPolicy(3).Apply(c)
	req := c.R()
	for i := range 3 {
		req.SetHeader("X-Poll", strconv.Itoa(i))
		if _, err := req.Get(srv.URL); err != nil {
			t.Fatal(err)
		}
		if got := rt.take(); !slices.Equal(got, []int{0, 1}) {
			t.Errorf("Execute %d: resend counts %v, want [0 1]", i, got)
		}
	}
}

type resendTransport struct {
	base   *http.Transport
	mu     sync.Mutex
	counts []int
	paths  []string
}

func (rt *resendTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.counts = append(rt.counts, ResendCount(r.Context()))
	rt.paths = append(rt.paths, r.URL.Path)
	rt.mu.Unlock()
	return rt.base.RoundTrip(r)
}

func (rt *resendTransport) take() []int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := rt.counts
	rt.counts, rt.paths = nil, nil
	return out
}

// countsFor returns the resend counts seen for path.
func (rt *resendTransport) countsFor(path string) []int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []int
	for i, p := range rt.paths {
		if p == path {
			out = append(out, rt.counts[i])
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// 4. Streaming responses: every retried body is drained and closed.

// bodyTracker wraps every response body to see whether it was read to
// the end and closed.
type bodyTracker struct {
	base   *http.Transport
	mu     sync.Mutex
	bodies []*trackedBody
}

type trackedBody struct {
	rc     io.ReadCloser
	status int
	eof    atomic.Bool
	closed atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

func (b *trackedBody) Close() error {
	b.closed.Store(true)
	return b.rc.Close()
}

func (tr *bodyTracker) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tr.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	tb := &trackedBody{rc: resp.Body, status: resp.StatusCode}
	resp.Body = tb
	tr.mu.Lock()
	tr.bodies = append(tr.bodies, tb)
	tr.mu.Unlock()
	return resp, nil
}

func (tr *bodyTracker) CloseIdleConnections() { tr.base.CloseIdleConnections() }

// closeAll closes whatever the code under test left open, so that a
// failure here does not leak goroutines into the rest of the package.
func (tr *bodyTracker) closeAll() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, b := range tr.bodies {
		if !b.closed.Load() {
			b.rc.Close()
		}
	}
	tr.base.CloseIdleConnections()
}

func TestUsageDoNotParseResponseDrained(t *testing.T) {
	const requests = 20
	big := strings.Repeat("x", 8<<10) // too big to be read ahead with the header
	var conns atomic.Int64
	log := newRequestLog()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := log.record(r.Header.Get("X-Req"), r)
		if strings.HasPrefix(r.Header.Get("X-Req"), "down") || n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "final body")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &bodyTracker{base: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(tr.closeAll)
	c := resty.New().SetLogger(nopLogger{}).SetTransport(tr)
	fastPolicy(3).Apply(c)

	runtime.GC()
	goroutines := runtime.NumGoroutine()
	for i := range requests {
		resp, err := c.R().SetDoNotParseResponse(true).SetHeader("X-Req", strconv.Itoa(i)).Get(srv.URL)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.RawBody())
		resp.RawBody().Close()
		if string(body) != "final body" {
			t.Errorf("request %d: final body %q", i, body)
		}
	}
	tr.mu.Lock()
	retried, undrained, unclosed := 0, 0, 0
	for _, b := range tr.bodies {
		if b.status == http.StatusServiceUnavailable {
			retried++
			if !b.eof.Load() {
				undrained++
			}
			if !b.closed.Load() {
				unclosed++
			}
		}
	}
	tr.mu.Unlock()
	if retried != 2*requests {
		t.Errorf("%d retried responses, want %d", retried, 2*requests)
	}
	if undrained != 0 || unclosed != 0 {
		t.Errorf("of %d retried 503 bodies, %d were not drained and %d not closed; want 0 and 0", retried, undrained, unclosed)
	}
	if n := conns.Load(); n > 2 {
		t.Errorf("%d connections for %d sequential requests, want 1 (2 at most): retried bodies keep theirs", n, requests)
	}
	if n := runtime.NumGoroutine(); n > goroutines+4 {
		t.Errorf("goroutines grew from %d to %d over %d requests", goroutines, n, requests)
	}

	// The last response is the caller's, whatever ends the request: it is
	// returned unread.
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.ErrorOnExhausted = true
	p.Apply(c)
	resp, err := c.R().SetDoNotParseResponse(true).SetHeader("X-Req", "down").Get(srv.URL)
	if !errors.Is(err, ErrRetriesExhausted) {
		t.Errorf("exhausted: err = %v", err)
	}
	if resp == nil || resp.RawBody() == nil {
		t.Fatalf("exhausted: no response body")
	}
	body, _ := io.ReadAll(resp.RawBody())
	resp.RawBody().Close()
	if string(body) != big {
		t.Errorf("exhausted: the caller's last body has %d bytes, want %d", len(body), len(big))
	}
}

// ---------------------------------------------------------------------------
// 5. An OnAfterResponse error does not hide a retryable status.

type statusError struct{ status int }

func (e *statusError) Error() string { return "api error " + strconv.Itoa(e.status) }

func TestUsageAfterResponseErrorStatusRetried(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := log.record(r.Header.Get("X-Run")+" "+r.Method+" "+r.URL.Path, r)
		switch r.URL.Path {
		case "/flaky":
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	middleware := func(_ *resty.Client, resp *resty.Response) error {
		if resp.StatusCode() >= 400 {
			return &statusError{resp.StatusCode()}
		}
		return nil
	}
	for _, order := range []string{"hook after Apply", "hook before Apply"} {
		t.Run(order, func(t *testing.T) {
			c := resty.New().SetLogger(nopLogger{})
			t.Cleanup(c.GetClient().CloseIdleConnections)
			if order == "hook before Apply" {
				c.OnAfterResponse(middleware)
				fastPolicy(3).Apply(c)
			} else {
				fastPolicy(3).Apply(c)
				c.OnAfterResponse(middleware)
			}
			cases := []struct {
				method, path string
				status, hits int
				wantErr      bool
			}{
				{http.MethodGet, "/flaky", 200, 2, false},
				{http.MethodPost, "/flaky", 200, 2, false}, // a POST on 503 is retried
				{http.MethodGet, "/broken", 500, 4, true},  // GET on 500: retried to the end
				{http.MethodPost, "/broken", 500, 1, true}, // POST on 500: not retried
				{http.MethodGet, "/missing", 404, 1, true},
			}
			for _, tc := range cases {
				key := order + " " + tc.method + " " + tc.path
				before := log.count(key)
				resp, err := c.R().SetHeader("X-Run", order).Execute(tc.method, srv.URL+tc.path)
				if got := log.count(key) - before; got != tc.hits {
					t.Errorf("%s: %d attempts, want %d", key, got, tc.hits)
				}
				if resp == nil || resp.StatusCode() != tc.status {
					t.Errorf("%s: status %d, want %d", key, statusOf(resp), tc.status)
				}
				var se *statusError
				if tc.wantErr != errors.As(err, &se) {
					t.Errorf("%s: err = %v, want the middleware's error: %v", key, err, tc.wantErr)
				}
				// A transport or body error did not happen: Event.Err
				// should not claim one either (checked below).
			}
		})
	}
}

// The middleware's error is not an attempt's transport error: events say
// Err nil for a status that was retried.
func TestUsageAfterResponseErrorNotReportedAsTransport(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record("x", r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := newClient(t, p)
	c.OnAfterResponse(func(_ *resty.Client, resp *resty.Response) error {
		if resp.StatusCode() >= 400 {
			return &statusError{resp.StatusCode()}
		}
		return nil
	})
	if _, err := c.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	evs := events.take()
	if len(evs) != 2 || evs[0].Verdict != Retry || evs[0].Status != 503 {
		t.Fatalf("events %+v, want a Retry of the 503, then the 200", evs)
	}
	// The doc of Event.Err: "the attempt's transport or body-read error".
	var se *statusError
	if errors.As(evs[0].Err, &se) {
		t.Logf("note: Event.Err carries the middleware's error %v", evs[0].Err)
	}
}

// ---------------------------------------------------------------------------
// 6. Test mode keeps production's give-ups.

func TestUsageTestModeSameGiveUp(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header.Get("X-ID"), r)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	// Waits 25, 50, 100, 200ms: they end 25, 75, 175 and 375ms after the
	// start, so a limit of 250ms refuses the fourth wait: the request gives
	// up at attempt 4 (not at 7, where MaxRetries would end it).
	base := fastPolicy(3)
	base.MaxRetries = 6
	base.BaseDelay, base.Multiplier, base.MaxDelay, base.Jitter = 25*time.Millisecond, 2, time.Second, NoJitter
	const limit = 250 * time.Millisecond

	type mode struct {
		name  string
		setup func(p Policy) (*resty.Client, func(context.Context) context.Context)
	}
	modes := []mode{
		{"production", func(p Policy) (*resty.Client, func(context.Context) context.Context) {
			return newClient(t, p), nil
		}},
		{"client TestMode", func(p Policy) (*resty.Client, func(context.Context) context.Context) {
			return TestMode(newClient(t, p), -1), nil
		}},
		{"Policy.TestMode", func(p Policy) (*resty.Client, func(context.Context) context.Context) {
			return newClient(t, p.TestMode(-1)), nil
		}},
		{"WithPolicy TestMode", func(p Policy) (*resty.Client, func(context.Context) context.Context) {
			return newClient(t, fastPolicy(3)), func(ctx context.Context) context.Context {
				return WithPolicy(ctx, p.TestMode(-1))
			}
		}},
	}
	for _, limitKind := range []string{"MaxElapsed", "deadline"} {
		for _, m := range modes {
			t.Run(limitKind+"/"+m.name, func(t *testing.T) {
				p := base
				if limitKind == "MaxElapsed" {
					p.MaxElapsed = limit
				}
				c, wrap := m.setup(p)
				ctx := context.Background()
				if limitKind == "deadline" {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, limit)
					defer cancel()
				}
				if wrap != nil {
					ctx = wrap(ctx)
				}
				id := limitKind + "/" + m.name
				_, err := c.R().SetContext(ctx).SetHeader("X-ID", id).Get(srv.URL)
				want := ErrTimeLimit
				if limitKind == "deadline" {
					want = ErrDeadline
				}
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
				var gu *GiveUpError
				if !errors.As(err, &gu) || gu.Attempt != 4 {
					t.Errorf("gave up at %+v, want attempt 4", gu)
				}
				if got := log.count(id); got != 4 {
					t.Errorf("%d attempts, want 4", got)
				}
			})
		}
	}
}

// ---------------------------------------------------------------------------
// 7. Re-applying a policy while requests run.

func TestUsageReapplyWhileRunning(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record(r.Header.Get("X-ID"), r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var decisions atomic.Int64
	p1 := fastPolicy(3)
	p1.MaxRetries = 2
	p2 := fastPolicy(3)
	p2.MaxRetries = 3
	p2.OnDecision = func(Event) { decisions.Add(1) }
	p2.Budget = Budget{Ratio: 0.5, Reserve: 1000}
	c := newClient(t, p1)

	stop := make(chan struct{})
	var reloads sync.WaitGroup
	reloads.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				p1.Apply(c)
			} else {
				p2.Apply(c)
			}
			if i%50 == 0 {
				Observe(c, func(Event) {})
			}
			if i%7 == 0 {
				TestMode(c, -1)
			}
			runtime.Gosched()
		}
	})
	const workers, each = 8, 30
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				resp, err := c.R().SetHeader("X-ID", fmt.Sprintf("%d-%d", w, i)).Get(srv.URL)
				if err != nil || resp.StatusCode() != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	reloads.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed", n, workers*each)
	}
	for w := range workers {
		for i := range each {
			if got := log.count(fmt.Sprintf("%d-%d", w, i)); got != 2 {
				t.Errorf("request %d-%d: %d attempts, want 2", w, i, got)
			}
		}
	}
}

// A hot reload of a clone's policy: the clone's first Apply (or TestMode,
// or Observe) while the clone is in use.
func TestUsageReapplyCloneWhileRunning(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record(r.Header.Get("X-ID"), r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// A clone's first Apply gives it its own installation and, like any
	// resty setting, is made before the clone carries requests (documented
	// on Apply); every later one is a hot reload, safe while requests run.
	orig := newClient(t, fastPolicy(3))
	clone := orig.Clone()
	fastPolicy(3).Apply(clone)
	var wg sync.WaitGroup
	var failed atomic.Int64
	started := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := range 20 {
				if w == 0 && i == 2 {
					close(started)
				}
				resp, err := clone.R().SetHeader("X-ID", fmt.Sprintf("%d-%d", w, i)).Get(srv.URL)
				if err != nil || resp.StatusCode() != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	<-started
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.Apply(clone) // the hot reload
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed", n)
	}
}

// ---------------------------------------------------------------------------
// 8. Applying does not make resty log each failed attempt.

func TestUsageRestyLoopQuiet(t *testing.T) {
	const secret = "api_key=SECRET123"
	refused := refusedURL(t) + "/v1/things?" + secret
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	down := srv.URL + "/v1/things?" + secret

	p := fastPolicy(3)
	p.MaxRetries = 2
	pe := p
	pe.ErrorOnExhausted = true
	cases := []struct {
		name  string
		build func(l resty.Logger) *resty.Client
		url   string
		err   bool
	}{
		{"bare client, refused", func(l resty.Logger) *resty.Client { return resty.New().SetLogger(l) }, refused, true},
		{"applied, refused", func(l resty.Logger) *resty.Client { return p.Apply(resty.New().SetLogger(l)) }, refused, true},
		{"logger set after Apply, refused", func(l resty.Logger) *resty.Client { return p.Apply(resty.New()).SetLogger(l) }, refused, true},
		{"applied, 503 exhausted with error", func(l resty.Logger) *resty.Client { return pe.Apply(resty.New().SetLogger(l)) }, down, true},
		{"applied, 503 exhausted", func(l resty.Logger) *resty.Client { return p.Apply(resty.New().SetLogger(l)) }, down, false},
		{"applied clone, refused", func(l resty.Logger) *resty.Client { return p.Apply(resty.New().SetLogger(l)).Clone() }, refused, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l recLogger
			c := tc.build(&l)
			t.Cleanup(c.GetClient().CloseIdleConnections)
			_, err := c.R().Get(tc.url)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want an error: %v", err, tc.err)
			}
			for _, line := range l.take() {
				if strings.HasPrefix(line, "WARN") || strings.HasPrefix(line, "ERROR") {
					t.Errorf("resty logged: %s", line)
				}
				if strings.Contains(line, "SECRET123") {
					t.Errorf("a log line carries the query string: %s", line)
				}
			}
		})
	}
}

// A request-level logger, and a request that fails in a user's
// OnBeforeRequest hook: a bare client logs nothing for either, and neither
// does an applied one when the hook comes after Apply. A hook registered
// before Apply runs before the library's and, when it fails, the library
// never sees the request: resty then logs the hook's own error once at Warn
// and once at Error (documented in the README's limits). No line ever
// carries the URL.
func TestUsageRestyLoopQuietHooksAndRequestLogger(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	hookErr := errors.New("no token for this call")
	failing := func(_ *resty.Client, r *resty.Request) error {
		if r.Header.Get("X-Fail") != "" {
			return hookErr
		}
		return nil
	}
	p := fastPolicy(3)
	p.MaxRetries = 2
	p.ErrorOnExhausted = true
	builds := map[string]func() *resty.Client{
		"bare, hook": func() *resty.Client {
			return resty.New().SetLogger(nopLogger{}).OnBeforeRequest(failing)
		},
		"hook before Apply": func() *resty.Client {
			return p.Apply(resty.New().SetLogger(nopLogger{}).OnBeforeRequest(failing))
		},
		"hook after Apply": func() *resty.Client {
			return p.Apply(resty.New().SetLogger(nopLogger{})).OnBeforeRequest(failing)
		},
	}
	for name, build := range builds {
		t.Run(name, func(t *testing.T) {
			c := build()
			t.Cleanup(c.GetClient().CloseIdleConnections)
			var l recLogger
			_, err := c.R().SetLogger(&l).SetHeader("X-Fail", "1").Get(srv.URL + "/?" + "token=SECRET123")
			if !errors.Is(err, hookErr) {
				t.Errorf("err = %v, want the hook's", err)
			}
			lines := l.take()
			if name == "hook before Apply" {
				want := []string{"WARN no token for this call, Attempt 1", "ERROR no token for this call"}
				if !slices.Equal(lines, want) {
					t.Errorf("logged %q, want resty's two lines of the hook's error %q", lines, want)
				}
				lines = nil
			}
			for _, line := range lines {
				t.Errorf("logged for a request its hook refused: %s", line)
			}
			if name == "bare, hook" {
				return
			}
			_, err = c.R().SetLogger(&l).Get(srv.URL + "/?" + "token=SECRET123")
			if !errors.Is(err, ErrRetriesExhausted) {
				t.Errorf("err = %v, want ErrRetriesExhausted", err)
			}
			for _, line := range l.take() {
				t.Errorf("request logger got: %s", line)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 9. A give-up after the budget paid for the retry returns the token.

func TestUsageBudgetRefundAfterPaidGiveUp(t *testing.T) {
	log := newRequestLog()
	var cancelMu sync.Mutex
	cancels := map[string]context.CancelFunc{}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-ID")
		n := log.record(id, r)
		if strings.HasPrefix(id, "cancel") {
			cancelMu.Lock()
			cancel := cancels[id]
			cancelMu.Unlock()
			time.AfterFunc(30*time.Millisecond, cancel) // during the wait
		}
		if n == 1 || (strings.HasPrefix(id, "spend") && n == 2) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	p := fastPolicy(3)
	p.BaseDelay, p.MaxDelay, p.Jitter = 2*time.Second, 2*time.Second, NoJitter
	p.Budget = Budget{Reserve: 5} // 5 tokens, no deposits
	c := newClient(t, p)
	// Two retries sent, the first failed: it stays paid (the second, which
	// succeeded, is given back), so the budget is below its reserve and a
	// refund shows (and a double refund would too).
	fast := p
	fast.BaseDelay, fast.MaxDelay = time.Millisecond, time.Millisecond
	if _, err := c.R().SetContext(WithPolicy(context.Background(), fast)).SetHeader("X-ID", "spend").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	const afterSpend = 4000
	if got := retriesLeft(t, c, srv.URL); got != afterSpend {
		t.Fatalf("retries left after one failed retry = %d, want %d", got, afterSpend)
	}

	t.Run("canceled during the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancelMu.Lock()
		cancels["cancel-1"] = cancel
		cancelMu.Unlock()
		start := time.Now()
		_, err := c.R().SetContext(ctx).SetHeader("X-ID", "cancel-1").Get(srv.URL)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("took %v: the cancel did not end the wait", took)
		}
		if got := retriesLeft(t, c, srv.URL); got != afterSpend {
			t.Errorf("retries left = %d, want %d: the unsent retry was not given back", got, afterSpend)
		}
	})
	t.Run("body guard refusal", func(t *testing.T) {
		cb := newClient(t, fast)
		cb.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
			if r.Header.Get("X-ID") == "changing" {
				r.SetBody("attempt " + strconv.Itoa(r.Attempt)) // changes between attempts
			}
			return nil
		})
		if _, err := cb.R().SetContext(WithPolicy(context.Background(), fast)).SetHeader("X-ID", "spend-b").Get(srv.URL); err != nil {
			t.Fatal(err)
		}
		before := retriesLeft(t, cb, srv.URL)
		_, err := cb.R().SetHeader("X-ID", "changing").Put(srv.URL)
		if !errors.Is(err, ErrBodyNotReplayable) {
			t.Errorf("err = %v, want ErrBodyNotReplayable", err)
		}
		if got := log.count("changing"); got != 1 {
			t.Errorf("%d attempts reached the server, want 1", got)
		}
		if got := retriesLeft(t, cb, srv.URL); got != before {
			t.Errorf("retries left = %d, want %d: the refused retry was not given back", got, before)
		}
	})
}

// ---------------------------------------------------------------------------
// Follow-up requests made with resp.Request.Context().

func TestUsageFollowUpWithResponseContext(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record(r.Header.Get("X-ID"), r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	var events eventLog
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	p.OnDecision = events.record
	c := newClient(t, p)

	type ctxKey struct{}
	callerCtx := context.WithValue(context.Background(), ctxKey{}, "caller")
	first, err := c.R().SetContext(callerCtx).SetHeader("X-ID", "first").SetBody("first body").Post(srv.URL)
	if err != nil || first.StatusCode() != http.StatusCreated {
		t.Fatalf("first: status %d, err %v", statusOf(first), err)
	}
	events.take()
	ctx := first.Request.Context()
	if ctx.Value(stateKey{}) != nil {
		t.Errorf("the library's state is reachable from resp.Request.Context() after return")
	}
	if ctx != callerCtx {
		t.Errorf("resp.Request.Context() is not the caller's context")
	}

	follow, err := c.R().SetContext(ctx).SetHeader("X-ID", "follow").SetBody("follow body").Post(srv.URL)
	if err != nil || follow.StatusCode() != http.StatusCreated {
		t.Fatalf("follow-up: status %d, err %v", statusOf(follow), err)
	}
	if got := log.bodiesOf("follow"); !slices.Equal(got, []string{"follow body", "follow body"}) {
		t.Errorf("follow-up bodies %q", got)
	}
	if got := attemptsOf(events.take()); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("follow-up event attempts %v, want [1 2]", got)
	}
	fk, kk := log.keysOf("first"), log.keysOf("follow")
	if len(fk) != 2 || len(kk) != 2 || kk[0] == "" || kk[0] != kk[1] || kk[0] == fk[0] {
		t.Errorf("keys: first %q, follow-up %q; want a fresh key for the follow-up", fk, kk)
	}

	// 50 goroutines share that context.
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			id := "shared-" + strconv.Itoa(g)
			body := "body " + strconv.Itoa(g)
			resp, err := c.R().SetContext(ctx).SetHeader("X-ID", id).SetBody(body).Post(srv.URL)
			if err != nil || resp.StatusCode() != http.StatusCreated {
				t.Errorf("%s: status %d, err %v", id, statusOf(resp), err)
				return
			}
			if got := log.bodiesOf(id); !slices.Equal(got, []string{body, body}) {
				t.Errorf("%s: bodies %q", id, got)
			}
			if resp.Request.Context().Value(stateKey{}) != nil {
				t.Errorf("%s: state reachable after return", id)
			}
		})
	}
	wg.Wait()
}

// A request made from inside an OnAfterResponse hook with the outer
// request's context is a request of its own: own attempts, own body, own
// resend count.
func TestUsageNestedRequestInHook(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record(r.URL.Path, r) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	rt := &resendTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(rt.base.CloseIdleConnections)
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := resty.New().SetLogger(nopLogger{}).SetTransport(rt)
	p.Apply(c)
	var innerResp *resty.Response
	var innerErr error
	c.OnAfterResponse(func(c *resty.Client, resp *resty.Response) error {
		if resp.Request.RawRequest.URL.Path == "/outer" && resp.StatusCode() == http.StatusOK {
			innerResp, innerErr = c.R().SetContext(resp.Request.Context()).SetBody("inner body").Post(srv.URL + "/inner")
		}
		return nil
	})
	resp, err := c.R().SetBody("outer body").Post(srv.URL + "/outer")
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("outer: status %d, err %v", statusOf(resp), err)
	}
	if innerErr != nil || innerResp == nil || innerResp.StatusCode() != http.StatusOK {
		t.Fatalf("inner: status %d, err %v", statusOf(innerResp), innerErr)
	}
	if got := log.bodiesOf("/outer"); !slices.Equal(got, []string{"outer body", "outer body"}) {
		t.Errorf("outer bodies %q", got)
	}
	if got := log.bodiesOf("/inner"); !slices.Equal(got, []string{"inner body", "inner body"}) {
		t.Errorf("inner bodies %q", got)
	}
	// Events: outer 1 (retry), outer 2 runs the hook: inner 1, inner 2;
	// then outer 2's own success.
	if got := attemptsOf(events.take()); !slices.Equal(got, []int{1, 1, 2, 2}) {
		t.Errorf("event attempts %v, want [1 1 2 2]", got)
	}
	if got := rt.countsFor("/inner"); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("inner resend counts %v, want [0 1]", got)
	}
	if got := rt.countsFor("/outer"); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("outer resend counts %v, want [0 1]", got)
	}
	if resp.Request.Context().Value(stateKey{}) != nil {
		t.Errorf("outer: state reachable from resp.Request.Context() after return")
	}
	// The inner request was given the outer's context of the moment; once
	// both have returned, it should carry no state of either.
	if innerResp.Request.Context().Value(stateKey{}) != nil {
		t.Errorf("inner: the outer's state is reachable from the inner's resp.Request.Context() after return")
	}
}

// ---------------------------------------------------------------------------
// HTTP/2.

func http2Server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *resty.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := resty.NewWithClient(srv.Client()).SetLogger(nopLogger{})
	t.Cleanup(srv.Client().CloseIdleConnections)
	return srv, c
}

func TestUsageHTTP2Retries(t *testing.T) {
	log := newRequestLog()
	var protos sync.Map
	srv, c := http2Server(t, func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		id := r.Header.Get("X-ID")
		var n int
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			mr := multipart.NewReader(r.Body, params["boundary"])
			size := -1
			for {
				part, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(part)
				size = len(b)
			}
			log.mu.Lock()
			log.hits[id]++
			n = log.hits[id]
			log.bodies[id] = append(log.bodies[id], strconv.Itoa(size))
			log.mu.Unlock()
		} else {
			n = log.record(id, r)
		}
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	fastPolicy(3).Apply(c)

	resp, err := c.R().SetHeader("X-ID", "get").Get(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK || resp.Proto() != "HTTP/2.0" {
		t.Errorf("GET: status %d, proto %q, err %v", statusOf(resp), resp.Proto(), err)
	}
	if got := log.count("get"); got != 2 {
		t.Errorf("GET: %d attempts, want 2", got)
	}
	resp, err = c.R().SetHeader("X-ID", "post").SetBody(strings.NewReader("h2 body")).Post(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Errorf("POST: status %d, err %v", statusOf(resp), err)
	}
	if got := log.bodiesOf("post"); !slices.Equal(got, []string{"h2 body", "h2 body"}) {
		t.Errorf("POST bodies %q", got)
	}
	payload := bytes.Repeat([]byte{7}, 5000)
	resp, err = c.R().SetHeader("X-ID", "multipart").
		SetFileReader("file", "f.bin", bytes.NewReader(payload)).Post(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Errorf("multipart: status %d, err %v", statusOf(resp), err)
	}
	if got := log.bodiesOf("multipart"); !slices.Equal(got, []string{"5000", "5000"}) {
		t.Errorf("multipart part sizes %q, want 5000 twice", got)
	}
	if _, ok := protos.Load("HTTP/2.0"); !ok {
		t.Errorf("the server saw no HTTP/2 request")
	}
}

// A server that drops an idempotent GET mid-way is retried over HTTP/1.1
// (the connection closes: a maybe-sent error). Over HTTP/2 the same fault
// is a stream reset; it should be retried the same way.
func TestUsageHTTP2AbortedStreamRetried(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			var hits atomic.Int64
			h := func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 1 {
					panic(http.ErrAbortHandler)
				}
				io.WriteString(w, "ok")
			}
			var srv *httptest.Server
			var c *resty.Client
			if proto == "HTTP/2" {
				srv, c = http2Server(t, h)
			} else {
				srv = serve(t, h)
				c = resty.New().SetLogger(nopLogger{})
				t.Cleanup(c.GetClient().CloseIdleConnections)
			}
			srv.Config.ErrorLog = nil
			fastPolicy(3).Apply(c)
			resp, err := c.R().Get(srv.URL)
			if err != nil || resp.StatusCode() != http.StatusOK {
				t.Errorf("status %d, err %v (%T); want 200 after a retry", statusOf(resp), err, errors.Unwrap(err))
			}
			if got := hits.Load(); got != 2 {
				t.Errorf("%d attempts, want 2", got)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Other usage.

// An observer registered on the original (an instrumentation package)
// still sees a clone's requests after the clone gets its own test mode or
// policy: it saw them before.
func TestUsageCloneKeepsObservers(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	orig := newClient(t, fastPolicy(3))
	var seen atomic.Int64
	Observe(orig, func(Event) { seen.Add(1) })

	clone := orig.Clone()
	if _, err := clone.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != 1 {
		t.Fatalf("observer saw %d events of the clone before its TestMode, want 1", got)
	}
	TestMode(clone, -1)
	if _, err := clone.R().Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != 2 {
		t.Errorf("observer saw %d events, want 2: TestMode on the clone dropped the original's observers", got)
	}
}

// The Idempotency-Key added to a request is visible on the response's
// request, for the caller's logs.
func TestUsageAutoKeyVisibleOnResponse(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record("k", r)
		w.WriteHeader(http.StatusCreated)
	})
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	c := newClient(t, p)
	resp, err := c.R().SetBody("x").Post(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	sent := log.keysOf("k")
	if len(sent) != 1 || sent[0] == "" {
		t.Fatalf("keys sent %q", sent)
	}
	if got := resp.Request.RawRequest.Header.Get("Idempotency-Key"); got != sent[0] {
		t.Errorf("RawRequest's key %q, want %q", got, sent[0])
	}
	if got := resp.Request.Header.Get("Idempotency-Key"); got != sent[0] {
		t.Logf("note: resp.Request.Header has key %q, the server got %q", got, sent[0])
	}
}

// The fingerprint of a body is computed from the bytes resty sent: a
// sha256 of what the server received matches on every attempt of a large
// reader body.
func TestUsageLargeReaderBodyReplayed(t *testing.T) {
	var mu sync.Mutex
	var sums [][32]byte
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sums = append(sums, sha256.Sum256(b))
		n := len(sums)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	c := newClient(t, fastPolicy(3))
	resp, err := c.R().SetBody(bytes.NewReader(payload)).Put(srv.URL)
	if err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("status %d, err %v", statusOf(resp), err)
	}
	want := sha256.Sum256(payload)
	mu.Lock()
	defer mu.Unlock()
	if len(sums) != 2 || sums[0] != want || sums[1] != want {
		t.Errorf("%d attempts; bodies match the payload: %v", len(sums), len(sums) == 2 && sums[0] == want && sums[1] == want)
	}
}

// A refused connection was never sent, so even a POST is retried; the
// user info in the URL (basic auth, as many internal services use) must
// not change that.
func TestUsageRefusedPostWithUserInfoRetried(t *testing.T) {
	refused := strings.Replace(refusedURL(t), "http://", "http://svc:s3cret@", 1) + "/orders"
	for _, target := range []string{refusedURL(t) + "/orders", refused} {
		var events eventLog
		p := fastPolicy(3)
		p.MaxRetries = 2
		p.OnDecision = events.record
		c := newClient(t, p)
		_, err := c.R().SetBody("order").Post(target)
		if err == nil {
			t.Fatalf("%s: nil error", redactUserInfo(target))
		}
		evs := events.take()
		if got := attemptsOf(evs); !slices.Equal(got, []int{1, 2, 3}) {
			t.Errorf("%s: attempts %v, want [1 2 3] (refused: never sent, retried for any method)", redactUserInfo(target), got)
		}
	}
}

func redactUserInfo(s string) string { return strings.Replace(s, "s3cret", "xxx", 1) }

// A middleware that sets a context of its own on every attempt (one not
// derived from the request's) must not make retries unbounded: MaxRetries
// still ends the request.
func TestUsageHookReplacingContextBounded(t *testing.T) {
	var hits atomic.Int64
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 20 {
			w.WriteHeader(http.StatusOK) // a safety stop for the test itself
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	type reqIDKey struct{}
	app := context.Background()
	c := newClient(t, fastPolicy(3).TestMode(-1))
	c.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
		r.SetContext(context.WithValue(app, reqIDKey{}, "req-1"))
		return nil
	})
	resp, err := c.R().Get(srv.URL)
	if got := hits.Load(); got != 4 {
		t.Errorf("%d attempts (status %d, err %v), want 4: MaxRetries 3 no longer holds", got, statusOf(resp), err)
	}
}

// A streamed response (SetDoNotParseResponse) is read after Execute
// returns; a policy with MaxElapsed (Interactive, Background) must leave
// its body readable.
func TestUsageStreamReadableAfterReturn(t *testing.T) {
	payload := strings.Repeat("stream ", 256<<10) // ~1.8 MB: not buffered with the header
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, payload)
	})
	for _, tc := range []struct {
		name string
		p    Policy
	}{
		{"Default", fastPolicy(3)},
		{"Interactive", Interactive()},
		{"MaxElapsed 10s", func() Policy { p := fastPolicy(3); p.MaxElapsed = 10 * time.Second; return p }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.p)
			resp, err := c.R().SetDoNotParseResponse(true).Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.RawBody().Close()
			body, err := io.ReadAll(resp.RawBody())
			if err != nil || len(body) != len(payload) {
				t.Errorf("read %d of %d bytes after return, err %v", len(body), len(payload), err)
			}
		})
	}
}

// A middleware that keeps per-request data in the request's context (a
// span, a start time) sets it in OnBeforeRequest and reads it in OnSuccess
// or OnError, as it does on a bare client. Retries, an Idempotency-Key or
// MaxElapsed (which give a request the library's state) must not hide it.
func TestUsageMiddlewareContextSurvivesToHooks(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := log.record(r.Header.Get("X-ID"), r)
		if strings.HasPrefix(r.Header.Get("X-ID"), "down") || n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	type spanKey struct{}
	withKey := fastPolicy(3)
	withKey.AddIdempotencyKey = true
	withElapsed := fastPolicy(3)
	withElapsed.MaxElapsed = 10 * time.Second
	exhausted := fastPolicy(3)
	exhausted.ErrorOnExhausted = true
	for _, tc := range []struct {
		name   string
		p      *Policy
		method string
		id     string
	}{
		{"bare client", nil, http.MethodGet, "bare"},
		{"retried GET", &[]Policy{fastPolicy(3)}[0], http.MethodGet, "retried"},
		{"POST with a key", &withKey, http.MethodPost, "key"},
		{"MaxElapsed", &withElapsed, http.MethodGet, "elapsed"},
		{"error hook after exhausted retries", &exhausted, http.MethodGet, "down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := resty.New().SetLogger(nopLogger{})
			t.Cleanup(c.GetClient().CloseIdleConnections)
			if tc.p != nil {
				tc.p.Apply(c)
			}
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
			c.OnError(func(r *resty.Request, _ error) {
				seen.Store(fmt.Sprint(r.Context().Value(spanKey{})))
			})
			_, _ = c.R().SetHeader("X-ID", tc.id).SetBody("b").Execute(tc.method, srv.URL)
			if got := seen.Load(); got != "span-1" {
				t.Errorf("the success/error hook saw %v in the request's context, want span-1", got)
			}
		})
	}
}

// A per-attempt timeout set by middleware (resty v2 has none of its own)
// ends an attempt; with no MaxElapsed in the policy, that is not
// ErrTimeLimit.
func TestUsagePerAttemptTimeoutNotTimeLimit(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		select { // slower than the attempt's timeout
		case <-r.Context().Done():
		case <-release:
		}
		w.WriteHeader(http.StatusOK)
	})
	defer close(release)
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := newClient(t, p)
	var cancels []context.CancelFunc
	t.Cleanup(func() {
		for _, cancel := range cancels {
			cancel()
		}
	})
	c.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
		if r.Attempt < 2 {
			return nil // the first attempt is fast anyway
		}
		ctx, cancel := context.WithTimeout(r.Context(), 50*time.Millisecond)
		cancels = append(cancels, cancel)
		r.SetContext(ctx)
		return nil
	})
	_, err := c.R().Get(srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if errors.Is(err, ErrTimeLimit) {
		t.Errorf("err = %v: reported as ErrTimeLimit, but the policy has no MaxElapsed", err)
	}
	for _, ev := range events.take() {
		if ev.GiveUp != nil && errors.Is(ev.GiveUp, ErrTimeLimit) {
			t.Errorf("event %+v: a give-up for MaxElapsed, which the policy does not set", ev)
		}
	}
}
