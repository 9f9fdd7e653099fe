package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/quota"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// Quotas (Config.Quota) are checked when a new job (a create or a COPY's
// new job) is admitted, before its first record is written; when a job's
// lease is renewed (an update without changes), for the spend the longer
// lease adds; when a job is moved, for the spend its new provider's price
// adds over the lease the move grants; and when an update resizes a job
// (checkResize).
//
// In a cluster, two instances must not both admit the last slot of a
// scope. Each scope that applies to the owner has a store lock
// (csb-jobs-quota-<scope hash>); admission takes them in Scope.Key order,
// counts what the scope's members hold by reading their jobs through the
// owner index, and, when the job fits, writes the job's index key and its
// first record before letting go: the next instance to take the lock
// counts it. A renewal and a move do the same: they write the renewed
// lease, or the move's operation (which standing counts at the new
// price), before letting go. Every one of them holds the job's lock
// first, then the scopes' locks.
//
// A create's or a move's plan keeps only the providers whose price fits
// (fitPlan), and until the job holds its resources it counts at the
// highest price of its plan (askOf): a fallback after the first provider
// fails never spends past a limit, and the next instance to take the
// locks counts the job at the price it may end up at.

// A job's spend counts for the rest of the period it was spent in, also
// once the job's record is purged (the retention, 24 h by default, and
// RetainFailed, 1 h, are shorter than a day's or a month's spend limit).
// Before the reaper deletes a record whose job cost something in the
// current hour, day or month, it adds what the job cost in each of them to
// its owner's spend record (csb/jobs/spend/<owner hash>, keepSpend), and
// standing counts the entries of jobs it did not find a record of. The
// entry is written before the record is deleted and read after the
// records are: a standing sees the job's record, or its entry, or both
// (counted once, by its id), never neither.

// spendPrefix is where the owners' spend records are.
const spendPrefix = "csb/jobs/spend/"

// spendRecord is an owner's spend record: what its purged jobs cost in
// the periods current when they were purged.
type spendRecord struct {
	Jobs map[string]purgedSpend `json:"jobs"`
}

// purgedSpend is what a purged job cost in the hour, the day and the
// month (UTC) that hold At, when its record was purged. Its cost was
// final by then, so that is what it costs in any window of those periods
// from At on, and nothing in later periods.
type purgedSpend struct {
	At    time.Time                `json:"at"`
	Spent map[quota.Period]float64 `json:"spent"`
}

// spendPeriods are the periods a spend record keeps.
var spendPeriods = [...]quota.Period{quota.Hour, quota.Day, quota.Month}

// keepSpend adds what job j, about to be purged, cost in the current
// periods to its owner's spend record (nothing when it cost nothing in
// them). The caller holds j's lock, and deletes the record only when
// keepSpend succeeded.
func (m *Manager) keepSpend(ctx context.Context, j *Job) error {
	if j.Cost == nil {
		return nil
	}
	now := m.now()
	e := purgedSpend{At: now, Spent: map[quota.Period]float64{}}
	for _, p := range spendPeriods {
		if v := j.Cost.Between(p.Start(now), now, now); v > 0 {
			e.Spent[p] = v
		}
	}
	if len(e.Spent) == 0 {
		return nil
	}
	h := ownerHash(j.Owner)
	unlock, err := m.lock(ctx, "spend-"+h, time.Second)
	if err != nil {
		return fmt.Errorf("locking the spend record of %q: %w", j.Owner, err)
	}
	defer unlock()
	rec, err := m.loadSpend(ctx, h)
	if err != nil {
		return err
	}
	// Entries whose month is over count in no period any more.
	month := quota.Month.Start(now)
	for id, old := range rec.Jobs {
		if quota.Month.Start(old.At).Before(month) {
			delete(rec.Jobs, id)
		}
	}
	rec.Jobs[j.ID] = e
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return m.store.Store(ctx, spendPrefix+h, data)
}

