package compare

import "testing"

// Issue 10 §3 on a real limiter: with Pace, one client's goroutines stop
// sending what go-chi/httprate already said it will refuse.
func TestPaceOnARealLimiter(t *testing.T) {
	sz := SmallSize()
	rows := run(t, "httprate-pace", "restyretry", "restyretry+Pace")
	plain, paced := rows["restyretry"], rows["restyretry+Pace"]
	// Without Pace the budget may stop some (measured 26–40 of 40); with
	// it every request gets through.
	if paced.Succeeded != sz.PaceRequests {
		t.Errorf("restyretry+Pace: %d/%d succeeded (failures %v), want all", paced.Succeeded, sz.PaceRequests, paced.Failures)
	}
	for _, r := range []Row{plain, paced} {
		// Every retry waits the Retry-After of its own 429.
		if r.Early != 0 {
			t.Errorf("%s: %d of %d retries came back before their Retry-After", r.Library, r.Early, r.Retries)
		}
	}
	// Without Pace the scenario produces refusals; with it, clearly fewer.
	// Measured over many runs: 43–80 refusals against 115–130, a ratio of
	// 0.33–0.67 (the held requests of one window are released together, a
	// tenth of the hold apart at most, into httprate's sliding window, which
	// frees its quota gradually). The bound leaves room for a noisy machine
	// and still fails if Pace stops helping.
	if plain.Refused < 2*sz.PaceRequests {
		t.Errorf("restyretry: %d refusals for %d requests: the limiter is not biting", plain.Refused, sz.PaceRequests)
	}
	if 20*paced.Refused > 17*plain.Refused {
		t.Errorf("restyretry+Pace: %d refusals, want at most 85%% of the %d without Pace", paced.Refused, plain.Refused)
	}
	// No new request leaves after the client read an answer naming an
	// instant (Retry-After, or X-RateLimit-Reset with nothing remaining)
	// and arrives before it.
	if paced.NewEarly != 0 {
		t.Errorf("restyretry+Pace: %d new requests arrived before the instant the server had named", paced.NewEarly)
	}
	// The measure is live: without Pace, new requests do arrive early.
	if plain.NewEarly == 0 {
		t.Errorf("restyretry: no new request arrived early without Pace")
	}
}
