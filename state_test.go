package restyretry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/retrytest"
)

// ---------------------------------------------------------------------------
// Issue 8, item 3: A reused *resty.Request behaves as a new logical request on every
// Execute.

func TestUsageReusedRequestPolling(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	c := newClient(t, fastPolicy(3), func(c *resty.Client) { c.SetTransport(rt) })
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

// Not parallel: its production mode waits for real, and the package's
// parallel tests under -race on two cores once took the 400ms it leaves for
// three round trips.
func TestUsageTestModeSameGiveUp(t *testing.T) {
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.record(r.Header.Get("X-ID"), r)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	// Waits 100, 200, 400, 800ms: they end 100, 300, 700 and 1500ms after
	// the start, so a limit of 1100ms refuses the fourth wait: the request
	// gives up at attempt 4 (not at 7, where MaxRetries would end it). The
	// production mode leaves 400ms for three round trips, under -race and
	// the package's parallel tests (200ms was not always enough).
	base := fastPolicy(3)
	base.MaxRetries = 6
	base.BaseDelay, base.Multiplier, base.MaxDelay, base.Jitter = 100*time.Millisecond, 2, 2*time.Second, NoJitter
	const limit = 1100 * time.Millisecond

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
	t.Parallel()
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
		spawn(&wg, func() {
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
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if log.record(r.URL.Path, r) == 1 {
			w.Header().Set("Retry-After", "0") // refused before acting: POSTs too are retried
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
	c := newClient(t, p, func(c *resty.Client) { c.SetTransport(rt) })
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
			c := bareClient(t)
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
	t.Parallel()
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
	c, events := eventClient(t, fastPolicy(3))
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

// ---------------------------------------------------------------------------
// Regressions found by the second bug hunt (fixed in "Per-request state,
// second round").

// attemptCtxKey is the key of a context a hook builds afresh on every
// attempt, not derived from the request's (a per-attempt trace context
// built from a stored base).
type attemptCtxKey struct{}

// replaceContextEachAttempt registers, after Apply, an OnBeforeRequest hook
// that gives every attempt a context not derived from the request's.
func replaceContextEachAttempt(c *resty.Client) {
	c.OnBeforeRequest(func(_ *resty.Client, r *resty.Request) error {
		r.SetContext(context.WithValue(context.Background(), attemptCtxKey{}, r.Attempt))
		return nil
	})
}

// inflightOf returns how many requests c's own installation holds in its
// in-flight record, and its count of them.
func inflightOf(t *testing.T, c *resty.Client) (entries int, counted int64) {
	t.Helper()
	own := lookup(c)
	if own == nil {
		t.Fatal("client has no installation of its own")
	}
	own.inflight.Range(func(_, _ any) bool { entries++; return true })
	return entries, own.flightN.Load()
}

// Under MaxElapsed, a context derived from the request's context inside a
// hook (context.WithCancel, context.AfterFunc) follows the caller's cancel
// after Execute returned: the request's context is then the caller's in
// all but identity.
func TestDerivedInHookFollowsCallerCancel(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {})
	p := fastPolicy(3)
	p.MaxElapsed = 10 * time.Second // far away: only the caller's cancel can end the contexts
	c := newClient(t, p)
	var derived context.Context
	var cancelDerived context.CancelFunc
	var stopAfter func() bool
	var fired chan struct{}
	c.OnAfterResponse(func(_ *resty.Client, resp *resty.Response) error {
		derived, cancelDerived = context.WithCancel(resp.Request.Context())
		f := make(chan struct{})
		fired = f
		stopAfter = context.AfterFunc(resp.Request.Context(), func() { close(f) })
		return nil
	})
	// A derived context that never follows the cancel blocks its receive:
	// 10s only detects that hang, the contexts end at once.
	hang := time.After(10 * time.Second)
	const n = 5
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := c.R().SetContext(ctx).Get(srv.URL); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		select {
		case <-derived.Done():
		case <-hang:
			t.Fatalf("request %d: WithCancel(request's context) did not follow the caller's cancel", i+1)
		}
		select {
		case <-fired:
		case <-hang:
			t.Fatalf("request %d: AfterFunc(request's context) did not follow the caller's cancel", i+1)
		}
		cancelDerived()
		stopAfter()
	}
}

// A hook registered after Apply that replaces the context on every attempt,
// the first included, with MaxElapsed or AddIdempotencyKey (which give the
// first attempt a state): the state is found and finished, so the
// installation's in-flight record is empty afterwards and the requests can
// be collected.
func TestReplacedContextInflightLeak(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {})
	withElapsed := fastPolicy(3)
	withElapsed.MaxElapsed = 10 * time.Second
	withKey := fastPolicy(3)
	withKey.AddIdempotencyKey = true
	for _, tc := range []struct {
		name string
		p    Policy
	}{
		{"MaxElapsed", withElapsed},
		{"AddIdempotencyKey", withKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.p)
			replaceContextEachAttempt(c)
			const n = 50
			collected := make(chan struct{}, n)
			for range n {
				req := c.R().SetBody("b")
				runtime.AddCleanup(req, func(ch chan struct{}) { ch <- struct{}{} }, collected)
				if resp, err := req.Post(srv.URL); err != nil || resp.StatusCode() != http.StatusOK {
					t.Fatalf("status %d, err %v", statusOf(resp), err)
				}
			}
			if entries, counted := inflightOf(t, c); entries != 0 || counted != 0 {
				t.Errorf("after %d finished requests the installation holds %d in flight (counted %d), want 0", n, entries, counted)
			}
			// Collect until half the requests' cleanups have run (they run
			// on their own goroutine after a GC); 10s only detects
			// requests that are never collected.
			hang := time.After(10 * time.Second)
			for got := 0; got < n/2; {
				select {
				case <-collected:
					got++
				case <-hang:
					t.Fatalf("%d of %d finished requests were collected, want at least %d", got, n, n/2)
				default:
					runtime.GC()
				}
			}
		})
	}
}