// loadSpend reads the spend record of owner hash h (empty when there is
// none). A record that does not decode is taken for empty, as standing
// skips a job record that does not: refusing on it would refuse the
// owner's every create, and keep every purge from replacing it.
func (m *Manager) loadSpend(ctx context.Context, h string) (*spendRecord, error) {
	rec := &spendRecord{}
	data, err := m.store.Load(ctx, spendPrefix+h)
	switch {
	case errors.Is(err, store.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading a spend record: %w", err)
	default:
		if err := json.Unmarshal(data, rec); err != nil {
			m.logger.Warn("a spend record does not decode; taken for empty", zap.String("key", spendPrefix+h), zap.Error(err))
			rec = &spendRecord{}
		}
	}
	if rec.Jobs == nil {
		rec.Jobs = map[string]purgedSpend{}
	}
	return rec, nil
}

// quotaLockName returns the lock of a scope.
func quotaLockName(key string) string { return "quota-" + ownerHash(key) }

// askOf returns what new job j adds: what it holds, and its cost for its
// whole lease at the highest price of its plan. The job may end up at any
// provider of its plan (a fallback after the first fails), so that is
// what it may cost; admission kept in the plan only the providers whose
// price fits the quotas (fitPlan), so it is a price admission checked,
// and the next instance to take the scopes' locks counts the job at it.
func (m *Manager) askOf(j *Job) quota.Ask {
	ask := quota.Ask{Usage: usageOf(j)}
	for i := range j.Plan {
		ask.Cost = max(ask.Cost, m.leaseCost(j, j.Plan[i].Price, j.LeaseSeconds))
	}
	return ask
}

// leaseCost returns what job j costs for a lease of lease seconds at
// price (nil: the provider publishes none, and the job costs nothing).
func (m *Manager) leaseCost(j *Job, price *float64, lease uint64) float64 {
	if price == nil {
		return 0
	}
	return *price * usageOf(j).Units(m.costUnit(j.Kind)) * (time.Duration(lease) * time.Second).Hours()
}

// standing reads what scope s holds, has spent this period and has
// committed at now, leaving out job except.
func (m *Manager) standing(ctx context.Context, s quota.Scope, now time.Time, except string) (quota.Standing, error) {
	st := quota.Standing{Spent: map[quota.Period]float64{}}
	for _, member := range s.Members {
		prefix := ownerPrefix + ownerHash(member) + "/"
		keys, err := m.store.List(ctx, prefix)
		if err != nil && !errors.Is(err, store.ErrNotExist) {
			return st, fmt.Errorf("listing the jobs of %q: %w", member, err)
		}
		counted := map[string]bool{except: true}
		for _, k := range keys {
			id := strings.TrimPrefix(k, prefix)
			if id == except || !validID(id) {
				continue
			}
			j, err := m.loadStore(ctx, id, false)
			if err != nil || j.Owner != member {
				continue // gone since the listing, or a temporary file of the storage
			}
			counted[id] = true
			for _, sp := range s.Limits.Spend {
				st.Spent[sp.Period] += j.Cost.Between(sp.Period.Start(now), now, now)
			}
			switch {
			case j.Status == StatusSuccess:
				st.Held = st.Held.Add(usageOf(j))
				committed := m.committed(j, now)
				if j.Op != nil && j.Op.Kind == OpMove {
					// A move in progress was admitted at its new price for
					// the lease it grants (admitMove), the highest of its
					// plan: count that, or what the job commits now if
					// that is more.
					committed = max(committed, m.askOf(j).Cost)
				}
				st.Committed += committed
			case j.Status.InFlight():
				st.Held = st.Held.Add(usageOf(j))
				if c := j.Cost; c == nil || c.Final() {
					st.Committed += m.askOf(j).Cost // not started: its whole lease
				}
			}
		}
		if len(s.Limits.Spend) == 0 {
			continue
		}
		// The member's purged jobs, read after its records (keepSpend).
		rec, err := m.loadSpend(ctx, ownerHash(member))
		if err != nil {
			return st, fmt.Errorf("the spend of %q: %w", member, err)
		}
		for id, e := range rec.Jobs {
			if counted[id] {
				continue
			}
			for _, sp := range s.Limits.Spend {
				if sp.Period.Start(e.At).Equal(sp.Period.Start(now)) {
					st.Spent[sp.Period] += e.Spent[sp.Period]
				}
			}
		}
	}
	return st, nil
}

// committed returns what job j, holding resources, will cost from now
// until its lease ends at its current rate.
func (m *Manager) committed(j *Job, now time.Time) float64 {
	if c := j.Cost; c != nil && !c.Final() && j.Expires.After(now) {
		return c.Rate() * j.Expires.Sub(now).Hours()
	}
	return 0
}

// lockScopes takes the locks of scopes in their order (Scope.Key, as
// Policy.Scopes sorts them). On failure it has released what it took
// and names the scope it could not lock.
func (m *Manager) lockScopes(ctx context.Context, scopes []quota.Scope) (unlock func(), busy *quota.Scope, err error) {
	var unlocks []func()
	unlock = func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	for i, s := range scopes {
		u, err := m.lock(ctx, quotaLockName(s.Key), m.c().LockWait)
		if err != nil {
			unlock()
			return nil, &scopes[i], err
		}
		unlocks = append(unlocks, u)
	}
	return unlock, nil, nil
}

// checkScopes checks what ask adds to job j's owner against every scope,
// counting every job of the scopes' members (j included, as stored), the
// scopes' locks held by the caller.
func (m *Manager) checkScopes(ctx context.Context, scopes []quota.Scope, ask quota.Ask) (*quota.Refusal, error) {
	now := m.now()
	for _, s := range scopes {
		st, err := m.standing(ctx, s, now, "")
		if err != nil {
			return nil, err
		}
		if r := quota.Check(s, st, ask); r != nil {
			return r, nil
		}
	}
	return nil, nil
}

// checkQuota checks new job j against every scope of its owner, the
// scopes' locks held by the caller: its first provider must fit (else the
// refusal); kept are the providers of its plan that fit, dropped the
// others with why (fitPlan).
func (m *Manager) checkQuota(ctx context.Context, scopes []quota.Scope, j *Job) (kept []PlanEntry, dropped []string, r *quota.Refusal, err error) {
	usage := usageOf(j)
	return m.fitPlan(ctx, scopes, j.ID, j.Plan, func(price *float64) quota.Ask {
		return quota.Ask{Usage: usage, Cost: m.leaseCost(j, price, j.LeaseSeconds)}
	})
}

// fitPlan checks placing a job at each provider of plan, which adds
// ask(its price), against the standings of scopes (leaving out job
// except), the scopes' locks held by the caller. The first provider must
// fit: otherwise r is its refusal. A later one that does not fit is
// dropped from the plan, and dropped says why.
//
// Admission and the plan must agree: a job whose first provider fails
// falls back to the next of its plan, and one priced above what the
// quota leaves would spend past the limit. The plan is settled here, once,
// under the scopes' locks, rather than checked again before each fallback:
// a fallback runs in the background, after the consumer was answered, and
// often in another process resuming the job, where a refusal could only
// fail a job already accepted; and the job's record, written before the
// locks are let go, then says what it may cost (askOf: the highest price
// of its plan), so the next instance to take the locks counts it at that.
func (m *Manager) fitPlan(ctx context.Context, scopes []quota.Scope, except string, plan []PlanEntry, ask func(price *float64) quota.Ask) (kept []PlanEntry, dropped []string, r *quota.Refusal, err error) {
	now := m.now()
	standings := make([]quota.Standing, len(scopes))
	for i, s := range scopes {
		if standings[i], err = m.standing(ctx, s, now, except); err != nil {
			return nil, nil, nil, err
		}
	}
	check := func(price *float64) *quota.Refusal {
		a := ask(price)
		for i, s := range scopes {
			if r := quota.Check(s, standings[i], a); r != nil {
				return r
			}
		}
		return nil
	}
	if len(plan) == 0 {
		return nil, nil, check(nil), nil
	}
	if r := check(plan[0].Price); r != nil {
		return nil, nil, r, nil
	}
	kept = []PlanEntry{plan[0]}
	for _, e := range plan[1:] {
		if r := check(e.Price); r != nil {
			dropped = append(dropped, fmt.Sprintf("%s (%s)", e.ProviderID, r.Reason))
			continue
		}
		kept = append(kept, e)
	}
	return kept, dropped, nil, nil
}

// dropNote returns what a job's decision says of the providers fitPlan
// dropped from its plan ("" when none).
func dropNote(dropped []string) string {
	if len(dropped) == 0 {
		return ""
	}
	return "; dropped from the plan, over a quota at their price: " + strings.Join(dropped, "; ")
}

// admitQuota locks the scopes of j's owner and checks j against them. It
// returns the refusal as a Result (408), or the unlock function of the
// scopes' locks (a no-op without scopes) with saveFirst true when the
// caller must write j's first record before calling it.
func (m *Manager) admitQuota(ctx context.Context, j *Job) (res *Result, unlock func(), saveFirst bool, err error) {
	scopes := m.c().Quota.Scopes(j.Owner)
	if len(scopes) == 0 {
		return nil, func() {}, false, nil
	}
	unlock, busy, err := m.lockScopes(ctx, scopes)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: locking the quota of %s: %v", ErrNotRecorded, busy.Name, err)
	}
	kept, dropped, r, err := m.checkQuota(ctx, scopes, j)
	if err != nil {
		unlock()
		return nil, nil, false, fmt.Errorf("%w: counting the quota: %v", ErrNotRecorded, err)
	}
	if r != nil {
		unlock()
		m.logger.Info("job refused: quota exceeded", zap.String("owner", j.Owner), zap.String("scope", r.Scope), zap.String("limit", r.Limit),
			zap.Float64("max", r.Max), zap.Float64("held", r.Have), zap.Float64("asked", r.Asked))
		return result(csbmsg.StatusUnableToFindResource, nil, "%s", r.Reason), nil, false, nil
	}
	if len(dropped) > 0 {
		// The job's first record, written before the locks are let go,
		// carries the plan it may end up at (askOf).
		j.Plan = kept
		j.Decision += dropNote(dropped)
		j.Reason += dropNote(dropped)
		m.logger.Info("providers dropped from a job's plan: over a quota at their price", zap.String("owner", j.Owner), zap.String("job_id", j.ID), zap.Strings("dropped", dropped))
	}
	return nil, unlock, true, nil
}

