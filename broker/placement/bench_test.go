package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// benchProviders is the number of providers in the benchmark catalogues;
// the services are spread over them, as a broker fronting tens of clouds
// each offering many flavours would see.
const benchProviders = 50

var benchArches = []string{"x64", "x86", "arm64", "ppc64le"}

// benchCatalog builds a catalogue of n IaaS services with a fixed seed.
func benchCatalog(n int) *fakeCatalog {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	f := newFake()
	for p := 0; p < benchProviders; p++ {
		f.addProvider(catalog.ProviderEntry{ID: fmt.Sprintf("p%02d", p), Label: fmt.Sprintf("price:%d.%02d", rng.IntN(3), rng.IntN(100))})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		pid := fmt.Sprintf("p%02d", i%benchProviders)
		cores := uint64(1 << rng.IntN(7))       // 1..64
		mem := cores * uint64(1<<rng.IntN(4))   // 1..8 GB per core
		size := uint64(50 * (1 + rng.IntN(40))) // 50..2000 GB
		s := iaasSvc(fmt.Sprintf("s%07d", i), benchArches[rng.IntN(len(benchArches))], cores, mem, uint64(1+rng.IntN(4)), size)
		s.Status = csbmsg.ServiceActive
		if rng.IntN(2) == 0 {
			vlan := fmt.Sprintf("%d-%d", 100*rng.IntN(10), 100*rng.IntN(10)+999)
			s.IaaS.Network = &csbmsg.Network{VLAN: &vlan}
		}
		f.services[pid] = append(f.services[pid], catalog.ServiceEntry{ProviderID: pid, Kind: catalog.KindIaaS, Service: s})
	}
	f.version++
	return f
}

// benchRequests returns serialized <CloudServiceRequest> bodies of varied
// shape, most satisfiable, some not.
func benchRequests(tb testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(7, 7))
	var out [][]byte
	for i := 0; i < 64; i++ {
		cores := uint64(1 << rng.IntN(8)) // up to 128: some match nothing
		mem := cores * uint64(1+rng.IntN(4))
		c := &csbmsg.Compute{Cores: &cores, Memory: &mem}
		if rng.IntN(4) != 0 {
			c.Architecture = ptr(benchArches[rng.IntN(len(benchArches))])
		}
		req := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: c, Storage: &csbmsg.Storage{Size: ptr(uint64(50 * (1 + rng.IntN(20))))}}}
		if rng.IntN(3) == 0 {
			req.IaaS.Network = &csbmsg.Network{VLAN: ptr(fmt.Sprint(100 + rng.IntN(900)))}
		}
		data, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// scanPlacer is the baseline: a naive placer that checks every service of
// the catalogue on each request (services flattened once, outside the
// measurement), keeps each provider's best fit, and ranks with the same
// policy.
type scanPlacer struct {
	svcs   []*svc
	prov   []int // provider index of each service
	nprov  int
	ids    []string
	policy Policy

	prices   []float64
	hasPrice []bool
}

func newScanPlacer(f *fakeCatalog, policy Policy) *scanPlacer {
	entries := f.Placeable(catalog.KindIaaS)
	sp := &scanPlacer{policy: policy}
	idx := map[string]int{}
	for i := range entries {
		e := entries[i]
		p, ok := idx[e.ProviderID]
		if !ok {
			p = len(sp.ids)
			idx[e.ProviderID] = p
			sp.ids = append(sp.ids, e.ProviderID)
		}
		sp.svcs = append(sp.svcs, newSvc(&e))
		sp.prov = append(sp.prov, p)
	}
	sp.nprov = len(sp.ids)
	for _, id := range sp.ids {
		pe, _ := f.Provider(id)
		pr, ok := ParsePriceLabel(pe.Label)
		sp.prices, sp.hasPrice = append(sp.prices, pr), append(sp.hasPrice, ok)
	}
	return sp
}

func (sp *scanPlacer) place(req *csbmsg.ServiceRequest) *Candidate {
	w := newWant(catalog.KindIaaS, req)
	best := make([]*svc, sp.nprov)
	for i, s := range sp.svcs {
		if _, ok := s.check(&w); !ok {
			continue
		}
		p := sp.prov[i]
		if b := best[p]; b == nil || smaller(s, b) {
			best[p] = s
		}
	}
	cands := make([]Candidate, sp.nprov)
	var matched []int
	for p, s := range best {
		cands[p] = Candidate{ProviderID: sp.ids[p], Order: p, Rank: -1}
		cands[p].LabelPrice, cands[p].HasLabelPrice = sp.prices[p], sp.hasPrice[p]
		if s != nil {
			cands[p].Matched, cands[p].ServiceID, cands[p].svc = true, s.id, s
			matched = append(matched, p)
		}
	}
	if len(matched) == 0 {
		return nil
	}
	sp.policy.Score(&Input{Request: req, Kind: catalog.KindIaaS, Candidates: cands, Matched: matched})
	bi := matched[0]
	for _, i := range matched[1:] {
		if cands[i].Score < cands[bi].Score {
			bi = i
		}
	}
	return &cands[bi]
}

