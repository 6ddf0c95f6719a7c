package restyretry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// --- Events --------------------------------------------------------------

func TestControlEventsSequence(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, statuses(503, 503, 200))
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := newClient(t, p)

	resp, err := c.R().Get(srv.URL + "/items")
	if err != nil || resp.StatusCode() != 200 {
		t.Fatalf("got (%v, %v), want 200", resp, err)
	}
	evs := events.all()
	type want struct {
		attempt, status int
		verdict         Verdict
		rule            Rule
		retry           bool
	}
	wants := []want{
		{1, 503, Retry, "status", true},
		{2, 503, Retry, "status", true},
		{3, 200, Stop, "success", false},
	}
	if len(evs) != len(wants) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(wants), evs)
	}
	for i, w := range wants {
		ev := evs[i]
		if ev.Attempt != w.attempt || ev.Status != w.status || ev.Verdict != w.verdict || ev.Rule != w.rule {
			t.Errorf("event %d = {Attempt %d Status %d Verdict %v Rule %q}, want {%d %d %v %q}",
				i, ev.Attempt, ev.Status, ev.Verdict, ev.Rule, w.attempt, w.status, w.verdict, w.rule)
		}
		if ev.Method != http.MethodGet || ev.URL != srv.URL+"/items" {
			t.Errorf("event %d: Method %q URL %q, want GET %q", i, ev.Method, ev.URL, srv.URL+"/items")
		}
		if ev.Err != nil || ev.GiveUp != nil {
			t.Errorf("event %d: Err %v GiveUp %v, want none", i, ev.Err, ev.GiveUp)
		}
		if w.retry {
			// NoJitter: the waits are exactly the backoff, 2ms then 4ms.
			wantWait := p.BaseDelay << (w.attempt - 1)
			if ev.Wait != wantWait || ev.WaitSource != "backoff" {
				t.Errorf("event %d: Wait %v from %q, want %v from \"backoff\"", i, ev.Wait, ev.WaitSource, wantWait)
			}
		} else if ev.Wait != 0 || ev.WaitSource != "" {
			t.Errorf("final event: Wait %v from %q, want none", ev.Wait, ev.WaitSource)
		}
	}
}

func TestControlEventsRetryAfter(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, byTestID, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", r.Header.Get("X-Retry-After"))
			w.WriteHeader(429)
			return
		}
		w.WriteHeader(200)
	})
	var events eventLog
	p := fastPolicy(3)
	p.OnDecision = events.record
	c := newClient(t, p)

	// Retry-After: 0 is no reason to come back sooner than the backoff.
	if _, err := c.R().SetHeader("X-Test-ID", "zero").SetHeader("X-Retry-After", "0").Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	// Retry-After: 1 asks for a second; test mode skips the sleep but the
	// event reports the wait the policy chose: the hint plus at most 10%.
	tp := p.TestMode(-1)
	tp.ReplaceOnDecision = true // the same recorder: report once
	if _, err := c.R().SetHeader("X-Test-ID", "one").SetHeader("X-Retry-After", "1").
		SetContext(WithPolicy(context.Background(), tp)).Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	evs := events.all()
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4: %+v", len(evs), evs)
	}
	for i, src := range map[int]string{0: SourceBackoff, 2: "Retry-After"} {
		ev := evs[i]
		if ev.Verdict != Retry || ev.Status != 429 || ev.WaitSource != src {
			t.Errorf("event %d: Verdict %v Status %d WaitSource %q, want retry 429 %q",
				i, ev.Verdict, ev.Status, ev.WaitSource, src)
		}
	}
	if w, b := evs[0].Wait, p.BaseDelay; w < b || w > 2*b {
		t.Errorf("Retry-After 0: Wait %v, want the backoff, in [%v, %v]", w, b, 2*b)
	}
	if w := evs[2].Wait; w < time.Second || w > 1100*time.Millisecond {
		t.Errorf("Retry-After 1: Wait %v, want in [1s, 1.1s]", w)
	}
	if evs[1].Rule != "success" || evs[3].Rule != "success" {
		t.Errorf("final events: rules %q and %q, want success", evs[1].Rule, evs[3].Rule)
	}
}

