package publish

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/clock"
)

// TestGapReasonCountsRight: one missing seqnumber is named alone ("4
// missing", not "4 to 4"); several are a range.
func TestGapReasonCountsRight(t *testing.T) {
	ing, _, _ := newIngest(t, clock.NewFake(t0))
	for seq := uint64(1); seq <= 3; seq++ {
		if r := ing.Ingest(notif("sub-a", seq, "a", "x"), "alice"); r.Outcome == OutcomeGap {
			t.Fatalf("seq %d: %+v", seq, r)
		}
	}
	r := ing.Ingest(notif("sub-a", 5, "a", "x"), "alice")
	if r.Outcome != OutcomeGap || r.Response.Reason != "OK: notification applied; seqnumber 4 missing, resynchronising" {
		t.Fatalf("one missing: %q", r.Response.Reason)
	}
	r = ing.Ingest(notif("sub-a", 8, "a", "x"), "alice")
	if r.Outcome != OutcomeGap || r.Response.Reason != "OK: notification applied; seqnumbers 6 to 7 missing, resynchronising" {
		t.Fatalf("two missing: %q", r.Response.Reason)
	}
}
