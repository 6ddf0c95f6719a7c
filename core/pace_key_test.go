package core

import (
	"net/http"
	"net/url"
	"testing"
)

// TestKeyOfString: the string key is the parsed URL's key, or declines.
func TestKeyOfString(t *testing.T) {
	for _, s := range []string{
		"http://example.com", "https://Example.COM:443/x?y#z", "HTTP://a.b:8080", "http://user:pw@h:1/p",
		"http://[::1]:9000/a", "https://[fe80::1]", "ws://h", "wss://h/", "ftp://h/x", "http://h?q=http://x",
		"http://h#f", "http://127.0.0.1:54321/ok", "http://h:/", "git+ssh://h:22",
	} {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		k, ok := keyOfString(s)
		if !ok {
			t.Errorf("%q: declined", s)
			continue
		}
		if want := keyOf(u); k != want {
			t.Errorf("%q: %+v, want %+v", s, k, want)
		}
	}
	for _, s := range []string{"", "/x", "h:80/x", "http://", "http:///x", "http://h:8x", "http://%41/",
		"http://{host}/", "://h", "1http://h", "http://[::1/"} {
		if k, ok := keyOfString(s); ok {
			t.Errorf("%q: %+v, want declined", s, k)
		}
	}
	if n := testing.AllocsPerRun(100, func() { keyOfString("https://api.example.com:8443/v1/x") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestMayPace: an unknown host is not paced, a blocked one is.
func TestMayPace(t *testing.T) {
	c := NewClient(Default(), Options{})
	if c.MayPace("http://a.example/x", "") || c.MayPace("/x", "http://a.example") {
		t.Fatal("an unknown host is paced")
	}
	now := c.clock.Now()
	c.pacer.block(keyOf(&url.URL{Scheme: "http", Host: "a.example"}), now, now.Add(time10s), time10s, false)
	if !c.MayPace("http://A.example:80/x", "") || !c.MayPace("x", "http://a.example") {
		t.Fatal("a blocked host is not paced")
	}
	if c.MayPace("http://b.example/", "") {
		t.Fatal("another host is paced")
	}
	if !c.MayPace("http://{h}/", "") {
		t.Fatal("an unreadable URL must take the full path")
	}
}

const time10s = 10e9

// TestMayNote: every header the hint families read makes a response worth
// a look; a response with none of them costs no host key.
func TestMayNote(t *testing.T) {
	for _, k := range []string{"Retry-After", "retry-after-ms", "x-ms-retry-after-ms", "RateLimit",
		"RateLimit-Policy", "RateLimit-Remaining", "RateLimit-Reset", "X-RateLimit-Remaining",
		"X-RateLimit-Reset", "x-ratelimit-remaining-requests", "x-ratelimit-reset-tokens",
		"anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-reset"} {
		h := http.Header{}
		h.Set(k, "1")
		if !mayNote(h) {
			t.Errorf("mayNote(%s) = false", k)
		}
	}
	if mayNote(http.Header{"Content-Type": {"application/json"}, "Date": {"x"}}) {
		t.Error("mayNote without hint headers = true")
	}
}
