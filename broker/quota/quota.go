// Package quota holds the broker's budgets and quotas: what a job costs
// and what a consumer, or a group of consumers, may hold and spend.
//
// # Cost
//
// A job costs its provider's price per hour per unit × the units it holds
// × the hours it holds them. The price is the provider's published one
// (the "price:" item of its notification <label>, which the operator may
// override with the provider's price option). The unit is set per service
// model by the operator (Units); by default an IaaS job is priced per
// core, and PaaS, SaaS and DSaaS jobs per job (their requests carry no
// size). A job starts to cost when its resources are granted (status
// success), its rate changes when an update resizes it or a MOVE puts it
// on another provider, and its cost is final when it ends (removed,
// expired, or failed because its resource vanished). A provider without
// a price costs nothing.
//
// # Limits
//
// A Policy sets Limits per user and per group of users: live jobs,
// cores, memory, storage and spend per period (hour, day or month,
// calendar periods in UTC). A user's own limits (or the "*" default when
// it has none) bound what that user holds; a group's limits bound what
// its members hold together. A request is admitted when, with it, no
// scope that applies to its user goes over a limit. The spend it is
// checked against is projected: what the scope spent in the current
// period, plus what its live jobs will cost until their leases end, plus
// what the request costs for its whole lease (a lease that runs past the
// period's end counts whole, so the check errs on the safe side).
//
// This package does not import Caddy.
package quota

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Unit is what a price is per.
type Unit string

// Units a price may be per.
const (
	UnitCore    Unit = "core"       // per core of IaaS compute
	UnitMemory  Unit = "memory_gb"  // per GB of IaaS compute memory
	UnitStorage Unit = "storage_gb" // per GB of IaaS storage
	UnitJob     Unit = "job"        // per job, whatever it holds
)

// ParseUnit reads a unit name.
func ParseUnit(s string) (Unit, error) {
	switch u := Unit(s); u {
	case UnitCore, UnitMemory, UnitStorage, UnitJob:
		return u, nil
	}
	return "", fmt.Errorf("unknown cost unit %q (want core, memory_gb, storage_gb or job)", s)
}

// DefaultUnit returns the default unit of a service model ("IaaS",
// "PaaS", "SaaS", "DSaaS", as catalog.Kind spells them): core for IaaS,
// job for the others.
func DefaultUnit(kind string) Unit {
	if strings.EqualFold(kind, "iaas") {
		return UnitCore
	}
	return UnitJob
}

// Usage is what a job holds, or the sum of what several jobs hold.
type Usage struct {
	Jobs      uint64 `json:"jobs"`
	Cores     uint64 `json:"cores"`
	MemoryGB  uint64 `json:"memory_gb"`
	StorageGB uint64 `json:"storage_gb"`
}

// Add returns u + v.
// The sums saturate at the largest uint64 instead of wrapping: a service
// that advertises an absurd size must count as over any limit, not as
// next to nothing.
func (u Usage) Add(v Usage) Usage {
	return Usage{Jobs: addSat(u.Jobs, v.Jobs), Cores: addSat(u.Cores, v.Cores), MemoryGB: addSat(u.MemoryGB, v.MemoryGB), StorageGB: addSat(u.StorageGB, v.StorageGB)}
}

// addSat is a+b, or the largest uint64 when that overflows.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// Units returns how many units of unit u holds.
func (u Usage) Units(unit Unit) float64 {
	switch unit {
	case UnitCore:
		return float64(u.Cores)
	case UnitMemory:
		return float64(u.MemoryGB)
	case UnitStorage:
		return float64(u.StorageGB)
	case UnitJob:
		return float64(u.Jobs)
	}
	return 0
}

// Period is the length of a spend limit's period.
type Period string

// Periods: calendar hours, days and months in UTC.
const (
	Hour  Period = "hour"
	Day   Period = "day"
	Month Period = "month"
)

