package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/quota"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// renew renews owner's job id's lease (an update without changes).
func renew(m *jobs.Manager, owner, id string, lease time.Duration) (*jobs.Result, error) {
	return m.Update(context.Background(), owner, id, &csbmsg.ServiceRequest{}, lease)
}

// sameJob fails unless job got, as stored, is job want as it was: a
// refused operation must leave the job as it was.
func sameJob(t *testing.T, what string, got, want *jobs.Job) {
	t.Helper()
	if got.Rev != want.Rev || !got.Expires.Equal(want.Expires) || got.LeaseSeconds != want.LeaseSeconds || got.ProviderID != want.ProviderID ||
		got.Op != nil || len(got.Attempts) != len(want.Attempts) || len(got.Plan) != len(want.Plan) || got.Plan[0].ProviderID != want.Plan[0].ProviderID ||
		got.Status != want.Status {
		t.Fatalf("%s changed the job:\n got  rev %d expires %v lease %d at %s op %+v attempts %d plan %+v\n want rev %d expires %v lease %d at %s attempts %d plan %+v",
			what, got.Rev, got.Expires, got.LeaseSeconds, got.ProviderID, got.Op, len(got.Attempts), got.Plan,
			want.Rev, want.Expires, want.LeaseSeconds, want.ProviderID, len(want.Attempts), want.Plan)
	}
}

// TestQuotaRenewalChecked: a lease renewal is spend (the renewed time at
// the job's price) and goes through the quotas as a create does. It was
// not checked: a consumer at its spend limit renewed its leases, and
// spent beyond the limit, as long as it liked. Over the limit the
// renewal is refused (409, as an update is, with the create's reason),
// and the job is left as it was; a renewal that adds nothing (a shorter
// lease) is never refused; a provider that is not contacted renews
// without the call but not without the check.
func TestQuotaRenewalChecked(t *testing.T) {
	deactivated := false
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		c.CheckInterval = 24 * time.Hour // no background check writes the job between the reads compared
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{"alice": {Spend: []quota.Spend{{Amount: 2.5, Period: quota.Day}}}}}
		c.ProviderStatus = func(string) (csbmsg.ServiceStatus, bool) {
			if deactivated {
				return csbmsg.ServiceDeactivated, true
			}
			return csbmsg.ServiceActive, true
		}
	})
	quotaPrice(e, "a", 1)
	// 2 cores × 1 × 1 h = 2 committed.
	j := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: time.Hour}).Job
	if j == nil || j.Cost == nil {
		t.Fatalf("create: %+v", j)
	}
	e.clock.Advance(30 * time.Minute)
	before, _ := e.m.Get(ctx, "alice", j.ID)
	// 1 spent + 1 committed; a renewal for 1 h commits 2, 1 more: 3 > 2.5.
	r, err := renew(e.m, "alice", j.ID, 0)
	if err != nil || r.Status != csbmsg.StatusCannotUpdateResource ||
		r.Reason != "cannot renew the lease of job "+j.ID+": quota exceeded: spend per day limit of user alice: 2.5 at most; 2 spent or committed this day, the request would cost 1 for its lease" {
		t.Fatalf("renewal over the spend: %+v %v", r, err)
	}
	sameJob(t, "the refused renewal (answer)", r.Job, before)
	after, _ := e.m.Get(ctx, "alice", j.ID)
	sameJob(t, "the refused renewal", after, before)
	// Asking for a 2 h lease, refused too: the answer and the store keep
	// the 1 h lease.
	r, err = renew(e.m, "alice", j.ID, 2*time.Hour)
	if err != nil || r.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(r.Reason, "the request would cost 3 for its lease") {
		t.Fatalf("2 h renewal: %+v %v", r, err)
	}
	sameJob(t, "the refused 2 h renewal (answer)", r.Job, before)
	after, _ = e.m.Get(ctx, "alice", j.ID)
	sameJob(t, "the refused 2 h renewal", after, before)
	// Held back, the provider is not called, but the lease is spend all
	// the same.
	deactivated = true
	if r, err := renew(e.m, "alice", j.ID, 0); err != nil || r.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(r.Reason, "quota exceeded: spend per day") {
		t.Fatalf("renewal at a deactivated provider: %+v %v", r, err)
	}
	after, _ = e.m.Get(ctx, "alice", j.ID)
	sameJob(t, "the refused renewal at a deactivated provider", after, before)
	deactivated = false
	// A 30 min lease commits 1, what the job commits now: nothing added.
	r, err = renew(e.m, "alice", j.ID, 30*time.Minute)
	if err != nil || r.Status != csbmsg.StatusOK || !r.Job.Expires.Equal(e.clock.Now().Add(30*time.Minute)) {
		t.Fatalf("30 min renewal: %+v %v", r, err)
	}
	// An update that renews the lease (an action: nothing grows) is the
	// same spend: 1 spent + 1 committed + 2 for 1 h less the 1 committed.
	restart := csbmsg.ComputeRestart
	u, err := e.m.Update(ctx, "alice", j.ID, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: &restart}}}, time.Hour)
	if err != nil || u.Status != csbmsg.StatusCannotUpdateResource || !strings.Contains(u.Reason, "cannot update job "+j.ID+": quota exceeded: spend per day limit of user alice") {
		t.Fatalf("restart renewing the lease over the spend: %+v %v", u, err)
	}
	if u.Job.LeaseSeconds != 1800 {
		t.Fatalf("the refused update answers a lease of %d s, want the stored 1800", u.Job.LeaseSeconds)
	}
	// Without a limit, the renewal goes through.
	b := quotaCreate(t, e.m, "bob", 2, jobs.CreateOptions{Lease: time.Hour}).Job
	if r, err := renew(e.m, "bob", b.ID, 0); err != nil || r.Status != csbmsg.StatusOK {
		t.Fatalf("bob's renewal: %+v %v", r, err)
	}
}