// QuotaCheck is the outcome of CheckQuota.
type QuotaCheck struct {
	// Scopes name the scopes that apply to the user (none: no limit).
	Scopes []string `json:"scopes"`
	// Refusal is the limit the request would go over (nil: it fits).
	Refusal *quota.Refusal `json:"refusal,omitempty"`
	// Usage and Cost are what the request would add: what it holds, and
	// its cost for its whole lease at the chosen provider's price.
	Usage quota.Usage `json:"usage"`
	Cost  float64     `json:"cost"`
}

// CheckQuota tells, without creating anything or taking locks, whether a
// request owner makes, placed at the provider first in plan with a lease
// of lease (zero: the default), would be admitted by the quotas, and if
// not which limit it would go over (for the admin API's explain).
func (m *Manager) CheckQuota(ctx context.Context, owner string, req *csbmsg.ServiceRequest, price *float64, lease time.Duration) (*QuotaCheck, error) {
	j := &Job{ID: "-", Owner: owner, Status: StatusPending, Request: *req, LeaseSeconds: m.leaseSeconds(lease)}
	j.Kind, _ = placement.KindOf(req)
	j.Plan = []PlanEntry{{Price: price}}
	out := &QuotaCheck{Scopes: []string{}}
	ask := m.askOf(j)
	out.Usage, out.Cost = ask.Usage, ask.Cost
	scopes := m.c().Quota.Scopes(owner)
	for _, s := range scopes {
		out.Scopes = append(out.Scopes, s.Name)
	}
	_, _, r, err := m.checkQuota(ctx, scopes, j)
	if err != nil {
		return nil, err
	}
	out.Refusal = r
	return out, nil
}

