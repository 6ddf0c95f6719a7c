package restyv3

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"resty.dev/v3"
)

// BenchmarkSuccessPath: one GET answered 200 at once, by resty v3 alone,
// with its own retry (SetRetryCount(3)), and with the Default policy.
func BenchmarkSuccessPath(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"a":1}`)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		make func() *resty.Client
	}{
		{"resty", func() *resty.Client { return resty.New() }},
		{"resty-retry", func() *resty.Client { return resty.New().SetRetryCount(3) }},
		{"restyv3-Default", func() *resty.Client { return Apply(resty.New()) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := tc.make()
			defer c.Close()
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.R().Get(srv.URL)
				if err != nil || res.StatusCode() != 200 || res.String() != `{"a":1}` {
					b.Fatal(res.StatusCode(), err)
				}
			}
		})
	}
}