func TestControlEventsGiveUp(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(503)
	})
	var events eventLog
	p := fastPolicy(3)
	p.MaxRetryAfter = time.Second
	p.OnDecision = events.record
	c := newClient(t, p)

	resp, err := c.R().Get(srv.URL)
	if !errors.Is(err, ErrWaitTooLong) {
		t.Fatalf("err = %v, want ErrWaitTooLong", err)
	}
	if resp == nil || resp.StatusCode() != 503 {
		t.Errorf("resp = %v, want the 503", resp)
	}
	evs := events.all()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Verdict != Stop || ev.Attempt != 1 || ev.Status != 503 || ev.Rule != "status" {
		t.Errorf("event = %+v, want attempt 1, status 503, stop by the status rule", ev)
	}
	if !errors.Is(ev.GiveUp, ErrWaitTooLong) || !errors.Is(ev.GiveUp, ErrGaveUp) {
		t.Errorf("GiveUp = %v, want ErrWaitTooLong", ev.GiveUp)
	}
	var gu *GiveUpError
	if !errors.As(ev.GiveUp, &gu) || gu.Status != 503 || gu.Attempt != 1 {
		t.Errorf("GiveUp = %#v, want a *GiveUpError for attempt 1, status 503", ev.GiveUp)
	}
	if ev.Wait != 120*time.Second || ev.WaitSource != "Retry-After" {
		t.Errorf("Wait %v from %q, want the refused 2m0s from \"Retry-After\"", ev.Wait, ev.WaitSource)
	}
}

func TestControlEventsExhausted(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, statuses(503))
	c, events := eventClient(t, fastPolicy(2))

	if _, err := c.R().Get(srv.URL); err != nil {
		t.Fatalf("err = %v, want nil (ErrorOnExhausted is off)", err)
	}
	evs := events.all()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(evs), evs)
	}
	for i, ev := range evs[:2] {
		if ev.Verdict != Retry || ev.Attempt != i+1 {
			t.Errorf("event %d = %+v, want a retry after attempt %d", i, ev, i+1)
		}
	}
	last := evs[2]
	if last.Verdict != Stop || last.Rule != "max-retries" || last.Attempt != 3 || last.Status != 503 {
		t.Errorf("last event = %+v, want attempt 3, status 503, stop by max-retries", last)
	}
	if last.GiveUp != nil || last.Wait != 0 {
		t.Errorf("last event: GiveUp %v, Wait %v, want none (ErrorOnExhausted is off)", last.GiveUp, last.Wait)
	}
}

func TestControlEventsCustomCondition(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, statuses(418, 503, 200))
	var events eventLog
	p := fastPolicy(3).With(RetryOnStatus(429), StopOnStatus(503), RetryOnStatus(418))
	p.OnDecision = events.record
	c := newClient(t, p)

	resp, err := c.R().Get(srv.URL)
	if err != nil || resp.StatusCode() != 503 {
		t.Fatalf("got (%v, %v), want the 503 stopped by condition 2", resp, err)
	}
	evs := events.all()
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	if ev := evs[0]; ev.Verdict != Retry || ev.Rule != RuleCondition || ev.Condition != 3 || ev.Status != 418 || ev.WaitSource != "backoff" {
		t.Errorf("event 1 = %+v, want a retry of 418 by \"condition 3\"", ev)
	}
	if ev := evs[1]; ev.Verdict != Stop || ev.Rule != RuleCondition || ev.Condition != 2 || ev.Status != 503 {
		t.Errorf("event 2 = %+v, want a stop of 503 by \"condition 2\"", ev)
	}
}

