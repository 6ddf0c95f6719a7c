package core

import (
	"errors"
	"net/url"
	"testing"
)

func TestRedirectTarget(t *testing.T) {
	sent := mustURL("https://user:secret@api.example.com/orders?x=1")
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for no redirect
	}{
		{"no url.Error", errors.New("boom"), ""},
		{"the URL sent, password as net/http writes it", &url.Error{Op: "Post", URL: "https://user:***@api.example.com/orders?x=1", Err: errors.New("reset")}, ""},
		{"a redirect's target", &url.Error{Op: "Get", URL: "https://cdn.example.com/o", Err: errors.New("refused")}, "https://cdn.example.com/o"},
		{"an unparsable target: still a redirect, from sent", &url.Error{Op: "Get", URL: "http://[::1", Err: errors.New("x")}, sent.String()},
	} {
		u, ok := RedirectTarget(tc.err, sent)
		if got := ""; ok {
			got = u.String()
			if got != tc.want {
				t.Errorf("%s: target %q, want %q", tc.name, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("%s: no redirect, want %q", tc.name, tc.want)
		}
	}
	if _, ok := RedirectTarget(&url.Error{URL: "https://x"}, nil); ok {
		t.Error("nil sent URL: a redirect")
	}
}

func TestTargetURL(t *testing.T) {
	for _, tc := range []struct{ ref, base, want string }{
		{"https://a.example/x", "", "https://a.example/x"},
		{"/v1/items", "https://api.example.com/", "https://api.example.com/v1/items"},
		{"items", "https://api.example.com/v1/", "https://api.example.com/v1/items"},
		{"/v1/items", "", ""},
		{"%zz", "https://a.example", ""},
	} {
		got := ""
		if u := TargetURL(tc.ref, tc.base); u != nil {
			got = u.String()
		}
		if got != tc.want {
			t.Errorf("TargetURL(%q, %q) = %q, want %q", tc.ref, tc.base, got, tc.want)
		}
	}
}

func TestIsMultipart(t *testing.T) {
	for ct, want := range map[string]bool{
		"multipart/form-data; boundary=x": true, "  Multipart/Mixed": true, "\tMULTIPART/related": true,
		"application/json": false, "multipart": false, "": false, "text/multipart/x": false,
	} {
		if got := IsMultipart(ct); got != want {
			t.Errorf("IsMultipart(%q) = %v, want %v", ct, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { IsMultipart("Multipart/Form-Data") }); n != 0 {
		t.Errorf("IsMultipart allocates %v times", n)
	}
}
