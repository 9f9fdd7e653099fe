package caddymodule

// Budgets and quotas: the csb app's quota configuration (Caddyfile: the
// quota subdirective of the csb global option, parsed in caddyfile.go)
// and its conversion to the engine's broker/quota policy. The rules are
// in broker/quota's package comment; docs/costs.md walks through them.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/quota"
)

// QuotaConfig is the csb app's "quota" object: what a job costs and what
// each consumer, or group of consumers, may hold and spend. Without it
// jobs still have a cost (at the default units) and no limit applies
// besides jobs' max_jobs_per_owner.
type QuotaConfig struct {
	// Units sets the unit prices are per, keyed by service model (iaas,
	// paas, saas or dsaas): core, memory_gb, storage_gb or job. A price
	// is the provider's price option, else the "price:" item of its
	// notification label, and is read per hour per unit. Default: core
	// for iaas, job for paas, saas and dsaas (their requests carry no
	// size). Caddyfile: unit <model> <unit>.
	Units map[string]string `json:"units,omitempty"`
	// Users holds each user's limits, keyed by user id
	// ({http.auth.user.id}); the key "*" applies to each user without an
	// entry of its own (an entry with no limit exempts a user from "*").
	// Default: no limit. Caddyfile: user <id>|* { ... }.
	Users map[string]*quota.Limits `json:"users,omitempty"`
	// Groups are limits that a group's members share: what they hold and
	// spend together. A user may be in several groups; every scope that
	// applies must admit a request. Default: none. Caddyfile: group
	// <name> <user>... { ... }.
	Groups []quota.Group `json:"groups,omitempty"`
}

// quotaKinds maps a Caddyfile service model name to the catalogue's.
var quotaKinds = map[string]catalog.Kind{"iaas": catalog.KindIaaS, "paas": catalog.KindPaaS, "saas": catalog.KindSaaS, "dsaas": catalog.KindDSaaS}

// policy returns the engine's quota policy (nil without limits).
func (q *QuotaConfig) policy() *quota.Policy {
	if q == nil || len(q.Users) == 0 && len(q.Groups) == 0 {
		return nil
	}
	p := &quota.Policy{Users: map[string]quota.Limits{}, Groups: q.Groups}
	for u, l := range q.Users {
		if l != nil {
			p.Users[u] = *l
		} else {
			p.Users[u] = quota.Limits{}
		}
	}
	return p
}

// costUnits returns the engine's units per service model.
func (q *QuotaConfig) costUnits() map[catalog.Kind]quota.Unit {
	if q == nil || len(q.Units) == 0 {
		return nil
	}
	out := map[catalog.Kind]quota.Unit{}
	for k, u := range q.Units {
		out[quotaKinds[strings.ToLower(k)]] = quota.Unit(u)
	}
	return out
}

// validate checks the quota configuration without side effects.
func (q *QuotaConfig) validate() error {
	if q == nil {
		return nil
	}
	for k, u := range q.Units {
		if _, ok := quotaKinds[strings.ToLower(k)]; !ok {
			return fmt.Errorf("quota: unit %s: unknown service model (want iaas, paas, saas or dsaas)", k)
		}
		if _, err := quota.ParseUnit(u); err != nil {
			return fmt.Errorf("quota: unit %s: %v", k, err)
		}
	}
	return q.policy().Validate()
}

// validatePrices checks the providers' prices as the Caddyfile's price
// option reads them: a non-negative number. The JSON config is read as
// given, and at a negative price a job's cost would run backwards and be
// taken off the spend its owner's limits are checked against.
func validatePrices(providers []*Provider) error {
	for _, p := range providers {
		if p != nil && p.Price != nil && !(*p.Price >= 0) {
			return fmt.Errorf("provider %q: price %v: want a non-negative number", p.ID, *p.Price)
		}
	}
	return nil
}

// quotaLimitNames are the limits of a user or group block, in the order
// the Caddyfile syntax lists them.
var quotaLimitNames = []string{"jobs", "cores", "memory", "storage", "spend"}

