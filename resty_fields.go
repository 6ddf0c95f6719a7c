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
// are read here, and only here, through reflection; nothing is ever written
// through reflection. resty_fields_test.go fails when a resty release
// renames or retypes one of them. Should that happen in production anyway,
// every reader falls back to the safe side: multipart is then decided by the
// Content-Type, a request's client is unknown (multipart bodies are not
// retried), the logger is left alone (resty logs as it always does) and the
// pre-request hook slot counts as taken (no body guard is installed).

// Field indexes, nil when resty no longer has the field with that kind.
var (
	multipartField  = fieldIndex[resty.Request]("isMultiPart", reflect.Bool)
	reqClientField  = fieldIndex[resty.Request]("client", reflect.Pointer)
	reqLoggerField  = fieldIndex[resty.Request]("log", reflect.Interface)
	preReqHookField = fieldIndex[resty.Client]("preReqHook", reflect.Func)
	reqStreamField  = fieldIndex[resty.Request]("notParseResponse", reflect.Bool)
	cliStreamField  = fieldIndex[resty.Client]("notParseResponse", reflect.Bool)
)

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
	if multipartField == nil {
		return isMultipart(firstValue(r.Header, "Content-Type"))
	}
	return reflect.ValueOf(r).Elem().FieldByIndex(multipartField).Bool()
}

// streamed reports whether r's response body is left to the caller
// (SetDoNotParseResponse on the request or its client). Unknown counts as
// streamed, which keeps a MaxElapsed deadline armed until it passes.
func streamed(r *resty.Request) bool {
	if reqStreamField == nil || cliStreamField == nil {
		return true
	}
	if reflect.ValueOf(r).Elem().FieldByIndex(reqStreamField).Bool() {
		return true
	}
	c := requestClient(r)
	return c == nil || reflect.ValueOf(c).Elem().FieldByIndex(cliStreamField).Bool()
}

// requestClient returns the client r was created by, nil if unknown.
func requestClient(r *resty.Request) *resty.Client {
	if reqClientField == nil {
		return nil
	}
	v := reflect.ValueOf(r).Elem().FieldByIndex(reqClientField)
	if v.Type() != reflect.TypeFor[*resty.Client]() {
		return nil
	}
	return (*resty.Client)(v.UnsafePointer())
}

// requestLogger returns r's logger (resty copies the client's into every
// request it creates); ok is false if the field cannot be read.
func requestLogger(r *resty.Request) (l resty.Logger, ok bool) {
	if reqLoggerField == nil {
		return nil, false
	}
	v := reflect.ValueOf(r).Elem().FieldByIndex(reqLoggerField)
	if v.Type() != reflect.TypeFor[resty.Logger]() {
		return nil, false
	}
	return *(*resty.Logger)(unsafe.Pointer(v.UnsafeAddr())), true
}

// preRequestHook returns c's pre-request hook; ok is false when the field
// cannot be found.
func preRequestHook(c *resty.Client) (hook reflect.Value, ok bool) {
	if preReqHookField == nil || c == nil {
		return reflect.Value{}, false
	}
	return reflect.ValueOf(c).Elem().FieldByIndex(preReqHookField), true
}
