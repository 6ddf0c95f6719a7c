package core

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ecAlert stands for crypto/tls's unexported alert type inside the
// *net.OpError by which crypto/tls reports a TLS alert.
type ecAlert uint8

func (ecAlert) Error() string { return "tls: alert" }

// errAdapterPermanent stands for an adapter's own permanent error (resty's
// ErrAutoRedirectDisabled, ErrResponseBodyTooLarge), given to classify as
// Options.Permanent gives it.
var errAdapterPermanent = errors.New("adapter: permanent")

// ecClassified are errors built from the types the standard library
// returns, with their class written out.
var ecClassified = []struct {
	name string
	err  error
	want errClass
}{
	// Permanent: the same request fails the same way.
	{"canceled", context.Canceled, errPermanent},
	{"dial canceled", &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}, errPermanent},
	{"x509 unknown authority", x509.UnknownAuthorityError{}, errPermanent},
	{"x509 invalid", x509.CertificateInvalidError{Reason: x509.Expired}, errPermanent},
	{"x509 hostname", x509.HostnameError{Host: "restyretry.test", Certificate: &x509.Certificate{}}, errPermanent},
	{"x509 system roots", x509.SystemRootsError{}, errPermanent},
	{"x509 critical extension", x509.UnhandledCriticalExtension{}, errPermanent},
	{"x509 constraint", x509.ConstraintViolationError{}, errPermanent},
	{"x509 insecure algorithm", x509.InsecureAlgorithmError(x509.SHA1WithRSA), errPermanent},
	{"tls verification", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, errPermanent},
	{"tls record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, errPermanent},
	{"tls alert error", tls.AlertError(40), errPermanent},
	{"tls ECH rejected", &tls.ECHRejectionError{}, errPermanent},
	{"tls remote alert", &net.OpError{Op: "remote error", Err: ecAlert(116)}, errPermanent},
	{"tls local alert", &net.OpError{Op: "local error", Err: ecAlert(70)}, errPermanent},
	{"scheme mismatch", http.ErrSchemeMismatch, errPermanent},
	{"adapter permanent", errAdapterPermanent, errPermanent},
	{"DNS not found", &net.DNSError{Err: "no such host", Name: "restyretry.test", IsNotFound: true}, errPermanent},
	{"DNS in dial not found", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}, errPermanent},
	{"h2 HTTP_1_1_REQUIRED", h2StreamError{StreamID: 1, Code: 0xd}, errPermanent},
	{"h2 INADEQUATE_SECURITY", h2StreamError{StreamID: 1, Code: 0xc}, errPermanent},
	{"unsupported scheme", &url.Error{Op: "Get", URL: "ftp://127.0.0.1/x", Err: errors.New("unsupported protocol scheme")}, errPermanent},
	{"no host", &url.Error{Op: "Get", URL: "http:///x", Err: errors.New("no Host in request URL")}, errPermanent},
	{"nil URL", &url.Error{Op: "Get", URL: "", Err: errors.New("nil Request.URL")}, errPermanent},
	{"redirect refused, relative Location", &url.Error{Op: "Get", URL: "/next", Err: errors.New("stopped after 10 redirects")}, errPermanent},

	// Not sent: safe for every method.
	{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, errNotSent},
	{"dial reset", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNRESET)}, errNotSent},
	{"dial host unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, errNotSent},
	{"dial net unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, errNotSent},
	{"dial no address", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}, errNotSent},
	{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: condTimeout{}}, errNotSent},
	{"dial deadline", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, errNotSent},
	{"proxy refused", &net.OpError{Op: "proxyconnect", Net: "tcp", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, errPermanent},
	{"DNS temporary", &net.DNSError{Err: "server misbehaving", Name: "restyretry.test", IsTemporary: true}, errNotSent},
	{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "restyretry.test", IsTimeout: true}, errNotSent},
	{"DNS no flag", &net.DNSError{Err: "no suitable address found", Name: "restyretry.test"}, errNotSent},
	{"DNS not found but temporary", &net.DNSError{Err: "no such host", IsNotFound: true, IsTemporary: true}, errNotSent},
	{"DNS in dial temporary", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", IsTemporary: true}}, errNotSent},
	{"h2 REFUSED_STREAM", h2StreamError{StreamID: 3, Code: 0x7}, errNotSent},

	// Maybe sent: a known transient failure on an open connection.
	{"read reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, errMaybeSent},
	{"write broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, errMaybeSent},
	{"read aborted", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNABORTED)}, errMaybeSent},
	{"read host unreachable", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.EHOSTUNREACH)}, errMaybeSent},
	{"read ETIMEDOUT", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}, errMaybeSent},
	{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: condTimeout{}}, errMaybeSent},
	{"timeout net.Error", condTimeout{}, errMaybeSent},
	{"deadline exceeded", context.DeadlineExceeded, errMaybeSent},
	{"closed connection", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}, errMaybeSent},
	{"unexpected EOF", io.ErrUnexpectedEOF, errMaybeSent},
	{"EOF", io.EOF, errMaybeSent},
	{"garbled response header", textproto.ProtocolError("malformed MIME header: missing colon"), errMaybeSent},
	{"h2 INTERNAL_ERROR", h2StreamError{StreamID: 1, Code: 0x2}, errMaybeSent},
	{"h2 PROTOCOL_ERROR", h2StreamError{StreamID: 1, Code: 0x1}, errMaybeSent},
	{"h2 CANCEL", h2StreamError{StreamID: 5, Code: 0x8}, errMaybeSent},
	{"h2 ENHANCE_YOUR_CALM", h2StreamError{StreamID: 5, Code: 0xb}, errMaybeSent},

	// Unknown: not recognised, whatever the message says.
	{"unknown", errors.New("boom"), errUnknown},
	{"plain net.Error", condNetErr{}, errUnknown},
	{"line too long", http.ErrLineTooLong, errUnknown},
	{"unparsable URL", &url.Error{Op: "Get", URL: "http://[::1", Err: errors.New("boom")}, errUnknown},
	{"redirect refused, absolute Location", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/next", Err: errors.New("stopped after 10 redirects")}, errUnknown},
	{"message says refused", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), errUnknown},
	{"message says reset", errors.New("read: connection reset by peer"), errUnknown},
	{"message says x509", errors.New("x509: certificate signed by unknown authority"), errUnknown},
	{"message says canceled", errors.New("context canceled"), errUnknown},
	{"message says too many redirects", errors.New("stopped after 10 redirects"), errUnknown},
	{"message says unsupported scheme", errors.New(`unsupported protocol scheme "ftp"`), errUnknown},
	{"message says server closed idle", errors.New("http: server closed idle connection"), errUnknown},
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range ecClassified {
		wrapped := []struct {
			how string
			err error
		}{
			{"bare", tc.err},
			{"fmt %w", fmt.Errorf("attempt 2: %w", tc.err)},
			{"errors.Join", errors.Join(errors.New("unrelated"), tc.err)},
		}
		if _, ok := asType[*url.Error](tc.err); !ok {
			// How net/http returns a transport error (the URL of a request
			// it would send).
			wrapped = append(wrapped, struct {
				how string
				err error
			}{"url.Error", &url.Error{Op: "Get", URL: condURL, Err: tc.err}})
		}
		for _, w := range wrapped {
			if got := classify(w.err, errAdapterPermanent); got != tc.want {
				t.Errorf("classify(%s %s) = %v, want %v", w.how, tc.name, got, tc.want)
			}
		}
	}
	if got := classify(nil); got != errUnknown {
		t.Errorf("classify(nil) = %v, want errUnknown", got)
	}
	if got := classify(errAdapterPermanent); got != errUnknown {
		t.Errorf("classify(adapter error) without Permanent = %v, want errUnknown", got)
	}
	for c, want := range map[errClass]string{errPermanent: "errPermanent", errNotSent: "errNotSent",
		errMaybeSent: "errMaybeSent", errUnknown: "errUnknown", errClass(9): "errClass(9)"} {
		if got := c.String(); got != want {
			t.Errorf("errClass(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

// TestClassifyAllocationFree keeps the transport-error rules off the heap:
// errors.AsType needs no pointer target that escapes.
func TestClassifyAllocationFree(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	reset := &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{
		Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}}
	timeout := &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{
		Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}}
	var a, b, c errClass
	n := testing.AllocsPerRun(200, func() {
		a, b, c = classify(refused), classify(reset), classify(timeout)
	})
	if a != errNotSent || b != errMaybeSent || c != errMaybeSent {
		t.Errorf("classify = %v, %v, %v; want errNotSent, errMaybeSent, errMaybeSent", a, b, c)
	}
	if n != 0 {
		t.Errorf("classify allocates %v times", n)
	}
}

// The scenarios below run real failures on loopback through net/http and
// Default(), counting what reached the server; doHTTP plays the adapter on a
// fake clock, so no backoff is slept.

// ecPolicy is Default; the budget and jitter are Default's. Every scenario
// uses a fresh client, so a fresh budget.
func ecPolicy(rec *ecRecorder) Policy {
	p := Default()
	p.OnDecision = rec.record
	return p
}

// ecRecorder keeps the class of every attempt's error, in order.
type ecRecorder struct {
	mu      sync.Mutex
	classes []errClass
	errs    []error
}

func (r *ecRecorder) record(e Event) {
	if e.Err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.classes = append(r.classes, classify(e.Err))
	r.errs = append(r.errs, e.Err)
}

func (r *ecRecorder) seen() ([]errClass, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]errClass(nil), r.classes...), append([]error(nil), r.errs...)
}

