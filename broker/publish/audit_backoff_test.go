package publish

import (
	"testing"
	"time"
)

// TestAuditBackoffCappedWithJitter (issue 3: "retries failures with capped
// exponential backoff and jitter"): the delay doubles from RetryMin per
// failure, never exceeds RetryMax however many failures follow, and the
// jitter keeps it between half and all of the step.
func TestAuditBackoffCappedWithJitter(t *testing.T) {
	var r float64
	m := NewManager(ManagerOptions{RetryMin: time.Second, RetryMax: 8 * time.Second, SyncInterval: -1, Rand: func() float64 { return r }})
	step := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for n := 1; n <= 200; n++ {
		want := 8 * time.Second
		if n < len(step) {
			want = step[n]
		}
		r = 0
		if got := m.backoff(n); got != want/2 {
			t.Fatalf("failure %d, no jitter drawn: %v, want %v", n, got, want/2)
		}
		r = 0.999999
		if got := m.backoff(n); got > want || got < want*9/10 {
			t.Fatalf("failure %d, largest jitter: %v, want just under %v", n, got, want)
		}
	}
	// Defaults: capped at DefaultRetryMax.
	d := NewManager(ManagerOptions{SyncInterval: -1, Rand: func() float64 { return 0.999999 }})
	if got := d.backoff(1000); got > DefaultRetryMax || got < DefaultRetryMax*9/10 {
		t.Fatalf("default cap: %v, want just under %v", got, DefaultRetryMax)
	}
}
