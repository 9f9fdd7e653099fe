package jobs

import (
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// Cost is what a job costs (see broker/quota for the rules): its
// provider's price per hour per unit × the units it holds × the hours it
// holds them. It is kept on the job's record and brought up to date on
// every write of the job (accrue): a job starts to cost when it holds
// resources (status success), a resize or a move closes one stretch and
// opens another at the new rate, and the cost is final once the job holds
// nothing (removed, expired or failed).
type Cost struct {
	// ProviderID and Price are the provider holding the job and its price
	// per hour per Unit when the current stretch began.
	ProviderID string     `json:"provider_id"`
	Price      float64    `json:"price"`
	Unit       quota.Unit `json:"unit"`
	// Units is how many Units the job holds.
	Units float64 `json:"units"`
	// Started is when the job first held resources; Since when the
	// current stretch began; Until when the job stopped holding them
	// (zero while it holds them: the cost is accruing).
	Started time.Time `json:"started"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until,omitzero"`
	// Settled is the cost of the stretches before Since; Earlier splits
	// it by provider (a job that moved cost something at each).
	Settled float64            `json:"settled,omitempty"`
	Earlier map[string]float64 `json:"earlier,omitempty"`
	// PrevProviderID and PrevPrice are the provider and price of the
	// stretch before the last change of provider: a move undone after its
	// new resource was recorded puts the job back there, with a plan (the
	// move's) that does not name that provider.
	PrevProviderID string  `json:"prev_provider_id,omitempty"`
	PrevPrice      float64 `json:"prev_price,omitempty"`
}

// ByProvider returns the cost at now split by the providers that held the
// job.
func (c *Cost) ByProvider(now time.Time) map[string]float64 {
	out := map[string]float64{}
	if c == nil {
		return out
	}
	for p, v := range c.Earlier {
		out[p] += v
	}
	out[c.ProviderID] += c.Amount(now) - c.Settled
	return out
}

// Rate is the cost per hour of the current stretch.
func (c *Cost) Rate() float64 { return c.Price * c.Units }

// Final reports whether the cost no longer grows.
func (c *Cost) Final() bool { return !c.Until.IsZero() }

// Amount returns the cost at now: final once the job ended.
func (c *Cost) Amount(now time.Time) float64 {
	if c == nil {
		return 0
	}
	end := now
	if c.Final() {
		end = c.Until
	}
	if !end.After(c.Since) {
		return c.Settled
	}
	return c.Settled + c.Rate()*end.Sub(c.Since).Hours()
}

// Between returns the part of the cost incurred in [from, to): for the
// spend of a period. Settled stretches are taken to lie evenly over
// [Started, Since).
func (c *Cost) Between(from, to, now time.Time) float64 {
	if c == nil {
		return 0
	}
	end := now
	if c.Final() {
		end = c.Until
	}
	var v float64
	if d := quota.Overlap(c.Since, end, from, to); d > 0 {
		v += c.Rate() * d.Hours()
	}
	if c.Settled > 0 && c.Since.After(c.Started) {
		whole := c.Since.Sub(c.Started)
		v += c.Settled * float64(quota.Overlap(c.Started, c.Since, from, to)) / float64(whole)
	} else if c.Settled > 0 && !c.Since.Before(from) && c.Since.Before(to) {
		v += c.Settled
	}
	return v
}

// CostAt returns the job's cost at now (0 when it has none).
func (j *Job) CostAt(now time.Time) float64 { return j.Cost.Amount(now) }

// costUnit returns the unit jobs of kind are priced per.
func (m *Manager) costUnit(kind catalog.Kind) quota.Unit {
	if u, ok := m.c().CostUnits[kind]; ok && u != "" {
		return u
	}
	return quota.DefaultUnit(string(kind))
}

// usageOf returns what a job holds (its grant, or its request while
// nothing is granted).
func usageOf(j *Job) quota.Usage {
	u := quota.Usage{Jobs: 1}
	if g := j.Granted(); g.IaaS != nil {
		if c := g.IaaS.Compute; c != nil {
			u.Cores, u.MemoryGB = deref(c.Cores), deref(c.Memory)
		}
		if s := g.IaaS.Storage; s != nil {
			u.StorageGB = deref(s.Size)
		}
	}
	return u
}

// holding returns the price and units of what j holds now, and whether
// it holds anything priced.
func (m *Manager) holding(j *Job) (provider string, price float64, unit quota.Unit, units float64, ok bool) {
	if j.Status != StatusSuccess || j.Resource == nil || j.ProviderID == "" {
		return "", 0, "", 0, false
	}
	var p *float64
	for i := range j.Plan {
		if j.Plan[i].ProviderID == j.ProviderID {
			p = j.Plan[i].Price
			break
		}
	}
	if c := j.Cost; p == nil && c != nil && !c.Final() {
		switch j.ProviderID {
		case c.ProviderID:
			p = &c.Price // a plan replaced since (a failed move): the price it was placed at
		case c.PrevProviderID:
			p = &c.PrevPrice // a move undone: back at the provider and price before it
		}
	}
	if p == nil {
		return "", 0, "", 0, false
	}
	unit = m.costUnit(j.Kind)
	return j.ProviderID, *p, unit, usageOf(j).Units(unit), true
}

// accrue brings j's cost up to date before a write (save calls it).
func (m *Manager) accrue(j *Job) {
	now := m.now()
	provider, price, unit, units, held := m.holding(j)
	c := j.Cost
	if c != nil && !c.Final() {
		if held && c.ProviderID == provider && c.Price == price && c.Unit == unit && c.Units == units {
			return // the same stretch goes on
		}
		// Close the current stretch.
		if now.After(c.Since) {
			v := c.Rate() * now.Sub(c.Since).Hours()
			c.Settled += v
			if c.Earlier == nil {
				c.Earlier = map[string]float64{}
			}
			c.Earlier[c.ProviderID] += v
			c.Since = now
		}
		if !held {
			c.Until = now
			return
		}
		if c.ProviderID != provider {
			c.PrevProviderID, c.PrevPrice = c.ProviderID, c.Price
		}
		c.ProviderID, c.Price, c.Unit, c.Units = provider, price, unit, units
		return
	}
	if !held || c != nil {
		return // nothing held, or already final
	}
	j.Cost = &Cost{ProviderID: provider, Price: price, Unit: unit, Units: units, Started: now, Since: now}
}
