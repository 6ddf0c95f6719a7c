package core

import (
	"net/url"
	"strings"
)

// Facts an adapter reads from net/http for its Outcomes, the same for every
// HTTP client built on it: one copy here, so that adapters only translate.

// RedirectTarget returns the URL a transport error names when net/http
// failed after following a redirect: its *url.Error then names the
// redirect's target, not sent (net/http writes a password as "***"). The
// original may have been applied, and the target is the host that failed.
// ok is false when err has no *url.Error or names sent itself.
func RedirectTarget(err error, sent *url.URL) (target *url.URL, ok bool) {
	ue, isURL := asType[*url.Error](err)
	if !isURL || sent == nil || ue.URL == withoutPassword(sent) {
		return nil, false
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return sent, true
	}
	return u, true
}

// withoutPassword writes u as net/http writes it into a *url.Error: with
// "***" for a password.
func withoutPassword(u *url.URL) string {
	if _, has := u.User.Password(); has {
		return strings.Replace(u.String(), u.User.String()+"@", u.User.Username()+":***@", 1)
	}
	return u.String()
}

// TargetURL is where a request for ref is about to go before the client has
// built it: ref if absolute, else resolved against base; nil if unknown.
func TargetURL(ref, base string) *url.URL {
	u, err := url.Parse(ref)
	if err != nil {
		return nil
	}
	if u.Host == "" {
		b, err := url.Parse(base)
		if err != nil || b.Host == "" {
			return nil
		}
		u = b.ResolveReference(u)
	}
	return u
}

// IsMultipart reports a multipart Content-Type, in any case, without
// allocating.
func IsMultipart(contentType string) bool {
	s := strings.TrimLeft(contentType, " \t")
	return len(s) >= len("multipart/") && strings.EqualFold(s[:len("multipart/")], "multipart/")
}
