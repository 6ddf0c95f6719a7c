package otelretry_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (a test
// server, a connection, a retry loop): every test closes its servers and
// its clients' idle connections in cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
