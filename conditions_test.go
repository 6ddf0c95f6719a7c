package restyretry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/go-resty/resty/v2"
	"github.com/jarcoal/httpmock"
	"github.com/restyretry/restyretry/core"
)

// The tests in this file pin down exactly which outcomes are retried. They
// drive a real resty client whose transport is a private httpmock transport
// (one per client, so that parallel tests never share call counters), and
// count the calls that reached the "server".

// condIdempotent lists the methods of RFC 9110 §9.2.2, retried on every
// retryable outcome.
var condIdempotent = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodOptions: true,
	http.MethodTrace: true, http.MethodPut: true, http.MethodDelete: true,
}

// condStatus answers with status and the given headers.
func condStatus(status int, h http.Header) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(status, "payload")
		for k, v := range h {
			resp.Header[http.CanonicalHeaderKey(k)] = v
		}
		resp.Request = req
		return resp, nil
	}
}

// condBrokenBody answers with status and a body whose read fails with err
// after a few bytes: the response was received, the body was not.
func condBrokenBody(status int, err error) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(status, "")
		resp.Body = io.NopCloser(io.MultiReader(
			io.LimitReader(condZeros{}, 3), condErrReader{err}))
		resp.ContentLength = -1
		resp.Request = req
		return resp, nil
	}
}

type condZeros struct{}

