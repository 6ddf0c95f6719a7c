package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"syscall"
)

// errClass sorts the error of a failed attempt (a transport error, or an
// error reading the response body) by what it says about the request: could
// a retry succeed, and could the server have acted on the attempt. classify
// decides by the error's types, by errors.Is against exported sentinels and by
// typed fields (*net.OpError.Op, *net.DNSError flags, *url.Error.URL), never
// by its message. The first class whose list matches wins, in this order:
//
// errPermanent: the same request fails the same way, so it is never retried.
//   - context.Canceled: the caller's cancellation (or that of a context the
//     client derived from the caller's).
//   - Certificate and TLS failures: x509.CertificateInvalidError,
//     x509.UnknownAuthorityError, x509.HostnameError, x509.SystemRootsError,
//     x509.UnhandledCriticalExtension, x509.ConstraintViolationError,
//     x509.InsecureAlgorithmError, *tls.CertificateVerificationError,
//     tls.RecordHeaderError (the server does not speak TLS), tls.AlertError,
//     *tls.ECHRejectionError, a *net.OpError with Op "remote error" or
//     "local error" (how crypto/tls reports a TLS alert it received or
//     sent), and http.ErrSchemeMismatch (an HTTP answer to an HTTPS request).
//   - A *net.OpError with Op "proxyconnect": the proxy refused or failed
//     the CONNECT (a 407, a refused connection to the proxy), which is a
//     configuration error; nothing reached the server.
//   - The adapter's own permanent errors (Client's Permanent option): for
//     resty, a redirect the client's policy refused (ErrAutoRedirectDisabled)
//     and a response over the client's own limit (ErrResponseBodyTooLarge).
//   - *net.DNSError with IsNotFound (and neither IsTemporary nor IsTimeout):
//     the name does not exist.
//   - An HTTP/2 stream reset with HTTP_1_1_REQUIRED or INADEQUATE_SECURITY:
//     the server refuses this protocol or these TLS parameters.
//   - A *url.Error whose URL is not an absolute http or https URL with a
//     host, tried last, after the transient lists below. net/http names in
//     it the request it failed to send, so this is a request it refuses
//     before dialing: "unsupported protocol scheme" (or an error we do not
//     otherwise know from a RoundTripper registered for that scheme), no
//     host, no URL. The one other source is a redirect its CheckRedirect
//     refused, for which net/http puts the Location header there verbatim:
//     a relative Location is recognised this way.
//
// errNotSent: the request certainly never reached the server, so a retry is
// safe for every method.
//   - Any *net.OpError with Op "dial": the connection was never made
//     (refused, reset, unreachable, timed out while dialing, ...).
//   - syscall.ECONNREFUSED anywhere (also through a proxy connection).
//   - Any other *net.DNSError (IsTemporary, IsTimeout, or no flag): the
//     name was not resolved, so no connection was attempted.
//   - An HTTP/2 stream reset with REFUSED_STREAM, which RFC 9113 §8.7
//     defines as "closed prior to any processing".
//
// errMaybeSent: a known transient failure after the connection was made;
// the server may have acted, so only idempotent requests are retried.
//   - A net.Error whose Timeout() is true, or context.DeadlineExceeded
//     (read and write deadlines, http.Client.Timeout, TLS handshake timeout).
//   - syscall.ECONNRESET, ECONNABORTED, EPIPE, EHOSTUNREACH, ENETUNREACH,
//     net.ErrClosed, io.EOF and io.ErrUnexpectedEOF: the connection was cut.
//   - textproto.ProtocolError: a garbled response header.
//   - Any other HTTP/2 stream reset (INTERNAL_ERROR, CANCEL, PROTOCOL_ERROR,
//     ...). net/http's stream error type is unexported, but it converts
//     itself by errors.As into any struct of its shape (h2StreamError).
//
// errUnknown: anything else. net/http reports several real transport
// failures with unexported values or types that cannot be told apart from
// an arbitrary error without reading its message: "server closed idle
// connection" on a fresh connection (what a TCP proxy whose upstream is down
// produces), an HTTP/2 GOAWAY or connection error, a malformed status line,
// a bad Content-Length, malformed chunked encoding, an invalid request header
// (rejected before dialing). Errors of middleware and of custom transports
// are unknown too, and so is a CheckRedirect failure (net/http's "stopped
// after 10 redirects", resty's FlexibleRedirectPolicy) towards an absolute
// Location. The decision treats an unknown error like errMaybeSent when no
// response arrived (a transport error), and leaves it to the status rules
// when a response with a status arrived: a failed CheckRedirect always comes
// with the redirect response (http.Client.Do), so a redirect loop is decided
// by its 3xx status.
type errClass int