// The same hook with AddIdempotencyKey: a request executed twice sends a
// fresh key on its second Execute (the first one's state is not resumed),
// and no key is left on the request.
func TestReplacedContextKeyReused(t *testing.T) {
	t.Parallel()
	log := newRequestLog()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { log.record("k", r) })
	p := fastPolicy(3)
	p.AddIdempotencyKey = true
	c := newClient(t, p)
	replaceContextEachAttempt(c)
	req := c.R().SetBody("x")
	for i := range 2 {
		if resp, err := req.Post(srv.URL); err != nil || resp.StatusCode() != http.StatusOK {
			t.Fatalf("Execute %d: status %d, err %v", i+1, statusOf(resp), err)
		}
	}
	if h := req.Header.Get("Idempotency-Key"); h != "" {
		t.Errorf("key left on the request after Execute: %q", h)
	}
	if keys := log.keysOf("k"); len(keys) != 2 || keys[0] == "" || keys[1] == "" || keys[0] == keys[1] {
		t.Errorf("keys sent by two Executes: %q, want two different ones", keys)
	}
}

// The same hook with MaxElapsed: a request executed again measures
// MaxElapsed from its own start, not from the first Execute's.
func TestReusedRequestInheritsStaleState(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil, statuses(200, 503, 200)) // the second Execute's first attempt fails
	p := fastPolicy(3)
	p.MaxElapsed = 3 * time.Second // its attempt in flight is bounded by a real timer: far from any load
	clock := retrytest.NewClock(time.Now())
	c := ApplyOnClock(p, bareClient(t), clock)
	replaceContextEachAttempt(c)
	req := c.R()
	if resp, err := req.Get(ts.URL); err != nil || resp.StatusCode() != http.StatusOK {
		t.Fatalf("first Execute: status %d, err %v", statusOf(resp), err)
	}
	clock.Advance(4 * time.Second) // the next poll: past the first Execute's MaxElapsed
	resp, err := req.Get(ts.URL)
	if err != nil || resp.StatusCode() != http.StatusOK || ts.calls() != 3 {
		t.Errorf("second Execute: status %d, err %v (ErrTimeLimit: %v), %d calls; want 200 after one retry, 3 calls",
			statusOf(resp), err, errors.Is(err, ErrTimeLimit), ts.calls())
	}
}

// A streamed response (SetDoNotParseResponse) under MaxElapsed keeps its
// deadline while the caller reads the body; closing the body disarms it,
// and the finished state holds neither the request, nor the retried
// response, nor the body's bytes kept for the replay.
func TestStreamedClosedRetainsState(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, n int) {
		io.Copy(io.Discard, r.Body)
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	p := fastPolicy(3)
	p.MaxElapsed = 10 * time.Second
	c := newClient(t, p)
	parent, cancel := context.WithCancel(context.Background()) // long-lived
	defer cancel()
	body := bytes.Repeat([]byte("x"), 64<<10)
	resp, err := c.R().SetContext(parent).SetDoNotParseResponse(true).SetBody(bytes.NewReader(body)).Put(ts.URL)
	if err != nil || resp.StatusCode() != http.StatusOK || ts.calls() != 2 {
		t.Fatalf("status %d, err %v, %d calls; want 200 after one retry", statusOf(resp), err, ts.calls())
	}
	rctx := resp.RawResponse.Request.Context()
	sc, ok := rctx.(*stateCtx)
	if !ok {
		resp.RawBody().Close()
		t.Fatalf("the streamed response's request context is %T, want the library's *stateCtx", rctx)
	}
	if rctx.Value(stateKey{}) != nil {
		t.Errorf("the state is reachable from the streamed response's context after return")
	}
	st := sc.st
	if _, has := rctx.Deadline(); !has || rctx.Err() != nil {
		t.Errorf("the deadline was disarmed before the streamed body was closed (deadline %v, err %v)", has, rctx.Err())
	}
	got, err := io.ReadAll(resp.RawBody())
	if err != nil || string(got) != "ok" {
		t.Errorf("streamed body %q, err %v", got, err)
	}
	resp.RawBody().Close()
	if rctx.Err() == nil {
		t.Errorf("the deadline's timer is still armed after the streamed body was closed")
	}
	if !st.done.Load() || st.replay.data != nil || st.replay.firstBody != nil {
		t.Errorf("the finished state still holds: done %v, replay bytes %d, first body %v",
			st.done.Load(), len(st.replay.data), st.replay.firstBody != nil)
	}
}

