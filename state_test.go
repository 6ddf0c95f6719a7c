package restyretry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
// Issue 8, item 3: A reused *resty.Request behaves as a new logical request on every
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
// Issue 8, item 6: Test mode keeps production's give-ups.

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
