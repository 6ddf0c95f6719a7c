package restyretry

import (
	"bytes"
	"net/http"
	"slices"
	"testing"

	"github.com/go-resty/resty/v2"
)

// TestRestyFields fails when a resty release renames or retypes one of the
// unexported fields resty_fields.go reads, instead of letting the body
// guard, the clone handling or the quiet log weaken silently.
func TestRestyFields(t *testing.T) {
	for name, ok := range map[string]bool{
		"Request.isMultiPart":      multipartField.ok,
		"Request.client":           reqClientField.ok,
		"Request.log":              reqLoggerField.ok,
		"Request.notParseResponse": reqStreamField.ok,
		"Client.preReqHook":        preReqHookField != nil,
		"Client.notParseResponse":  cliStreamField.ok,
	} {
		if !ok {
			t.Errorf("resty has no field %s of the expected type", name)
		}
	}

	c := resty.New()
	logger := &recLogger{}
	c.SetLogger(logger)
	r := c.R()
	if got := requestClient(r); got != c {
		t.Errorf("requestClient = %p, want the client %p", got, c)
	}
	if l, ok := requestLogger(r); !ok || l != resty.Logger(logger) {
		t.Errorf("requestLogger = %v, %v; want the client's logger", l, ok)
	}
	if builtMultipart(r) || streamed(r) {
		t.Errorf("a plain request: multipart %v, streamed %v; want false, false", builtMultipart(r), streamed(r))
	}
	r.SetFileReader("f", "f.txt", bytes.NewReader([]byte("x")))
	if !builtMultipart(r) {
		t.Error("builtMultipart is false after SetFileReader")
	}
	if !streamed(c.R().SetDoNotParseResponse(true)) {
		t.Error("streamed is false after Request.SetDoNotParseResponse")
	}
	if !streamed(resty.New().SetDoNotParseResponse(true).R()) {
		t.Error("streamed is false after Client.SetDoNotParseResponse")
	}
	if hook, ok := preRequestHook(c); !ok || !hook.IsNil() {
		t.Errorf("a new client's pre-request hook: %v, %v; want an empty slot", hook, ok)
	}
	c.SetPreRequestHook(func(*resty.Client, *http.Request) error { return nil })
	if hook, ok := preRequestHook(c); !ok || hook.IsNil() {
		t.Errorf("after SetPreRequestHook: %v, %v; want a hook", hook, ok)
	}
}

// TestRestyRetryLogFormats fails when resty's retry loop logs failed
// attempts with other format strings than those quietLogger drops.
func TestRestyRetryLogFormats(t *testing.T) {
	logger := &recLogger{}
	c := resty.New().SetLogger(logger).SetRetryCount(1).SetRetryWaitTime(1).SetRetryMaxWaitTime(1)
	t.Cleanup(c.GetClient().CloseIdleConnections)
	if _, err := c.R().Get(refusedURL(t) + "/?api_key=k"); err == nil {
		t.Fatal("a refused connection gave no error")
	}
	want := []string{"WARN " + restyAttemptFormat, "WARN " + restyAttemptFormat, "ERROR " + restyFinalFormat}
	if got := logger.formats(); !slices.Equal(got, want) {
		t.Errorf("resty's retry loop logged formats %q, want %q", got, want)
	}

	// And the quiet logger drops exactly those, passing the rest.
	inner := &recLogger{}
	q := &quietLogger{inner: inner}
	q.Warnf(restyAttemptFormat, "err", 1)
	q.Errorf(restyFinalFormat, errFieldsTest)
	q.Errorf(restyFinalFormat, "not an error")
	q.Warnf("Overwriting an existing pre-request hook: %s", "f")
	q.Debugf("%s", "debug")
	if got, want := inner.formats(), []string{"ERROR %v", "WARN Overwriting an existing pre-request hook: %s", "DEBUG %s"}; !slices.Equal(got, want) {
		t.Errorf("quietLogger passed %q, want %q", got, want)
	}
}

var errFieldsTest = &reasonError{msg: "fields test"}