// Err of a streamed response's context stays context.Canceled after the
// caller's cancel, even once the MaxElapsed deadline passes: Err never
// changes after it returned an error.
func TestStreamedErrStable(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	p := fastPolicy(3)
	// Long enough that the first attempt, under -race among the parallel
	// tests, is over well before it (200ms once was not).
	p.MaxElapsed = 1500 * time.Millisecond
	c := newClient(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := c.R().SetContext(ctx).SetDoNotParseResponse(true).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.RawBody().Close()
	rc := resp.RawResponse.Request.Context()
	cancel()
	select {
	case <-rc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the streamed response's context did not end within 5s of the caller's cancel")
	}
	first := rc.Err()
	// The MaxElapsed bound is a real context deadline (its timer is the
	// one that could change Err), so this waits on real time for its
	// instant: a context with the same deadline ends then.
	dl, ok := rc.Deadline()
	if !ok {
		t.Fatal("the streamed response's context has no deadline under MaxElapsed")
	}
	past, stop := context.WithDeadline(context.Background(), dl.Add(time.Millisecond))
	defer stop()
	<-past.Done()
	if second := rc.Err(); !errors.Is(first, context.Canceled) || second != first {
		t.Errorf("Err() was %v after the caller's cancel, then %v after MaxElapsed; want context.Canceled both times", first, second)
	}
}

// A context the MaxElapsed deadline ended stays ended after Execute
// returned: Done stays closed and Err non-nil.
func TestExpiredContextUncancels(t *testing.T) {
	t.Parallel()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select { // slower than MaxElapsed
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	p := fastPolicy(3)
	p.MaxElapsed = 100 * time.Millisecond
	c := newClient(t, p)
	resp, err := c.R().Get(srv.URL)
	if !errors.Is(err, ErrTimeLimit) {
		t.Errorf("err = %v, want ErrTimeLimit", err)
	}
	if resp == nil || resp.Request == nil || resp.Request.RawRequest == nil {
		t.Fatalf("no raw request on the response %v", resp)
	}
	seen := resp.Request.RawRequest.Context()
	if seen.Err() == nil {
		d, ok := seen.Deadline()
		t.Errorf("the raw request's context, which the deadline ended, now says Err() = nil (deadline %v, %v)", d, ok)
	}
	select {
	case <-seen.Done():
	default:
		t.Errorf("the raw request's context, which the deadline ended, has an open Done channel")
	}
}

// A request made inside another's OnAfterResponse hook with
// resp.Request.Context() gets back exactly the context it was given, even
// when it retried and the outer request carries a state of its own.
func TestNestedRequestContextIdentity(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, byPath, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/inner" && n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	c := newClient(t, fastPolicy(3))
	var given, got context.Context
	c.OnAfterResponse(func(cl *resty.Client, resp *resty.Response) error {
		if resp.Request.RawRequest.URL.Path != "/outer" {
			return nil
		}
		given = resp.Request.Context()
		inner, err := cl.R().SetContext(given).Get(ts.URL + "/inner")
		if err != nil {
			t.Errorf("inner: %v", err)
			return nil
		}
		got = inner.Request.Context()
		return nil
	})
	outer := fastPolicy(3)
	outer.MaxElapsed = 10 * time.Second // the outer has a state (and an armed context) on its first attempt
	if _, err := c.R().SetContext(WithPolicy(context.Background(), outer)).Get(ts.URL + "/outer"); err != nil {
		t.Fatal(err)
	}
	if ts.count("/inner") != 2 {
		t.Errorf("inner: %d calls, want 2 (a retry)", ts.count("/inner"))
	}
	if given == nil || got != given {
		t.Errorf("the inner request's context after return is %T, not the context it was given (%T)", got, given)
	}
}