// ecRun is a core client under ecPolicy (errAdapterPermanent is the
// adapter's permanent error) and an http.Client over a transport.
type ecRun struct {
	c  *Client
	hc *http.Client
}

// ecClient returns an ecRun over tr; its idle connections are closed when
// the test ends.
func ecClient(t *testing.T, tr http.RoundTripper, rec *ecRecorder) *ecRun {
	t.Helper()
	c := NewClient(ecPolicy(rec), Options{Clock: newFakeClock(), Permanent: []error{errAdapterPermanent}})
	if ci, ok := tr.(interface{ CloseIdleConnections() }); ok {
		t.Cleanup(ci.CloseIdleConnections)
	}
	return &ecRun{c: c, hc: &http.Client{Transport: tr}}
}

// do sends one logical request.
func (r *ecRun) do(ctx context.Context, method, url, body string) httpResult {
	return doHTTP(r.c, r.hc, httpReq{ctx: ctx, method: method, url: url, body: body})
}

// ecQuietLog discards a test server's own log lines (TLS handshake errors
// provoked on purpose).
func ecQuietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// TestErrClassHTTP2StreamReset: a handler that aborts makes the HTTP/2
// server reset the stream with INTERNAL_ERROR, which net/http reports with an
// unexported type. A GET recovers; a POST is not sent again.
func TestErrClassHTTP2StreamReset(t *testing.T) {
	t.Parallel()
	const fail = 2
	for _, tc := range []struct {
		method   string
		wantHits int32
		wantOK   bool
	}{
		{http.MethodGet, fail + 1, true},
		{http.MethodPost, 1, false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) <= fail {
					panic(http.ErrAbortHandler)
				}
				_, _ = io.WriteString(w, "ok")
			}))
			srv.EnableHTTP2 = true
			srv.Config.ErrorLog = ecQuietLog()
			srv.StartTLS()
			t.Cleanup(srv.Close)
			var rec ecRecorder
			c := ecClient(t, srv.Client().Transport.(*http.Transport), &rec)

			res := c.do(context.Background(), tc.method, srv.URL, "order=1")
			err := res.err
			if got := hits.Load(); got != tc.wantHits {
				t.Errorf("server hits = %d, want %d (err %v)", got, tc.wantHits, err)
			}
			classes, errs := rec.seen()
			if len(errs) == 0 {
				t.Fatal("no attempt failed: the server did not reset the stream")
			}
			for i, e := range errs {
				if classes[i] != errMaybeSent {
					t.Errorf("attempt error %v: class %v, want errMaybeSent", e, classes[i])
				}
				if se, ok := asType[h2StreamError](e); !ok || se.Code != 0x2 {
					t.Errorf("attempt error %v: not an HTTP/2 INTERNAL_ERROR stream reset (%+v)", e, se)
				}
			}
			if tc.wantOK {
				if err != nil || res.status != http.StatusOK || res.proto != "HTTP/2.0" {
					t.Fatalf("got %v %v %v, want an HTTP/2.0 200", res.proto, res.status, err)
				}
				if len(errs) != fail {
					t.Errorf("%d failed attempts recorded, want %d", len(errs), fail)
				}
			} else if err == nil {
				t.Fatalf("POST succeeded with status %d, want the stream reset error", res.status)
			}
		})
	}
}