func (condZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type condErrReader struct{ err error }

func (r condErrReader) Read([]byte) (int, error) { return 0, r.err }

// condTimeout is a net.Error that timed out, as a read deadline produces.
type condTimeout struct{}

func (condTimeout) Error() string   { return "i/o timeout" }
func (condTimeout) Timeout() bool   { return true }
func (condTimeout) Temporary() bool { return true }

// condNetErr is a net.Error that did not time out.
type condNetErr struct{}

func (condNetErr) Error() string   { return "some network failure" }
func (condNetErr) Timeout() bool   { return false }
func (condNetErr) Temporary() bool { return false }

// condRetryableStatus is the rule written out by hand: 408, 429 and every
// 5xx except 501 and 505.
var condRetryableStatus = map[int]bool{
	408: true, 429: true, 500: true, 502: true, 503: true, 504: true,
	507: true, 511: true, 599: true,
}

// condNotApplied are the statuses by which a server says it did not act on
// the request, so that even POST and PATCH are retried.
// (a bare 503 is not: a gateway answers it while the upstream may act; one
// with Retry-After is, see TestConditionsStatusSpecialCases).
var condNotApplied = map[int]bool{429: true}

func TestConditionsStatusMethodMatrix(t *testing.T) {
	t.Parallel()
	statuses := []int{200, 201, 301, 400, 401, 403, 404, 408, 409, 422, 429,
		500, 501, 502, 503, 504, 505, 507, 511, 599}
	p := fastPolicy(3)
	for _, method := range condMethods {
		for _, status := range statuses {
			want := 1
			if condRetryableStatus[status] && (condIdempotent[method] || condNotApplied[status]) {
				want = p.MaxRetries + 1
			}
			t.Run(method+"/"+strconv.Itoa(status), func(t *testing.T) {
				t.Parallel()
				c, mt := mockClient(p, condStatus(status, nil))
				resp, err := c.R().Execute(method, condURL)
				if err != nil {
					t.Fatalf("err = %v, want nil (the last response is returned as is)", err)
				}
				if got := mt.GetTotalCallCount(); got != want {
					t.Errorf("calls = %d, want %d", got, want)
				}
				if resp.StatusCode() != status {
					t.Errorf("status = %d, want %d", resp.StatusCode(), status)
				}
				if resp.Request.Attempt != want {
					t.Errorf("Attempt = %d, want %d", resp.Request.Attempt, want)
				}
			})
		}
	}
}

func TestConditionsStatusSpecialCases(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	all := p.MaxRetries + 1
	allMethods := p
	allMethods.RetryAllMethods = true
	key := http.Header{"Idempotency-Key": {"8e03978e-40d5-43e8-bc93-6894a57f9324"}}

	cases := []struct {
		name    string
		policy  Policy
		method  string
		status  int
		resp    http.Header // response headers
		reqHead http.Header // request headers
		want    int
	}{
		// A POST answered 503 is retried only when the server says it
		// refused before acting.
		{"503 POST", p, "POST", 503, nil, nil, 1},
		{"503 Retry-After POST", p, "POST", 503, http.Header{"Retry-After": {"0"}}, nil, all},
		{"503 X-Should-Retry POST", p, "POST", 503, http.Header{"X-Should-Retry": {"true"}}, nil, all},
		{"503 Idempotency-Key PATCH", p, "PATCH", 503, nil, key, all},
		// 401 is never retried, whatever the server asks for.
		{"401 Retry-After GET", p, "GET", 401, http.Header{"Retry-After": {"1"}}, nil, 1},
		{"401 Retry-After PUT", p, "PUT", 401, http.Header{"Retry-After": {"1"}}, nil, 1},
		{"401 Retry-After POST", p, "POST", 401, http.Header{"Retry-After": {"1"}}, nil, 1},
		// A 403 that says the rate limit is spent is a 429 in disguise.
		{"403 rate limited GET", p, "GET", 403, http.Header{"X-RateLimit-Remaining": {"0"}}, nil, all},
		{"403 rate limited POST", p, "POST", 403, http.Header{"X-RateLimit-Remaining": {"0"}}, nil, all},
		{"403 rate limited PATCH", p, "PATCH", 403, http.Header{"X-RateLimit-Remaining": {"0"}}, nil, all},
		{"403 quota left GET", p, "GET", 403, http.Header{"X-RateLimit-Remaining": {"7"}}, nil, 1},
		{"404 remaining 0 GET", p, "GET", 404, http.Header{"X-RateLimit-Remaining": {"0"}}, nil, 1},
		// An Idempotency-Key makes POST and PATCH safe to repeat.
		{"POST 500 Idempotency-Key", p, "POST", 500, nil, key, all},
		{"PATCH 502 Idempotency-Key", p, "PATCH", 502, nil, key, all},
		{"POST 501 Idempotency-Key", p, "POST", 501, nil, key, 1},
		{"POST 400 Idempotency-Key", p, "POST", 400, nil, key, 1},
		{"POST 500 empty Idempotency-Key", p, "POST", 500, nil, http.Header{"Idempotency-Key": {""}}, 1},
		// RetryAllMethods treats every request as idempotent, nothing more.
		{"POST 500 RetryAllMethods", allMethods, "POST", 500, nil, nil, all},
		{"PATCH 504 RetryAllMethods", allMethods, "PATCH", 504, nil, nil, all},
		{"POST 501 RetryAllMethods", allMethods, "POST", 501, nil, nil, 1},
		{"POST 505 RetryAllMethods", allMethods, "POST", 505, nil, nil, 1},
		{"POST 409 RetryAllMethods", allMethods, "POST", 409, nil, nil, 1},
		{"POST 401 RetryAllMethods", allMethods, "POST", 401, http.Header{"Retry-After": {"1"}}, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(tc.policy, condStatus(tc.status, tc.resp))
			r := c.R()
			for k, v := range tc.reqHead {
				r.Header[k] = v
			}
			resp, err := r.Execute(tc.method, condURL)
			if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if got := mt.GetTotalCallCount(); got != tc.want {
				t.Errorf("calls = %d, want %d", got, tc.want)
			}
			if resp.StatusCode() != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode(), tc.status)
			}
		})
	}
}