const (
	errPermanent errClass = iota // known permanent: the same request fails the same way
	errNotSent                   // certainly never reached the server: safe to retry for every method
	errMaybeSent                 // a known transient failure after the connection was made: idempotent only
	errUnknown                   // not recognised
)

// String returns the class's name, for test failures and debugging.
func (c errClass) String() string {
	switch c {
	case errPermanent:
		return "errPermanent"
	case errNotSent:
		return "errNotSent"
	case errMaybeSent:
		return "errMaybeSent"
	case errUnknown:
		return "errUnknown"
	}
	return "errClass(" + strconv.Itoa(int(c)) + ")"
}

// classify sorts a transport or body-read error into its errClass; see
// errClass for the rules. It does not allocate on the common paths (a
// refused dial, a reset connection, a timeout).
func classify(err error, permanent ...error) errClass {
	if err == nil {
		return errUnknown
	}
	if errors.Is(err, context.Canceled) || tlsFailure(err) {
		return errPermanent
	}
	if opErr, ok := asType[*net.OpError](err); ok && opErr.Op == "proxyconnect" {
		return errPermanent // the proxy refused the tunnel: configuration, and nothing was sent
	}
	for _, p := range permanent {
		if errors.Is(err, p) {
			return errPermanent
		}
	}
	if dnsErr, ok := asType[*net.DNSError](err); ok {
		if dnsErr.IsNotFound && !dnsErr.IsTemporary && !dnsErr.IsTimeout {
			return errPermanent
		}
		return errNotSent
	}
	if opErr, ok := asType[*net.OpError](err); ok && opErr.Op == "dial" {
		return errNotSent
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errNotSent
	}
	if netErr, ok := asType[net.Error](err); ok && netErr.Timeout() {
		return errMaybeSent
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errMaybeSent
	}
	if _, ok := asType[textproto.ProtocolError](err); ok {
		return errMaybeSent
	}
	if se, ok := asType[h2StreamError](err); ok {
		switch se.Code {
		case h2RefusedStream:
			return errNotSent
		case h2InadequateSecurity, h2HTTP11Required:
			return errPermanent
		}
		return errMaybeSent
	}
	if ue, ok := asType[*url.Error](err); ok && unsendableURL(ue.URL) {
		return errPermanent
	}
	return errUnknown
}

// tlsFailure reports whether err is a certificate or TLS failure.
func tlsFailure(err error) bool {
	if _, ok := asType[x509.CertificateInvalidError](err); ok {
		return true
	}
	if _, ok := asType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := asType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := asType[x509.SystemRootsError](err); ok {
		return true
	}
	if _, ok := asType[x509.UnhandledCriticalExtension](err); ok {
		return true
	}
	if _, ok := asType[x509.ConstraintViolationError](err); ok {
		return true
	}
	if _, ok := asType[x509.InsecureAlgorithmError](err); ok {
		return true
	}
	if _, ok := asType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := asType[tls.RecordHeaderError](err); ok {
		return true
	}
	if _, ok := asType[tls.AlertError](err); ok {
		return true
	}
	if _, ok := asType[*tls.ECHRejectionError](err); ok {
		return true
	}
	if opErr, ok := asType[*net.OpError](err); ok && (opErr.Op == "remote error" || opErr.Op == "local error") {
		return true
	}
	return errors.Is(err, http.ErrSchemeMismatch)
}

// unsendableURL reports whether a *url.Error's URL is not an absolute http
// or https URL with a host: one net/http refuses before dialing, or the
// relative Location of a refused redirect. An unparsable URL is not known
// to be either.
func unsendableURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return (u.Scheme != "http" && u.Scheme != "https") || u.Host == ""
}

// h2StreamError has the shape of net/http's bundled HTTP/2 StreamError (and
// of golang.org/x/net/http2.StreamError). net/http's type is unexported, but
// its As method fills any struct with the same field names and convertible
// field types, which is how errors.As finds it here: by type, not message.
type h2StreamError struct {
	StreamID uint32
	Code     uint32 // an RFC 9113 §7 error code
	Cause    error
}

func (e h2StreamError) Error() string {
	return "http2 stream error: code " + strconv.FormatUint(uint64(e.Code), 10)
}

// HTTP/2 error codes (RFC 9113 §7) that classify treats apart.
const (
	h2RefusedStream      = 0x7
	h2InadequateSecurity = 0xc
	h2HTTP11Required     = 0xd
)
