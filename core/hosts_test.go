package core

import (
	"net/url"
	"strconv"
	"testing"
)

func TestKeyOf(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want hostKey
	}{
		{"https://example.com/x", hostKey{"https", "example.com", "443"}},
		{"https://example.com:443/x", hostKey{"https", "example.com", "443"}},
		{"https://Example.COM/x", hostKey{"https", "example.com", "443"}},
		{"HTTPS://example.com", hostKey{"https", "example.com", "443"}},
		{"http://example.com", hostKey{"http", "example.com", "80"}},
		{"http://example.com:8080/a?b=c", hostKey{"http", "example.com", "8080"}},
		{"https://example.com:8443", hostKey{"https", "example.com", "8443"}},
		{"http://127.0.0.1:12345/", hostKey{"http", "127.0.0.1", "12345"}},
		{"http://[::1]:9000/", hostKey{"http", "::1", "9000"}},
		{"https://[::1]/", hostKey{"https", "::1", "443"}},
		{"wss://example.com/socket", hostKey{"wss", "example.com", "443"}},
		{"ws://example.com/socket", hostKey{"ws", "example.com", "80"}},
		{"ftp://example.com/f", hostKey{"ftp", "example.com", ""}},
		{"http://user:pass@example.com/", hostKey{"http", "example.com", "80"}},
		{"/relative/path", hostKey{"", "", ""}},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tc.url, err)
		}
		if got := keyOf(u); got != tc.want {
			t.Errorf("keyOf(%q) = %+v, want %+v", tc.url, got, tc.want)
		}
	}
	if got := keyOf(nil); got != (hostKey{}) {
		t.Errorf("keyOf(nil) = %+v, want the zero key", got)
	}
	// A URL built by hand keeps whatever case it was given; the key does not.
	if got, want := keyOf(&url.URL{Scheme: "HTTP", Host: "A.B:81"}), (hostKey{"http", "a.b", "81"}); got != want {
		t.Errorf("keyOf(HTTP://A.B:81) = %+v, want %+v", got, want)
	}
}

func TestKeyOfAllocs(t *testing.T) {
	for _, s := range []string{"https://api.example.com/v1/x", "http://127.0.0.1:8080/", "http://[::1]:9000/"} {
		u, _ := url.Parse(s)
		var k hostKey
		if n := testing.AllocsPerRun(100, func() { k = keyOf(u) }); n != 0 {
			t.Errorf("keyOf(%q): %v allocations, want 0", s, n)
		}
		_ = k
	}
}

func TestLowerASCII(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"ABC", "abc"},
		{"aBc.D-E_9", "abc.d-e_9"},
		{"xn--bcher-kva.EXAMPLE", "xn--bcher-kva.example"},
		{"ÄB", "Äb"}, // non-ASCII bytes are left as they are
	} {
		if got := lowerASCII(tc.in); got != tc.want {
			t.Errorf("lowerASCII(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func hk(i int) hostKey { return hostKey{"http", "h" + strconv.Itoa(i), "80"} }

// htKeys lists the table's keys from the most to the least recently used.
func htKeys[V any](t *hostTable[V]) []hostKey {
	var ks []hostKey
	for e := t.ring.next; e != &t.ring; e = e.next {
		ks = append(ks, e.key)
	}
	return ks
}

func TestHostTableLRU(t *testing.T) {
	tb := newHostTable[int](3)
	for i := 1; i <= 3; i++ {
		*tb.upsert(hk(i)) = i * 10
	}
	if got := htKeys(tb); len(got) != 3 || got[0] != hk(3) || got[2] != hk(1) {
		t.Fatalf("order %v, want h3 h2 h1", got)
	}
	// Using h1 makes h2 the least recently used.
	if v := tb.find(hk(1)); v == nil || *v != 10 {
		t.Fatalf("find(h1) = %v, want 10", v)
	}
	if k, _ := tb.oldest(); k != hk(2) {
		t.Fatalf("oldest = %v, want h2", k)
	}
	// A fourth host evicts h2 and starts from the zero value.
	if v := tb.upsert(hk(4)); *v != 0 {
		t.Fatalf("new host's value %d, want 0 (the evicted entry is reused, zeroed)", *v)
	}
	if tb.len() != 3 || tb.find(hk(2)) != nil {
		t.Fatalf("len %d, h2 found %v: want 3 hosts, h2 evicted", tb.len(), tb.find(hk(2)) != nil)
	}
	for _, c := range []struct {
		k    hostKey
		want int
	}{{hk(1), 10}, {hk(3), 30}, {hk(4), 0}} {
		if v := tb.find(c.k); v == nil || *v != c.want {
			t.Errorf("find(%v) = %v, want %d", c.k, v, c.want)
		}
	}
	// find of an absent host adds nothing.
	if tb.find(hk(9)) != nil || tb.len() != 3 {
		t.Fatal("find of an absent host changed the table")
	}
	tb.remove(hk(3))
	tb.remove(hk(3)) // absent: nothing
	if tb.len() != 2 || tb.find(hk(3)) != nil {
		t.Fatalf("after remove: len %d", tb.len())
	}
	if got := htKeys(tb); len(got) != 2 || got[0] != hk(4) || got[1] != hk(1) {
		t.Fatalf("order %v, want h4 h1", got)
	}
	tb.remove(hk(4))
	tb.remove(hk(1))
	if _, ok := tb.oldest(); ok || tb.len() != 0 {
		t.Fatal("an emptied table still has an oldest host")
	}
}

func TestHostTableBounded(t *testing.T) {
	tb := newHostTable[int](maxHosts)
	for i := range 5 * maxHosts {
		*tb.upsert(hk(i)) = i
		if i%97 == 0 {
			tb.find(hk(0)) // keep h0 recently used
		}
	}
	if tb.len() != maxHosts || len(htKeys(tb)) != maxHosts {
		t.Fatalf("table holds %d hosts (%d listed), want %d", tb.len(), len(htKeys(tb)), maxHosts)
	}
	if v := tb.find(hk(0)); v == nil || *v != 0 {
		t.Error("h0, used all along, was evicted")
	}
	if tb.find(hk(5*maxHosts-maxHosts)) != nil {
		// Of the last maxHosts added, the oldest was pushed out by h0.
		t.Error("the least recently used host was kept")
	}
	if v := tb.find(hk(5*maxHosts - 1)); v == nil || *v != 5*maxHosts-1 {
		t.Error("the newest host is missing")
	}
	if tb := newHostTable[int](0); tb.max != 1 {
		t.Errorf("a table of 0 hosts holds %d, want 1", tb.max)
	}
}

// TestHostTableFullAllocs: once full, a table reuses the entry it evicts.
func TestHostTableFullAllocs(t *testing.T) {
	tb := newHostTable[int](64)
	keys := make([]hostKey, 1024)
	for i := range keys {
		keys[i] = hk(i)
	}
	for _, k := range keys[:64] {
		tb.upsert(k)
	}
	i := 64
	n := testing.AllocsPerRun(2000, func() {
		*tb.upsert(keys[i%len(keys)]) = i
		i++
	})
	t.Logf("full table, a new host each time: %.3f allocations per upsert", n)
	if n > 0.1 {
		t.Errorf("%.3f allocations per upsert into a full table, want about 0", n)
	}
}