// TestControlEventsCanceledAttempt: an attempt cut short by the caller's
// own deadline ends the request, and that decision is reported too, with
// the documented Rule "canceled". (resty's loop returns before it consults
// any retry condition when the request context is done, so the package
// must report it from elsewhere.)
func TestControlEventsCanceledAttempt(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
		w.WriteHeader(503)
	})
	c, events := eventClient(t, fastPolicy(3))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.R().SetContext(ctx).Get(srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	evs := events.all()
	if len(evs) != 1 {
		t.Fatalf("%d events for one attempt cut by the caller's deadline, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Attempt != 1 || ev.Verdict != Stop || ev.Rule != "canceled" || !errors.Is(ev.Err, context.DeadlineExceeded) {
		t.Errorf("event = %+v, want attempt 1 stopped by \"canceled\" with the deadline error", ev)
	}
}

// TestControlEventsRedacted checks that events never carry credentials:
// not the user info, query or fragment of the URL, not the Authorization
// header, not the body, not even inside the transport error.
func TestControlEventsRedacted(t *testing.T) {
	t.Parallel()
	const (
		auth = "Bearer hunter2-token-value"
		body = `{"card":"4111-body-payload"}`
	)
	secrets := []string{"secret", "hunter2", "body-payload", "pass", "frag", "token="}
	check := func(t *testing.T, evs []Event) {
		t.Helper()
		for i, ev := range evs {
			s := fmt.Sprintf("%+v", ev)
			for _, bad := range secrets {
				if strings.Contains(s, bad) {
					t.Errorf("event %d contains %q: %s", i, bad, s)
				}
			}
		}
	}

	t.Run("response", func(t *testing.T) {
		srv := newTestServer(t, nil, func(w http.ResponseWriter, r *http.Request, n int) {
			switch n {
			case 1:
				w.WriteHeader(503)
			default:
				w.Header().Set("Retry-After", "120") // a give-up, with its GiveUp error
				w.WriteHeader(503)
			}
			fmt.Fprintf(w, "echo %s %s", r.URL.RawQuery, r.Header.Get("Authorization"))
		})
		var events eventLog
		p := fastPolicy(3)
		p.OnDecision = events.record
		c := newClient(t, p)
		u := strings.Replace(srv.URL, "http://", "http://user:pass@", 1) + "/orders/7?token=secret#frag"
		_, err := c.R().SetHeader("Authorization", auth).SetBody(body).Put(u)
		if !errors.Is(err, ErrWaitTooLong) {
			t.Fatalf("err = %v, want ErrWaitTooLong", err)
		}
		evs := events.all()
		if len(evs) != 2 {
			t.Fatalf("%d events, want 2: %+v", len(evs), evs)
		}
		for i, ev := range evs {
			if ev.URL != srv.URL+"/orders/7" {
				t.Errorf("event %d: URL %q, want %q", i, ev.URL, srv.URL+"/orders/7")
			}
		}
		if evs[1].GiveUp == nil {
			t.Errorf("event 2 has no GiveUp: %+v", evs[1])
		}
		check(t, evs)
	})

	t.Run("transport error", func(t *testing.T) {
		var events eventLog
		p := fastPolicy(1)
		p.OnDecision = events.record
		p.ErrorOnExhausted = true // so the last event carries a GiveUp too
		c := newClient(t, p)
		u := strings.Replace(refusedURL(t), "http://", "http://user:pass@", 1) + "/orders/7?token=secret#frag"
		_, err := c.R().SetHeader("Authorization", auth).SetBody(body).Put(u)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("err = %v, want ECONNREFUSED", err)
		}
		evs := events.all()
		if len(evs) != 2 {
			t.Fatalf("%d events, want 2: %+v", len(evs), evs)
		}
		for i, ev := range evs {
			var ue *url.Error
			if ev.Err == nil || errors.As(ev.Err, &ue) {
				t.Errorf("event %d: Err %#v, want the transport error without its *url.Error", i, ev.Err)
			}
			if !errors.Is(ev.Err, syscall.ECONNREFUSED) {
				t.Errorf("event %d: Err %v, want ECONNREFUSED", i, ev.Err)
			}
			if ev.Status != 0 || ev.Rule != "network" && ev.Rule != "max-retries" {
				t.Errorf("event %d: Status %d Rule %q, want 0 and network/max-retries", i, ev.Status, ev.Rule)
			}
			if !strings.HasSuffix(ev.URL, "/orders/7") || strings.Contains(ev.URL, "@") {
				t.Errorf("event %d: URL %q, want scheme, host and path only", i, ev.URL)
			}
		}
		check(t, evs)
	})
}

