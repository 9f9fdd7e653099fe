package placement

import "testing"

// A dry run (the admin API's explain) ranks like the next real decision
// would, and leaves the policy's state alone: the real sequence is the
// same with or without dry runs in between. The random policy too: its
// dry run drew from a throwaway source, so an explanation named a
// provider at random, not the one the next create would try first.
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
				if dry.Chosen().ProviderID != real.Chosen().ProviderID || dry2.Chosen().ProviderID != real.Chosen().ProviderID {
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

// TestDryRunRandomUnseeded: an unseeded random policy (no seed in the
// configuration, the usual case) explains its next draw too.
func TestDryRunRandomUnseeded(t *testing.T) {
	p, _ := New(Config{Catalog: threeProviders(), Policy: new(Random)})
	for i := 0; i < 12; i++ {
		dry := mustPlace(t, p, iaasReq("", 1, 1), Options{DryRun: true})
		want := dry.Chosen().ProviderID
		if real := mustPlace(t, p, iaasReq("", 1, 1), Options{}).Chosen().ProviderID; real != want {
			t.Fatalf("decision %d: the dry run chose %s, the real one %s", i, want, real)
		}
	}
}
