package placement

import "testing"

// TestRoundRobinSettlesOnTaker: provider a fails every create, so each
// job ranked to a goes to the next candidate. The rotation moved by the
// provider ranked first, so the decision after a failover started at the
// taker again: b served its own turn and a's (bbcbbc). Told the taker
// (Decision.Placed), the next decision starts after it: b and c share.
// A dry run gives no Placed, and a taker never ranked moves nothing.
func TestRoundRobinSettlesOnTaker(t *testing.T) {
	p, _ := New(Config{Catalog: threeProviders(), Policy: &RoundRobin{}})
	got := ""
	for range 6 {
		d := mustPlace(t, p, iaasReq("", 1, 1), Options{})
		taker := ""
		for _, c := range d.Ordered() {
			if c.ProviderID != "a" {
				taker = c.ProviderID
				break
			}
		}
		if placed := d.Placed(); placed != nil {
			placed("nowhere")
			placed(taker)
		}
		d.Release()
		got += taker
	}
	if got != "bcbcbc" {
		t.Fatalf("takers %s, want bcbcbc", got)
	}
	if d := mustPlace(t, p, iaasReq("", 1, 1), Options{DryRun: true}); d.Placed() != nil {
		t.Fatal("a dry run's decision moves the rotation")
	}
}
