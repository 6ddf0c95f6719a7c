package restyretry

import (
	"flag"
	"runtime"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// retry loop still sleeping, a transport connection not closed, or a test
// server handler still running. No goleak options are used: tests close
// their clients' idle connections and their servers in cleanup, so nothing
// legitimate needs to be ignored.
//
// The tests wait on loopback round trips and millisecond timers, not on
// the CPU, so unless -parallel is given they run 8 per core instead of
// go test's one per core: on 2 cores that is the difference between
// seconds and tens of seconds.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(8*runtime.GOMAXPROCS(0)))
	}
	goleak.VerifyTestMain(m)
}