// setQuotaLimit sets one limit from its Caddyfile arguments.
func setQuotaLimit(l *quota.Limits, name string, args []string) error {
	if name == "spend" {
		if len(args) != 2 {
			return fmt.Errorf("want spend <amount> hour|day|month")
		}
		v, err := strconv.ParseFloat(args[0], 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) {
			return fmt.Errorf("spend %q: want a positive amount", args[0])
		}
		p, err := quota.ParsePeriod(args[1])
		if err != nil {
			return err
		}
		if slices.ContainsFunc(l.Spend, func(s quota.Spend) bool { return s.Period == p }) {
			return fmt.Errorf("spend per %s given twice", p)
		}
		l.Spend = append(l.Spend, quota.Spend{Amount: v, Period: p})
		return nil
	}
	if len(args) != 1 {
		return fmt.Errorf("want %s <n>", name)
	}
	n, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || n == 0 {
		return fmt.Errorf("%s %q: want a positive whole number", name, args[0])
	}
	switch name {
	case "jobs":
		l.Jobs = n
	case "cores":
		l.Cores = n
	case "memory":
		l.MemoryGB = n
	case "storage":
		l.StorageGB = n
	default:
		return fmt.Errorf("unrecognized limit %q (known: %s)", name, strings.Join(quotaLimitNames, ", "))
	}
	return nil
}

// maxPriceHeader reads the optional Csb-Max-Price request header: the
// highest price per hour per cost unit the consumer accepts.
func maxPriceHeader(r *http.Request) (*float64, error) {
	v := strings.TrimSpace(r.Header.Get("Csb-Max-Price"))
	if v == "" {
		return nil, nil
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || p < 0 || math.IsInf(p, 0) || math.IsNaN(p) {
		return nil, fmt.Errorf("Csb-Max-Price %q: want a non-negative decimal number (a price per hour per cost unit)", v)
	}
	return &p, nil
}

// setCostHeaders writes the Csb-Cost and Csb-Cost-Detail headers of a
// job that has a cost.
func setCostHeaders(hdr http.Header, j *jobs.Job, now time.Time) {
	c := j.Cost
	if c == nil {
		return
	}
	state := "accruing"
	if c.Final() {
		state = "final"
	}
	hdr.Set("Csb-Cost", quota.Money(c.Amount(now)))
	hdr.Set("Csb-Cost-Detail", fmt.Sprintf("state=%s, rate=%s, price=%s, unit=%s, units=%s",
		state, quota.Money(c.Rate()), quota.Money(c.Price), c.Unit, strconv.FormatFloat(c.Units, 'f', -1, 64)))
}

// explainOptions reads explain's ?lease= (a duration, default the jobs'
// lease_default) and ?max_price=.
func explainOptions(r *http.Request) (time.Duration, *float64, error) {
	q := r.URL.Query()
	var lease time.Duration
	if v := q.Get("lease"); v != "" {
		d, err := caddy.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, nil, adminError(http.StatusBadRequest, "lease %q: want a positive duration", v)
		}
		lease = d
	}
	var maxPrice *float64
	if v := q.Get("max_price"); v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p < 0 || math.IsInf(p, 0) || math.IsNaN(p) {
			return 0, nil, adminError(http.StatusBadRequest, "max_price %q: want a non-negative number", v)
		}
		maxPrice = &p
	}
	return lease, maxPrice, nil
}

// explainPlacement is ExplainPlacement with a maximum price.
func (a *App) explainPlacement(user string, req *csbmsg.ServiceRequest, maxPrice *float64) (*placement.Decision, error) {
	if a.consumerView == nil {
		return nil, errors.New("consumer interface not configured")
	}
	return a.consumerView.placer.Place(req, placement.Options{Access: a.consumerView.cfg.access(user), DryRun: true,
		IgnoreUnhonoured: a.consumerView.cfg.UnhonouredFields == UnhonouredIgnore, MaxPrice: maxPrice})
}

// ExplainQuota tells whether user's quotas would admit req placed at a
// provider of the given price (nil: unpriced) with a lease of lease (zero:
// the default), and if not which limit it would go over: for the admin
// API's explain and for front-ends that want to say so before creating.
// Nothing is created or reserved.
func (a *App) ExplainQuota(ctx context.Context, user string, req *csbmsg.ServiceRequest, price *float64, lease time.Duration) (*jobs.QuotaCheck, error) {
	m := a.JobManager()
	if m == nil {
		return nil, errors.New("consumer interface not configured")
	}
	return m.CheckQuota(ctx, user, req, price, lease)
}

// adminQuotaOf is explain's quota part.
func adminQuotaOf(user string, qc *jobs.QuotaCheck, leaseSeconds uint64) *adminQuota {
	out := &adminQuota{User: user, Scopes: qc.Scopes, Admitted: qc.Refusal == nil, Usage: qc.Usage, Cost: qc.Cost, LeaseSeconds: leaseSeconds}
	if r := qc.Refusal; r != nil {
		out.Scope, out.Limit, out.Reason = r.Scope, r.Limit, r.Reason
	}
	return out
}
