package restyretry

import (
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	"github.com/go-resty/resty/v2"
)

// Reads of resty v2's unexported fields.
//
// resty v2 offers no getter for three things the adapter must know: the
// request's logger (to quiet the retry loop's own logs), the client's
// pre-request hook (to install the body guard only in an empty slot), and
// whether the caller streams the response body (SetDoNotParseResponse).
// They are read here, and only here, at offsets that reflection finds once;
// nothing is ever written through them. Multipart is decided by the
// Content-Type, and a request's client is the one its hooks receive.
// resty_fields_test.go fails when a resty release renames or retypes a
// field; in production, Apply reports it once (fieldsMissing) and each
// reader falls back to the safe side.

// Field offsets, ok false when resty no longer has the field, of that type,
// directly in the struct. Reading a field is then one pointer addition.
var (
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

// streamed reports whether r's response body is left to the caller
// (SetDoNotParseResponse on the request or on c, its client). Unknown
// counts as streamed, which keeps a MaxElapsed deadline armed until the
// body is closed.
func streamed(r *resty.Request, c *resty.Client) bool {
	if !reqStreamField.ok || !cliStreamField.ok {
		return true
	}
	return *reqStreamField.in(r) || c == nil || *cliStreamField.in(c)
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

// fieldsMissing reports the fields this resty release no longer has, nil
// when every one is there. Apply reports it once, as a RuleDegraded event
// and a log line: resty's retry logs are then not quieted (the logger), a
// streamed body's deadline stays armed until it is closed (the stream
// flags), or no body guard is installed (the pre-request hook).
func fieldsMissing() error {
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"Request.log", reqLoggerField.ok},
		{"Request.notParseResponse", reqStreamField.ok},
		{"Client.notParseResponse", cliStreamField.ok},
		{"Client.preReqHook", preReqHookField != nil},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if missing == nil {
		return nil
	}
	return fmt.Errorf("restyretry: resty %s lacks %s: running degraded", "v2", strings.Join(missing, ", "))
}