// LeaseFor returns the lease a job asking for lease (zero: none) is
// granted: LeaseDefault, clamped to [LeaseMin, LeaseMax].
func (m *Manager) LeaseFor(lease time.Duration) time.Duration {
	return time.Duration(m.leaseSeconds(lease)) * time.Second
}

// extension returns what renewing job j's lease for lease from now adds
// to the spend the job commits, at rate per hour from now on: the new
// lease's cost less what the job commits now (never below zero: a
// renewal that shortens the lease, or lowers the rate, adds nothing).
func (m *Manager) extension(j *Job, rate float64, lease time.Duration, now time.Time) float64 {
	return max(0, rate*lease.Hours()-m.committed(j, now))
}

// checkResize checks an update that makes job j hold merged against the
// quotas of its owner: only what grows is asked for (a job that shrinks
// is never refused for what it holds), and the spend the update adds: the
// job's new rate for the lease the update renews, less what the job
// commits now. It answers 409 naming the limit. The caller holds j's
// lock; the scopes' locks are held for the check only (the update calls
// the provider before it is recorded), so two resizes at once may both
// pass.
func (m *Manager) checkResize(ctx context.Context, j *Job, merged *csbmsg.ServiceRequest) (*Result, error) {
	scopes := m.c().Quota.Scopes(j.Owner)
	if len(scopes) == 0 {
		return nil, nil
	}
	before := usageOf(j)
	after := usageOf(&Job{Request: *merged})
	grow := func(a, b uint64) uint64 {
		if b > a {
			return b - a
		}
		return 0
	}
	ask := quota.Ask{Usage: quota.Usage{Cores: grow(before.Cores, after.Cores), MemoryGB: grow(before.MemoryGB, after.MemoryGB),
		StorageGB: grow(before.StorageGB, after.StorageGB)}}
	now := m.now()
	if c := j.Cost; c != nil && !c.Final() {
		// An update renews the lease: what it adds is the new rate for
		// the whole lease, less what the job commits now.
		ask.Cost = m.extension(j, c.Price*after.Units(m.costUnit(j.Kind)), time.Duration(j.LeaseSeconds)*time.Second, now)
	}
	if ask.Usage == (quota.Usage{}) && ask.Cost <= 0 {
		return nil, nil
	}
	unlock, busy, err := m.lockScopes(ctx, scopes)
	if err != nil {
		return result(csbmsg.StatusCannotUpdateResource, j, "cannot update job %s: the quota of %s is busy; try again", j.ID, busy.Name), nil
	}
	defer unlock()
	r, err := m.checkScopes(ctx, scopes, ask)
	if err != nil {
		return nil, err
	}
	if r != nil {
		m.logger.Info("job update refused: quota exceeded", zap.String("owner", j.Owner), zap.String("job_id", j.ID), zap.String("scope", r.Scope), zap.String("limit", r.Limit))
		return result(csbmsg.StatusCannotUpdateResource, j, "cannot update job %s: %s", j.ID, r.Reason), nil
	}
	return nil, nil
}

