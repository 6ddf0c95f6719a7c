package core

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// A retry paid by the key's traffic whose payment has left the window when
// the retry succeeds gives nothing back: the refund must not take another
// request's live payment off the window, which would let the traffic pay
// for one more retry than it allows.
func TestHuntRatioRefundAfterExpiry(t *testing.T) {
	b := newBudgets(Budget{Ratio: 0.2, Reserve: 0, Window: 10 * time.Second})
	u, _ := url.Parse("http://h.example/a")
	p := Default()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	traffic := func(now time.Time, n int) {
		for range n {
			var tk budgetTicket
			b.settle(&tk, u, now, 1, true)
		}
	}
	traffic(t0, 10)
	var a budgetTicket
	if !b.withdraw(&a, u, t0, 1, &p, t0) || a.pay != payRatio {
		t.Fatalf("A's retry not paid by the traffic: %v", a.pay)
	}
	a.sent()
	t9 := t0.Add(9500 * time.Millisecond)
	traffic(t9, 10)
	var bt budgetTicket
	if !b.withdraw(&bt, u, t9, 1, &p, t9) || bt.pay != payRatio {
		t.Fatalf("B's retry not paid by the traffic: %v", bt.pay)
	}
	bt.sent()
	t10 := t0.Add(10500 * time.Millisecond) // A's payment (slot 0) has left the window
	b.settle(&a, u, t10, 2, true)           // A's retry succeeds
	h := b.keys.find(budgetKeyOf(u, ""))
	if h.paidSum != 1 {
		t.Fatalf("paid over the window = %d after A's late refund, want 1 (B's payment is still live)", h.paidSum)
	}
}

// A retry that a host's spacing would push past what it may wait is
// refused without taking the slot: refused retries do not push the host's
// next slot later for everyone else.
func TestHuntPaceRefusedRetryTakesNoSlot(t *testing.T) {
	p := newPacer()
	pol := Default()
	now := budAt(0)
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "3")
	h.Set("X-RateLimit-Reset", "3600") // one request per 15 minutes
	p.noteQuota(budHost, &outcome{status: http.StatusOK, header: h}, now, &pol, false)
	p.reserve(budHost, now, now, time.Time{}) // the host's next slot, taken
	var refused time.Time
	for range 10 {
		refused = p.reserve(budHost, now, now, now.Add(30*time.Second))
		if !refused.After(now.Add(30 * time.Second)) {
			t.Fatalf("a slot %v away fits in 30s; the spacing was not applied", refused.Sub(now))
		}
	}
	if got := p.reserve(budHost, now, now, time.Time{}); !got.Equal(refused) {
		t.Errorf("after 10 refused retries the next slot is %v away, want %v (the one they were refused)", got.Sub(now), refused.Sub(now))
	}
}
