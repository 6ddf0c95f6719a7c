package restyretry

import (
	"github.com/go-resty/resty/v2"
	"github.com/restyretry/restyretry/core"
)

// ApplyOnClock is Policy.Apply with a fake clock, for the external tests
// (the shared behaviour table).
func ApplyOnClock(p Policy, c *resty.Client, clock core.Clock) *resty.Client {
	return p.applyOn(c, clock)
}