// ecProxy is a TCP proxy to upstream. While drop is positive, it accepts a
// connection and closes it at once, as a proxy whose upstream is down does,
// and reports each such close on dropped.
type ecProxy struct {
	ln       net.Listener
	upstream string
	drop     atomic.Int32
	accepted atomic.Int32
	dropped  chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func newECProxy(t *testing.T, upstream string) *ecProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &ecProxy{ln: ln, upstream: upstream, dropped: make(chan struct{}, 64), conns: map[net.Conn]struct{}{}}
	goWG(&p.wg, p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *ecProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.drop.Add(-1) >= 0 {
			_ = c.Close()
			select {
			case p.dropped <- struct{}{}:
			default:
			}
			continue
		}
		p.drop.Store(0)
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		goWG(&p.wg, func() { p.pipe(c, up) })
	}
}

// track registers the pair of connections, or closes them if the proxy is
// closing.
func (p *ecProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *ecProxy) pipe(down, up net.Conn) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = down.Close()
			_ = up.Close()
			p.mu.Lock()
			delete(p.conns, down)
			delete(p.conns, up)
			p.mu.Unlock()
		})
	}
	var wg sync.WaitGroup
	goWG(&wg, func() {
		_, _ = io.Copy(up, down)
		closeBoth()
	})
	_, _ = io.Copy(down, up)
	closeBoth()
	wg.Wait()
}

func (p *ecProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// TestErrClassDeadUpstreamProxy: a TCP proxy whose upstream is down accepts
// each connection and closes it. Ten GETs, each meeting two dropped
// connections before the upstream comes back, all recover; a POST is not
// sent again.
//
// Depending on timing, net/http reports a dropped connection as EOF or a
// reset (the close arrived after the request was handed to the connection:
// errMaybeSent) or as its unexported "server closed idle connection" (the
// close arrived first: errUnknown). "as it comes" leaves the timing to the
// machine; "closed first" holds each dropped attempt in httptrace's GotConn
// until the proxy has closed, so that net/http's reader sees the close
// before the request, as happens behind a slower proxy.
func TestErrClassDeadUpstreamProxy(t *testing.T) {
	t.Parallel()
	for _, closedFirst := range []bool{false, true} {
		name := "as it comes"
		if closedFirst {
			name = "closed first"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ecDeadUpstream(t, closedFirst)
		})
	}
}