// ParsePeriod reads a period name.
func ParsePeriod(s string) (Period, error) {
	switch p := Period(s); p {
	case Hour, Day, Month:
		return p, nil
	}
	return "", fmt.Errorf("unknown period %q (want hour, day or month)", s)
}

// Start returns the start of the period that holds t (UTC calendar).
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	switch p {
	case Hour:
		return t.Truncate(time.Hour)
	case Day:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case Month:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return t
}

// Spend is a spend limit: at most Amount per Period.
type Spend struct {
	Amount float64 `json:"amount"`
	Period Period  `json:"period"`
}

// Limits bound what a scope holds. A zero field sets no limit.
type Limits struct {
	// Jobs bounds the live jobs (pending, provisioning or successful).
	Jobs uint64 `json:"jobs,omitempty"`
	// Cores, MemoryGB and StorageGB bound the IaaS compute cores, memory
	// (GB) and storage (GB) the live jobs hold (or ask for, while they are
	// being provisioned).
	Cores     uint64 `json:"cores,omitempty"`
	MemoryGB  uint64 `json:"memory_gb,omitempty"`
	StorageGB uint64 `json:"storage_gb,omitempty"`
	// Spend bounds the spend per period, at most one per period.
	Spend []Spend `json:"spend,omitempty"`
}

// Empty reports whether l sets no limit.
func (l Limits) Empty() bool {
	return l.Jobs == 0 && l.Cores == 0 && l.MemoryGB == 0 && l.StorageGB == 0 && len(l.Spend) == 0
}

// Validate checks the limits.
func (l Limits) Validate() error {
	seen := map[Period]bool{}
	for _, s := range l.Spend {
		if _, err := ParsePeriod(string(s.Period)); err != nil {
			return err
		}
		if s.Amount <= 0 || math.IsInf(s.Amount, 0) || math.IsNaN(s.Amount) {
			return fmt.Errorf("spend per %s: %v is not a positive amount", s.Period, s.Amount)
		}
		if seen[s.Period] {
			return fmt.Errorf("spend per %s given twice", s.Period)
		}
		seen[s.Period] = true
	}
	return nil
}

// Group is a named set of users whose jobs share the group's limits.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
	Limits  Limits   `json:"limits"`
}

// Policy is the broker's quota configuration.
type Policy struct {
	// Users holds each user's own limits; the key "*" applies to every
	// user without an entry of its own (each such user separately).
	Users map[string]Limits
	// Groups are shared limits over their members' jobs.
	Groups []Group
}

// Validate checks the policy.
func (p *Policy) Validate() error {
	if p == nil {
		return nil
	}
	for u, l := range p.Users {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("quota for user %q: %v", u, err)
		}
	}
	names := map[string]bool{}
	for _, g := range p.Groups {
		if g.Name == "" {
			return fmt.Errorf("quota group without a name")
		}
		if names[g.Name] {
			return fmt.Errorf("quota group %q given twice", g.Name)
		}
		names[g.Name] = true
		if len(g.Members) == 0 {
			return fmt.Errorf("quota group %q has no members", g.Name)
		}
		if err := g.Limits.Validate(); err != nil {
			return fmt.Errorf("quota group %q: %v", g.Name, err)
		}
	}
	return nil
}

// Scope is one set of limits that applies to a user: its own (Members is
// the user alone) or a group's.
type Scope struct {
	// Name names the scope in reasons: "user alice" or "group team".
	Name string
	// Key identifies the scope for locking: "user:<name>" or
	// "group:<name>".
	Key     string
	Members []string
	Limits  Limits
}

