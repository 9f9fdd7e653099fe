package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// scaleCountingStore counts the job records read.
type scaleCountingStore struct {
	scaleInner
	reads atomic.Int64
}

type scaleInner = store.Store

func (s *scaleCountingStore) Load(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, "csb/jobs/job/") {
		s.reads.Add(1)
	}
	return s.scaleInner.Load(ctx, key)
}

func scaleCreate(t *testing.T, e *env, owner string) string {
	t.Helper()
	r := e.create(owner, 1)
	if r.Status != csbmsg.StatusOK || r.Job == nil {
		t.Fatalf("create: %+v", r)
	}
	return r.Job.ID
}

// TestScaleListPageWalk: walking the pages while jobs are created and
// purged between pages gives every job that existed throughout exactly
// once, in creation order, never a job twice.
func TestScaleListPageWalk(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	var throughout, doomed []string
	for i := 0; i < 30; i++ {
		id := scaleCreate(t, e, []string{"alice", "bob"}[i%2])
		if i%5 == 3 {
			doomed = append(doomed, id)
		} else {
			throughout = append(throughout, id)
		}
		if i%3 == 0 { // runs of jobs created in the same instant
			e.clock.Advance(time.Second)
		}
	}
	seen := map[string]int{}
	var last *jobs.Job
	after := ""
	for page := 0; ; page++ {
		p, err := e.m.ListPage(ctx, jobs.PageQuery{After: after, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Jobs) > 4 {
			t.Fatalf("page %d holds %d jobs", page, len(p.Jobs))
		}
		for _, j := range p.Jobs {
			seen[j.ID]++
			if last != nil && (j.Created.Before(last.Created) || j.Created.Equal(last.Created) && j.ID <= last.ID) {
				t.Fatalf("page %d: %s (%v) after %s (%v): out of order", page, j.ID, j.Created, last.ID, last.Created)
			}
			last = j
		}
		if p.Next == "" {
			break
		}
		after = p.Next
		// Between pages: a new job, and after the first page the doomed
		// jobs are removed and purged (whether listed already or not).
		scaleCreate(t, e, "carol")
		if page == 1 {
			for _, id := range doomed {
				j, _ := e.m.Inspect(ctx, id)
				if r, err := e.m.Remove(ctx, j.Owner, id); err != nil || r.Status != csbmsg.StatusOK {
					t.Fatalf("remove %s: %+v %v", id, r, err)
				}
			}
			e.clock.Advance(25 * time.Hour) // past the retention of removed jobs
			if _, err := e.m.ReapOnce(ctx); err != nil {
				t.Fatal(err)
			}
			for _, id := range doomed {
				if _, err := e.m.Inspect(ctx, id); !errors.Is(err, jobs.ErrNoJob) {
					t.Fatalf("job %s not purged: %v", id, err)
				}
			}
		}
		if page > 40 {
			t.Fatal("the walk does not end")
		}
	}
	for _, id := range throughout {
		if seen[id] != 1 {
			t.Errorf("job %s listed %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("job %s listed %d times", id, n)
		}
	}
}

// TestScaleListPageReadsOnlyThePage: once the index is built, a page
// reads the records it shows (and the filter is applied before reading):
// not every stored job.
func TestScaleListPageReadsOnlyThePage(t *testing.T) {
	cs := &scaleCountingStore{scaleInner: new(store.Memory)}
	e := newEnv(t, []string{"a"}, nil)
	e.m.Stop()
	e.store = cs
	e.cfg.Store = cs
	e.m = e.start(e.cfg)
	for i := 0; i < 60; i++ {
		owner := "alice"
		if i%10 == 0 {
			owner = "bob"
		}
		scaleCreate(t, e, owner)
	}
	<-e.m.IndexReady()
	cs.reads.Store(0)
	p, err := e.m.ListPage(ctx, jobs.PageQuery{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != 5 || p.Total != 60 || p.Next == "" {
		t.Fatalf("page: %d jobs, total %d, next %q", len(p.Jobs), p.Total, p.Next)
	}
	if n := cs.reads.Load(); n > 5 {
		t.Fatalf("a page of 5 read %d job records", n)
	}
	cs.reads.Store(0)
	p, err = e.m.ListPage(ctx, jobs.PageQuery{Owner: "bob", Statuses: []jobs.Status{jobs.StatusSuccess}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != 6 || p.Total != 6 || p.Next != "" {
		t.Fatalf("bob's page: %d jobs, total %d, next %q", len(p.Jobs), p.Total, p.Next)
	}
	for _, j := range p.Jobs {
		if j.Owner != "bob" {
			t.Fatalf("bob's page holds %s's job", j.Owner)
		}
	}
	if n := cs.reads.Load(); n > 6 {
		t.Fatalf("bob's page of 6 read %d job records", n)
	}
	if p, _ := e.m.ListPage(ctx, jobs.PageQuery{Statuses: []jobs.Status{jobs.StatusFailed}}); len(p.Jobs) != 0 || p.Total != 0 {
		t.Fatalf("failed jobs: %+v", p)
	}
	if got := e.m.JobCounts(); got[jobs.StatusSuccess] != 60 || len(got) != 1 {
		t.Fatalf("counts %v", got)
	}
	for _, bad := range []string{"x", "zz.", "!.abc", "1.../x"} {
		if _, err := e.m.ListPage(ctx, jobs.PageQuery{After: bad}); !errors.Is(err, jobs.ErrBadCursor) {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
}

// TestScaleIndexFollowsTheStore: the index of a new process lists the
// jobs an earlier one stored; a reaper pass adds records another instance
// wrote and drops records another instance deleted.
func TestScaleIndexFollowsTheStore(t *testing.T) {
	e := newEnv(t, []string{"a"}, nil)
	first := scaleCreate(t, e, "alice")
	second := scaleCreate(t, e, "alice")
	e.m.Stop()
	e.m = e.start(e.cfg) // a new process
	p, err := e.m.ListPage(ctx, jobs.PageQuery{})
	if err != nil || len(p.Jobs) != 2 {
		t.Fatalf("after a restart: %+v %v", p, err)
	}
	// Another instance writes a job and purges one.
	data, err := e.store.Load(ctx, "csb/jobs/job/"+first)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	const other = "OtherInstanceJob000001"
	rec["id"] = other
	data, _ = json.Marshal(rec)
	if err := e.store.Store(ctx, "csb/jobs/job/"+other, data); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Delete(ctx, "csb/jobs/job/"+second); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.ReapOnce(ctx); err != nil {
		t.Fatal(err)
	}
	p, err = e.m.ListPage(ctx, jobs.PageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range p.Jobs {
		ids = append(ids, j.ID)
	}
	if p.Total != 2 || len(ids) != 2 || !(ids[0] == first && ids[1] == other || ids[1] == first && ids[0] == other) {
		t.Fatalf("after the other instance's changes: total %d, %v", p.Total, ids)
	}
}