func ecDeadUpstream(t *testing.T, closedFirst bool) {
	var upHits atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upHits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(upstream.Close)
	proxy := newECProxy(t, upstream.Listener.Addr().String())
	target := "http://" + proxy.ln.Addr().String() + "/item"
	// No keep-alive: every attempt opens a fresh connection to the proxy,
	// as the case this test is about.
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)

	const rounds, drop = 10, 2
	// ctx, in "closed first", holds the first drop connections of a round
	// until the proxy has closed them, then long enough for net/http's
	// reader to see the close.
	var gotConns atomic.Int32
	ctx := context.Background()
	if closedFirst {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) {
			if gotConns.Add(1) > drop {
				return
			}
			select {
			case <-proxy.dropped:
				time.Sleep(20 * time.Millisecond)
			case <-time.After(5 * time.Second):
			}
		}})
	}
	var rec ecRecorder
	recovered := 0
	for i := range rounds {
		c := ecClient(t, tr, &rec) // a fresh client: a fresh budget
		proxy.drop.Store(drop)
		gotConns.Store(0)
		before := proxy.accepted.Load()
		res := c.do(ctx, http.MethodGet, target, "")
		if res.err == nil && res.status == http.StatusOK && res.body == "ok" {
			recovered++
		} else {
			t.Errorf("round %d: %v %v", i, res.status, res.err)
		}
		if got := proxy.accepted.Load() - before; got != drop+1 {
			t.Errorf("round %d: %d connections, want %d", i, got, drop+1)
		}
	}
	if recovered != rounds {
		t.Errorf("%d of %d GETs recovered, want all", recovered, rounds)
	}
	if got := upHits.Load(); got != rounds {
		t.Errorf("upstream hits = %d, want %d", got, rounds)
	}
	classes, errs := rec.seen()
	if len(errs) != rounds*drop {
		t.Errorf("%d failed attempts, want %d", len(errs), rounds*drop)
	}
	count := map[errClass]int{}
	seen := map[string]int{}
	for i, c := range classes {
		count[c]++
		seen[c.String()+": "+errs[i].Error()]++
		if c != errMaybeSent && c != errUnknown {
			t.Errorf("dropped connection error %v: class %v, want errMaybeSent or errUnknown", errs[i], c)
		}
	}
	t.Logf("dropped connections: %v", seen)
	if closedFirst && count[errUnknown] < len(classes)/2 {
		t.Errorf("closed first: %d of %d errors unknown (server closed idle connection), want most", count[errUnknown], len(classes))
	}

	// A POST is not sent again after a dropped connection.
	c := ecClient(t, tr, &rec)
	proxy.drop.Store(1)
	gotConns.Store(0)
	before, upBefore := proxy.accepted.Load(), upHits.Load()
	if res := c.do(ctx, http.MethodPost, target, "order=1"); res.err == nil {
		t.Error("POST through a dropped connection succeeded, want its error")
	}
	if got := proxy.accepted.Load() - before; got != 1 {
		t.Errorf("POST: %d connections, want 1", got)
	}
	if got := upHits.Load() - upBefore; got != 0 {
		t.Errorf("POST reached the upstream %d times, want 0", got)
	}
}

// ecRawServer answers each connection's one request with bad while fewer
// than fail requests have arrived, then with a valid 200, and counts
// requests.
type ecRawServer struct {
	ln   net.Listener
	bad  string
	fail int32
	hits atomic.Int32
	wg   sync.WaitGroup
}

func newECRawServer(t *testing.T, bad string, fail int32) *ecRawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &ecRawServer{ln: ln, bad: bad, fail: fail}
	goWG(&s.wg, s.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *ecRawServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		goWG(&s.wg, func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			answer := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
			if s.hits.Add(1) <= s.fail {
				answer = s.bad
			}
			_, _ = io.WriteString(c, answer)
		})
	}
}

