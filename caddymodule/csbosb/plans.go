package csbosb

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/google/uuid"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/durparam"
)

// Plan is one OSB service plan the operator declares. Its request is
// what the broker places for an instance of the plan; the parameters of
// a provision or an update may override the sizes, the lease and the
// provider.
type Plan struct {
	// Name is the plan's CLI-friendly name, unique within its service
	// model. Required.
	Name string `json:"name"`
	// Description is shown by the platform. Default: a summary of the
	// plan's request.
	Description string `json:"description,omitempty"`
	// Kind is the service model the plan belongs to: iaas, dsaas, saas
	// or paas. Default iaas.
	Kind string `json:"kind,omitempty"`
	// Cores, Memory (GB) and Storage (GB) size an IaaS plan's machine.
	// Zero leaves the field out of the request.
	Cores   uint64 `json:"cores,omitempty"`
	Memory  uint64 `json:"memory,omitempty"`
	Storage uint64 `json:"storage,omitempty"`
	// Architecture is an IaaS plan's CPU architecture (e.g. x86_64).
	// Default: any.
	Architecture string `json:"architecture,omitempty"`
	// Link is a SaaS or PaaS plan's link relation: the application the
	// plan asks for (required for saas and paas plans).
	Link string `json:"link,omitempty"`
	// Lease is the lease an instance of the plan asks for; the job
	// manager clamps it to its lease_min and lease_max. Default: the
	// job manager's lease_default. The "lease" parameter overrides it.
	Lease caddy.Duration `json:"lease,omitempty"`
	// Provider pins the plan to one provider. Default: placement chooses
	// among every provider that can serve the plan.
	Provider string `json:"provider,omitempty"`
}

// kinds are the service models, in catalogue order.
var kinds = []catalog.Kind{catalog.KindIaaS, catalog.KindDSaaS, catalog.KindSaaS, catalog.KindPaaS}

// kindOf parses a plan's kind.
func kindOf(s string) (catalog.Kind, bool) {
	if s == "" {
		return catalog.KindIaaS, true
	}
	for _, k := range kinds {
		if strings.EqualFold(s, string(k)) {
			return k, true
		}
	}
	return "", false
}

// validate checks a declared plan.
func (p *Plan) validate() error {
	if p.Name == "" {
		return fmt.Errorf("a plan needs a name")
	}
	k, ok := kindOf(p.Kind)
	if !ok {
		return fmt.Errorf("plan %q: unknown kind %q (iaas, dsaas, saas or paas)", p.Name, p.Kind)
	}
	if k != catalog.KindIaaS && (p.Cores != 0 || p.Memory != 0 || p.Storage != 0 || p.Architecture != "") {
		return fmt.Errorf("plan %q: cores, memory, storage and architecture are for iaas plans", p.Name)
	}
	if (k == catalog.KindSaaS || k == catalog.KindPaaS) && p.Link == "" {
		return fmt.Errorf("plan %q: a %s plan needs a link", p.Name, strings.ToLower(string(k)))
	}
	if p.Lease < 0 {
		return fmt.Errorf("plan %q: negative lease", p.Name)
	}
	return nil
}

// osbPlan is a plan of the catalogue as the front-end uses it: declared
// or derived from a published offer.
type osbPlan struct {
	ID      string
	Plan    Plan
	Kind    catalog.Kind
	Derived bool
}

// params are the provision and update parameters the front-end takes.
type params struct {
	Cores    *uint64
	Memory   *uint64
	Storage  *uint64
	Lease    time.Duration
	Provider string
}

// paramNames lists the parameters, for the error naming the known ones.
var paramNames = map[catalog.Kind][]string{
	catalog.KindIaaS:  {"cores", "lease", "memory", "provider", "storage"},
	catalog.KindDSaaS: {"lease", "provider"},
	catalog.KindSaaS:  {"lease", "provider"},
	catalog.KindPaaS:  {"lease", "provider"},
}