// admitRenewal checks the renewal of job j's lease (j.LeaseSeconds from
// now) against the quotas of its owner, for the spend the longer lease
// adds at the job's rate (its price × units, as its cost accrues). The
// caller holds j's lock. Over a limit it answers 409 naming it, as a
// resize is refused. Otherwise it returns the unlock function of the
// scopes' locks, to call once the renewed lease is recorded: a renewal
// at the same time (of another job of the scope, on any instance) counts
// this one's lease, so two renewals never both pass a limit only one of
// them fits in.
func (m *Manager) admitRenewal(ctx context.Context, j *Job) (res *Result, unlock func(), err error) {
	scopes := m.c().Quota.Scopes(j.Owner)
	c := j.Cost
	if len(scopes) == 0 || c == nil || c.Final() {
		return nil, func() {}, nil // no limit, or the job costs nothing
	}
	unlock, busy, err := m.lockScopes(ctx, scopes)
	if err != nil {
		return result(csbmsg.StatusCannotUpdateResource, j, "cannot renew the lease of job %s: the quota of %s is busy; try again", j.ID, busy.Name), nil, nil
	}
	// The job as stored: the renewal counts what it adds to that.
	ask := quota.Ask{Cost: m.extension(j, c.Rate(), time.Duration(j.LeaseSeconds)*time.Second, m.now())}
	r, err := m.checkScopes(ctx, scopes, ask)
	if err != nil || r != nil {
		unlock()
		if r != nil {
			m.logger.Info("job lease renewal refused: quota exceeded", zap.String("owner", j.Owner), zap.String("job_id", j.ID), zap.String("scope", r.Scope), zap.String("limit", r.Limit))
			return result(csbmsg.StatusCannotUpdateResource, j, "cannot renew the lease of job %s: %s", j.ID, r.Reason), nil, nil
		}
		return nil, nil, err
	}
	return nil, unlock, nil
}