// smaller orders services the way the index prefers them.
func smaller(x, y *svc) bool {
	switch {
	case x.cores != y.cores:
		return x.cores < y.cores
	case x.mem != y.mem:
		return x.mem < y.mem
	case x.speed != y.speed:
		return x.speed < y.speed
	case x.feats() != y.feats():
		return x.feats() < y.feats()
	}
	return x.size < y.size
}

// BenchmarkDecision measures placement decisions per second (parse +
// match + choose, no provider I/O) at 1k, 10k and 100k catalogue services,
// with the indexed Placer and with the full-scan baseline in the same
// run, and reports the 99th percentile latency of one decision.
func BenchmarkDecision(b *testing.B) {
	bodies := benchRequests(b)
	for _, n := range []int{1_000, 10_000, 100_000} {
		f := benchCatalog(n)
		p, err := New(Config{Catalog: f, Policy: &Cheapest{}})
		if err != nil {
			b.Fatal(err)
		}
		sp := newScanPlacer(f, &Cheapest{})
		// nomemo: the index with the find memo off, as if every request
		// had a shape never seen at this catalogue version.
		for _, impl := range []string{"indexed", "nomemo", "fullscan"} {
			b.Run(fmt.Sprintf("%s/services=%d", impl, n), func(b *testing.B) {
				if impl == "nomemo" {
					defer func(old int) { memoBudget = old }(memoBudget)
					memoBudget = 0
					p.mu.Lock()
					for _, idx := range p.indexes {
						idx.memo.mu.Lock()
						idx.memo.m, idx.memo.used = nil, 0
						idx.memo.mu.Unlock()
					}
					p.mu.Unlock()
				}
				// Warm the index (built once per catalogue version).
				if _, err := p.Place(&csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}}, Options{}); err != nil {
					b.Fatal(err)
				}
				durs := make([]time.Duration, 0, b.N)
				matched := 0
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					msg, err := csbmsg.ParseConsumer(bodies[i%len(bodies)], csbmsg.Options{})
					if err != nil {
						b.Fatal(err)
					}
					if impl != "fullscan" {
						d, err := p.Place(msg.Request, Options{})
						if err != nil {
							b.Fatal(err)
						}
						if d.Chosen() != nil {
							matched++
						}
						d.Release()
					} else if sp.place(msg.Request) != nil {
						matched++
					}
					durs = append(durs, time.Since(t0))
				}
				elapsed := time.Since(start)
				b.StopTimer()
				slices.Sort(durs)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
				b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds())/1e3, "p99-µs")
				b.ReportMetric(float64(matched)/float64(b.N), "matched")
			})
		}
	}
}

// TestIndexedAgreesWithFullScan checks the index against the baseline:
// for every benchmark request the same provider and service win.
func TestIndexedAgreesWithFullScan(t *testing.T) {
	bodies := benchRequests(t)
	f := benchCatalog(5_000)
	p, _ := New(Config{Catalog: f, Policy: &Cheapest{}})
	sp := newScanPlacer(f, &Cheapest{})
	for i, body := range bodies {
		msg, err := csbmsg.ParseConsumer(body, csbmsg.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := p.Place(msg.Request, Options{})
		want := sp.place(msg.Request)
		got := d.Chosen()
		switch {
		case want == nil && got == nil:
		case want == nil || got == nil:
			t.Fatalf("request %d: indexed %v, scan %v", i, got, want)
		case got.ProviderID != want.ProviderID || got.ServiceID != want.ServiceID:
			t.Fatalf("request %d: indexed %s/%s, scan %s/%s", i, got.ProviderID, got.ServiceID, want.ProviderID, want.ServiceID)
		case got.svc.cores != want.svc.cores || got.svc.mem != want.svc.mem:
			t.Fatalf("request %d: best fits differ: %+v vs %+v", i, got.svc, want.svc)
		}
	}
}

// BenchmarkParseOnly is the floor of BenchmarkDecision: parsing the same
// request bodies without placing them.
func BenchmarkParseOnly(b *testing.B) {
	bodies := benchRequests(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := csbmsg.ParseConsumer(bodies[i%len(bodies)], csbmsg.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
