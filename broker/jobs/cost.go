package jobs

import (
	"math"
	"slices"
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
	// Stays are the job's stays at the providers it left, oldest first:
	// a change of provider (a move, or a move undone) closes one. With
	// them a window's cost splits by provider at the moves (Parts). A
	// record written before they were kept has none for its earlier
	// moves (staysKnown).
	Stays []Stay `json:"stays,omitempty"`
}

// Stay is a stretch of time a job held resources at one provider, closed
// by a change of provider: when, and what it cost there.
type Stay struct {
	ProviderID string    `json:"provider_id"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Amount     float64   `json:"amount"`
}

// CostPart is what a job cost at one provider.
type CostPart struct {
	ProviderID string
	// From is when the job came to the provider; To when it last left
	// it or ended there (zero while it is there and its cost accrues).
	From, To time.Time
	// Cost is the part incurred in the window asked for, Amount the part
	// in all.
	Cost, Amount float64
}

// stayFrom returns when the current stay began.
func (c *Cost) stayFrom() time.Time {
	if n := len(c.Stays); n > 0 {
		return c.Stays[n-1].To
	}
	return c.Started
}

// staysKnown reports whether Stays account for every provider the job
// left: false for a record that moved before they were kept.
func (c *Cost) staysKnown() bool {
	sum := map[string]float64{}
	for _, s := range c.Stays {
		sum[s.ProviderID] += s.Amount
	}
	for p, v := range c.Earlier {
		tol := 1e-9 * max(1, math.Abs(v))
		if p == c.ProviderID && sum[p] <= v+tol || math.Abs(sum[p]-v) <= tol {
			continue
		}
		return false
	}
	return true
}

// spread returns the part of amount, incurred evenly over [a, b), that
// falls in [from, to); all of it when [a, b) is an instant in the window.
func spread(amount float64, a, b, from, to time.Time) float64 {
	if b.After(a) {
		return amount * float64(quota.Overlap(a, b, from, to)) / float64(b.Sub(a))
	}
	if !a.Before(from) && a.Before(to) {
		return amount
	}
	return 0
}

// Parts returns the cost at now split by the providers that held the
// job, in the order it came to them, each with the part incurred in
// [from, to). The parts add up to Amount and Between. A provider's part
// follows its stays: the move that closed one splits a window at the
// moment it happened. Within a stay the current stretch is exact, and
// the stretches a resize closed are taken to lie evenly over the stay.
// For a record without its stays (staysKnown), the window's cost splits
// as the whole cost does.
func (c *Cost) Parts(from, to, now time.Time) []CostPart {
	if c == nil {
		return nil
	}
	end := now
	if c.Final() {
		end = c.Until
	}
	if !c.staysKnown() {
		return c.partsApprox(from, to, now)
	}
	var out []CostPart
	at := map[string]int{}
	add := func(provider string, a, b time.Time, cost, amount float64) {
		i, ok := at[provider]
		if !ok {
			i = len(out)
			at[provider] = i
			out = append(out, CostPart{ProviderID: provider, From: a})
		}
		out[i].To = b
		out[i].Cost += cost
		out[i].Amount += amount
	}
	var closed float64
	for _, s := range c.Stays {
		add(s.ProviderID, s.From, s.To, spread(s.Amount, s.From, s.To, from, to), s.Amount)
		closed += s.Amount
	}
	// The current stay: what resizes settled since it began, then the
	// current stretch.
	settled := c.Settled - closed
	cost, amount := spread(settled, c.stayFrom(), c.Since, from, to), settled
	if end.After(c.Since) {
		cost += c.Rate() * quota.Overlap(c.Since, end, from, to).Hours()
		amount += c.Rate() * end.Sub(c.Since).Hours()
	}
	until := c.Until // zero while it accrues
	add(c.ProviderID, c.stayFrom(), until, cost, amount)
	return out
}

// partsApprox is Parts for a record without its stays: the window's cost
// (the settled stretches taken to lie evenly over [Started, Since)) split
// as the whole cost splits by provider.
func (c *Cost) partsApprox(from, to, now time.Time) []CostPart {
	end := now
	if c.Final() {
		end = c.Until
	}
	var window float64
	if d := quota.Overlap(c.Since, end, from, to); d > 0 {
		window += c.Rate() * d.Hours()
	}
	if c.Settled > 0 && c.Since.After(c.Started) {
		window += spread(c.Settled, c.Started, c.Since, from, to)
	} else if c.Settled > 0 && !c.Since.Before(from) && c.Since.Before(to) {
		window += c.Settled
	}
	by := c.ByProvider(now)
	total := c.Amount(now)
	providers := make([]string, 0, len(by))
	for p := range by {
		if p != c.ProviderID {
			providers = append(providers, p)
		}
	}
	slices.Sort(providers)
	providers = append(providers, c.ProviderID)
	out := make([]CostPart, 0, len(providers))
	for _, p := range providers {
		share := 0.0
		switch {
		case total > 0:
			share = by[p] / total
		case p == c.ProviderID:
			share = 1
		}
		part := CostPart{ProviderID: p, From: c.Started, To: c.Since, Cost: window * share, Amount: by[p]}
		if p == c.ProviderID {
			part.To = c.Until
		}
		out = append(out, part)
	}
	return out
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
// spend of a period. It is the sum of the parts' (Parts): each stay at a
// provider is counted where it lies; within one, the stretches a resize
// closed are taken to lie evenly over it.
func (c *Cost) Between(from, to, now time.Time) float64 {
	var v float64
	for _, p := range c.Parts(from, to, now) {
		v += p.Cost
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
// it holds anything priced: at a provider of its plan with a price, or,
// once its cost has begun, at any provider (an unpriced one at price 0).
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
		default:
			// Moved to a provider without a price: the job costs
			// nothing there, but it still holds resources, so its cost
			// is not final. A final cost never starts again: made final
			// here, the cost of a job moved on to a priced provider
			// stayed final, and the job ran there for nothing.
			var unpriced float64
			p = &unpriced
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
			c.closeStay(now)
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

// closeStay records the end, at now, of the job's stay at its current
// provider (its stretch there already settled): what the stay cost is
// what the provider's settled stretches cost less its earlier stays.
func (c *Cost) closeStay(now time.Time) {
	amount := c.Earlier[c.ProviderID]
	for _, s := range c.Stays {
		if s.ProviderID == c.ProviderID {
			amount -= s.Amount
		}
	}
	c.Stays = append(c.Stays, Stay{ProviderID: c.ProviderID, From: c.stayFrom(), To: now, Amount: amount})
}
