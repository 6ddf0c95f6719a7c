package restyretry_test

import (
	"fmt"
	"time"

	"github.com/restyretry/restyretry"
)

func ExampleParseRetryAfter() {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{
		"120",
		"Sat, 28 Nov 2026 12:05:00 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT", // past: retry now
		"soon",
	} {
		wait, ok := restyretry.ParseRetryAfter(v, now)
		fmt.Println(wait, ok)
	}
	// Output:
	// 2m0s true
	// 5m0s true
	// 0s true
	// 0s false
}
