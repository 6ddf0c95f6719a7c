package core

import (
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
