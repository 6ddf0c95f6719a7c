package restyretry

import (
	"bytes"
	"errors"
	"hash/maphash"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/core"
)

// Request bodies and retries.
//
// resty v2 rebuilds the request body for every attempt. That is exact for
// strings, byte slices, JSON and XML values, form data and files named by
// path, but an io.Reader body has been read by the first attempt and would
// be resent empty; a multipart part given as a reader loses its content
// unless the reader can seek, and resty seeks it to 0 rather than to where
// it started; and resty writes multipart form fields in map order, which
// changes from one attempt to the next. The package therefore:
//
//   - replaces a reader body, before a retry, by the bytes resty buffered
//     from it during the first attempt (resty reads such a body whole to set
//     http.Request.GetBody, so this costs no extra memory);
//   - sends, for a multipart retry, the first attempt's bytes and
//     Content-Type again, which resty also kept;
//   - guards the general case: a retry whose built body differs from the
//     first attempt's (length or hash) never reaches the network and ends
//     with ErrBodyNotReplayable.
//
// The last two happen in resty's pre-request hook, the only place that sees
// the built body. Apply installs it only when the client has none, and a
// hook set later replaces it. Without it a multipart request is never
// retried (ErrBodyNotReplayable), since its rebuilt body cannot be trusted,
// and a body changed by the caller between attempts is not caught.

// replay is what a request keeps of its first attempt's body: a
// fingerprint (length and hash, computed by streaming the body, never by
// copying it) and, for multipart bodies only, the first attempt's bytes
// (through resty's own GetBody) and Content-Type. A reader body's bytes are
// read once, at the first retry, and sent again from that one copy.
type replay struct {
	printed     bool
	seed        maphash.Seed
	fingerprint bodyPrint
	firstBody   func() (io.ReadCloser, error) // multipart only
	firstType   string                        // multipart only
	data        []byte                        // a reader body's bytes, once read
}

// bodyPrint identifies a body: its length and a hash of its bytes.
type bodyPrint struct {
	n   int64
	sum uint64
}

// prepareReplay readies a request for its next attempt: it fingerprints the
// first attempt's body (once), restores a reader body and pins the multipart
// boundary.
func prepareReplay(r *resty.Request, rp *replay) error {
	raw := r.RawRequest
	if !rp.printed {
		rp.seed = maphash.MakeSeed()
		fp, known, err := fingerprint(raw, rp.seed)
		if err != nil {
			return err
		}
		if !known {
			return errBodyUnknown
		}
		rp.fingerprint, rp.printed = fp, true
		if ct := header(r.Header, "Content-Type"); raw != nil && core.IsMultipart(ct) {
			rp.firstBody, rp.firstType = raw.GetBody, ct
		}
	}
	if _, ok := r.Body.(io.Reader); ok && raw != nil && raw.GetBody != nil {
		if rp.data == nil {
			data, err := readBody(raw)
			if err != nil {
				return err
			}
			rp.data = data
		}
		r.SetBody(bytes.NewReader(rp.data))
	}
	if ct := header(r.Header, "Content-Type"); core.IsMultipart(ct) {
		if _, params, err := mime.ParseMediaType(ct); err == nil && params["boundary"] != "" {
			r.SetMultipartBoundary(params["boundary"])
		}
	}
	return nil
}

var (
	errBodyUnknown = errors.New("restyretry: the sent body cannot be read back")
	errNoGuard     = errors.New("restyretry: a multipart retry without the body guard")
)

// fingerprint hashes a built request's body as it streams from GetBody.
// known is false when the body was sent but cannot be read again.
func fingerprint(raw *http.Request, seed maphash.Seed) (fp bodyPrint, known bool, err error) {
	switch {
	case raw == nil || raw.Body == nil || raw.Body == http.NoBody:
		return bodyPrint{}, true, nil
	case raw.GetBody == nil:
		return bodyPrint{}, false, nil
	}
	rc, err := raw.GetBody()
	if err != nil {
		return bodyPrint{}, false, err
	}
	defer rc.Close()
	h := hashes.Get().(*maphash.Hash)
	defer hashes.Put(h)
	h.SetSeed(seed)          // and resets it
	n, err := io.Copy(h, rc) // resty's GetBody readers write themselves out: no buffer
	if n == 0 {
		return bodyPrint{}, err == nil, err // an empty body is no body
	}
	return bodyPrint{n: n, sum: h.Sum64()}, err == nil, err
}

// hashes are the fingerprints' hashers: a maphash.Hash handed to io.Copy
// escapes, and is reused rather than allocated twice per retry.
var hashes = sync.Pool{New: func() any { return new(maphash.Hash) }}

// readBody returns a copy of a built request's body, read from GetBody.
func readBody(raw *http.Request) ([]byte, error) {
	rc, err := raw.GetBody()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if raw.ContentLength > 0 {
		buf.Grow(int(raw.ContentLength))
	}
	_, err = buf.ReadFrom(rc)
	return buf.Bytes(), err
}