// parseParams validates raw OSB parameters for a plan of kind: a JSON
// object whose members are known for the kind, with whole numbers of at
// least 1 for sizes, a duration ("90m", "2h") or whole seconds for
// lease, and a provider id. The error says which parameter is wrong and
// why.
func parseParams(raw json.RawMessage, kind catalog.Kind) (params, error) {
	var p params
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "null" {
		return p, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return p, fmt.Errorf("parameters must be a JSON object: %v", err)
	}
	known := paramNames[kind]
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		if !contains(known, k) {
			return p, fmt.Errorf("unknown parameter %q for a %s plan (known: %s)", k, kind, strings.Join(known, ", "))
		}
		switch k {
		case "cores", "memory", "storage":
			n, err := wholeNumber(v)
			if err != nil {
				return p, fmt.Errorf("parameter %s: %v", k, err)
			}
			switch k {
			case "cores":
				p.Cores = &n
			case "memory":
				p.Memory = &n
			case "storage":
				p.Storage = &n
			}
		case "lease":
			d, err := leaseValue(v)
			if err != nil {
				return p, fmt.Errorf("parameter lease: %v", err)
			}
			p.Lease = d
		case "provider":
			var s string
			if err := json.Unmarshal(v, &s); err != nil || s == "" {
				return p, fmt.Errorf("parameter provider: must be a provider id (a non-empty string)")
			}
			p.Provider = s
		}
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// wholeNumber reads a JSON number that is a whole number of at least 1.
func wholeNumber(v json.RawMessage) (uint64, error) {
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, fmt.Errorf("must be a whole number, not %s", v)
	}
	if f < 1 || f != math.Trunc(f) || f > 1<<32 {
		return 0, fmt.Errorf("must be a whole number from 1 to %d, not %s", uint64(1)<<32, v)
	}
	return uint64(f), nil
}

// leaseValue reads a lease: a Go duration string or whole seconds.
func leaseValue(v json.RawMessage) (time.Duration, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		d, ok := durparam.Parse(s)
		if !ok {
			return 0, fmt.Errorf("must be a positive duration such as \"90m\" or a number of seconds, not %q", s)
		}
		return d, nil
	}
	n, err := wholeNumber(v)
	if err != nil {
		return 0, fmt.Errorf("must be a positive duration such as \"90m\" or a number of seconds, not %s", v)
	}
	return time.Duration(n) * time.Second, nil
}

// request builds the broker request for plan p with parameters q.
func (p *osbPlan) request(q params) *csbmsg.ServiceRequest {
	pl := p.Plan
	switch p.Kind {
	case catalog.KindIaaS:
		cores, memory, storage := pl.Cores, pl.Memory, pl.Storage
		if q.Cores != nil {
			cores = *q.Cores
		}
		if q.Memory != nil {
			memory = *q.Memory
		}
		if q.Storage != nil {
			storage = *q.Storage
		}
		c := &csbmsg.Compute{}
		if cores > 0 {
			c.Cores = &cores
		}
		if memory > 0 {
			c.Memory = &memory
		}
		if pl.Architecture != "" {
			a := pl.Architecture
			c.Architecture = &a
		}
		i := &csbmsg.IaaS{Compute: c}
		if storage > 0 {
			i.Storage = &csbmsg.Storage{Size: &storage}
		}
		return &csbmsg.ServiceRequest{IaaS: i}
	case catalog.KindDSaaS:
		return &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}}}
	case catalog.KindSaaS:
		return &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: pl.Link}}}
	default:
		return &csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{Link: &csbmsg.Link{Rel: pl.Link}}}
	}
}

// lease returns the lease asked for by the parameters, else the plan's.
func (p *osbPlan) lease(q params) time.Duration {
	if q.Lease > 0 {
		return q.Lease
	}
	return time.Duration(p.Plan.Lease)
}

// provider returns the provider the plan or the parameters pin, or "". A
// pinned plan is served at its provider only (the catalogue lists it
// there): a provider parameter naming another one is an error.
func (p *osbPlan) provider(q params) (string, error) {
	if p.Plan.Provider == "" {
		return q.Provider, nil
	}
	if q.Provider != "" && q.Provider != p.Plan.Provider {
		return "", fmt.Errorf("parameter provider: plan %s is served at %s only, not at %s", p.Plan.Name, p.Plan.Provider, q.Provider)
	}
	return p.Plan.Provider, nil
}

