package publish

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// ingestAllocBudget is what the ingest of the draft's notification B1
// may allocate beyond the codec's parse of it: authorisation, sequencing,
// the catalogue update and, with a store, the announcement (Expect), the
// commit's deadline and the journal write that precedes the
// acknowledgement (here one write per notification: in sequence, nothing
// to share it with). Measured at 13 without a store and 35 with one.
var ingestAllocBudget = map[string]float64{"memory": 14, "stored": 36}

// TestIngestAllocs guards the allocations of the publish interface's
// ingest path (IngestBody) against regressions, counted apart from the
// codec's own (csbmsg.ParsePublish of the same bytes), so that a change in
// the codec neither hides nor fails a change here. Each run ingests the
// next notification of the sequence, applied, as the benchmark does.
func TestIngestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	tpl := newB1Template(t)
	for _, name := range []string{"memory", "stored"} {
		t.Run(name, func(t *testing.T) {
			opt := catalog.Options{SyncInterval: -1}
			if name == "stored" {
				opt.Store = new(store.Memory)
			}
			cat, err := catalog.New(opt)
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close(context.Background())
			ing := NewIngester(IngestOptions{Catalog: cat})
			if err := ing.Configure(true, map[string]Policy{
				"a1b2c3d4": {Publishers: []string{AnyPublisher}, PushIDs: []string{"QQ6J3c"}},
			}); err != nil {
				t.Fatal(err)
			}
			var seq uint64
			var buf []byte
			ingest := func() {
				seq++
				buf = tpl.build(buf, "QQ6J3c", seq)
				if r := ing.IngestBody(buf, "bench", csbmsg.Options{}); r.Outcome != OutcomeApplied {
					t.Fatalf("seq %d: %s %s", seq, r.Outcome, r.Response.Reason)
				}
			}
			ingest() // the provider's first notification adds its services
			parse := testing.AllocsPerRun(100, func() {
				if _, err := csbmsg.ParsePublish(buf, csbmsg.Options{}); err != nil {
					t.Fatal(err)
				}
			})
			total := testing.AllocsPerRun(100, ingest)
			t.Logf("IngestBody: %.0f allocations, of which the parse %.0f", total, parse)
			if own := total - parse; own > ingestAllocBudget[name] {
				t.Fatalf("the ingest path allocates %.0f times beyond the parse's %.0f, budget %.0f", own, parse, ingestAllocBudget[name])
			}
		})
	}
}
