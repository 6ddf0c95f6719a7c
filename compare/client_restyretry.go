package compare

import (
	"context"

	"github.com/go-resty/resty/v2"

	"github.com/restyretry/restyretry"
)

// restyClient drives a *resty.Client, with restyretry applied or with
// resty's own retry configured.
type restyClient struct {
	c  *resty.Client
	tr interface{ CloseIdleConnections() }
}

// newRestyRetry is restyretry.Default() with BaseDelay and MaxDelay taken
// from the schedule and MaxRetries from the config; everything else, the
// budget included, as Default sets it.
func newRestyRetry(cfg Config) Client { return restyRetry(cfg, false) }

// newRestyRetryPace is newRestyRetry with Policy.Pace on.
func newRestyRetryPace(cfg Config) Client { return restyRetry(cfg, true) }

// newRestyRetryBackground is restyretry.Background() as it is, its own
// schedule (1s doubling to 2 minutes, 8 retries) and budget: the budget
// scenarios' real-wait rows.
func newRestyRetryBackground(cfg Config) Client {
	return restyRetryWith(cfg, restyretry.Background())
}

func restyRetry(cfg Config, pace bool) Client {
	p := restyretry.Default()
	p.MaxRetries = cfg.retries()
	p.BaseDelay = cfg.Base
	p.MaxDelay = cfg.Max
	p.Pace = pace
	return restyRetryWith(cfg, p)
}

func restyRetryWith(cfg Config, p restyretry.Policy) Client {
	tr := transport(cfg)
	c := resty.New().SetTransport(cfg.roundTripper(tr)).SetTimeout(cfg.AttemptTimeout).SetLogger(quietLogger{})
	if cfg.Decided != nil {
		p.OnDecision = func(e restyretry.Event) {
			if id, ok := e.Context.Value(requestIDKey{}).(string); ok {
				cfg.Decided(id)
			}
		}
	}
	p.Apply(c)
	return &restyClient{c: c, tr: tr}
}

func (r *restyClient) Do(ctx context.Context, q Request) Outcome {
	ctx = context.WithValue(ctx, requestIDKey{}, q.ID)
	req := r.c.R().SetContext(ctx).SetHeader(IDHeader, q.ID)
	if q.Body != nil {
		req.SetBody(q.Body)
	}
	resp, err := req.Execute(q.Method, q.URL)
	o := Outcome{Err: err, Attempts: req.Attempt}
	if resp != nil {
		o.Status = resp.StatusCode()
	}
	return o
}

func (r *restyClient) Close() { r.tr.CloseIdleConnections() }

// requestIDKey carries a request's ID in its context, for Config.Decided.
type requestIDKey struct{}

// quietLogger keeps resty's per-attempt warnings off the tables.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}