// TestQuotaMoveChecked: a MOVE to a dearer provider is spend (the new
// price for the lease the move grants, less what the job commits at its
// current price) and goes through the quotas as a create does. It was
// not checked: a consumer at its limit moved its jobs to dearer providers
// and spent beyond the limit. Over the limit the move is refused with the
// create's 408 and reason, and the job is left as it was, nothing
// provisioned. While a move runs, the quotas count it at its new price.
func TestQuotaMoveChecked(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, func(c *jobs.Config) {
		c.CheckInterval = 24 * time.Hour // no background check writes the job between the reads compared
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{
			"alice": {Spend: []quota.Spend{{Amount: 5, Period: quota.Day}}},
			"bob":   {Spend: []quota.Spend{{Amount: 8, Period: quota.Day}}},
		}}
	})
	quotaPrice(e, "a", 1)
	quotaPrice(e, "b", 3)
	// At a: 2 cores × 1 × 1 h = 2 committed; at b the lease costs 6.
	j := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: time.Hour}).Job
	if j.ProviderID != "a" {
		t.Fatalf("placed at %s, want a", j.ProviderID)
	}
	before, _ := e.m.Get(ctx, "alice", j.ID)
	r, err := e.m.Move(ctx, "alice", j.ID, jobs.CreateOptions{})
	if err != nil || r.Status != csbmsg.StatusUnableToFindResource ||
		r.Reason != "cannot move job "+j.ID+": quota exceeded: spend per day limit of user alice: 5 at most; 2 spent or committed this day, the request would cost 4 for its lease" {
		t.Fatalf("move over the spend: %+v %v", r, err)
	}
	sameJob(t, "the refused move (answer)", r.Job, before)
	after, _ := e.m.Get(ctx, "alice", j.ID)
	sameJob(t, "the refused move", after, before)
	if n := e.ads["b"].Calls("provision"); n != 0 {
		t.Fatalf("the refused move provisioned at b %d times", n)
	}

	// Bob's move fits (2 + 4 <= 8). While it runs, it counts at b's
	// price: 6 committed, so 3 more cores for an hour (3) do not fit.
	bj := quotaCreate(t, e.m, "bob", 2, jobs.CreateOptions{Lease: time.Hour}).Job
	block, started := make(chan struct{}), make(chan struct{})
	e.ads["b"].SetFault(jobstest.Fault{Block: block, BlockStarted: started})
	moved := make(chan *jobs.Result, 1)
	go func() {
		r, err := e.m.Move(context.Background(), "bob", bj.ID, jobs.CreateOptions{})
		if err != nil {
			t.Error(err)
		}
		moved <- r
	}()
	<-started
	qc, err := e.m.CheckQuota(ctx, "bob", jobstest.VMRequest(3, 1), ptrTo(1.0), time.Hour)
	if err != nil || qc.Refusal == nil || !strings.Contains(qc.Refusal.Reason, "6 spent or committed this day") {
		t.Fatalf("a create while the move runs: %+v %v; want refused with the move counted at 6", qc, err)
	}
	close(block)
	if r := <-moved; r == nil || r.Status != csbmsg.StatusOK || r.Job.ProviderID != "b" {
		t.Fatalf("bob's move: %+v", r)
	}
}