// admitMove checks the move of job j to the providers of plan against the
// quotas of its owner, for the spend it adds: a move grants the job a new
// lease (lease seconds, the one asked for or the job's) at the new
// provider, priced as a create is, less what the job commits now at its
// current rate. The caller holds j's lock. The first provider of the plan
// must fit: over a limit it answers 408 naming it, as a create is
// refused. A later one that does not fit is dropped from the plan (kept;
// dropped says why), as a create's is (fitPlan). Otherwise it returns the
// unlock function of the scopes' locks, to call once the move's operation
// is recorded with the plan kept and the new lease (standing counts a job
// being moved at the highest price of its plan for that lease).
func (m *Manager) admitMove(ctx context.Context, j *Job, plan []PlanEntry, lease uint64) (res *Result, kept []PlanEntry, dropped []string, unlock func(), err error) {
	scopes := m.c().Quota.Scopes(j.Owner)
	if len(scopes) == 0 {
		return nil, plan, nil, func() {}, nil
	}
	unlock, busy, err := m.lockScopes(ctx, scopes)
	if err != nil {
		return result(csbmsg.StatusUnableToFindResource, j, "cannot move job %s: the quota of %s is busy; try again", j.ID, busy.Name), nil, nil, nil, nil
	}
	committed := m.committed(j, m.now())
	kept, dropped, r, err := m.fitPlan(ctx, scopes, "", plan, func(price *float64) quota.Ask {
		return quota.Ask{Cost: max(0, m.leaseCost(j, price, lease)-committed)}
	})
	if err != nil || r != nil {
		unlock()
		if r != nil {
			m.logger.Info("job move refused: quota exceeded", zap.String("owner", j.Owner), zap.String("job_id", j.ID), zap.String("scope", r.Scope), zap.String("limit", r.Limit))
			return result(csbmsg.StatusUnableToFindResource, j, "cannot move job %s: %s", j.ID, r.Reason), nil, nil, nil, nil
		}
		return nil, nil, nil, nil, err
	}
	if len(dropped) > 0 {
		m.logger.Info("providers dropped from a move's plan: over a quota at their price", zap.String("owner", j.Owner), zap.String("job_id", j.ID), zap.Strings("dropped", dropped))
	}
	return nil, kept, dropped, unlock, nil
}
