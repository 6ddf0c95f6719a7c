package compare

import (
	"net/http"

	"github.com/go-resty/resty/v2"
)

// newResty is resty's own retry as its users write it: SetRetryCount(3),
// the schedule as RetryWaitTime and RetryMaxWaitTime, and one condition
// that retries transport errors, 429 and every 5xx. The condition has to
// name errors: in resty v2 a condition's false replaces the loop's default
// of retrying errors. resty reads no Retry-After unless the user writes a
// RetryAfter function, so none is set, and it retries every method.
func newResty(cfg Config) Client {
	tr := transport(cfg)
	c := resty.New().SetTransport(cfg.roundTripper(tr)).SetTimeout(cfg.AttemptTimeout).SetLogger(quietLogger{}).
		SetRetryCount(cfg.retries()).
		SetRetryWaitTime(cfg.Base).
		SetRetryMaxWaitTime(cfg.Max).
		AddRetryCondition(func(r *resty.Response, err error) bool {
			return err != nil || r.StatusCode() == http.StatusTooManyRequests || r.StatusCode() >= 500
		})
	return &restyClient{c: c, tr: tr}
}
