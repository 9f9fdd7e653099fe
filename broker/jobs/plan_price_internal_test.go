package jobs

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// A plan's price belongs to the job. The decision it was taken from goes
// back to the pool at Release (Create, Copy and Move release it when they
// return, while the job's provisioning may go on), and the next Place
// rewrites each pooled candidate's fields; the job's cost is reckoned
// from the plan's price (holding) and the price is written in every
// record of the job after that. A plan that pointed into the candidate
// took the next decision's price.
func TestPlanPriceOutlivesDecision(t *testing.T) {
	svc := catalog.ServiceEntry{ProviderID: "a"}
	d := &placement.Decision{
		Candidates: []placement.Candidate{{ProviderID: "a", ServiceID: "s", Service: &svc, Matched: true, Price: 0.5, HasPrice: true}},
		Ranked:     []int{0},
	}
	plan := planOf(d, 3)
	// What the next Place writes in the pooled decision's candidate.
	d.Candidates[0].Price, d.Candidates[0].HasPrice = 9, false
	if len(plan) != 1 || plan[0].Price == nil {
		t.Fatalf("plan %+v, want one entry with a price", plan)
	}
	if got := *plan[0].Price; got != 0.5 {
		t.Fatalf("the plan's price is %v after the decision's candidate was rewritten, want 0.5", got)
	}
}
