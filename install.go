package restyretry

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/core"
)

// What Apply leaves on one client, and how a callback finds it.
//
// An installation is found from a registry keyed by *resty.Client (and, for
// a Clone that has no policy of its own yet, by the *http.Client it shares
// with its original); both maps are weak, so that having been applied keeps
// no client alive. The callbacks (resty_retry.go) resolve the installation
// that serves the client they are called for; the per-request state
// (state.go), the body replay (body.go) and the quiet logger (quiet.go) hang
// off it.

// loopCeiling is the retry count resty's loop is given; the policy stops
// it far earlier (core.MaxRetriesLimit). It also bounds what the policy
// cannot stop: a retry condition added with resty's own AddRetryCondition
// that retries an error raised before sending, for which resty calls no
// RetryAfter and waits its own backoff (1ns, with the wait bounds Apply
// sets). resty's backoff arithmetic breaks from attempt 1024 on, so the
// ceiling stays below it.
const loopCeiling = core.MaxRetriesLimit + 1

// maxWait is the longest wait resty is allowed to sleep: its clamp is
// opened so that the core's waits pass through unchanged.
const maxWait = time.Duration(math.MaxInt64)

// installation is the state Apply leaves on one client.
type installation struct {
	self     weak.Pointer[resty.Client] // the client Apply was called on
	core     *core.Client
	hooks    bool // the hooks were registered on this client (not inherited through Clone)
	guard    bool // the body guard is the client's pre-request hook
	quiet    quietCache
	inflight sync.Map     // *resty.Request → *reqState while Execute runs
	guarded  sync.Map     // *http.Request → struct{}: multipart attempts the body guard saw before they had state
	flightN  atomic.Int64 // entries in inflight
	pending  sync.Map     // *http.Request → *pendingExec: Pace's last look started an execution (lastLook)
	pendingN atomic.Int64 // entries in pending
}

// The registry of installations: by client, and by the *http.Client a
// client shares with its clones. Both are weak, so that a client nobody
// uses any more is not kept alive by having been applied.
var (
	byClient sync.Map // weak.Pointer[resty.Client] → *installation
	byHTTP   sync.Map // weak.Pointer[http.Client] → *installation (of the first client applied)
)

// lookup returns c's own installation, nil if none.
func lookup(c *resty.Client) *installation {
	if v, ok := byClient.Load(weak.Make(c)); ok {
		return v.(*installation)
	}
	return nil
}

// inherited returns the installation a Clone of an applied client was
// copied from, nil if c is no such clone. A clone shares its original's
// *http.Client and carries the retry settings only Apply writes.
func inherited(c *resty.Client) *installation {
	if c.RetryCount != loopCeiling || c.RetryWaitTime != 0 || c.RetryMaxWaitTime != maxWait {
		return nil
	}
	hc := c.GetClient()
	if hc == nil {
		return nil
	}
	if v, ok := byHTTP.Load(weak.Make(hc)); ok {
		return v.(*installation)
	}
	return nil
}

// resolve returns the installation that serves requests of c: in for its
// own client, else c's own (a clone applied on its own), else in (a clone
// served by its original).
func (in *installation) resolve(c *resty.Client) *installation {
	if c == nil || in.self.Value() == c {
		return in
	}
	if own := lookup(c); own != nil {
		return own
	}
	return in
}

// policyFor returns the policy for a request without state: the one its
// context carries (WithPolicy), else the client's.
func (in *installation) policyFor(ctx context.Context) *core.Policy {
	if p := core.PolicyFrom(ctx); p != nil {
		return p
	}
	return in.core.Policy()
}

// start begins r's execution under p.
func (in *installation) start(c *resty.Client, r *resty.Request, p *core.Policy, at time.Time) *core.Execution {
	defaultKey := c != nil && header(c.Header, core.IdempotencyKeyHeader) != ""
	return in.core.Start(r.Context(), p, core.Request{Method: r.Method, Header: r.Header,
		DefaultKey: defaultKey, Start: at})
}

// hideState is the context of a request made with another request's
// context while that one runs (from inside one of its hooks): it hides the
// other's state, so that the inner request is not mistaken for the outer.
// It keeps the context contract: everything but Value is the wrapped
// context's.
type hideState struct{ context.Context }

func (h hideState) Value(key any) any {
	if _, ok := key.(stateKey); ok {
		return nil
	}
	return h.Context.Value(key)
}

// asType is errors.As with the target as a result.
func asType[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}

// header is h's first value for the canonical key: a map lookup, where
// Header.Get canonicalises the key on every call.
func header(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

type stateKey struct{}