// TestErrClassMalformedResponse: a raw server answers with a broken status
// line or header. A GET is retried and recovers; a POST is not sent again.
func TestErrClassMalformedResponse(t *testing.T) {
	t.Parallel()
	const fail = 2
	cases := []struct {
		name  string
		bad   string
		class errClass
	}{
		{"malformed status line", "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n", errUnknown},
		{"bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", errUnknown},
		{"garbled header", "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", errMaybeSent},
	}
	for _, tc := range cases {
		for _, m := range []struct {
			method   string
			wantHits int32
			wantOK   bool
		}{
			{http.MethodGet, fail + 1, true},
			{http.MethodPost, 1, false},
		} {
			t.Run(tc.name+"/"+m.method, func(t *testing.T) {
				t.Parallel()
				s := newECRawServer(t, tc.bad, fail)
				var rec ecRecorder
				c := ecClient(t, &http.Transport{}, &rec)
				res := c.do(context.Background(), m.method, "http://"+s.ln.Addr().String()+"/x", "order=1")
				err := res.err
				if got := s.hits.Load(); got != m.wantHits {
					t.Errorf("server hits = %d, want %d (err %v)", got, m.wantHits, err)
				}
				if m.wantOK && (err != nil || res.body != "ok") {
					t.Errorf("got %q, %v; want ok", res.body, err)
				}
				if !m.wantOK && err == nil {
					t.Error("POST succeeded, want the response error")
				}
				classes, errs := rec.seen()
				if len(errs) == 0 {
					t.Fatal("no attempt failed")
				}
				for i, e := range errs {
					if classes[i] != tc.class {
						t.Errorf("attempt error %v: class %v, want %v", e, classes[i], tc.class)
					}
				}
			})
		}
	}
}

// TestErrClassCertificate: TLS failures are not retried: one connection.
func TestErrClassCertificate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(*httptest.Server)
		trust bool
		check func(error) bool // what the error must carry
	}{
		{"untrusted certificate", nil, false, func(err error) bool {
			_, ok := asType[*tls.CertificateVerificationError](err)
			return ok
		}},
		{"client certificate required", func(s *httptest.Server) {
			s.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
		}, true, func(err error) bool {
			opErr, ok := asType[*net.OpError](err)
			return ok && opErr.Op == "remote error"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var conns, hits atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
			}))
			srv.Config.ErrorLog = ecQuietLog()
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			if tc.setup != nil {
				tc.setup(srv)
			}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			tr := &http.Transport{}
			if tc.trust {
				tr = srv.Client().Transport.(*http.Transport)
			}
			var rec ecRecorder
			c := ecClient(t, tr, &rec)
			err := c.do(context.Background(), http.MethodGet, srv.URL, "").err
			if err == nil {
				t.Fatal("GET succeeded, want a TLS error")
			}
			if !tc.check(err) {
				t.Errorf("err = %v (%T), not the expected TLS failure", err, err)
			}
			if got := classify(err); got != errPermanent {
				t.Errorf("classify(%v) = %v, want errPermanent", err, got)
			}
			if got := conns.Load(); got != 1 {
				t.Errorf("connections = %d, want 1", got)
			}
			if got := hits.Load(); got != 0 {
				t.Errorf("handler hits = %d, want 0", got)
			}
		})
	}
}

// TestErrClassRedirectLoop: a redirect loop ends one attempt (net/http
// follows ten redirects, a redirect policy fewer), and is not retried.
func TestErrClassRedirectLoop(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		absolute bool                                       // an absolute Location, else relative
		check    func(*http.Request, []*http.Request) error // CheckRedirect
		hits     int32
		class    errClass
	}{
		{"net/http's limit relative", false, nil, 10, errPermanent},
		{"net/http's limit absolute", true, nil, 10, errUnknown},
		{"a limit of 3 relative", false, ecStopAfter(3), 3, errPermanent},
		{"a limit of 3 absolute", true, ecStopAfter(3), 3, errUnknown},
		// As resty's NoRedirectPolicy, with the adapter's permanent error.
		{"no redirect absolute", true, func(*http.Request, []*http.Request) error { return errAdapterPermanent }, 1, errPermanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			var self atomic.Pointer[string]
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				loc := "/loop"
				if tc.absolute {
					loc = *self.Load() + loc
				}
				w.Header().Set("Location", loc)
				w.WriteHeader(http.StatusFound)
			}))
			self.Store(&srv.URL)
			t.Cleanup(srv.Close)
			var rec ecRecorder
			c := ecClient(t, &http.Transport{}, &rec)
			c.hc.CheckRedirect = tc.check
			res := c.do(context.Background(), http.MethodGet, srv.URL+"/loop", "")
			err := res.err
			if err == nil {
				t.Fatal("a redirect loop succeeded")
			}
			if got := hits.Load(); got != tc.hits {
				t.Errorf("server hits = %d, want %d (err %v)", got, tc.hits, err)
			}
			if got := classify(err, errAdapterPermanent); got != tc.class {
				t.Errorf("classify(%v) = %v, want %v", err, got, tc.class)
			}
			if res.status != http.StatusFound || res.attempts != 1 {
				t.Errorf("status %d after %d attempts, want the redirect response with the error, once", res.status, res.attempts)
			}
		})
	}
}

// ecStopAfter is a CheckRedirect that stops after n redirects, as resty's
// FlexibleRedirectPolicy(n) does.
func ecStopAfter(n int) func(*http.Request, []*http.Request) error {
	return func(_ *http.Request, via []*http.Request) error {
		if len(via) >= n {
			return fmt.Errorf("stopped after %d redirects", n)
		}
		return nil
	}
}

