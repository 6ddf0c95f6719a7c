package compare

import (
	"context"
	"net"
	"net/http"
	"time"
)

// IDHeader names the header that identifies a logical request: every
// attempt of one request carries the same value.
const IDHeader = "X-Request-Id"

// Retries is how many retries every library may make after the first
// attempt.
const Retries = 3

// Request is one logical request a scenario sends.
type Request struct {
	Method string
	URL    string
	ID     string // sent as IDHeader
	Body   []byte // nil for none
}

// Outcome is how a logical request ended, after every retry the library
// made: the last status seen (0 if none) and the error returned, if any.
type Outcome struct {
	Status int
	Err    error
	// Attempts is how many attempts the library made, where it tells
	// (resty and restyretry); 0 when unknown.
	Attempts int
}

// OK reports whether the request ended without an error in a 2xx.
func (o Outcome) OK() bool { return o.Err == nil && o.Status >= 200 && o.Status < 300 }

// Client is one library's retrying HTTP client, as a scenario drives it.
// It must be safe for concurrent use.
type Client interface {
	// Do sends r, with every retry the library decides on, and returns how
	// it ended. Response bodies are read and closed.
	Do(ctx context.Context, r Request) Outcome
	// Close releases the client's idle connections.
	Close()
}

// Schedule is the backoff every library is configured with: retry n waits
// about Base·2^(n−1), capped at Max, each library adding its own jitter
// (restyretry: up to +50%; resty: [d/2, d) floored at Base; retryablehttp
// and failsafe-go: none).
type Schedule struct {
	Base time.Duration
	Max  time.Duration
}

// Config is what a scenario asks of a client.
type Config struct {
	Schedule
	// AttemptTimeout bounds each attempt (http.Client.Timeout); 0: none.
	AttemptTimeout time.Duration
	// DisableKeepAlives opens a new connection for every attempt, so that
	// a per-connection fault (a toxiproxy toxic) is drawn again each time.
	DisableKeepAlives bool
	// Retries overrides the package's Retries for this client; 0 keeps it.
	Retries int
	// Wrap, when set, wraps the client's transport: a scenario observes
	// every attempt as it leaves the client and as its answer comes back.
	Wrap func(http.RoundTripper) http.RoundTripper
	// DialTo, when set, is the address every connection dials, whatever
	// the URL's host: many host names served by one loopback server.
	DialTo string
	// Decided, when set, is called by a client that reports its decisions
	// (Library.ReportsDecisions) with the ID of the request each decision
	// was about: by then the library has read that request's last answer.
	Decided func(id string)
}

// retries is how many retries the client may make.
func (c Config) retries() int {
	if c.Retries > 0 {
		return c.Retries
	}
	return Retries
}

// roundTripper is tr wrapped as c.Wrap asks.
func (c Config) roundTripper(tr *http.Transport) http.RoundTripper {
	if c.Wrap != nil {
		return c.Wrap(tr)
	}
	return tr
}

// Library is one retrying client under comparison.
type Library struct {
	Name string
	New  func(Config) Client
	// ReportsDecisions: the client calls Config.Decided.
	ReportsDecisions bool
}

// Libraries returns the libraries compared, restyretry first, then
// restyretry with Policy.Pace on.
func Libraries() []Library {
	return []Library{
		{Name: "restyretry", New: newRestyRetry, ReportsDecisions: true},
		{Name: "restyretry+Pace", New: newRestyRetryPace, ReportsDecisions: true},
		{Name: "resty", New: newResty},
		{Name: "retryablehttp", New: newRetryableHTTP},
		{Name: "failsafe-go", New: newFailsafe},
	}
}

// transport returns a fresh transport for one client: enough idle
// connections for a burst of concurrent requests, short dial timeouts.
func transport(cfg Config) *http.Transport {
	d := &net.Dialer{Timeout: 2 * time.Second}
	dial := d.DialContext
	if cfg.DialTo != "" {
		dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, cfg.DialTo)
		}
	}
	return &http.Transport{
		DialContext:         dial,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableKeepAlives:   cfg.DisableKeepAlives,
	}
}
