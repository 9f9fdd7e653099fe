package placement

import "testing"

// A dry run (the admin API's explain) ranks like the next real decision
// would, and leaves the policy's state alone: the real sequence is the
// same with or without dry runs in between.
func TestDryRunLeavesPolicyState(t *testing.T) {
	policies := map[string]func() Policy{
		"round_robin": func() Policy { return &RoundRobin{} },
		"weighted":    func() Policy { return &Weighted{Weights: map[string]int{"a": 3, "b": 1, "c": 1}} },
		"random":      func() Policy { return NewRandom(7) },
	}
	for name, mk := range policies {
		t.Run(name, func(t *testing.T) {
			plain, _ := New(Config{Catalog: threeProviders(), Policy: mk()})
			dried, _ := New(Config{Catalog: threeProviders(), Policy: mk()})
			want := sequence(t, plain, 12)
			var got string
			for i := 0; i < 12; i++ {
				dry := mustPlace(t, dried, iaasReq("", 1, 1), Options{DryRun: true})
				dry2 := mustPlace(t, dried, iaasReq("", 1, 1), Options{DryRun: true})
				real := mustPlace(t, dried, iaasReq("", 1, 1), Options{})
				if name != "random" && (dry.Chosen().ProviderID != real.Chosen().ProviderID || dry2.Chosen().ProviderID != real.Chosen().ProviderID) {
					t.Fatalf("decision %d: dry runs chose %s and %s, the real one %s", i, dry.Chosen().ProviderID, dry2.Chosen().ProviderID, real.Chosen().ProviderID)
				}
				got += real.Chosen().ProviderID
			}
			if got != want {
				t.Fatalf("dry runs changed the sequence: %s, want %s", got, want)
			}
		})
	}
}
