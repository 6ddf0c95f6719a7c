package core

import "net/url"

// hostKey names one upstream: the scheme, host and port a request is sent
// to. Per-host state (retry budgets, pacing holds) is kept under it, so one
// dead upstream cannot affect the others a client talks to.
type hostKey struct{ scheme, host, port string }

// keyOf returns the key of the host u addresses. The scheme and host are
// compared without regard to ASCII case, IPv6 brackets are dropped, and a
// missing port is filled from the scheme ("443" for https and wss, "80" for
// http and ws; empty for other schemes), so https://Example.com and
// https://example.com:443 share a key. A nil u gives the zero key. It does
// not allocate unless the scheme or host has upper-case letters.
func keyOf(u *url.URL) hostKey {
	if u == nil {
		return hostKey{}
	}
	host, port := splitHostPort(u.Host)
	k := hostKey{scheme: lowerASCII(u.Scheme), host: lowerASCII(host), port: port}
	if k.port == "" {
		switch k.scheme {
		case "https", "wss":
			k.port = "443"
		case "http", "ws":
			k.port = "80"
		}
	}
	return k
}

// splitHostPort splits a URL's Host as url.URL's Hostname and Port do, in
// one pass: the port is what follows the last ':' when it is all digits
// (and not inside IPv6 brackets), and brackets are dropped.
func splitHostPort(hostPort string) (host, port string) {
	host = hostPort
	if i := lastColon(hostPort); i >= 0 && digits(hostPort[i+1:]) {
		host, port = hostPort[:i], hostPort[i+1:]
	}
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return host, port
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ':':
			return i
		case ']':
			return -1
		}
	}
	return -1
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lowerASCII returns s with ASCII upper-case letters lowered; s itself,
// without allocating, when it has none.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// maxHosts is how many hosts every per-host table of one applied client
// holds at most.
const maxHosts = 1024

// hostTable is a keyTable of hosts: the pacer's.
type hostTable[V any] = keyTable[hostKey, V]

// newHostTable returns an empty table of at most n hosts (at least 1).
func newHostTable[V any](n int) *hostTable[V] { return newKeyTable[hostKey, V](n) }

// keyTable maps keys (hosts, or a host's routes) to values of type V,
// holding at most max of them: adding one more evicts the least recently
// used key (the one whose last find or upsert is oldest), whose entry is
// reused for the newcomer, so a full table allocates nothing more. A key
// that comes back after its eviction starts again from the zero V; evict,
// when set, is called with the evicted key and value first, so that its
// owner can keep what must not be forgotten (the budget folds it into its
// shared pool).
//
// It is not safe for concurrent use: its owner holds a mutex. A pointer it
// returns is valid only until the next upsert or remove.
type keyTable[K comparable, V any] struct {
	max   int
	index map[K]*keyEntry[K, V]
	evict func(K, *V)
	// ring is the sentinel of a circular list in order of use: ring.next
	// is the most recently used entry, ring.prev the least.
	ring keyEntry[K, V]
}

type keyEntry[K comparable, V any] struct {
	key        K
	val        V
	prev, next *keyEntry[K, V]
}

// newKeyTable returns an empty table of at most n keys (at least 1).
func newKeyTable[K comparable, V any](n int) *keyTable[K, V] {
	t := &keyTable[K, V]{max: max(n, 1), index: make(map[K]*keyEntry[K, V])}
	t.ring.prev, t.ring.next = &t.ring, &t.ring
	return t
}

// len is the number of hosts held.
func (t *keyTable[K, V]) len() int { return len(t.index) }

// find returns k's value and marks k as the most recently used, or nil
// when k is not held.
func (t *keyTable[K, V]) find(k K) *V {
	if e := t.ring.next; e != &t.ring && e.key == k {
		return &e.val // the most recent host again: no map lookup
	}
	e := t.index[k]
	if e == nil {
		return nil
	}
	t.toFront(e)
	return &e.val
}

// upsert returns k's value, adding k with the zero V (and evicting the
// least recently used host when the table is full) if it is not held, and
// marks k as the most recently used.
func (t *keyTable[K, V]) upsert(k K) *V {
	if v := t.find(k); v != nil {
		return v
	}
	var e *keyEntry[K, V]
	if len(t.index) >= t.max {
		e = t.ring.prev // the least recently used
		delete(t.index, e.key)
		t.unlink(e)
		if t.evict != nil {
			t.evict(e.key, &e.val)
		}
		var zero V
		e.val = zero
	} else {
		e = new(keyEntry[K, V])
	}
	e.key = k
	t.index[k] = e
	t.link(e)
	return &e.val
}

// remove drops k, if held.
func (t *keyTable[K, V]) remove(k K) {
	if e := t.index[k]; e != nil {
		delete(t.index, k)
		t.unlink(e)
	}
}

// oldest returns the least recently used key; ok is false when the table
// is empty.
func (t *keyTable[K, V]) oldest() (k K, ok bool) {
	if t.ring.prev == &t.ring {
		return k, false
	}
	return t.ring.prev.key, true
}

func (t *keyTable[K, V]) toFront(e *keyEntry[K, V]) {
	if t.ring.next != e {
		t.unlink(e)
		t.link(e)
	}
}

func (t *keyTable[K, V]) link(e *keyEntry[K, V]) {
	e.prev, e.next = &t.ring, t.ring.next
	t.ring.next.prev = e
	t.ring.next = e
}

func (t *keyTable[K, V]) unlink(e *keyEntry[K, V]) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

// budgetKey is what a retry budget keeps its accounts under: a host and one
// route on it, so that a dead path behind a shared host:port (one backend
// of an API gateway) spends nothing of the healthy paths' retries.
type budgetKey struct {
	host  hostKey
	route string
}

// budgetKeyOf returns the budget key of a request to u: its host, and the
// route the caller named (Request.Route) or else the first segment of u's
// path ("users" for /users/42, "" for /). It does not allocate beyond
// keyOf: the route is a substring of the path.
func budgetKeyOf(u *url.URL, route string) budgetKey {
	k := budgetKey{host: keyOf(u), route: route}
	if route == "" && u != nil {
		k.route = firstSegment(u.Path)
	}
	return k
}

// firstSegment returns the first segment of an URL path: "a" for "/a/b",
// "a" for "a", "" for "/" and "".
func firstSegment(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return p
}