// ecCountingTransport counts the requests handed to net/http.
type ecCountingTransport struct {
	http.Transport
	calls atomic.Int32
}

func (t *ecCountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.calls.Add(1)
	return t.Transport.RoundTrip(r)
}

// TestErrClassUnsupportedScheme: net/http refuses a scheme other than http
// and https before dialing; the request is not retried.
func TestErrClassUnsupportedScheme(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"ftp://127.0.0.1:1/x", "HTTPX://127.0.0.1:1/x"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			tr := &ecCountingTransport{}
			var rec ecRecorder
			c := ecClient(t, tr, &rec)
			err := c.do(context.Background(), http.MethodGet, target, "").err
			if err == nil {
				t.Fatal("GET succeeded")
			}
			if got := tr.calls.Load(); got != 1 {
				t.Errorf("round trips = %d, want 1 (err %v)", got, err)
			}
			if got := classify(err); got != errPermanent {
				t.Errorf("classify(%v) = %v, want errPermanent", err, got)
			}
		})
	}
}

// Fault tests: real TCP faults on loopback, from small listeners of our own,
// and what the policy makes of each for an idempotent GET and a POST. The
// rule under test: a POST is repeated only when it certainly never reached
// the server (refused connection, or a 429/503 answer); any failure after
// the request bytes may have been written may have applied it.

// faultServer is a raw TCP server whose every connection is handed to serve.
// It counts connections accepted and requests read in full, and on Close
// closes every connection still open and waits for all its goroutines.
type faultServer struct {
	ln    net.Listener
	conns atomic.Int32
	reqs  atomic.Int32

	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]struct{}
}

func faultListen(t testing.TB, serve func(s *faultServer, c net.Conn, n int)) *faultServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &faultServer{ln: ln, open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1))
			s.mu.Lock()
			s.open[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.open, c)
					s.mu.Unlock()
					c.Close()
				}()
				serve(s, c, n)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *faultServer) URL() string { return "http://" + s.ln.Addr().String() + "/fault" }

// Close stops the server; it is safe to call more than once.
func (s *faultServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// readRequest reads one request in full (so that closing the connection
// afterwards sends FIN, not RST for unread bytes) and counts it.
func (s *faultServer) readRequest(c net.Conn) (*bufio.Reader, bool) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return br, false
	}
	_, err = io.Copy(io.Discard, req.Body)
	req.Body.Close()
	if err != nil {
		return br, false
	}
	s.reqs.Add(1)
	return br, true
}

// reset closes c with an RST instead of a FIN.
func faultReset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// faultOutcome is what one method must see under one fault.
type faultOutcome struct {
	hits    int     // connections the server accepted (dials, for refused)
	reqs    int     // requests the server read in full (-1: not checked)
	ok      bool    // the request succeeds with 200
	errAny  []error // err must match one of these (errors.Is)
	timeout bool    // err must be a net.Error with Timeout()
	rule    Rule    // Event.Rule of the last decision
}

// faultTorn are the errors a connection torn down under a request may surface
// as, depending on who sees the teardown first.
var faultTorn = []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNRESET, syscall.EPIPE}

// faultIdleCloseMsg is the message of net/http's unexported
// errServerClosedIdle. The library classifies errors by type only and so
// does not recognise it (errUnknown); the test compares the text only to
// tell which of net/http's two outcomes occurred.
const faultIdleCloseMsg = "http: server closed idle connection"

func faultIdleClosed(err error) bool {
	return err != nil && strings.Contains(err.Error(), faultIdleCloseMsg)
}