// TestControlEventsConcurrent shares one observed client between 50
// goroutines with different policies and outcomes: every attempt must
// produce exactly one event, in order, for its own request.
func TestControlEventsConcurrent(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, byPath, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/ok/"):
			w.WriteHeader(200)
		case strings.HasPrefix(r.URL.Path, "/flaky/") && n > 1:
			w.WriteHeader(200)
		default:
			w.WriteHeader(503)
		}
	})
	var events eventLog
	p := fastPolicy(2)
	p.OnDecision = events.record
	high := fastPolicy(4)
	high.OnDecision = events.record
	high.ReplaceOnDecision = true // the same recorder: report once
	c := newClient(t, p)

	kinds := []string{"ok", "flaky", "fail"}
	var wg sync.WaitGroup
	for i := range 50 {
		spawn(&wg, func() {
			ctx := context.Background()
			if i%2 == 0 {
				ctx = WithPolicy(ctx, high)
			}
			path := fmt.Sprintf("/%s/%d", kinds[i%3], i)
			if _, err := c.R().SetContext(ctx).Get(srv.URL + path); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		})
	}
	wg.Wait()

	byPath := map[string][]Event{}
	for _, ev := range events.all() {
		path := strings.TrimPrefix(ev.URL, srv.URL)
		byPath[path] = append(byPath[path], ev)
	}
	for i := range 50 {
		path := fmt.Sprintf("/%s/%d", kinds[i%3], i)
		evs := byPath[path]
		attempts := srv.count(path)
		want := map[string]int{"ok": 1, "flaky": 2, "fail": 3}[kinds[i%3]]
		if kinds[i%3] == "fail" && i%2 == 0 {
			want = 5
		}
		if attempts != want || len(evs) != attempts {
			t.Errorf("%s: %d attempts, %d events, want %d of each", path, attempts, len(evs), want)
			continue
		}
		for j, ev := range evs {
			wantVerdict := Retry
			if j == len(evs)-1 {
				wantVerdict = Stop
			}
			if ev.Attempt != j+1 || ev.Verdict != wantVerdict {
				t.Errorf("%s event %d: attempt %d verdict %v, want %d %v", path, j, ev.Attempt, ev.Verdict, j+1, wantVerdict)
			}
		}
	}
	if len(byPath) != 50 {
		t.Errorf("events for %d distinct URLs, want 50", len(byPath))
	}
}

// --- LogEvents -----------------------------------------------------------

