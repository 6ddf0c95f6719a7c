package compare

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// newTestServer serves h on 127.0.0.1 until the test ends.
func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
