package restyretry

import (
	"bytes"
	"errors"
	"hash/maphash"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/go-resty/resty/v2"
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

// bodyPrint identifies a body: its length and a hash of its bytes.
type bodyPrint struct {
	n   int
	sum uint64
}

// replayable reports whether the next attempt can carry the same body as
// the one just sent.
func (in *installation) replayable(r *resty.Request) bool {
	if _, ok := r.Body.(io.Reader); ok {
		raw := r.RawRequest
		return raw != nil && (raw.GetBody != nil || raw.Body == nil || raw.Body == http.NoBody)
	}
	if !builtMultipart(r) {
		return true
	}
	return in.guarded()
}

// builtMultipart reports whether resty builds the request's body from
// multipart parts (SetFile, SetFileReader, SetMultipartField...), as opposed
// to sending a body the caller encoded. resty keeps that in an unexported
// field, read (never written) through reflection; should a resty release
// rename it, the Content-Type decides, which errs on the side of not
// retrying.
func builtMultipart(r *resty.Request) bool {
	if multipartField != nil {
		return reflect.ValueOf(r).Elem().FieldByIndex(multipartField).Bool()
	}
	return isMultipart(firstValue(r.Header, "Content-Type"))
}

// Indexes of the unexported resty fields the package reads (never writes),
// nil should a resty release rename them.
var (
	multipartField  = fieldIndex[resty.Request]("isMultiPart", reflect.Bool)
	preReqHookField = fieldIndex[resty.Client]("preReqHook", reflect.Func)
)

func fieldIndex[T any](name string, kind reflect.Kind) []int {
	if f, ok := reflect.TypeFor[T]().FieldByName(name); ok && f.Type.Kind() == kind {
		return f.Index
	}
	return nil
}

// preRequestHook returns c's pre-request hook, for which resty offers no
// getter; ok is false when the field cannot be found.
func preRequestHook(c *resty.Client) (hook reflect.Value, ok bool) {
	if preReqHookField == nil {
		return reflect.Value{}, false
	}
	return reflect.ValueOf(c).Elem().FieldByIndex(preReqHookField), true
}

// guarded reports whether the client's pre-request hook is still guardBody.
func (in *installation) guarded() bool {
	hook, ok := preRequestHook(in.client)
	return ok && !hook.IsNil() && hook.Pointer() == reflect.ValueOf(in.guardBody).Pointer()
}

func isMultipart(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "multipart/")
}

// prepareReplay readies a request for its next attempt: it fingerprints the
// first attempt's body (once), restores a reader body and pins the multipart
// boundary.
func (in *installation) prepareReplay(r *resty.Request, st *requestState) error {
	data, known, err := sentBody(r.RawRequest)
	if err != nil {
		return err
	}
	if !st.printed {
		if !known {
			return errBodyUnknown
		}
		st.seed = maphash.MakeSeed()
		st.fingerprint = st.print(data)
		st.printed = true
		if raw := r.RawRequest; raw != nil {
			st.firstBody, st.firstType = raw.GetBody, raw.Header.Get("Content-Type")
		}
	}
	if _, ok := r.Body.(io.Reader); ok && known {
		r.SetBody(bytes.NewReader(data))
	}
	if ct := r.Header.Get("Content-Type"); isMultipart(ct) {
		if _, params, err := mime.ParseMediaType(ct); err == nil && params["boundary"] != "" {
			r.SetMultipartBoundary(params["boundary"])
		}
	}
	return nil
}

var errBodyUnknown = errors.New("restyretry: the sent body cannot be read back")

// sentBody returns the bytes of a built request's body. known is false when
// the body was sent but cannot be read again.
func sentBody(raw *http.Request) (data []byte, known bool, err error) {
	switch {
	case raw == nil || raw.Body == nil || raw.Body == http.NoBody:
		return nil, true, nil
	case raw.GetBody == nil:
		return nil, false, nil
	}
	rc, err := raw.GetBody()
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	data, err = io.ReadAll(rc)
	return data, err == nil, err
}

func (st *requestState) print(data []byte) bodyPrint {
	return bodyPrint{n: len(data), sum: maphash.Bytes(st.seed, data)}
}

// guardBody is resty's pre-request hook: on a retry it compares the built
// body with the first attempt's and keeps a different one off the network.
// The first attempt of every request passes without any work.
func (in *installation) guardBody(_ *resty.Client, raw *http.Request) error {
	st, _ := raw.Context().Value(stateKey{}).(*requestState)
	if st == nil || !st.printed {
		return nil
	}
	if isMultipart(st.firstType) && st.firstBody != nil {
		// resty rebuilt the parts; send the first attempt's bytes instead.
		body, err := st.firstBody()
		if err == nil {
			raw.Body, raw.GetBody, raw.ContentLength = body, st.firstBody, int64(st.fingerprint.n)
			raw.Header.Set("Content-Type", st.firstType)
			return nil
		}
	}
	data, known, err := sentBody(raw)
	if err == nil && known && st.print(data) == st.fingerprint {
		return nil
	}
	gu := &GiveUpError{Reason: ErrBodyNotReplayable, Attempt: st.attempts, Err: err}
	if st.lastResp != nil {
		gu.Status = statusOf(st.lastResp)
	}
	if st.policy.OnDecision != nil {
		st.policy.OnDecision(Event{Attempt: st.attempts, Method: raw.Method, URL: redact(*raw.URL),
			Verdict: Stop, Rule: ruleBody, GiveUp: gu})
	}
	gu.Response = st.lastResp // resty drops it: this attempt has no response
	return gu
}