func ptrTo[T any](v T) *T { return &v }

// renewRaceStore holds back the write of one job's record until told,
// and tells whether a quota lock asked for meanwhile had to wait.
type renewRaceStore struct {
	*store.Memory
	mu      sync.Mutex
	held    map[string]bool // quota locks taken and not released
	holdKey string          // the record whose write waits
	writing chan struct{}   // closed when that write starts
	release chan struct{}   // the write goes on once closed
	watch   bool            // report the next quota lock asked for
	waits   chan bool       // ... whether it had to wait
}

func (s *renewRaceStore) Store(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	hold := key == s.holdKey
	if hold {
		s.holdKey = ""
	}
	s.mu.Unlock()
	if hold {
		close(s.writing)
		<-s.release
	}
	return s.Memory.Store(ctx, key, value)
}

func (s *renewRaceStore) Lock(ctx context.Context, name string) error {
	quotaLock := strings.Contains(name, "-quota-")
	if quotaLock {
		s.mu.Lock()
		if s.watch {
			s.watch = false
			s.waits <- s.held[name]
		}
		s.mu.Unlock()
	}
	if err := s.Memory.Lock(ctx, name); err != nil {
		return err
	}
	if quotaLock {
		s.mu.Lock()
		s.held[name] = true
		s.mu.Unlock()
	}
	return nil
}

func (s *renewRaceStore) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	delete(s.held, name)
	s.mu.Unlock()
	return s.Memory.Unlock(ctx, name)
}

// TestQuotaRenewalRace: two renewals at once, on two brokers sharing the
// storage, of two jobs whose owner's spend limit fits one renewal only:
// exactly one passes. The first renewal's record is held back after its
// check; the second asks for the quota's lock meanwhile. If the lock is
// free (the first let go before its renewal was recorded), the second
// counts the first job's old lease and both pass; held until the record
// is written, the second waits, counts the renewed lease, and is
// refused.
func TestQuotaRenewalRace(t *testing.T) {
	var rs *renewRaceStore
	e := newEnv(t, []string{"a"}, func(c *jobs.Config) {
		rs = &renewRaceStore{Memory: new(store.Memory), held: map[string]bool{}, waits: make(chan bool, 1)}
		c.Store = rs
		c.CheckInterval = 24 * time.Hour // no background check writes a job meanwhile
		c.Quota = &quota.Policy{Users: map[string]quota.Limits{"alice": {Spend: []quota.Spend{{Amount: 5, Period: quota.Day}}}}}
	})
	quotaPrice(e, "a", 1)
	m2 := e.start(e.cfg)
	// Each job: 2 cores × 1 × 1 h. After 30 min: 2 spent, 2 committed;
	// a renewal for 1 h adds 1: one fits in 5, not two.
	j1 := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: time.Hour}).Job
	j2 := quotaCreate(t, e.m, "alice", 2, jobs.CreateOptions{Lease: time.Hour}).Job
	e.clock.Advance(30 * time.Minute)

	rs.mu.Lock()
	rs.holdKey, rs.writing, rs.release = "csb/jobs/job/"+j1.ID, make(chan struct{}), make(chan struct{})
	rs.mu.Unlock()
	results := make(chan *jobs.Result, 2)
	go func() {
		r, err := renew(e.m, "alice", j1.ID, 0)
		if err != nil {
			t.Error(err)
		}
		results <- r
	}()
	<-rs.writing // the first renewal passed its check and writes its lease
	rs.mu.Lock()
	rs.watch = true
	rs.mu.Unlock()
	go func() {
		r, err := renew(m2, "alice", j2.ID, 0)
		if err != nil {
			t.Error(err)
		}
		results <- r
	}()
	select {
	case waited := <-rs.waits:
		if !waited {
			// The second renewal has the lock while the first one's
			// lease is not recorded: let it finish first.
			r := <-results
			close(rs.release)
			results <- r
		} else {
			close(rs.release)
		}
	case r := <-results:
		// The second renewal finished without asking for the quota's
		// lock: nothing was checked.
		close(rs.release)
		results <- r
	}
	ok := 0
	for range 2 {
		r := <-results
		switch {
		case r == nil:
		case r.Status == csbmsg.StatusOK:
			ok++
		case !strings.Contains(r.Reason, "quota exceeded: spend per day limit of user alice"):
			t.Errorf("refused for another reason: %+v", r)
		}
	}
	if ok != 1 {
		t.Fatalf("%d renewals passed, want exactly 1", ok)
	}
}