func TestFaultsTCP(t *testing.T) {
	cases := []struct {
		name    string
		serve   func(s *faultServer, c net.Conn, n int)
		refused bool          // no server: the port is closed
		timeout time.Duration // client timeout per attempt
		delay   time.Duration // dialer holds new connections this long
		// closeRace: the server closes every connection at once, and the
		// outcome is one of two that net/http chooses by a race; see
		// faultCheckCloseRace. get and post are then unused.
		closeRace bool
		get       faultOutcome
		post      faultOutcome
	}{
		{
			name:      "close-on-accept",
			serve:     func(s *faultServer, c net.Conn, n int) {},
			closeRace: true,
		},
		{
			// The same, with the close already on the connection when the
			// transport gets it: the idle-close outcome becomes likelier,
			// but it is still a race.
			name:      "close-on-accept-seen-first",
			serve:     func(s *faultServer, c net.Conn, n int) {},
			delay:     30 * time.Millisecond,
			closeRace: true,
		},
		{
			name: "close-after-request",
			serve: func(s *faultServer, c net.Conn, n int) {
				s.readRequest(c)
			},
			get:  faultOutcome{hits: 4, reqs: 4, errAny: []error{io.EOF, io.ErrUnexpectedEOF}, rule: RuleMaxRetries},
			post: faultOutcome{hits: 1, reqs: 1, errAny: []error{io.EOF, io.ErrUnexpectedEOF}, rule: RuleMethod},
		},
		{
			name: "truncated-body",
			serve: func(s *faultServer, c net.Conn, n int) {
				if _, ok := s.readRequest(c); ok {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
				}
			},
			get:  faultOutcome{hits: 4, reqs: 4, errAny: []error{io.ErrUnexpectedEOF}, rule: RuleMaxRetries},
			post: faultOutcome{hits: 1, reqs: 1, errAny: []error{io.ErrUnexpectedEOF}, rule: RuleMethod},
		},
		{
			name: "rst-after-request",
			serve: func(s *faultServer, c net.Conn, n int) {
				s.readRequest(c)
				faultReset(c)
			},
			get:  faultOutcome{hits: 4, reqs: 4, errAny: []error{syscall.ECONNRESET}, rule: RuleMaxRetries},
			post: faultOutcome{hits: 1, reqs: 1, errAny: []error{syscall.ECONNRESET}, rule: RuleMethod},
		},
		{
			name: "never-answers",
			serve: func(s *faultServer, c net.Conn, n int) {
				if br, ok := s.readRequest(c); ok {
					io.Copy(io.Discard, br) // until the client gives up
				}
			},
			timeout: 100 * time.Millisecond,
			get:     faultOutcome{hits: 4, reqs: 4, timeout: true, rule: RuleMaxRetries},
			post:    faultOutcome{hits: 1, reqs: 1, timeout: true, rule: RuleMethod},
		},
		{
			name: "slow-then-fast",
			serve: func(s *faultServer, c net.Conn, n int) {
				br, ok := s.readRequest(c)
				if !ok {
					return
				}
				if n == 1 {
					io.Copy(io.Discard, br)
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			},
			timeout: 100 * time.Millisecond,
			get:     faultOutcome{hits: 2, reqs: 2, ok: true, rule: RuleSuccess},
			post:    faultOutcome{hits: 1, reqs: 1, timeout: true, rule: RuleMethod},
		},
		{
			name:    "refused",
			refused: true,
			// Never connected: safe to repeat for every method.
			get:  faultOutcome{hits: 4, reqs: -1, errAny: []error{syscall.ECONNREFUSED}, rule: RuleMaxRetries},
			post: faultOutcome{hits: 4, reqs: -1, errAny: []error{syscall.ECONNREFUSED}, rule: RuleMaxRetries},
		},
	}
	for _, tc := range cases {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			want := tc.get
			if method == http.MethodPost {
				want = tc.post
			}
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				t.Parallel()
				var (
					dials atomic.Int32
					url   string
					srv   *faultServer
					rec   eventLog
				)
				if tc.refused {
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					url = "http://" + ln.Addr().String() + "/fault"
					ln.Close()
				} else {
					srv = faultListen(t, tc.serve)
					url = srv.URL()
				}
				p := Default()
				p.OnDecision = rec.record
				c, _ := newCore(p)
				hc := dialHTTP(t, &dials, tc.delay)
				hc.Timeout = tc.timeout
				body := ""
				if method == http.MethodPost {
					body = `{"order":1}`
				}
				res := doHTTP(c, hc, httpReq{method: method, url: url, body: body})
				err := res.err
				if srv != nil {
					srv.Close() // settles the counters
				}
				hits, reqs := int(dials.Load()), -1
				if srv != nil {
					hits, reqs = int(srv.conns.Load()), int(srv.reqs.Load())
				}
				events := rec.all()
				t.Logf("hits=%d reqs=%d err=%v", hits, reqs, err)

				attempts := res.attempts
				faultCheckEvents(t, events, attempts)
				// Exhausted retries and method stops end with the attempt's
				// own error, not a give-up.
				if errors.Is(err, ErrGaveUp) {
					t.Errorf("err %v wraps ErrGaveUp; these are not early stops", err)
				}
				if tc.closeRace {
					faultCheckCloseRace(t, method, attempts, hits, reqs, err, events)
					return
				}

				if hits != want.hits {
					t.Errorf("server saw %d connections, want %d", hits, want.hits)
				}
				if want.reqs >= 0 && reqs != want.reqs {
					t.Errorf("server read %d requests, want %d", reqs, want.reqs)
				}
				if attempts != want.hits {
					t.Errorf("client made %d attempts, want %d", attempts, want.hits)
				}
				if n := len(events); n > 0 && events[n-1].Rule != want.rule {
					t.Errorf("last decision by rule %q, want %q", events[n-1].Rule, want.rule)
				}
				if want.ok {
					if err != nil || res.status != http.StatusOK || res.body != "ok" {
						t.Fatalf("got (%d %q, %v), want 200 ok", res.status, res.body, err)
					}
					return
				}
				if err == nil {
					t.Fatalf("got status %d and no error", res.status)
				}
				if len(want.errAny) > 0 && !isAny(err, want.errAny) {
					t.Errorf("err %v (%T) matches none of %v", err, err, want.errAny)
				}
				if want.timeout {
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						t.Errorf("err %v is not a timeout", err)
					}
				}
			})
		}
	}
}