// describe summarises a plan's request for its default description.
func (p *osbPlan) describe() string {
	pl := p.Plan
	var parts []string
	switch p.Kind {
	case catalog.KindIaaS:
		if pl.Cores > 0 {
			parts = append(parts, fmt.Sprintf("%d cores", pl.Cores))
		}
		if pl.Memory > 0 {
			parts = append(parts, fmt.Sprintf("%d GB memory", pl.Memory))
		}
		if pl.Storage > 0 {
			parts = append(parts, fmt.Sprintf("%d GB storage", pl.Storage))
		}
		if pl.Architecture != "" {
			parts = append(parts, pl.Architecture)
		}
		if len(parts) == 0 {
			parts = append(parts, "a machine sized by the parameters")
		}
	case catalog.KindDSaaS:
		parts = append(parts, "a storage container")
	default:
		parts = append(parts, "the application "+pl.Link)
	}
	if pl.Provider != "" {
		parts = append(parts, "at "+pl.Provider)
	} else {
		parts = append(parts, "placed across providers by the broker's policy")
	}
	if pl.Lease > 0 {
		parts = append(parts, "lease "+time.Duration(pl.Lease).String())
	}
	return strings.Join(parts, ", ")
}

// planCopy is p's plan as an instance record keeps it.
func planCopy(p *osbPlan) *Plan {
	pl := p.Plan
	pl.Kind = strings.ToLower(string(p.Kind))
	return &pl
}

// ownPlan is the plan the instance was provisioned or last updated
// with, as recorded (nil for a record written before plans were kept).
func (rec *instanceRecord) ownPlan() *osbPlan {
	if rec.Plan == nil {
		return nil
	}
	k, ok := kindOf(rec.Plan.Kind)
	if !ok {
		return nil
	}
	return &osbPlan{ID: rec.PlanID, Plan: *rec.Plan, Kind: k}
}

// osbNamespace seeds the catalogue's ids (UUIDv5): the same broker id,
// kind and plan name always give the same id, so platforms see a stable
// catalogue across restarts and cluster members.
var osbNamespace = uuid.MustParse("8d3c1e4e-6f1b-5a8e-9c55-6b7c0cf1a9d2")

func serviceID(brokerID string, k catalog.Kind) string {
	return uuid.NewSHA1(osbNamespace, []byte(brokerID+"/service/"+string(k))).String()
}

func planID(brokerID string, k catalog.Kind, name string) string {
	return uuid.NewSHA1(osbNamespace, []byte(brokerID+"/plan/"+string(k)+"/"+name)).String()
}

// derivePlans returns a plan per placeable offer of the catalogue: an
// IaaS offer gives a plan pinned to its provider whose machine is sized by
// the parameters (default 1 core, 1 GB), a DSaaS offer a container at its
// provider, a SaaS or PaaS offer its link at its provider. Plans are
// named <provider>-<service>.
func derivePlans(cat *catalog.Catalog, brokerID string) []osbPlan {
	if cat == nil {
		return nil
	}
	var out []osbPlan
	seen := map[string]bool{}
	for _, k := range kinds {
		for _, e := range cat.Placeable(k) {
			name := cliName(e.ProviderID + "-" + e.Service.ID)
			if seen[string(k)+"/"+name] {
				continue
			}
			pl := Plan{Name: name, Kind: strings.ToLower(string(k)), Provider: e.ProviderID}
			switch k {
			case catalog.KindIaaS:
				pl.Cores, pl.Memory = 1, 1
				if c := e.Service.IaaS; c != nil && c.Compute != nil && c.Compute.Architecture != nil {
					pl.Architecture = *c.Compute.Architecture
				}
			case catalog.KindSaaS, catalog.KindPaaS:
				var l *csbmsg.Link
				if k == catalog.KindSaaS && e.Service.SaaS != nil {
					l = e.Service.SaaS.Link
				} else if e.Service.PaaS != nil {
					l = e.Service.PaaS.Link
				}
				if l == nil || l.Rel == "" {
					continue
				}
				pl.Link = l.Rel
			}
			seen[string(k)+"/"+name] = true
			out = append(out, osbPlan{ID: planID(brokerID, k, name), Plan: pl, Kind: k, Derived: true})
		}
	}
	return out
}

// cliName lower-cases s and replaces what a CLI-friendly name may not
// hold (anything but a-z, 0-9, - and _) by -.
func cliName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}