// condErrors are transport errors built from the standard library's own
// types, with whether they are retried for GET and for POST.
var condErrors = []struct {
	name      string
	err       error
	get, post bool
}{
	{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true, true},
	{"dial reset", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNRESET)}, true, true},
	{"dial host unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, true, true},
	{"dial net unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, true, true},
	{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: condTimeout{}}, true, true},
	{"dial deadline", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, true, true},
	{"read reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true, false},
	{"write broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true, false},
	{"read aborted", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNABORTED)}, true, false},
	{"unexpected EOF", io.ErrUnexpectedEOF, true, false},
	{"garbled response header", textproto.ProtocolError("malformed MIME header: missing colon"), true, false},
	{"EOF", io.EOF, true, false},
	{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: condTimeout{}}, true, false},
	{"timeout net.Error", condTimeout{}, true, false},
	{"deadline exceeded", context.DeadlineExceeded, true, false},
	{"DNS temporary", &net.DNSError{Err: "server misbehaving", Name: "restyretry.test", IsTemporary: true}, true, true},
	{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "restyretry.test", IsTimeout: true}, true, true},
	{"DNS not found", &net.DNSError{Err: "no such host", Name: "restyretry.test", IsNotFound: true}, false, false},
	{"DNS in dial temporary", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", IsTemporary: true}}, true, true},
	{"DNS in dial not found", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}, false, false},
	{"x509 unknown authority", x509.UnknownAuthorityError{}, false, false},
	{"x509 invalid", x509.CertificateInvalidError{Reason: x509.Expired}, false, false},
	{"x509 hostname", x509.HostnameError{Host: "restyretry.test", Certificate: &x509.Certificate{}}, false, false},
	{"tls verification", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false, false},
	{"tls record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false, false},
	{"canceled", context.Canceled, false, false},
	{"dial canceled", &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}, false, false},
	{"message says too many redirects", errors.New("stopped after 10 redirects"), true, false},
	{"message says unsupported scheme", errors.New(`unsupported protocol scheme "ftp"`), true, false},
	{"plain net.Error", condNetErr{}, true, false},
	{"unknown", errors.New("boom"), true, false},
	// Errors are classified by type, never by message: an error not
	// recognised is retried for idempotent requests only, whatever it says.
	{"message says refused", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), true, false},
	{"message says x509", errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), true, false},
}

func TestConditionsTransportErrors(t *testing.T) {
	t.Parallel()
	p := fastPolicy(3)
	for _, tc := range condErrors {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			retried := tc.get
			if method == http.MethodPost {
				retried = tc.post
			}
			want := 1
			if retried {
				want = p.MaxRetries + 1
			}
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				t.Parallel()
				c, mt := mockClient(p, httpmock.NewErrorResponder(tc.err))
				_, err := c.R().Execute(method, condURL)
				if err == nil {
					t.Fatal("err = nil, want the transport error")
				}
				if got := mt.GetTotalCallCount(); got != want {
					t.Errorf("calls = %d, want %d (err %v)", got, want, err)
				}
				if !errors.Is(err, tc.err) {
					t.Errorf("err = %v, does not carry %v", err, tc.err)
				}
			})
		}
	}
}

