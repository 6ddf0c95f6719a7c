package otelretry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/restyretry/restyretry"
)

func TestEventHost(t *testing.T) {
	cases := []struct {
		url  string
		host string
		port int
	}{
		{"http://127.0.0.1:8080/a/b", "127.0.0.1", 8080},
		{"https://example.com/a", "example.com", 443},
		{"http://example.com", "example.com", 80},
		{"http://[::1]:9000/x", "::1", 9000},
		{"https://[2001:db8::1]/", "2001:db8::1", 443},
		{"ftp://files.example/x", "files.example", 0},
		{"http://h:99999/x", "h", 0},
		{"http://h:0/x", "h", 0},
		{"no scheme", "", 0},
		{"", "", 0},
	}
	for _, c := range cases {
		host, port := eventHost(c.url)
		if host != c.host || port != c.port {
			t.Errorf("eventHost(%q) = %q, %d; want %q, %d", c.url, host, port, c.host, c.port)
		}
	}
}

func TestEventHostAllocates(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { eventHost("http://127.0.0.1:8080/a") }); n != 0 {
		t.Errorf("eventHost allocates %v times", n)
	}
}

func TestMethodOf(t *testing.T) {
	cases := []struct {
		in, out string
		known   bool
	}{
		{"GET", "GET", true}, {"PATCH", "PATCH", true}, {"", "GET", true},
		{"get", "_OTHER", false}, {"PURGE", "_OTHER", false},
	}
	for _, c := range cases {
		out, known := methodOf(c.in)
		if out != c.out || known != c.known {
			t.Errorf("methodOf(%q) = %q, %v; want %q, %v", c.in, out, known, c.out, c.known)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "slow" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorType(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.Canceled, "canceled"},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), "timeout"},
		{timeoutErr{}, "timeout"},
		{opErr(syscall.ECONNREFUSED), "connection_refused"},
		{opErr(syscall.ECONNRESET), "connection_reset"},
		{opErr(syscall.EPIPE), "broken_pipe"},
		{io.ErrUnexpectedEOF, "unexpected_eof"},
		{opErr(syscall.EHOSTUNREACH), "*net.OpError"},
		{errors.New("anything at all"), "*errors.errorString"},
	}
	for _, c := range cases {
		if got := errorType(c.err); got != c.want {
			t.Errorf("errorType(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestReasonOf(t *testing.T) {
	cases := []struct {
		reason error
		rule   restyretry.Rule
		want   string
	}{
		{restyretry.ErrBudgetExhausted, restyretry.RuleStatus, "budget_exhausted"},
		{restyretry.ErrWaitTooLong, restyretry.RuleStatus, "wait_too_long"},
		{restyretry.ErrDeadline, restyretry.RuleNetwork, "deadline"},
		{restyretry.ErrTimeLimit, restyretry.RuleMaxElapsed, "time_limit"},
		{restyretry.ErrBodyNotReplayable, restyretry.RuleBody, "body_not_replayable"},
		{restyretry.ErrRetriesExhausted, restyretry.RuleMaxRetries, "retries_exhausted"},
		{errors.New("new reason"), restyretry.RuleStatus, "_OTHER"},
		{nil, restyretry.RuleMaxRetries, "retries_exhausted"},
		{nil, restyretry.RuleSuccess, ""},
		{nil, restyretry.RuleStatus, ""},
	}
	for _, c := range cases {
		ev := restyretry.Event{Rule: c.rule, Verdict: restyretry.Stop}
		if c.reason != nil {
			ev.GiveUp = &restyretry.GiveUpError{Reason: c.reason}
		}
		if got := reasonOf(&ev); got != c.want {
			t.Errorf("reasonOf(%v, %s) = %q, want %q", c.reason, c.rule, got, c.want)
		}
	}
}

func TestFullURL(t *testing.T) {
	cases := []struct {
		in, want, dropped string
	}{
		{"https://api.example/v1/x", "https://api.example/v1/x", "https://api.example/v1/x"},
		{"https://user:pw@api.example/x?a=1#frag", "https://REDACTED:REDACTED@api.example/x?a=1", "https://REDACTED:REDACTED@api.example/x"},
		{"https://token@api.example/x", "https://REDACTED:REDACTED@api.example/x", "https://REDACTED:REDACTED@api.example/x"},
		{"https://s3.example/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc&X-Amz-Security-Token=t&part=2",
			"https://s3.example/b/k?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED&part=2",
			"https://s3.example/b/k"},
		{"https://blob.example/c?sv=2024&sig=s3cr3t&se=later", "https://blob.example/c?sv=2024&sig=REDACTED&se=later", "https://blob.example/c"},
		{"https://gcs.example/o?X-Goog-Signature=ff&X-Goog-Date=1", "https://gcs.example/o?X-Goog-Signature=REDACTED&X-Goog-Date=1", "https://gcs.example/o"},
		{"https://old.example/o?AWSAccessKeyId=A&Signature=S&Expires=1", "https://old.example/o?AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1", "https://old.example/o"},
		// Case-sensitive, as the conventions ask; an escaped key is unescaped first.
		{"https://x.example/?SIG=keep&si%67=hide", "https://x.example/?SIG=keep&si%67=REDACTED", "https://x.example/"},
		// A key without a value, an empty value, and one that only contains a sensitive name.
		{"https://x.example/?sig&sig=&mysig=1", "https://x.example/?sig&sig=REDACTED&mysig=1", "https://x.example/"},
	}
	for _, c := range cases {
		u, err := url.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := fullURL(u, false); got != c.want {
			t.Errorf("fullURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := fullURL(u, true); got != c.dropped {
			t.Errorf("fullURL(%q, dropQuery) = %q, want %q", c.in, got, c.dropped)
		}
	}
}

func TestRedactQueryAllocates(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { redactQuery("page=2&sort=name&limit=50") }); n != 0 {
		t.Errorf("redactQuery of a query with nothing to redact allocates %v times", n)
	}
}
