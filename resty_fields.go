package restyretry

import (
	"reflect"
	"unsafe"

	"github.com/go-resty/resty/v2"
)

// Reads of resty v2's unexported fields.
//
// resty v2 offers no getter for five things the glue must know: whether a
// request's body is built from multipart parts, which client a request
// belongs to, the request's logger, the client's pre-request hook, and
// whether the caller streams the response body (SetDoNotParseResponse). They
// are read here, and only here, at offsets that reflection finds once; nothing
// is ever written through them. resty_fields_test.go fails when a resty release
// renames or retypes one of them. Should that happen in production anyway,
// every reader falls back to the safe side: multipart is then decided by the
// Content-Type, a request's client is unknown (multipart bodies are not
// retried), the logger is left alone (resty logs as it always does) and the
// pre-request hook slot counts as taken (no body guard is installed).

// Field offsets, ok false when resty no longer has the field, of that type,
// directly in the struct. Reading a field is then one pointer addition.
var (
	multipartField  = fieldOf[resty.Request, bool]("isMultiPart")
	reqClientField  = fieldOf[resty.Request, *resty.Client]("client")
	reqLoggerField  = fieldOf[resty.Request, resty.Logger]("log")
	reqStreamField  = fieldOf[resty.Request, bool]("notParseResponse")
	cliStreamField  = fieldOf[resty.Client, bool]("notParseResponse")
	preReqHookField = fieldIndex[resty.Client]("preReqHook", reflect.Func)
)

// field is the offset of a field of type F in a struct T.
type field[T, F any] struct {
	off uintptr
	ok  bool
}

func fieldOf[T, F any](name string) field[T, F] {
	f, ok := reflect.TypeFor[T]().FieldByName(name)
	if !ok || len(f.Index) != 1 || f.Type != reflect.TypeFor[F]() {
		return field[T, F]{}
	}
	return field[T, F]{off: f.Offset, ok: true}
}

// in returns a pointer to the field in *p, for reading only.
func (f field[T, F]) in(p *T) *F {
	return (*F)(unsafe.Add(unsafe.Pointer(p), f.off))
}

func fieldIndex[T any](name string, kind reflect.Kind) []int {
	if f, ok := reflect.TypeFor[T]().FieldByName(name); ok && f.Type.Kind() == kind {
		return f.Index
	}
	return nil
}

// builtMultipart reports whether resty builds r's body from multipart parts
// (SetFile, SetFileReader, SetMultipartField...), as opposed to sending a
// body the caller encoded.
func builtMultipart(r *resty.Request) bool {
	if !multipartField.ok {
		return isMultipart(firstValue(r.Header, "Content-Type"))
	}
	return *multipartField.in(r)
}

// streamed reports whether r's response body is left to the caller
// (SetDoNotParseResponse on the request or its client). Unknown counts as
// streamed, which keeps a MaxElapsed deadline armed until it passes.
func streamed(r *resty.Request) bool {
	if !reqStreamField.ok || !cliStreamField.ok {
		return true
	}
	if *reqStreamField.in(r) {
		return true
	}
	c := requestClient(r)
	return c == nil || *cliStreamField.in(c)
}

// requestClient returns the client r was created by, nil if unknown.
func requestClient(r *resty.Request) *resty.Client {
	if !reqClientField.ok {
		return nil
	}
	return *reqClientField.in(r)
}

// requestLogger returns r's logger (resty copies the client's into every
// request it creates); ok is false if the field cannot be read.
func requestLogger(r *resty.Request) (l resty.Logger, ok bool) {
	if !reqLoggerField.ok {
		return nil, false
	}
	return *reqLoggerField.in(r), true
}

// preRequestHook returns c's pre-request hook; ok is false when the field
// cannot be found.
func preRequestHook(c *resty.Client) (hook reflect.Value, ok bool) {
	if preReqHookField == nil || c == nil {
		return reflect.Value{}, false
	}
	return reflect.ValueOf(c).Elem().FieldByIndex(preReqHookField), true
}
