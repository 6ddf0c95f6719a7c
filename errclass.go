package restyretry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"syscall"
)

// errClass says whether a failed attempt may have reached the server.
type errClass int

const (
	fatal     errClass = iota // not worth retrying: the same request fails the same way
	notSent                   // the connection was never established: safe for every method
	maybeSent                 // the server may have acted: safe for idempotent requests only
)

// classify sorts a transport or body-read error by its type, never by its
// message. Anything it does not recognise is fatal: unknown errors are not
// retried.
func classify(err error) errClass {
	if errors.Is(err, context.Canceled) {
		return fatal
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return fatal
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return fatal
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return fatal
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return fatal
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return fatal
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok {
		if dnsErr.IsTemporary || dnsErr.IsTimeout {
			return notSent
		}
		return fatal
	}
	opErr, isOp := errors.AsType[*net.OpError](err)
	dial := isOp && opErr.Op == "dial"
	if errors.Is(err, syscall.ECONNREFUSED) {
		return notSent
	}
	netErr, isNet := errors.AsType[net.Error](err)
	timeout := isNet && netErr.Timeout()
	if timeout || errors.Is(err, context.DeadlineExceeded) {
		if dial {
			return notSent
		}
		return maybeSent
	}
	switch {
	case dial && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)):
		return notSent
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF):
		return maybeSent
	}
	// A response cut or mangled in its header.
	if _, ok := errors.AsType[textproto.ProtocolError](err); ok {
		return maybeSent
	}
	return fatal
}