// logLines runs requests with LogEvents at level and returns the decoded
// JSON log lines and the raw log.
func logLines(t *testing.T, level slog.Level) ([]map[string]any, string) {
	t.Helper()
	srv := newTestServer(t, byPath, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/flaky":
			if n < 3 {
				w.WriteHeader(503)
				return
			}
			w.WriteHeader(200)
		case "/slow":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(503)
		default:
			w.WriteHeader(503)
		}
	})
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: level}))
	p := fastPolicy(2)
	p.BaseDelay = 2 * time.Millisecond // the waits the table expects: 2ms, 4ms
	p.MaxRetryAfter = time.Second
	p.OnDecision = LogEvents(logger)
	c := newClient(t, p)
	for _, path := range []string{"/flaky", "/slow", "/down"} {
		if _, err := c.R().Get(srv.URL + path + "?token=secret"); err != nil && path != "/slow" {
			t.Fatal(err)
		}
	}
	mu.Lock()
	raw := buf.String()
	mu.Unlock()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if u, ok := m["url"].(string); ok {
			m["url"] = strings.TrimPrefix(u, srv.URL)
		}
		lines = append(lines, m)
	}
	return lines, raw
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestControlLogEvents(t *testing.T) {
	t.Parallel()
	lines, raw := logLines(t, slog.LevelDebug)
	type want struct {
		level, msg, url, verdict, rule string
		attempt                        int
		waitSource                     string
		giveUp                         bool
	}
	wants := []want{
		{"INFO", "retrying request", "/flaky", "retry", "status", 1, "backoff", false},
		{"INFO", "retrying request", "/flaky", "retry", "status", 2, "backoff", false},
		{"DEBUG", "request finished", "/flaky", "stop", "success", 3, "", false},
		{"WARN", "gave up retrying", "/slow", "stop", "status", 1, "Retry-After", true},
		{"INFO", "retrying request", "/down", "retry", "status", 1, "backoff", false},
		{"INFO", "retrying request", "/down", "retry", "status", 2, "backoff", false},
		{"WARN", "retries exhausted", "/down", "stop", "max-retries", 3, "", false},
	}
	if len(lines) != len(wants) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(wants), raw)
	}
	for i, w := range wants {
		l := lines[i]
		if l["level"] != w.level || l["msg"] != w.msg || l["url"] != w.url || l["verdict"] != w.verdict ||
			l["rule"] != w.rule || l["attempt"] != float64(w.attempt) || l["method"] != "GET" {
			t.Errorf("line %d = %v, want %+v", i, l, w)
		}
		if w.waitSource == "" {
			if _, ok := l["wait_source"]; ok {
				t.Errorf("line %d has a wait_source: %v", i, l)
			}
		} else if l["wait_source"] != w.waitSource {
			t.Errorf("line %d: wait_source %v, want %q", i, l["wait_source"], w.waitSource)
		}
		if _, ok := l["give_up"]; ok != w.giveUp {
			t.Errorf("line %d: give_up present %v, want %v: %v", i, ok, w.giveUp, l)
		}
		wantStatus := float64(503)
		if w.rule == "success" {
			wantStatus = 200
		}
		if l["status"] != wantStatus {
			t.Errorf("line %d: status %v, want %v", i, l["status"], wantStatus)
		}
	}
	// Waits are logged as durations: JSON numbers of nanoseconds, here
	// the 2ms and 4ms backoff and the refused 120s.
	for i, wantWait := range map[int]time.Duration{0: 2 * time.Millisecond, 1: 4 * time.Millisecond, 3: 120 * time.Second} {
		if got := lines[i]["wait"]; got != float64(wantWait) {
			t.Errorf("line %d: wait %v, want %v", i, got, float64(wantWait))
		}
	}
	if gu, _ := lines[3]["give_up"].(string); !strings.Contains(gu, ErrWaitTooLong.Error()) {
		t.Errorf("give_up %q does not name the reason %q", gu, ErrWaitTooLong)
	}
	if strings.Contains(raw, "secret") || strings.Contains(raw, "token") {
		t.Errorf("log contains the query string:\n%s", raw)
	}
}

func TestControlLogEventsInfoLevel(t *testing.T) {
	t.Parallel()
	lines, raw := logLines(t, slog.LevelInfo)
	levels := map[string]int{}
	for _, l := range lines {
		levels[l["level"].(string)]++
		if l["msg"] == "request finished" {
			t.Errorf("a success is logged at Info level: %v", l)
		}
	}
	if levels["DEBUG"] != 0 || levels["INFO"] != 4 || levels["WARN"] != 2 || len(lines) != 6 {
		t.Errorf("levels %v in %d lines, want 4 INFO and 2 WARN:\n%s", levels, len(lines), raw)
	}
	if strings.Contains(raw, "secret") {
		t.Errorf("log contains the query string:\n%s", raw)
	}
}