// Scopes returns the scopes that apply to user, sorted by Key (the order
// to lock them in). It returns nil when no limit applies.
func (p *Policy) Scopes(user string) []Scope {
	if p == nil {
		return nil
	}
	var out []Scope
	if l, ok := p.Users[user]; ok {
		if !l.Empty() {
			out = append(out, Scope{Name: "user " + user, Key: "user:" + user, Members: []string{user}, Limits: l})
		}
	} else if l, ok := p.Users["*"]; ok && !l.Empty() {
		out = append(out, Scope{Name: "user " + user + " (the default for users)", Key: "user:" + user, Members: []string{user}, Limits: l})
	}
	for _, g := range p.Groups {
		if slices.Contains(g.Members, user) && !g.Limits.Empty() {
			out = append(out, Scope{Name: "group " + g.Name, Key: "group:" + g.Name, Members: g.Members, Limits: g.Limits})
		}
	}
	slices.SortFunc(out, func(a, b Scope) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Standing is what a scope holds and has spent, as the check sees it.
type Standing struct {
	// Held is what the scope's live jobs hold.
	Held Usage
	// Spent is, per period of the scope's spend limits, what its jobs
	// cost since the period started (at the time of the check).
	Spent map[Period]float64
	// Committed is what its live jobs will cost from now until their
	// leases end.
	Committed float64
}

// Ask is what a request would add: what it holds, and its cost for its
// whole lease (price × units × lease hours).
type Ask struct {
	Usage Usage
	Cost  float64
}

// Refusal names the limit a request would go over.
type Refusal struct {
	Scope string `json:"scope"` // Scope.Name
	// Limit names the limit: "jobs", "cores", "memory", "storage",
	// "spend per day", ...
	Limit  string  `json:"limit"`
	Max    float64 `json:"max"`
	Have   float64 `json:"have"`  // what the scope holds or is projected to spend without the request
	Asked  float64 `json:"asked"` // what the request adds
	Reason string  `json:"reason"`
}

func (r *Refusal) Error() string { return r.Reason }

// Check reports the first limit of s the request would go over, or nil.
func Check(s Scope, st Standing, ask Ask) *Refusal {
	l := s.Limits
	for _, c := range [...]struct {
		name, unit      string
		max, have, want uint64
	}{
		{"jobs", "live jobs", l.Jobs, st.Held.Jobs, ask.Usage.Jobs},
		{"cores", "cores", l.Cores, st.Held.Cores, ask.Usage.Cores},
		{"memory", "GB of memory", l.MemoryGB, st.Held.MemoryGB, ask.Usage.MemoryGB},
		{"storage", "GB of storage", l.StorageGB, st.Held.StorageGB, ask.Usage.StorageGB},
	} {
		if c.max == 0 || c.want == 0 || (c.want <= c.max && c.have <= c.max-c.want) { // have+want ≤ max, without overflow
			continue
		}
		return &Refusal{Scope: s.Name, Limit: c.name, Max: float64(c.max), Have: float64(c.have), Asked: float64(c.want),
			Reason: fmt.Sprintf("quota exceeded: %s limit of %s: %d %s at most; %d held, the request asks for %d more",
				c.name, s.Name, c.max, c.unit, c.have, c.want)}
	}
	for _, sp := range l.Spend {
		if ask.Cost <= 0 {
			break
		}
		have := st.Spent[sp.Period] + st.Committed
		if have+ask.Cost <= sp.Amount+1e-9 {
			continue
		}
		return &Refusal{Scope: s.Name, Limit: "spend per " + string(sp.Period), Max: sp.Amount, Have: have, Asked: ask.Cost,
			Reason: fmt.Sprintf("quota exceeded: spend per %s limit of %s: %s at most; %s spent or committed this %s, the request would cost %s for its lease",
				sp.Period, s.Name, Money(sp.Amount), Money(have), sp.Period, Money(ask.Cost))}
	}
	return nil
}

// Money formats an amount of money for reasons and headers: up to six
// decimals, trailing zeros dropped.
func Money(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// Overlap returns the length of [a, b) ∩ [c, d) (zero when they do not
// meet).
func Overlap(a, b, c, d time.Time) time.Duration {
	lo, hi := a, b
	if c.After(lo) {
		lo = c
	}
	if d.Before(hi) {
		hi = d
	}
	if !hi.After(lo) {
		return 0
	}
	return hi.Sub(lo)
}
