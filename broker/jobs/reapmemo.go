package jobs

import (
	"context"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// The reaper's memo: what a pass (and an index reconciliation) learnt of
// each stored job record, with the record's version (store.Versioner).
// A pass reads and decodes every record, on every instance, so that it
// sees what other instances changed; with the memo it reads only the
// records whose version changed since it last read them, and those
// whose facts (status, lease end, operation, orphans) call for the
// pass's work now: leases end and warnings fall due with the clock, not
// with a write. On Caddy's file storage a version is the file's inode,
// size and modification time, one lstat in the directory walk instead
// of a read and a decode of the record.
//
// A write that kept all three (a record replaced twice within one tick
// of the file system's clock, by one of the same size on a recycled
// inode) would go unseen, so every memoFullEvery-th pass reads every
// record. Whatever the memo makes a pass do is checked again on the
// record read fresh under the job's lock.

// memoFullEvery is how often a pass reads every record regardless.
const memoFullEvery = 10

// reapMemo is what the memo keeps of one job record: with its map entry
// about 200 bytes a job (1.9 MiB per 10,000 jobs, measured with 100,000
// memos of SaaS jobs).
type reapMemo struct {
	ver   store.Version
	entry indexEntry // the job index's entry (id, owner, provider, status)
	// full: the facts below are set (a reaper pass read the record; an
	// index reconciliation sets the entry only).
	full   bool
	facts  reapFacts
	loadOK bool // load is the job's on its entry's provider (jobLoad)
	load   placement.Load
}

// reapFacts are the fields of a job a reaper pass decides on, besides
// its status (the index entry's).
type reapFacts struct {
	op      bool
	orphans bool
	warned  bool  // the lease warning was sent for this lease end
	expires int64 // unix nanoseconds; noTime: none
	lease   int64 // the lease's length in nanoseconds (leaseLength)
}

// noTime stands for the zero time.Time in reapFacts.expires.
const noTime = math.MinInt64

func factsOf(j *Job) reapFacts {
	f := reapFacts{op: j.Op != nil, orphans: len(j.Orphans) > 0, warned: j.Events.LeaseWarned.Equal(j.Expires), expires: noTime, lease: int64(leaseLength(j))}
	if !j.Expires.IsZero() {
		f.expires = j.Expires.UnixNano()
	}
	return f
}

// needsLook reports whether a pass must read the job to do its work at
// now: whenever the switch in ReapOnce would act on it.
func (m *Manager) needsLook(r *reapMemo, now time.Time) bool {
	f, status := r.facts, statusCodes[r.entry.status]
	t := now.UnixNano()
	ended := f.expires == noTime || t >= f.expires // !now.Before(Expires)
	switch {
	case f.op, f.orphans, status.InFlight():
		return true
	case status == StatusSuccess:
		if f.expires == noTime {
			return false
		}
		w := m.c().leaseWarning()
		// A lease end beyond its length from now (leaseAhead).
		slack := int64(m.leaseSlack())
		ahead := f.lease < math.MaxInt64-slack && f.expires-t > f.lease+slack
		return ended || ahead || w > 0 && t >= f.expires-int64(w) && !f.warned
	case status == StatusFailed || status.Final():
		return ended
	}
	return true // a status the index has no code for
}

// memoOf is the memo of job j read at version ver, for a reaper pass.
func memoOf(j *Job, ver store.Version) *reapMemo {
	r := &reapMemo{ver: ver, entry: entryOf(j.ID, j.Owner, j.ProviderID, j.Status, j.Kind, j.Created, j.Rev), full: true, facts: factsOf(j)}
	if p, l, ok := jobLoad(j); ok && p == j.ProviderID {
		r.loadOK, r.load = true, l
	} else if ok {
		r.full = false // in flight on another provider: read it again
	}
	return r
}

// memo holds the memos by job id.
type memo struct {
	mu     sync.Mutex
	byID   map[string]*reapMemo
	passes int
}

// startPass returns the memo's entries for a pass (nil: read every
// record this pass) and counts the pass.
func (mm *memo) startPass() map[string]*reapMemo {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.passes++
	if mm.passes%memoFullEvery == 0 {
		return nil
	}
	return mm.byID
}

// lookup returns the memo of id at version ver, or nil.
func (mm *memo) lookup(prev map[string]*reapMemo, id string, ver store.Version, full bool) *reapMemo {
	if r := prev[id]; r != nil && r.ver.Same(ver) && (r.full || !full) {
		return r
	}
	return nil
}

// replace installs the memos a pass or reconciliation made, for the jobs
// it listed.
func (mm *memo) replace(next map[string]*reapMemo) {
	mm.mu.Lock()
	mm.byID = next
	mm.mu.Unlock()
}

// current returns the memos for a reconciliation (no pass counted).
func (mm *memo) current() map[string]*reapMemo {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return mm.byID
}

// listVersions lists the stored jobs' ids with their records' versions
// (zero where the store cannot tell).
func (m *Manager) listVersions(ctx context.Context) ([]string, []store.Version, error) {
	v, ok := m.store.(store.Versioner)
	if !ok {
		ids, err := m.listIDs(ctx)
		return ids, make([]store.Version, len(ids)), err
	}
	kvs, err := v.ListVersions(ctx, jobPrefix)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, 0, len(kvs))
	vers := make([]store.Version, 0, len(kvs))
	for _, kv := range kvs {
		if id := strings.TrimPrefix(kv.Key, jobPrefix); validID(id) {
			ids = append(ids, id)
			vers = append(vers, kv.Version)
		}
	}
	return ids, vers, nil
}
