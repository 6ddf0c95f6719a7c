package restyretry

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// retry loop still sleeping, a transport connection not closed, or a test
// server handler still running. No goleak options are used: tests close
// their clients' idle connections and their servers in cleanup, so nothing
// legitimate needs to be ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