// faultCheckEvents checks that a request that made attempts attempts and was
// never given up reported one decision per attempt: Retry for each but the
// last, Stop for the last, and no GiveUp.
func faultCheckEvents(t *testing.T, events []Event, attempts int) {
	t.Helper()
	if len(events) != attempts {
		t.Errorf("%d events for %d attempts: %+v", len(events), attempts, events)
		return
	}
	for i, ev := range events {
		want := Retry
		if i == len(events)-1 {
			want = Stop
		}
		if ev.Attempt != i+1 || ev.Verdict != want || ev.GiveUp != nil {
			t.Errorf("event %d: attempt %d, verdict %v, give-up %v; want attempt %d, verdict %v, no give-up",
				i, ev.Attempt, ev.Verdict, ev.GiveUp, i+1, want)
		}
	}
}

// faultCheckCloseRace checks a request to a server that closes every
// connection as soon as it accepts it, before any request is read. Inside
// net/http this is a race on each fresh connection: if the transport's read
// loop sees the close before the request is registered, the attempt fails
// with net/http's unexported errServerClosedIdle, which the library does not
// recognise (errUnknown: it classifies by type only) and so retries for
// idempotent requests only, as a transport error with no response;
// otherwise it fails with an EOF-class error (errMaybeSent), which is
// retried the same way. So:
//
//   - POST: exactly one connection and one attempt, whichever error,
//     stopped by the method rule (the request may have been applied).
//   - GET: all MaxRetries+1 attempts, each failing with an EOF-class or the
//     idle-close error, ended by the max-retries rule.
//
// Fresh connections are never retried inside net/http, so the server sees
// exactly one connection per attempt.
func faultCheckCloseRace(t *testing.T, method string, attempts, hits, reqs int, err error, events []Event) {
	t.Helper()
	const maxAttempts = 4 // Default's MaxRetries + 1
	if reqs != 0 {
		t.Errorf("server read %d requests, want 0 (it closes before reading)", reqs)
	}
	if hits != attempts {
		t.Errorf("server saw %d connections for %d attempts, want one each", hits, attempts)
	}
	if err == nil {
		t.Fatal("no error")
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("err %v (%T) is not the transport's *url.Error", err, err)
	}
	idle := faultIdleClosed(err)
	if !idle && !isAny(err, faultTorn) {
		t.Errorf("err %v (%T) is neither net/http's idle-close error nor EOF-class %v", err, err, faultTorn)
	}
	if len(events) != attempts || attempts == 0 {
		return // reported by faultCheckEvents
	}
	idleSeen := 0
	for _, ev := range events {
		if faultIdleClosed(ev.Err) {
			idleSeen++
		} else if !isAny(ev.Err, faultTorn) {
			t.Errorf("attempt %d failed with %v, neither idle-close nor EOF-class", ev.Attempt, ev.Err)
		}
	}
	last := events[attempts-1]
	if (last.Err == nil) || faultIdleClosed(last.Err) != idle {
		t.Errorf("last event's error %v differs from the returned %v", last.Err, err)
	}
	t.Logf("%d attempt(s), %d idle-close, last error %v", attempts, idleSeen, last.Err)
	if method == http.MethodPost {
		if attempts != 1 || hits != 1 {
			t.Errorf("POST: %d attempts on %d connections, want exactly 1", attempts, hits)
		}
		if last.Rule != RuleMethod {
			t.Errorf("POST stopped by rule %q, want %q", last.Rule, RuleMethod)
		}
		return
	}
	if attempts != maxAttempts || last.Rule != RuleMaxRetries {
		t.Errorf("GET failed after %d attempts, rule %q; want all %d, rule %q",
			attempts, last.Rule, maxAttempts, RuleMaxRetries)
	}
}

func isAny(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// TestFaultsPostWithIdempotencyKey: the same faults that stop a plain POST
// are retried when the POST carries an Idempotency-Key.
func TestFaultsPostWithIdempotencyKey(t *testing.T) {
	srv := faultListen(t, func(s *faultServer, c net.Conn, n int) {
		s.readRequest(c)
		faultReset(c)
	})
	c, _ := newCore(Default())
	res := doHTTP(c, dialHTTP(t, nil, 0), httpReq{method: http.MethodPost, url: srv.URL(), body: "x",
		header: http.Header{"Idempotency-Key": {"k-1"}}})
	err := res.err
	srv.Close()
	if got := srv.reqs.Load(); got != 4 {
		t.Errorf("server read %d requests, want 4", got)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("err = %v, want ECONNRESET", err)
	}
	if res.attempts != 4 {
		t.Errorf("%d attempts, want 4", res.attempts)
	}
}

const (
	hintTooLong  hostileHintKind = iota // a valid wait far beyond any limit
	hintFallback                        // malformed or no wait: ms backoff, all retries used
)
