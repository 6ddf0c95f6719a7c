package restyretry

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/go-resty/resty/v2"
)

// TestRestyFields fails when a resty release renames or retypes one of the
// unexported fields resty_fields.go reads, instead of letting the body
// guard, the clone handling or the quiet log weaken silently.
func TestRestyFields(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
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
	if l, ok := requestLogger(r); !ok || l != resty.Logger(logger) {
		t.Errorf("requestLogger = %v, %v; want the client's logger", l, ok)
	}
	if streamed(r, c) {
		t.Error("a plain request: streamed is true, want false")
	}
	if !streamed(c.R().SetDoNotParseResponse(true), c) {
		t.Error("streamed is false after Request.SetDoNotParseResponse")
	}
	if sc := resty.New().SetDoNotParseResponse(true); !streamed(sc.R(), sc) {
		t.Error("streamed is false after Client.SetDoNotParseResponse")
	}
	if fieldsMissing() != nil {
		t.Errorf("fieldsMissing = %v, want nil", fieldsMissing())
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
	t.Parallel()
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

var errFieldsTest = errors.New("fields test")
