package restyv3

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a retry
// loop still sleeping, a drain still reading, a connection not closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
