package adaptertest

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// runFind checks contract.Finder, the broker's reconciliation after a
// crash between calling Provision and recording its answer: from the
// job's request alone, Find gathers what Provision created for that job
// (and nothing of other jobs), and removing what it found leaves no
// orphan at the peer.
func runFind(t *testing.T, tg Target, prepare func(contract.Request) *contract.Request) {
	finder := func(t *testing.T) (contract.Adapter, contract.Finder) {
		a := tg.New(t)
		f, ok := a.(contract.Finder)
		if !ok {
			t.Skip("adapter does not implement contract.Finder")
		}
		return a, f
	}
	ctx := context.Background()
	t.Run("find/nothing", func(t *testing.T) {
		_, f := finder(t)
		res, err := f.Find(ctx, prepare(tg.Cases[0].Req))
		if err != nil || res != nil {
			t.Fatalf("find for a job that created nothing: %+v, %v (want nil, nil)", res, err)
		}
	})
	t.Run("find/provisioned", func(t *testing.T) {
		a, f := finder(t)
		before := tg.Inventory()
		// Another job's resources must not be found for this one.
		other := prepare(tg.Cases[0].Req)
		kept, err := a.Provision(ctx, other)
		if err != nil {
			t.Fatalf("provision: %v", err)
		}
		defer func() { cleanup(t, a, kept) }()
		withOther := tg.Inventory()
		req := prepare(tg.Cases[0].Req)
		if _, err := a.Provision(ctx, req); err != nil { // the answer is lost
			t.Fatalf("provision: %v", err)
		}
		res, err := f.Find(ctx, req)
		if err != nil || res == nil {
			t.Fatalf("find after a provision whose answer was lost: %+v, %v", res, err)
		}
		res = roundTrip(t, waitReady(t, tg, a, roundTrip(t, res)))
		removeTo(t, tg, a, res, withOther, "the found resource (the other job's things stay)")
		removeTo(t, tg, a, kept, before, "the other job")
		kept = nil
	})
	t.Run("find/crash", func(t *testing.T) {
		finder(t)
		before := tg.Inventory()
		found := 0
		for n := 1; n <= 64; n++ {
			// The peer stops answering after n calls, as if the broker
			// had been killed there: whatever Provision returns is lost.
			a := tg.New(t)
			f := a.(contract.Finder)
			req := prepare(tg.Cases[0].Req)
			tg.Fault(Fault{Kind: FaultFailAfter, After: n})
			_, perr := a.Provision(ctx, req)
			tg.Fault(Fault{})
			held := tg.Inventory() - before
			res, err := f.Find(ctx, req)
			if err != nil {
				t.Fatalf("crash after %d calls: find: %v", n, err)
			}
			if held > 0 && res == nil {
				t.Fatalf("crash after %d calls: the peer holds %d things for the job and find found nothing", n, held)
			}
			if res != nil {
				found++
				res = roundTrip(t, res)
				if err := a.Remove(ctx, res); err != nil {
					t.Fatalf("crash after %d calls: remove of the found resource: %v", n, err)
				}
			}
			if got := tg.Inventory(); got != before {
				t.Fatalf("crash after %d calls: %d orphans after find and remove", n, got-before)
			}
			if perr == nil {
				t.Logf("provision needs %d calls; find reconciled %d crashes", n, found)
				return
			}
		}
		t.Fatal("provision never succeeded within 64 calls")
	})
}
