package restyretry

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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"
)

// ecAlert stands for crypto/tls's unexported alert type inside the
// *net.OpError by which crypto/tls reports a TLS alert.
type ecAlert uint8

func (ecAlert) Error() string { return "tls: alert" }

// ecClassified are errors built from the types the standard library and
// resty return, with their class written out.
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
	{"resty redirect disabled", resty.ErrAutoRedirectDisabled, errPermanent},
	{"resty body too large", resty.ErrResponseBodyTooLarge, errPermanent},
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
	{"proxy refused", &net.OpError{Op: "proxyconnect", Net: "tcp", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, errNotSent},
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
		if _, ok := errors.AsType[*url.Error](tc.err); !ok {
			// How net/http returns a transport error (the URL of a request
			// it would send).
			wrapped = append(wrapped, struct {
				how string
				err error
			}{"url.Error", &url.Error{Op: "Get", URL: condURL, Err: tc.err}})
		}
		for _, w := range wrapped {
			if got := classify(w.err); got != tc.want {
				t.Errorf("classify(%s %s) = %v, want %v", w.how, tc.name, got, tc.want)
			}
		}
	}
	if got := classify(nil); got != errUnknown {
		t.Errorf("classify(nil) = %v, want errUnknown", got)
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

// The scenarios below run real failures on loopback through Default()
// with millisecond delays, counting what reached the server.

// ecPolicy is Default with millisecond backoff; the budget and jitter are
// Default's. Every scenario uses a fresh client, so a fresh budget.
func ecPolicy(rec *ecRecorder) Policy {
	p := scaledDefault(time.Millisecond, 4*time.Millisecond)
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

// ecClient is a resty client over tr with the policy applied; its idle
// connections are closed when the test ends.
func ecClient(t *testing.T, tr *http.Transport, rec *ecRecorder) *resty.Client {
	t.Helper()
	c := resty.New().SetLogger(nopLogger{}).SetTransport(tr)
	ecPolicy(rec).Apply(c)
	t.Cleanup(tr.CloseIdleConnections)
	return c
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

			resp, err := c.R().SetBody("order=1").Execute(tc.method, srv.URL)
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
				if se, ok := errors.AsType[h2StreamError](e); !ok || se.Code != 0x2 {
					t.Errorf("attempt error %v: not an HTTP/2 INTERNAL_ERROR stream reset (%+v)", e, se)
				}
			}
			if tc.wantOK {
				if err != nil || resp.StatusCode() != http.StatusOK || resp.Proto() != "HTTP/2.0" {
					t.Fatalf("got %v %v %v, want an HTTP/2.0 200", resp.Proto(), resp.StatusCode(), err)
				}
				if len(errs) != fail {
					t.Errorf("%d failed attempts recorded, want %d", len(errs), fail)
				}
			} else if err == nil {
				t.Fatalf("POST succeeded with status %d, want the stream reset error", resp.StatusCode())
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
	p.wg.Go(p.serve)
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
		p.wg.Go(func() { p.pipe(c, up) })
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
	wg.Go(func() {
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
		resp, err := c.R().SetContext(ctx).Get(target)
		if err == nil && resp.StatusCode() == http.StatusOK && resp.String() == "ok" {
			recovered++
		} else {
			t.Errorf("round %d: %v %v", i, resp.StatusCode(), err)
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
	if _, err := c.R().SetContext(ctx).SetBody("order=1").Post(target); err == nil {
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
	s.wg.Go(s.serve)
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
		s.wg.Go(func() {
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
				resp, err := c.R().SetBody("order=1").Execute(m.method, "http://"+s.ln.Addr().String()+"/x")
				if got := s.hits.Load(); got != m.wantHits {
					t.Errorf("server hits = %d, want %d (err %v)", got, m.wantHits, err)
				}
				if m.wantOK && (err != nil || resp.String() != "ok") {
					t.Errorf("got %q, %v; want ok", resp.String(), err)
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
			_, ok := errors.AsType[*tls.CertificateVerificationError](err)
			return ok
		}},
		{"client certificate required", func(s *httptest.Server) {
			s.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
		}, true, func(err error) bool {
			opErr, ok := errors.AsType[*net.OpError](err)
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
			_, err := c.R().Get(srv.URL)
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
		absolute bool // an absolute Location, else relative
		policy   resty.RedirectPolicy
		hits     int32
		class    errClass
	}{
		{"net/http's limit relative", false, nil, 10, errPermanent},
		{"net/http's limit absolute", true, nil, 10, errUnknown},
		{"FlexibleRedirectPolicy(3) relative", false, resty.FlexibleRedirectPolicy(3), 3, errPermanent},
		{"FlexibleRedirectPolicy(3) absolute", true, resty.FlexibleRedirectPolicy(3), 3, errUnknown},
		{"NoRedirectPolicy absolute", true, resty.NoRedirectPolicy(), 1, errPermanent},
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
			if tc.policy != nil {
				c.SetRedirectPolicy(tc.policy)
			}
			resp, err := c.R().Get(srv.URL + "/loop")
			if err == nil {
				t.Fatal("a redirect loop succeeded")
			}
			if got := hits.Load(); got != tc.hits {
				t.Errorf("server hits = %d, want %d (err %v)", got, tc.hits, err)
			}
			if got := classify(err); got != tc.class {
				t.Errorf("classify(%v) = %v, want %v", err, got, tc.class)
			}
			if resp == nil || resp.StatusCode() != http.StatusFound {
				t.Errorf("want the redirect response with the error, got %v", resp)
			}
		})
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
			c := resty.New().SetLogger(nopLogger{}).SetTransport(tr)
			ecPolicy(&rec).Apply(c)
			t.Cleanup(tr.CloseIdleConnections)
			_, err := c.R().Get(target)
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
