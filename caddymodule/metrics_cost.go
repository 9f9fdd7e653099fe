package caddymodule

// caddy_csb_job_cost_total{owner,provider}: what jobs cost, counted as it
// accrues.

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/metricsreg"
)

// jobCostRetire is how long after its lease ended a job this process
// wrote is still followed (another instance may have renewed it); then
// it is dropped unless written again.
const jobCostRetire = time.Hour

// costCounter is the caddy_csb_job_cost_total counter. Every write of a
// job by this process (jobs.Config.OnChange) and every scrape add what
// the jobs it follows cost since they were last counted, up to their
// final cost; a job is followed from its first write by this process that
// carries a cost until its cost is final. In a cluster each instance
// counts the jobs it wrote; a job written by two instances (created on
// one, removed on the other) is counted by both, from each one's first
// sight of it.
type costCounter struct {
	vec *prometheus.CounterVec

	mu   sync.Mutex
	jobs map[string]*costMark
	now  func() time.Time
}

// costMark is a job being followed: its cost as last written, and how much
// of it was counted, in all and at each provider that held it.
type costMark struct {
	owner   string
	cost    jobs.Cost
	expires time.Time
	counted float64
	at      map[string]float64
}

func newCostCounter() *costCounter {
	return &costCounter{
		vec: prometheus.NewCounterVec(prometheus.CounterOpts(metricsreg.Opts("job_cost_total",
			"What jobs cost (price per hour per unit x units x hours held), by owner and provider, as it accrues.")), []string{"owner", "provider"}),
		jobs: map[string]*costMark{},
		now:  time.Now,
	}
}

// observe brings a job this process wrote up to date.
func (c *costCounter) observe(j *jobs.Job) {
	if j.Cost == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.jobs[j.ID]
	if m == nil {
		m = &costMark{owner: j.Owner, at: map[string]float64{}}
		c.jobs[j.ID] = m
	}
	m.cost, m.expires = *j.Cost, j.Expires
	c.countLocked(j.ID, m, c.now())
}

// countLocked adds what m cost since it was last counted, under each
// provider its part (jobs.Cost.Parts), as /csb/costs?provider= reports
// it: a job this process sees again after another instance moved it had
// cost its old provider something since it was last counted, which is
// that provider's, not the new one's.
//
// What a scrape counted from a record that did not know of a move yet
// (the time since the move, under the old provider) cannot be taken
// back: the counter never counts more than the job's cost in all, so the
// parts after such a provider's get what is left.
func (c *costCounter) countLocked(id string, m *costMark, now time.Time) {
	at := now
	if !m.cost.Final() && !m.expires.IsZero() && m.expires.Before(at) {
		at = m.expires // not beyond the lease as last seen
	}
	left := m.cost.Amount(at) - m.counted
	for _, p := range m.cost.Parts(time.Time{}, at, at) {
		if left <= 0 {
			break
		}
		if v := min(p.Amount-m.at[p.ProviderID], left); v > 0 {
			c.vec.WithLabelValues(m.owner, p.ProviderID).Add(v)
			m.at[p.ProviderID] += v
			m.counted += v
			left -= v
		}
	}
	if m.cost.Final() || !m.expires.IsZero() && now.Sub(m.expires) > jobCostRetire {
		delete(c.jobs, id)
	}
}

// Describe implements prometheus.Collector.
func (c *costCounter) Describe(ch chan<- *prometheus.Desc) { c.vec.Describe(ch) }

// Collect implements prometheus.Collector: the jobs followed are brought
// up to date first.
func (c *costCounter) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	now := c.now()
	for id, m := range c.jobs {
		c.countLocked(id, m, now)
	}
	c.mu.Unlock()
	c.vec.Collect(ch)
}

var _ prometheus.Collector = (*costCounter)(nil)
