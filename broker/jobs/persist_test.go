package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// countingStore counts Loads.
type countingStore struct {
	store.Memory
	loads atomic.Int64
}

func (c *countingStore) Load(ctx context.Context, key string) ([]byte, error) {
	c.loads.Add(1)
	return c.Memory.Load(ctx, key)
}

type nopPlacer struct{}

func (nopPlacer) Place(*csbmsg.ServiceRequest, placement.Options) (*placement.Decision, error) {
	return &placement.Decision{}, nil
}

// cachingManager is a manager over a counting memory store, caching
// for an hour, with no providers; it stops with the test.
func cachingManager(t *testing.T) (*Manager, *countingStore) {
	t.Helper()
	st := new(countingStore)
	m, err := New(Config{Store: st, Placer: nopPlacer{}, Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return nil, false }, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m, st
}

// The cache serves settled jobs (read-through, the real key inside the
// value), never jobs in flight elsewhere, and a write invalidates it.
func TestCacheReadThrough(t *testing.T) {
	m, st := cachingManager(t)
	ctx := context.Background()
	settled := &Job{ID: "settledjob000000000001", Owner: "o", Status: StatusSuccess}
	inflight := &Job{ID: "inflightjob00000000001", Owner: "o", Status: StatusProvisioning, Op: &Op{Kind: OpCreate}}
	for _, j := range []*Job{settled, inflight} {
		if err := m.save(ctx, j); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := m.load(ctx, settled.ID); err != nil { // miss: read through
		t.Fatal(err)
	}
	m.cache.Wait()
	c, ok := m.cache.Get(settled.ID)
	if !ok || c.key != settled.ID {
		t.Fatalf("cached %+v %v", c, ok)
	}
	before := st.loads.Load()
	if j, err := m.load(ctx, settled.ID); err != nil || j.Status != StatusSuccess {
		t.Fatal(j, err)
	}
	if st.loads.Load() != before {
		t.Fatal("a cached settled job was read from the store")
	}

	// A write invalidates.
	settled.Status = StatusRemoved
	if err := m.save(ctx, settled); err != nil {
		t.Fatal(err)
	}
	if j, _ := m.load(ctx, settled.ID); j.Status != StatusRemoved {
		t.Fatalf("stale read after a write: %s", j.Status)
	}

	// A job in flight in another process is always read from the store.
	m.load(ctx, inflight.ID)
	m.cache.Wait()
	before = st.loads.Load()
	m.load(ctx, inflight.ID)
	if st.loads.Load() != before+1 {
		t.Fatal("an in-flight job was served from the cache")
	}
}

// A read that raced with a write never serves what it read: a fill of
// the record the write replaced (read before the write, set by
// ristretto after it: its Sets are applied in the background, in any
// order with a later Del's) carries the stripe's old generation and is a
// miss.
func TestCacheFillBeforeWriteIsNeverServed(t *testing.T) {
	m, st := cachingManager(t)
	ctx := context.Background()
	j := &Job{ID: "racedjob00000000000001", Owner: "o", Status: StatusSuccess}
	if err := m.save(ctx, j); err != nil {
		t.Fatal(err)
	}
	// The reader notes the generation and reads the old record...
	gen := m.fills.generation(j.ID)
	old, err := st.Load(ctx, jobKey(j.ID))
	if err != nil {
		t.Fatal(err)
	}
	// ...a write replaces it...
	j.Status = StatusRemoved
	if err := m.save(ctx, j); err != nil {
		t.Fatal(err)
	}
	// ...and the reader's fill lands after the write's Del.
	m.cache.Set(j.ID, &cached{key: j.ID, gen: gen, data: old}, int64(len(old))+CacheEntryOverhead, time.Hour)
	m.cache.Wait()
	if _, ok := m.cache.Get(j.ID); !ok {
		t.Fatal("the late fill was not cached: the test shows nothing")
	}
	got, err := m.load(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusRemoved {
		t.Fatalf("a read after a write got the record it replaced: %s", got.Status)
	}
	// The read that missed caches the new record, which is served.
	m.cache.Wait()
	before := st.loads.Load()
	if got, _ := m.load(ctx, j.ID); got.Status != StatusRemoved || st.loads.Load() != before {
		t.Fatalf("the record read after the write is not served from the cache: %s, %d store reads", got.Status, st.loads.Load()-before)
	}
}

// The cache is bounded in bytes, each entry counting its record and
// CacheEntryOverhead: with room for about three jobs, reading twenty
// leaves at most three cached; with room for all, all are. A reload's
// SetTunables resizes it.
func TestCacheSizeBoundsEntries(t *testing.T) {
	ctx := context.Background()
	record := func(i int) *Job {
		// Small records, so that the entries' overhead decides how many fit.
		return &Job{ID: "sizedjob" + strings.Repeat("0", 10) + string(rune('a'+i)) + "xyz", Owner: "o", Status: StatusSuccess}
	}
	data, _ := json.Marshal(record(0))
	recordSize := int64(len(data)) + 10 // the records differ by one letter; Rev and times add a few bytes
	cachedAfterReads := func(m *Manager, st *countingStore, n int) int {
		for i := 0; i < n; i++ {
			if _, err := m.load(ctx, record(i).ID); err != nil {
				t.Fatal(err)
			}
			m.cache.Wait()
		}
		before := st.loads.Load()
		for i := 0; i < n; i++ {
			m.load(ctx, record(i).ID)
		}
		return n - int(st.loads.Load()-before)
	}
	newManager := func(cacheSize int64) (*Manager, *countingStore) {
		st := new(countingStore)
		m, err := New(Config{Store: st, Placer: nopPlacer{}, Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return nil, false },
			CacheTTL: time.Hour, CacheSize: cacheSize})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Stop)
		for i := 0; i < 20; i++ {
			if err := m.save(ctx, record(i)); err != nil {
				t.Fatal(err)
			}
		}
		return m, st
	}

	m, st := newManager(1)
	entry := recordSize + CacheEntryOverhead
	m.SetTunables(Config{CacheTTL: time.Hour, CacheSize: 3 * entry})
	if got := cachedAfterReads(m, st, 20); got > 3 {
		t.Fatalf("%d jobs cached with room for 3", got)
	}
	m, st = newManager(30 * entry)
	if got := cachedAfterReads(m, st, 20); got != 20 {
		t.Fatalf("%d of 20 jobs cached with room for 30", got)
	}
	if DefaultCacheSize/(4<<10) < 500 {
		t.Fatalf("the default cache holds fewer than 500 records of 4 KiB")
	}
}
