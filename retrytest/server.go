package retrytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Reply is one scripted response.
type Reply struct {
	Status int
	Header http.Header
	Body   string
}

// Received is what the server recorded of one request.
type Received struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	At     time.Time // wall clock
}

// Server is a loopback HTTP server (127.0.0.1 only) scripted per path:
// each request to a path gets the next Reply of its script, and the last
// one again once the script is used up; a path without a script gets 200.
// It records every request.
type Server struct {
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	scripts map[string][]Reply
	next    map[string]int
	got     []Received
}

// NewServer starts a Server, closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{scripts: map[string][]Reply{}, next: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve)) // listens on 127.0.0.1
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Script sets the replies for path.
func (s *Server) Script(path string, replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[path] = replies
	s.next[path] = 0
}

// Received returns the requests recorded so far, to every path or, with a
// path, to that one.
func (s *Server) Received(path ...string) []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Received
	for _, r := range s.got {
		if len(path) == 0 || r.Path == path[0] {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got = append(s.got, Received{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, At: time.Now()})
	reply := Reply{Status: http.StatusOK}
	if script := s.scripts[r.URL.Path]; len(script) > 0 {
		i := min(s.next[r.URL.Path], len(script)-1)
		reply = script[i]
		s.next[r.URL.Path] = i + 1
	}
	s.mu.Unlock()
	for k, vs := range reply.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if reply.Status == 0 {
		reply.Status = http.StatusOK
	}
	w.WriteHeader(reply.Status)
	_, _ = io.WriteString(w, reply.Body)
}