// TestConditionsTransportErrorMethodOverrides: an Idempotency-Key or
// RetryAllMethods make a POST retried on errors after which the server may
// have acted; nothing makes a permanent error retried.
func TestConditionsTransportErrorMethodOverrides(t *testing.T) {
	t.Parallel()
	allMethods := fastPolicy(3)
	allMethods.RetryAllMethods = true
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	cases := []struct {
		name   string
		p      Policy
		method string
		key    bool
		err    error
		want   int
	}{
		{"POST reset key", fastPolicy(3), "POST", true, reset, 4},
		{"PATCH EOF key", fastPolicy(3), "PATCH", true, io.ErrUnexpectedEOF, 4},
		{"POST timeout all", allMethods, "POST", false, condTimeout{}, 4},
		{"PATCH reset all", allMethods, "PATCH", false, reset, 4},
		{"POST x509 all", allMethods, "POST", false, x509.UnknownAuthorityError{}, 1},
		{"POST canceled key", fastPolicy(3), "POST", true, context.Canceled, 1},
		{"POST DNS not found all", allMethods, "POST", false, &net.DNSError{IsNotFound: true}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(tc.p, httpmock.NewErrorResponder(tc.err))
			r := c.R()
			if tc.key {
				r.SetHeader("Idempotency-Key", "k-1")
			}
			if _, err := r.Execute(tc.method, condURL); err == nil {
				t.Fatal("err = nil, want the transport error")
			}
			if got := mt.GetTotalCallCount(); got != tc.want {
				t.Errorf("calls = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestConditionsBodyReadErrors: the status comes first. A 2xx whose body
// broke while being read is a failure that may have been applied, so only
// idempotent requests are retried; any other status is judged by the
// status rules (a 503 or 429 by the POST rules of those statuses).
func TestConditionsBodyReadErrors(t *testing.T) {
	t.Parallel()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	cases := []struct {
		name   string
		method string
		status int
		err    error
		want   int
	}{
		{"GET 200 unexpected EOF", "GET", 200, io.ErrUnexpectedEOF, 4},
		{"PUT 200 reset", "PUT", 200, reset, 4},
		{"GET 503 unexpected EOF", "GET", 503, io.ErrUnexpectedEOF, 4},
		{"POST 200 unexpected EOF", "POST", 200, io.ErrUnexpectedEOF, 1},
		{"POST 503 unexpected EOF", "POST", 503, io.ErrUnexpectedEOF, 1},
		{"PATCH 429 reset", "PATCH", 429, reset, 4},
		{"GET 200 unknown error", "GET", 200, errors.New("boom"), 4},
		{"POST 200 unknown error", "POST", 200, errors.New("boom"), 1},
		{"GET 404 unexpected EOF", "GET", 404, io.ErrUnexpectedEOF, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(fastPolicy(3), condBrokenBody(tc.status, tc.err))
			resp, err := c.R().Execute(tc.method, condURL)
			if !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
			if resp == nil || resp.RawResponse == nil || resp.StatusCode() != tc.status {
				t.Errorf("want the last response with status %d, got %v", tc.status, resp)
			}
			if got := mt.GetTotalCallCount(); got != tc.want {
				t.Errorf("calls = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestConditionsRedirectLoop runs a real redirect loop: the error net/http
// raises after ten redirects is not retried, so the policy adds no calls to
// those a client without retries makes.
func TestConditionsRedirectLoop(t *testing.T) {
	t.Parallel()
	loop := condStatus(http.StatusFound, http.Header{"Location": {condURL}})

	plain := resty.New().SetLogger(nopLogger{})
	mtPlain := httpmock.NewMockTransport()
	mtPlain.RegisterResponder("GET", condURL, loop)
	plain.SetTransport(mtPlain)
	if _, err := plain.R().Get(condURL); err == nil {
		t.Fatal("no error from a redirect loop without the policy")
	}
	baseline := mtPlain.GetTotalCallCount()

	c, mt := mockClient(fastPolicy(3), loop)
	_, err := c.R().Get(condURL)
	if err == nil {
		t.Fatal("no error from a redirect loop")
	}
	if got := mt.GetTotalCallCount(); got != baseline {
		t.Errorf("calls = %d, want %d as without retries (err %v)", got, baseline, err)
	}
}

func TestConditionsRetryableStatus(t *testing.T) {
	t.Parallel()
	explicit := map[int]bool{
		100: false, 200: false, 204: false, 301: false, 304: false, 400: false,
		401: false, 403: false, 404: false, 405: false, 407: false, 408: true,
		409: false, 410: false, 413: false, 422: false, 425: false, 429: true,
		431: false, 451: false, 499: false, 500: true, 501: false, 502: true,
		503: true, 504: true, 505: false, 506: true, 507: true, 508: true,
		510: true, 511: true, 599: true, 600: false, 0: false, -500: false,
	}
	// The built-in status rule, asked through the core's one entry point:
	// a GET's first attempt finished with the status.
	cc := core.NewClient(core.Policy(fastPolicy(3)), core.Options{})
	retryable := func(status int) bool {
		e := cc.Start(context.Background(), nil, core.Request{Method: http.MethodGet})
		defer e.Close()
		d := e.Next(core.Outcome{Phase: core.PhaseFinished, Attempt: 1, Status: status, Replayable: true})
		return d.Action == core.ActionRetry
	}
	for status, want := range explicit {
		if got := retryable(status); got != want {
			t.Errorf("status %d retryable = %v, want %v", status, got, want)
		}
	}
	// Over the whole range exactly 408, 429 and 98 of the 100 5xx codes.
	var n int
	for status := 0; status < 1000; status++ {
		if retryable(status) {
			n++
		}
	}
	if n != 100 {
		t.Errorf("%d retryable statuses in 0..999, want 100", n)
	}
}

func TestConditionsVerdictString(t *testing.T) {
	t.Parallel()
	for v, want := range map[Verdict]string{Abstain: "abstain", Retry: "retry", Stop: "stop", Verdict(7): "verdict(7)", Verdict(-1): "verdict(-1)"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
	var zero Verdict
	if zero != Abstain {
		t.Error("the zero Verdict is not Abstain")
	}
}

// TestConditionsStatusConditions checks RetryOnStatus and StopOnStatus
// directly: they match responses without an error only, and keep their own
// copy of the codes.
func TestConditionsStatusConditions(t *testing.T) {
	t.Parallel()
	req := resty.New().R()
	req.Method = http.MethodGet
	withStatus := func(s int) *resty.Response {
		return &resty.Response{Request: req, RawResponse: &http.Response{StatusCode: s, Header: http.Header{}}}
	}
	codes := []int{409, 418}
	retry := RetryOnStatus(codes...)
	stop := StopOnStatus(codes...)
	codes[0] = 500 // must not change the conditions

	cases := []struct {
		name       string
		resp       *resty.Response
		err        error
		retry, stp Verdict
	}{
		{"409", withStatus(409), nil, Retry, Stop},
		{"418", withStatus(418), nil, Retry, Stop},
		{"500", withStatus(500), nil, Abstain, Abstain},
		{"200", withStatus(200), nil, Abstain, Abstain},
		{"409 with body error", withStatus(409), io.ErrUnexpectedEOF, Abstain, Abstain},
		{"no raw response", &resty.Response{Request: req}, errors.New("refused"), Abstain, Abstain},
		{"nil response", nil, errors.New("refused"), Abstain, Abstain},
	}
	for _, tc := range cases {
		if got := retry(tc.resp, tc.err); got != tc.retry {
			t.Errorf("RetryOnStatus(409, 418) on %s = %v, want %v", tc.name, got, tc.retry)
		}
		if got := stop(tc.resp, tc.err); got != tc.stp {
			t.Errorf("StopOnStatus(409, 418) on %s = %v, want %v", tc.name, got, tc.stp)
		}
	}
	if got := RetryOnStatus()(withStatus(500), nil); got != Abstain {
		t.Errorf("RetryOnStatus() = %v, want Abstain", got)
	}
}

// condRecorder builds conditions that log their name when consulted.
type condRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *condRecorder) cond(name string, v Verdict) Condition {
	return func(*resty.Response, error) Verdict {
		r.mu.Lock()
		r.seen = append(r.seen, name)
		r.mu.Unlock()
		return v
	}
}

func (r *condRecorder) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func TestConditionsOrderFirstDecisionWins(t *testing.T) {
	t.Parallel()
	t.Run("stop before retry", func(t *testing.T) {
		t.Parallel()
		var rec condRecorder
		p := fastPolicy(3).With(rec.cond("a", Abstain), rec.cond("stop", Stop), rec.cond("retry", Retry))
		c, mt := mockClient(p, condStatus(500, nil))
		if _, err := c.R().Get(condURL); err != nil {
			t.Fatal(err)
		}
		if got := mt.GetTotalCallCount(); got != 1 {
			t.Errorf("calls = %d, want 1", got)
		}
		if got, want := rec.log(), []string{"a", "stop"}; !slices.Equal(got, want) {
			t.Errorf("consulted %v, want %v", got, want)
		}
	})
	t.Run("retry before stop", func(t *testing.T) {
		t.Parallel()
		var rec condRecorder
		p := fastPolicy(3).With(rec.cond("a", Abstain), rec.cond("retry", Retry), rec.cond("stop", Stop))
		c, mt := mockClient(p, condStatus(400, nil))
		if _, err := c.R().Get(condURL); err != nil {
			t.Fatal(err)
		}
		if got, want := mt.GetTotalCallCount(), p.MaxRetries+1; got != want {
			t.Errorf("calls = %d, want %d", got, want)
		}
		seen := rec.log()
		if slices.Contains(seen, "stop") {
			t.Errorf("a condition after the deciding one was consulted: %v", seen)
		}
		// "a" then "retry" once per attempt that was followed by a retry, and
		// possibly for the last attempt too.
		if n := len(seen); n%2 != 0 || n/2 < p.MaxRetries || n/2 > p.MaxRetries+1 {
			t.Fatalf("consulted %v, want [a retry] repeated %d or %d times", seen, p.MaxRetries, p.MaxRetries+1)
		}
		for i := 0; i < len(seen); i += 2 {
			if seen[i] != "a" || seen[i+1] != "retry" {
				t.Fatalf("consulted %v, want [a retry] repeated", seen)
			}
		}
	})
}

func TestConditionsOverrideBuiltins(t *testing.T) {
	t.Parallel()
	retryPOST := func(resp *resty.Response, err error) Verdict {
		if err == nil && resp.Request.Method == http.MethodPost && resp.StatusCode() == 500 {
			return Retry
		}
		return Abstain
	}
	retryX509 := func(_ *resty.Response, err error) Verdict {
		if errors.As(err, new(x509.UnknownAuthorityError)) {
			return Retry
		}
		return Abstain
	}
	var abstained atomic.Int32
	abstain := func(*resty.Response, error) Verdict {
		abstained.Add(1)
		return Abstain
	}
	all := fastPolicy(3).MaxRetries + 1
	cases := []struct {
		name   string
		p      Policy
		method string
		r      httpmock.Responder
		want   int
	}{
		{"StopOnStatus(503) GET 503", fastPolicy(3).With(StopOnStatus(503)), "GET", condStatus(503, nil), 1},
		{"StopOnStatus(503) GET 500", fastPolicy(3).With(StopOnStatus(503)), "GET", condStatus(500, nil), all},
		{"StopOnStatus(503) POST 503", fastPolicy(3).With(StopOnStatus(503)), "POST", condStatus(503, nil), 1},
		{"RetryOnStatus(409) GET 409", fastPolicy(3).With(RetryOnStatus(409)), "GET", condStatus(409, nil), all},
		{"RetryOnStatus(409) POST 409", fastPolicy(3).With(RetryOnStatus(409)), "POST", condStatus(409, nil), all},
		{"RetryOnStatus(409) GET 404", fastPolicy(3).With(RetryOnStatus(409)), "GET", condStatus(404, nil), 1},
		{"RetryOnStatus(409) GET 502", fastPolicy(3).With(RetryOnStatus(409)), "GET", condStatus(502, nil), all},
		{"custom retry POST 500", fastPolicy(3).With(retryPOST), "POST", condStatus(500, nil), all},
		{"custom retry x509", fastPolicy(3).With(retryX509), "GET", httpmock.NewErrorResponder(x509.UnknownAuthorityError{}), all},
		{"abstain GET 500", fastPolicy(3).With(abstain), "GET", condStatus(500, nil), all},
		{"abstain POST 500", fastPolicy(3).With(abstain), "POST", condStatus(500, nil), 1},
		{"nil condition ignored", fastPolicy(3).With(nil), "GET", condStatus(500, nil), all},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, mt := mockClient(tc.p, tc.r)
			_, _ = c.R().Execute(tc.method, condURL)
			if got := mt.GetTotalCallCount(); got != tc.want {
				t.Errorf("calls = %d, want %d", got, tc.want)
			}
		})
	}
	// The abstaining condition was consulted (4 GET + 1 POST attempts), so
	// the built-in rules, not a skipped condition, gave those answers.
	if n := abstained.Load(); n < int32(all) {
		t.Errorf("abstaining condition consulted %d times, want at least %d", n, all)
	}
}

// TestConditionsSeeTransportErrors: a condition is called with a response
// (carrying the request) for a transport error, never with a nil one.
func TestConditionsSeeTransportErrors(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	var calls, bad atomic.Int32
	cond := func(resp *resty.Response, err error) Verdict {
		calls.Add(1)
		if resp == nil || resp.Request == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			bad.Add(1)
		}
		return Stop
	}
	c, mt := mockClient(fastPolicy(3).With(cond), httpmock.NewErrorResponder(refused))
	_, err := c.R().Post(condURL)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want ECONNREFUSED", err)
	}
	if got := mt.GetTotalCallCount(); got != 1 {
		t.Errorf("calls = %d, want 1 (the condition said Stop)", got)
	}
	if calls.Load() != 1 || bad.Load() != 0 {
		t.Errorf("condition called %d times, %d with a nil response or without the error", calls.Load(), bad.Load())
	}
}

func TestConditionsWithKeepsReceiver(t *testing.T) {
	t.Parallel()
	all := fastPolicy(3).MaxRetries + 1
	base := fastPolicy(3).With(RetryOnStatus(418))
	stop500 := base.With(StopOnStatus(500))
	retry409 := base.With(RetryOnStatus(409))
	stacked := base.With(StopOnStatus(409)).With(RetryOnStatus(409)) // first wins
	reversed := base.With(RetryOnStatus(409)).With(StopOnStatus(409))

	cases := []struct {
		name   string
		p      Policy
		status int
		want   int
	}{
		{"plain 409", fastPolicy(3), 409, 1},
		{"base 418", base, 418, all},
		{"base 409", base, 409, 1},
		{"base 500", base, 500, all},
		{"stop500 500", stop500, 500, 1},
		{"stop500 418", stop500, 418, all},
		{"stop500 409", stop500, 409, 1},
		{"retry409 409", retry409, 409, all},
		{"retry409 418", retry409, 418, all},
		{"retry409 500", retry409, 500, all},
		{"stacked 409", stacked, 409, 1},
		{"stacked 418", stacked, 418, all},
		{"reversed 409", reversed, 409, all},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(tc.p, condStatus(tc.status, nil))
			if _, err := c.R().Get(condURL); err != nil {
				t.Fatal(err)
			}
			if got := mt.GetTotalCallCount(); got != tc.want {
				t.Errorf("calls = %d, want %d", got, tc.want)
			}
		})
	}

	// A policy already applied is a copy: deriving from it afterwards does
	// not change the client.
	p := fastPolicy(3)
	c, mt := mockClient(p, condStatus(409, nil))
	_ = p.With(RetryOnStatus(409))
	if _, err := c.R().Get(condURL); err != nil {
		t.Fatal(err)
	}
	if got := mt.GetTotalCallCount(); got != 1 {
		t.Errorf("applied policy changed by a later With: calls = %d, want 1", got)
	}
}

// condRateLimiter refuses every request.
type condRateLimiter struct{ asked atomic.Int32 }

func (l *condRateLimiter) Allow() bool {
	l.asked.Add(1)
	return false
}

// TestConditionsErrorsBeforeSending: an error raised before the request is
// sent is returned at once, and custom conditions never see it.
func TestConditionsErrorsBeforeSending(t *testing.T) {
	t.Parallel()
	errMiddleware := errors.New("middleware refused")
	var condCalls, nilResp atomic.Int32
	always := func(resp *resty.Response, _ error) Verdict {
		condCalls.Add(1)
		if resp == nil {
			nilResp.Add(1)
		}
		return Retry
	}
	p := fastPolicy(3).With(always)

	t.Run("OnBeforeRequest", func(t *testing.T) {
		c, mt := mockClient(p, condStatus(200, nil))
		var mwCalls atomic.Int32
		c.OnBeforeRequest(func(*resty.Client, *resty.Request) error {
			if mwCalls.Add(1) == 1 {
				return errMiddleware
			}
			return nil
		})
		resp, err := c.R().Get(condURL)
		if !errors.Is(err, errMiddleware) {
			t.Errorf("err = %v, want the middleware's error", err)
		}
		if resp != nil && resp.RawResponse != nil {
			t.Errorf("got a response %v", resp.Status())
		}
		if n := mwCalls.Load(); n != 1 {
			t.Errorf("middleware called %d times, want 1", n)
		}
		if n := mt.GetTotalCallCount(); n != 0 {
			t.Errorf("transport called %d times, want 0", n)
		}
	})
	t.Run("rate limiter", func(t *testing.T) {
		c, mt := mockClient(p, condStatus(200, nil))
		var rl condRateLimiter
		c.SetRateLimiter(&rl)
		_, err := c.R().Get(condURL)
		if !errors.Is(err, resty.ErrRateLimitExceeded) {
			t.Errorf("err = %v, want ErrRateLimitExceeded", err)
		}
		if n := rl.asked.Load(); n != 1 {
			t.Errorf("rate limiter asked %d times, want 1", n)
		}
		if n := mt.GetTotalCallCount(); n != 0 {
			t.Errorf("transport called %d times, want 0", n)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		c, mt := mockClient(p, condStatus(200, nil))
		if _, err := c.R().Get("http://[::1"); err == nil {
			t.Error("no error for an unparsable URL")
		}
		if n := mt.GetTotalCallCount(); n != 0 {
			t.Errorf("transport called %d times, want 0", n)
		}
	})
	if n := condCalls.Load(); n != 0 {
		t.Errorf("custom condition called %d times (%d with a nil response), want 0", n, nilResp.Load())
	}
}

// TestConditionsCanceledByCaller: the caller's own cancellation is final,
// even when a custom condition would retry.
func TestConditionsCanceledByCaller(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var condCalls atomic.Int32
	p := fastPolicy(3).With(func(*resty.Response, error) Verdict {
		condCalls.Add(1)
		return Retry
	})
	c, mt := mockClient(p, func(req *http.Request) (*http.Response, error) {
		cancel()
		return condStatus(500, nil)(req)
	})
	_, _ = c.R().SetContext(ctx).Get(condURL)
	if n := mt.GetTotalCallCount(); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
	if n := condCalls.Load(); n != 0 {
		t.Errorf("custom condition consulted %d times after the caller canceled", n)
	}
}

func TestConditionsStopAfterMaxRetries(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, n := range []int{-1, 0, 1, 3, 5} {
		want := max(n, 0) + 1
		p := fastPolicy(3)
		p.MaxRetries = n
		t.Run("status/"+strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(p, condStatus(503, nil))
			resp, err := c.R().Get(condURL)
			if err != nil {
				t.Errorf("err = %v, want nil: the last response is the result", err)
			}
			if got := mt.GetTotalCallCount(); got != want {
				t.Errorf("calls = %d, want %d", got, want)
			}
			if resp == nil || resp.StatusCode() != 503 {
				t.Fatalf("want the last 503 response, got %v", resp)
			}
			if resp.Request.Attempt != want {
				t.Errorf("Attempt = %d, want %d", resp.Request.Attempt, want)
			}
		})
		t.Run("refused/"+strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(p, httpmock.NewErrorResponder(refused))
			resp, err := c.R().Post(condURL)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("err = %v, want ECONNREFUSED", err)
			}
			if errors.Is(err, ErrGaveUp) {
				t.Errorf("err = %v: running out of retries is not an early give-up", err)
			}
			if got := mt.GetTotalCallCount(); got != want {
				t.Errorf("calls = %d, want %d", got, want)
			}
			if resp != nil && resp.Request.Attempt != want {
				t.Errorf("Attempt = %d, want %d", resp.Request.Attempt, want)
			}
		})
	}
}

func TestConditionsApplyTwice(t *testing.T) {
	t.Parallel()
	short := fastPolicy(3)
	short.MaxRetries = 1
	long := fastPolicy(3)
	long.MaxRetries = 4
	stop500 := fastPolicy(3).With(StopOnStatus(500))

	cases := []struct {
		name        string
		first, then Policy
		want        int
	}{
		{"same policy", fastPolicy(3), fastPolicy(3), 4},
		{"short then long", short, long, 5},
		{"long then short", long, short, 2},
		{"stop500 then plain", stop500, fastPolicy(3), 4},
		{"plain then stop500", fastPolicy(3), stop500, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mt := mockClient(tc.first, condStatus(500, nil))
			tc.then.Apply(c)
			if n := len(c.RetryConditions); n != 1 {
				t.Errorf("len(RetryConditions) = %d after applying twice, want 1", n)
			}
			if _, err := c.R().Get(condURL); err != nil {
				t.Fatal(err)
			}
			if got := mt.GetTotalCallCount(); got != tc.want {
				t.Errorf("calls = %d, want %d (the second policy's)", got, tc.want)
			}
		})
	}

	// The package-level Apply is the same installation.
	c := resty.New()
	Apply(c)
	fastPolicy(3).Apply(c)
	Apply(c)
	if n := len(c.RetryConditions); n != 1 {
		t.Errorf("len(RetryConditions) = %d after Apply, Policy.Apply, Apply; want 1", n)
	}
}
