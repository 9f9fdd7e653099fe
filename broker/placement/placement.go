// Package placement chooses the provider and service that fulfil a
// consumer's <CloudServiceRequest> (draft section 4.2): it matches the
// request against the catalogue's placeable services, ranks the matching
// providers with a pluggable [Policy], and explains every decision.
//
// # Matching rules
//
// A request asks for exactly one service model (IaaS, PaaS, SaaS or DSaaS).
// A service of that model matches when:
//
//   - IaaS compute: architecture equals the requested one (case-insensitive);
//     cores, memory (GB) and speed (GHz) are at least the requested values.
//     A service that does not state a value offers 0 of it.
//   - IaaS storage: size (GB) is at least the requested size.
//   - IaaS network: a requested vlan, VLANlabel and allocation must each be
//     offered: equal to the service's value; a service vlan written as a
//     range "100-200" offers every vlan in it.
//   - IaaS NetworkInterface and storagelink: the service supports them
//     (declares the -support element).
//   - Requested compute, network or storage needs the matching -support
//     element at all.
//   - DSaaS: every requested object kind (DataObject, ContainerObject,
//     DomainObject, QueueObject, CapabilityObject) is supported. A
//     requested CapabilityObject type must equal the type the service's
//     CapabilityObject-support declares.
//   - PaaS, SaaS and DSaaS: a requested Link rel must equal the rel of the
//     service's Link.
//   - <encryption>true</encryption> needs the provider's
//     encryption-support to be true.
//   - Honoured fields: every field the request sets (contract.RequestFields)
//     must be honoured by the provider's adapter for the model
//     (contract.FieldReporter) or by placement itself
//     (contract.PlacementHonoured). With Options.IgnoreUnhonoured a
//     provider that drops some is still a candidate, ranked by the number
//     of fields it drops (none first), and Candidate.Unhonoured names
//     them.
//   - Per-user access lists: a provider on the user's deny list, or absent
//     from a non-empty allow list, is not a candidate.
//
// Within one provider the best-fitting service is taken: for IaaS the
// smallest one (by cores, then memory, speed and size) that satisfies the
// request; for DSaaS the first, in catalogue order, of the narrowest set of
// supported object kinds that covers the request; for PaaS and SaaS the
// first in catalogue order. Candidates
// are then providers, each with its best-fitting service, and the policy
// ranks them; ties break by provider configuration order.
//
// # Index
//
// The index keeps, per service model and per provider, the services sorted
// by capacity with suffix maxima, bucketed by architecture (IaaS), by the
// bitmask of supported object kinds (DSaaS) and by Link rel (PaaS/SaaS). A
// decision costs O(P·log(S/P)) for P providers and S services in the usual
// case, not O(S). The index of a model is rebuilt lazily when the
// catalogue's Version changes, reusing the sorted groups of providers whose
// services did not change.
//
// This package does not import Caddy.
package placement

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Catalog is what placement reads from the provider catalogue
// (broker/catalog's Catalog implements it).
type Catalog interface {
	// Placeable returns the active, unexpired services of active providers
	// of one kind, sorted by provider configuration order then service id.
	Placeable(kind catalog.Kind) []catalog.ServiceEntry
	// Provider returns a provider entry.
	Provider(id string) (catalog.ProviderEntry, bool)
	// Version increments on every change that affects placement.
	Version() uint64
}

// Load is what a provider carries at the moment: the input of the
// least_loaded policy.
type Load struct {
	Jobs      int    // live jobs (pending, provisioning or success)
	Cores     uint64 // committed cores
	MemoryGB  uint64 // committed memory
	StorageGB uint64 // committed storage
}

// LoadFunc reports the current load of a provider.
type LoadFunc func(providerID string) Load

// Access is a per-user provider allow/deny list applied during placement.
// An empty Allow allows every provider not denied.
type Access struct {
	Allow []string
	Deny  []string
}

// Permits reports whether the lists let a request use provider id: not
// on Deny, and on Allow when Allow is not empty. A nil Access permits
// every provider.
func (a *Access) Permits(id string) bool {
	ok, _ := a.permits(id)
	return ok
}

func (a *Access) permits(id string) (bool, string) {
	if a == nil {
		return true, ""
	}
	for _, d := range a.Deny {
		if d == id {
			return false, "denied for this user"
		}
	}
	if len(a.Allow) == 0 {
		return true, ""
	}
	for _, al := range a.Allow {
		if al == id {
			return true, ""
		}
	}
	return false, "not on this user's allow list"
}

// RequestError is a request placement cannot work with. Status is the
// table 2 code to answer: 400 (nothing requested) or 420 (more than one
// service model in one request, which this broker does not support).
type RequestError struct {
	Status csbmsg.Status
	Reason string
}

func (e *RequestError) Error() string { return e.Reason }

// Options adjust one decision.
type Options struct {
	// Access is the requesting user's provider allow/deny list.
	Access *Access
	// Exclude lists providers that must not be chosen (COPY and MOVE
	// exclude the job's current provider). They appear in the explanation
	// with the reason "excluded".
	Exclude []string
	// DryRun ranks without moving the policy's state (see DryScorer): the
	// decision explains what would be chosen, and the next real decision
	// is the same as if the dry run had not happened.
	DryRun bool
	// IgnoreUnhonoured keeps providers whose adapter does not honour
	// every field the request sets as candidates, ranked by how many they
	// drop (none first), instead of rejecting them. Default false: rejected.
	IgnoreUnhonoured bool
	// MaxPrice, when set, is the highest price (per hour per cost unit,
	// see Candidate.Price) the request accepts: a provider priced above
	// it, or without a known price, is not a candidate. Default: none.
	MaxPrice *float64
}

// Config configures a Placer.
type Config struct {
	// Catalog is the catalogue to place on. Required.
	Catalog Catalog
	// Policy ranks the matching candidates. Default: First.
	Policy Policy
	// Order is the providers' configuration order. Providers not listed
	// follow, in the order the catalogue lists them.
	Order []string
	// Load reports provider load for load-aware policies.
	Load LoadFunc
	// Honoured returns the request fields a provider's adapter for a
	// service model honours (contract.HonouredBy); nil means every field.
	// Default: none set, every provider honours every field.
	Honoured func(providerID string, kind catalog.Kind) contract.FieldSet
	// Prices maps a provider id, or "<provider>/<service>", to its price
	// per hour per cost unit as the operator configured it; it overrides
	// the price of the provider's notification label (Candidate.Price).
	// Default: none, the label's price.
	Prices map[string]float64
}

// Placer makes placement decisions. It is safe for concurrent use.
type Placer struct {
	cat    Catalog
	policy Policy
	order  map[string]int
	ids    []string // the configured providers, in order

	load     atomic.Pointer[LoadFunc]
	honoured func(providerID string, kind catalog.Kind) contract.FieldSet
	prices   map[string]float64
	// svcPrices is true when prices holds a price per service
	// ("provider/service"), looked up for each matching candidate.
	svcPrices bool

	mu      sync.RWMutex
	indexes map[catalog.Kind]*kindIndex
}

// servicePrice returns the configured price of a provider's service, if
// any (without building the key when no service has one).
func (p *Placer) servicePrice(provider, service string) (float64, bool) {
	if !p.svcPrices {
		return 0, false
	}
	v, ok := p.prices[provider+"/"+service]
	return v, ok
}

// New returns a Placer.
func New(cfg Config) (*Placer, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("placement: no catalogue")
	}
	p := &Placer{
		cat:      cfg.Catalog,
		policy:   cfg.Policy,
		order:    make(map[string]int, len(cfg.Order)),
		indexes:  make(map[catalog.Kind]*kindIndex),
		honoured: cfg.Honoured,
		prices:   cfg.Prices,
	}
	if p.policy == nil {
		p.policy = First{}
	}
	for k := range p.prices {
		p.svcPrices = p.svcPrices || strings.Contains(k, "/")
	}
	for i, id := range cfg.Order {
		if _, dup := p.order[id]; !dup {
			p.order[id] = i
			p.ids = append(p.ids, id)
		}
	}
	if cfg.Load != nil {
		p.SetLoad(cfg.Load)
	}
	return p, nil
}

// Policy returns the placer's policy.
func (p *Placer) Policy() Policy { return p.policy }

// SetLoad sets the function load-aware policies read provider load from.
func (p *Placer) SetLoad(fn LoadFunc) { p.load.Store(&fn) }

func (p *Placer) loadFunc() LoadFunc {
	if fn := p.load.Load(); fn != nil {
		return *fn
	}
	return func(string) Load { return Load{} }
}

// KindOf returns the single service model a request asks for, or a
// *RequestError.
func KindOf(req *csbmsg.ServiceRequest) (catalog.Kind, error) {
	var kinds []catalog.Kind
	if req.IaaS != nil {
		kinds = append(kinds, catalog.KindIaaS)
	}
	if req.PaaS != nil {
		kinds = append(kinds, catalog.KindPaaS)
	}
	if req.SaaS != nil {
		kinds = append(kinds, catalog.KindSaaS)
	}
	if req.DSaaS != nil {
		kinds = append(kinds, catalog.KindDSaaS)
	}
	switch len(kinds) {
	case 0:
		return "", &RequestError{Status: csbmsg.StatusSyntaxError, Reason: "the request asks for no service: it needs one of IaaS, PaaS, SaaS or DSaaS"}
	case 1:
		return kinds[0], nil
	}
	return "", &RequestError{Status: csbmsg.StatusUnsupported, Reason: fmt.Sprintf("the request asks for %v at once; this broker places one service model per request", kinds)}
}

// Place matches req against the catalogue and ranks the matching
// providers. A decision with no matching candidate is not an error: check
// Decision.Chosen.
func (p *Placer) Place(req *csbmsg.ServiceRequest, opt Options) (*Decision, error) {
	kind, err := KindOf(req)
	if err != nil {
		return nil, err
	}
	w := newWant(kind, req)
	idx := p.index(kind)
	var fields []string
	if p.honoured != nil {
		fields = contract.RequestFields(req)
	}

	d := decisionPool.Get().(*Decision)
	d.Kind, d.Policy, d.Version, d.policy = kind, p.policy.Name(), idx.version, p.policy
	n := len(idx.groups)
	if cap(d.Candidates) < n {
		d.Candidates = make([]Candidate, n)
		d.Ranked = make([]int, 0, n)
	}
	d.Candidates = d.Candidates[:n]
	d.Fields = fields
	matched := d.Ranked[:0]
	finds := idx.finds(&w)
	for i := range idx.groups {
		g := &idx.groups[i]
		// Each field of the candidate is set here, in the one pass over
		// the slice: a pooled decision's slice still holds the last
		// decision's candidates (Release leaves them). Clearing the slice
		// first, and again in Release, were two more passes (60 KB with
		// 256 providers, 7% of a job create's CPU); a composite literal
		// per candidate is a copy with write barriers, slower still.
		c := &d.Candidates[i]
		c.ProviderID = g.id
		c.Order = g.order
		c.Matched = false
		c.ServiceID, c.Service, c.svc = "", nil, nil
		c.Score = 0
		c.Rank = -1
		c.Label = g.label
		c.LabelPrice, c.HasLabelPrice = g.price, g.hasPrice
		c.Price, c.HasPrice = 0, false
		c.Encryption = g.encryption
		c.Unhonoured = nil
		c.rej = rejection{}
		if ok, why := opt.Access.permits(g.id); !ok {
			c.rej = rejection{code: rejAccess, text: why}
			continue
		}
		if excluded(opt.Exclude, g.id) {
			c.rej = rejection{code: rejExcluded}
			continue
		}
		c.Price, c.HasPrice = c.LabelPrice, c.HasLabelPrice
		if v, ok := p.prices[g.id]; ok {
			c.Price, c.HasPrice = v, true
		}
		// The provider's price decides here only when no service has a
		// price of its own; otherwise the best-fitting service's price
		// (which comes first) is held against the maximum below.
		if opt.MaxPrice != nil && !p.svcPrices && (!c.HasPrice || c.Price > *opt.MaxPrice) {
			c.rej = priceRejection(c.Price, c.HasPrice, *opt.MaxPrice)
			continue
		}
		if w.encrypt && !g.encryption {
			c.rej = rejection{code: rejEncryption}
			continue
		}
		f := &finds[i]
		s, rej := f.s, f.rej
		if s == nil {
			c.rej = rej
			continue
		}
		if len(fields) > 0 {
			if miss := contract.Unhonoured(p.honoured(g.id, kind), fields); len(miss) > 0 {
				c.Unhonoured = miss
				if !opt.IgnoreUnhonoured {
					c.rej = rejection{code: rejUnhonoured, text: contract.FieldList(miss)}
					continue
				}
			}
		}
		if v, ok := p.servicePrice(g.id, f.id); ok {
			c.Price, c.HasPrice = v, true
		}
		if opt.MaxPrice != nil && (!c.HasPrice || c.Price > *opt.MaxPrice) {
			c.rej = priceRejection(c.Price, c.HasPrice, *opt.MaxPrice)
			continue
		}
		c.Matched = true
		c.ServiceID = f.id
		c.Service = f.entry
		c.svc = s
		matched = append(matched, i)
	}
	if len(matched) > 0 {
		in := &d.input
		*in = Input{Request: req, Kind: kind, Candidates: d.Candidates, Matched: matched, Load: p.loadFunc()}
		ds, dry := p.policy.(DryScorer)
		score := func(in *Input, dryRun bool) {
			if dry && dryRun {
				ds.ScoreDry(in)
			} else {
				p.policy.Score(in)
			}
		}
		if top := fewestUnhonouredFirst(d.Candidates, matched); top < len(matched) {
			// The candidates that drop the fewest fields rank first
			// whatever their score. A policy with state (a rotation,
			// the weights served) must move it by the candidate that
			// is chosen: scoring every candidate at once moved it by
			// one that ranks behind, and the rotation served the same
			// provider twice. So the first tier is scored alone, and
			// the rest, which only follow it, dry.
			in.Matched = matched[:top]
			score(in, opt.DryRun)
			in.Matched = matched[top:]
			score(in, true)
			in.Matched = matched
			d.scored = top
		} else {
			score(in, opt.DryRun)
			d.scored = len(matched)
		}
		if opt.DryRun {
			d.scored = 0
		}
		in.Request, in.Load = nil, nil
		// Order is unique per candidate, so the order is total and an
		// unstable sort gives the one answer.
		slices.SortFunc(matched, func(a, b int) int {
			ca, cb := &d.Candidates[a], &d.Candidates[b]
			if ua, ub := len(ca.Unhonoured), len(cb.Unhonoured); ua != ub {
				return cmp.Compare(ua, ub) // fewer ignored fields first
			}
			if ca.Score != cb.Score {
				return cmp.Compare(ca.Score, cb.Score)
			}
			return cmp.Compare(ca.Order, cb.Order)
		})
		for r, i := range matched {
			d.Candidates[i].Rank = r
		}
	}
	d.Ranked = matched
	d.Absent = d.Absent[:0]
	if len(matched) == 0 {
		d.Absent = p.appendAbsent(d.Absent, kind, d.Candidates)
	}
	return d, nil
}

// fewestUnhonouredFirst reorders matched so that the candidates with the
// fewest Unhonoured fields come first, each part in configuration order
// (as Input.Matched must be), and returns how many come first: all of
// them, without reordering, when every candidate drops as many.
func fewestUnhonouredFirst(cands []Candidate, matched []int) int {
	fewest, mixed := len(cands[matched[0]].Unhonoured), false
	for _, i := range matched[1:] {
		if n := len(cands[i].Unhonoured); n != fewest {
			mixed = true
			fewest = min(fewest, n)
		}
	}
	if !mixed {
		return len(matched)
	}
	rest := make([]int, 0, len(matched))
	top := 0
	for _, i := range matched {
		if len(cands[i].Unhonoured) == fewest {
			matched[top] = i
			top++
		} else {
			rest = append(rest, i)
		}
	}
	copy(matched[top:], rest)
	return top
}

// serviceLister is implemented by catalogues that list every service of
// a provider (broker/catalog's Catalog does), so that a refusal can tell a
// provider that published nothing from one that offers another model.
type serviceLister interface {
	Services(providerID string) []catalog.ServiceEntry
}

var _ serviceLister = (*catalog.Catalog)(nil)

// healthReporter is implemented by catalogues that keep the broker's own
// health marks (broker/catalog's Catalog does: SetHealthy), so that a
// refusal says a provider left placement because it is marked unhealthy
// rather than that it offers nothing active.
type healthReporter interface {
	Healthy(providerID string) bool
}

var _ healthReporter = (*catalog.Catalog)(nil)

// UnhealthyReason is the reason given for a provider that is not a
// candidate because the broker marked it unhealthy.
const UnhealthyReason = "marked unhealthy: its endpoint keeps failing the broker's health checks"

// appendAbsent appends the configured providers that are not candidates
// (they have no placeable service of kind) with the reason, so that a
// refusal names every provider.
func (p *Placer) appendAbsent(out []Absence, kind catalog.Kind, cands []Candidate) []Absence {
	for _, id := range p.ids {
		if slices.ContainsFunc(cands, func(c Candidate) bool { return c.ProviderID == id }) {
			continue
		}
		a := Absence{ProviderID: id, Order: p.order[id]}
		e, ok := p.cat.Provider(id)
		lister, canList := p.cat.(serviceLister)
		none := canList && len(lister.Services(id)) == 0
		switch {
		case !ok, none && e.Source == catalog.SourceStatic:
			// No entry, or only the placeholder the configuration
			// makes: the provider has not notified (nor been
			// discovered) yet.
			a.Reason = "nothing published yet"
		case none:
			a.Reason = "no services published"
		case e.Status != "" && e.Status != csbmsg.ServiceActive:
			a.Reason = "provider " + string(e.Status)
		case isUnhealthy(p.cat, id):
			a.Reason = UnhealthyReason
		default:
			a.Reason = fmt.Sprintf("no active %s service", kind)
		}
		out = append(out, a)
	}
	return out
}

// isUnhealthy reports whether cat marks provider id unhealthy.
func isUnhealthy(cat Catalog, id string) bool {
	h, ok := cat.(healthReporter)
	return ok && !h.Healthy(id)
}

// priceRejection rejects a candidate priced above max (or unpriced).
func priceRejection(price float64, known bool, max float64) rejection {
	m := strconv.FormatFloat(max, 'f', -1, 64)
	if !known {
		return rejection{code: rejPrice, text: "no price known; the request accepts at most " + m}
	}
	return rejection{code: rejPrice, text: fmt.Sprintf("price %s is above the maximum price %s the request accepts", strconv.FormatFloat(price, 'f', -1, 64), m)}
}

func excluded(list []string, id string) bool {
	for _, e := range list {
		if e == id {
			return true
		}
	}
	return false
}

// Matches reports whether one service of a provider satisfies req, by the
// same rules as Place (without access lists). It returns the reason when
// it does not. Updates use it to check that a resized request still fits
// the job's service.
func Matches(entry *catalog.ServiceEntry, encryptionSupport bool, req *csbmsg.ServiceRequest) (bool, string) {
	kind, err := KindOf(req)
	if err != nil {
		return false, err.Error()
	}
	if kind != entry.Kind {
		return false, fmt.Sprintf("the job's service is %s, the request asks for %s", entry.Kind, kind)
	}
	w := newWant(kind, req)
	if w.encrypt && !encryptionSupport {
		return false, rejection{code: rejEncryption}.String()
	}
	s := newSvc(entry)
	if rej, ok := s.check(&w); !ok {
		return false, rej.String()
	}
	return true, ""
}

// ---------------------------------------------------------------------------
// Decisions and explanations

// Candidate is one provider considered for a decision.
type Candidate struct {
	// ProviderID is the provider.
	ProviderID string
	// Order is its configuration order.
	Order int
	// Matched reports whether it has a service satisfying the request.
	Matched bool
	// ServiceID and Service are its best-fitting service when Matched.
	ServiceID string
	Service   *catalog.ServiceEntry
	// Score is the policy's rank key: lower ranks first. Ties break by
	// Order.
	Score float64
	// Rank is its position in the ranking (0 = chosen), -1 when not
	// matched.
	Rank int
	// Label is the provider's notification label; LabelPrice the price
	// parsed from it (see ParsePriceLabel).
	Label         string
	LabelPrice    float64
	HasLabelPrice bool
	// Price is the candidate's price per hour per cost unit: the
	// operator's (Config.Prices, service first) or else the label's;
	// HasPrice is false when neither is known. A job's cost is reckoned
	// with it (broker/quota).
	Price    float64
	HasPrice bool
	// Encryption is the provider's encryption-support.
	Encryption bool
	// Unhonoured lists the request fields its adapter does not honour
	// (contract.Unhonoured): the reason it was rejected, or, with
	// Options.IgnoreUnhonoured, what it would ignore.
	Unhonoured []string

	svc *svc
	rej rejection
}

// Reason returns why the candidate was rejected, or "" when it matched.
func (c *Candidate) Reason() string {
	if c.Matched {
		return ""
	}
	return c.rej.String()
}

// Decision is the outcome of one placement: every provider that offers
// the requested model, in configuration order, with its score or its
// reason for rejection, and the ranking of the matching ones.
type Decision struct {
	Kind       catalog.Kind
	Policy     string
	Version    uint64 // catalogue version the decision was made on
	Candidates []Candidate
	// Ranked holds indices into Candidates of the matching candidates,
	// best first: the order substitution tries them in.
	Ranked []int
	// Fields are the request fields checked against the adapters'
	// honoured sets (contract.RequestFields); nil when the placer has no
	// Config.Honoured.
	Fields []string
	// Absent lists, when nothing matched, the configured providers that
	// are not candidates at all (no placeable service of the kind: none
	// published yet, provider not active), in configuration order.
	Absent []Absence

	policy Policy
	input  Input
	// scored counts the candidates first in Ranked that the policy's
	// Score ranked (its state moved by them); 0 for a dry run.
	scored int
}

// Absence is a configured provider that was not a candidate, and why.
type Absence struct {
	ProviderID string
	Order      int
	Reason     string
}

// decisionPool recycles decisions (their candidate slices are the bulk of
// what a decision allocates) for callers that Release them.
var decisionPool = sync.Pool{New: func() any { return new(Decision) }}

// Release hands the decision back for reuse. The decision, its
// candidates and the slices returned by Ordered and Explain must not be
// used afterwards; strings taken from it (Summary, ids) stay valid.
// Calling Release is optional.
func (d *Decision) Release() {
	if d == nil {
		return
	}
	d.policy, d.input, d.scored = nil, Input{}, 0
	// The candidates are left as they are: the next Place writes each
	// one whole. Until then the pooled slice keeps catalogue entries
	// reachable; sync.Pool drops what stays unused over two collections.
	decisionPool.Put(d)
}

// Placed returns what to call with the provider that took the job, when
// the decision's policy keeps state (Settler) and the job may go to
// another candidate than the one ranked first; nil otherwise. Calling it
// with a provider the policy did not rank behind the first moves
// nothing. It outlives Release, and acts once.
func (d *Decision) Placed() func(providerID string) {
	s, ok := d.policy.(Settler)
	if !ok || d.scored < 2 {
		return nil
	}
	// A copy of what Settle reads: the decision's candidates are reused
	// once it is released.
	in := &Input{Kind: d.Kind, Candidates: make([]Candidate, d.scored), Matched: make([]int, d.scored)}
	for k, i := range d.Ranked[:d.scored] {
		c := &d.Candidates[i]
		in.Candidates[k] = Candidate{ProviderID: c.ProviderID, Order: c.Order, Score: c.Score, Matched: true, Rank: k}
		in.Matched[k] = k
	}
	var once sync.Once
	return func(providerID string) {
		for k := 1; k < len(in.Candidates); k++ {
			if in.Candidates[k].ProviderID == providerID {
				once.Do(func() { s.Settle(in, 0, k) })
				return
			}
		}
	}
}

// Chosen returns the best candidate, or nil when none matched.
func (d *Decision) Chosen() *Candidate {
	if len(d.Ranked) == 0 {
		return nil
	}
	return &d.Candidates[d.Ranked[0]]
}

// UnsupportedFields returns, when no candidate matched, the fields that
// kept otherwise matching providers out: the union of their Unhonoured
// fields, in request order. Without them the request would have been
// placed, so the answer is the draft's 420 (unsupported element) naming
// them, not 408. It returns nil when a candidate matched or no candidate
// was rejected for its fields alone.
func (d *Decision) UnsupportedFields() []string {
	if len(d.Ranked) > 0 {
		return nil
	}
	miss := map[string]bool{}
	for i := range d.Candidates {
		if d.Candidates[i].rej.code == rejUnhonoured {
			for _, f := range d.Candidates[i].Unhonoured {
				miss[f] = true
			}
		}
	}
	var out []string
	for _, f := range d.Fields {
		if miss[f] {
			out = append(out, f)
			delete(miss, f)
		}
	}
	return out
}

// Ordered returns the matching candidates, best first.
func (d *Decision) Ordered() []*Candidate {
	out := make([]*Candidate, len(d.Ranked))
	for i, r := range d.Ranked {
		out[i] = &d.Candidates[r]
	}
	return out
}

// Explanation is one line of a decision's explanation.
type Explanation struct {
	ProviderID string  `json:"provider_id"`
	ServiceID  string  `json:"service_id,omitempty"`
	Matched    bool    `json:"matched"`
	Rank       int     `json:"rank"` // 0 = chosen, -1 = rejected
	Score      float64 `json:"score,omitempty"`
	Note       string  `json:"note"` // the score explained, or the reason for rejection
	// Unhonoured are the request fields the provider's adapter does not
	// honour (see Candidate.Unhonoured).
	Unhonoured []string `json:"unhonoured_fields,omitempty"`
}

// Explain returns every candidate with its score or reason for rejection,
// in configuration order.
func (d *Decision) Explain() []Explanation {
	out := make([]Explanation, len(d.Candidates))
	for i := range d.Candidates {
		c := &d.Candidates[i]
		e := Explanation{ProviderID: c.ProviderID, ServiceID: c.ServiceID, Matched: c.Matched, Rank: c.Rank, Unhonoured: c.Unhonoured}
		if c.Matched {
			if !math.IsInf(c.Score, 0) && !math.IsNaN(c.Score) {
				e.Score = c.Score
			}
			e.Note = d.policy.Note(c)
			if len(c.Unhonoured) > 0 {
				e.Note += "; its adapter would ignore " + contract.FieldList(c.Unhonoured)
			}
		} else {
			e.Note = c.Reason()
		}
		out[i] = e
	}
	return out
}

// Summary is a one-line account of the decision for a response's reason:
// the chosen provider and service and why, or why nothing matched.
func (d *Decision) Summary() string {
	c := d.Chosen()
	if c == nil {
		return d.NoMatchReason()
	}
	return fmt.Sprintf("provider %s, service %s: chosen by policy %s (%s) among %d matching of %d providers",
		c.ProviderID, c.ServiceID, d.Policy, d.policy.Note(c), len(d.Ranked), len(d.Candidates))
}

// NoMatchReason explains why no provider matched, naming every provider:
// the candidates with their rejection and the configured providers that
// offer nothing of the kind (Absent), in configuration order.
func (d *Decision) NoMatchReason() string {
	type line struct {
		order      int
		id, reason string
	}
	lines := make([]line, 0, len(d.Candidates)+len(d.Absent))
	for i := range d.Candidates {
		c := &d.Candidates[i]
		lines = append(lines, line{c.Order, c.ProviderID, c.Reason()})
	}
	for _, a := range d.Absent {
		lines = append(lines, line{a.Order, a.ProviderID, a.Reason})
	}
	if len(lines) == 0 {
		return fmt.Sprintf("no provider offers an active %s service", d.Kind)
	}
	slices.SortStableFunc(lines, func(a, b line) int { return cmp.Compare(a.order, b.order) })
	var b strings.Builder
	if len(d.Candidates) == 0 {
		fmt.Fprintf(&b, "no provider offers an active %s service: ", d.Kind)
	} else {
		b.WriteString("no provider can fulfil the request: ")
	}
	for i, l := range lines {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(l.id)
		b.WriteString(": ")
		b.WriteString(l.reason)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Rejections

type rejCode uint8

const (
	rejNone rejCode = iota
	rejAccess
	rejExcluded
	rejEncryption
	rejNoElement // the service lacks a -support element the request needs
	rejArch
	rejMin         // a minimum is not met by any service
	rejMinCombined // no service meets this minimum together with the previous ones
	rejValue       // an offered value differs
	rejObject      // a DSaaS object kind is not supported
	rejRel
	rejEmpty
	rejUnhonoured // the adapter does not honour fields the request sets (text)
	rejPrice      // priced above the request's maximum, or unpriced (text)
)

type rejection struct {
	code  rejCode
	field string
	want  uint64
	have  uint64
	wantS string
	haveS string
	text  string
}

func (r rejection) String() string {
	switch r.code {
	case rejAccess:
		return r.text
	case rejExcluded:
		return "excluded: the job is already there"
	case rejEncryption:
		return "encryption requested; the provider does not declare encryption-support"
	case rejNoElement:
		return fmt.Sprintf("no service supports %s", r.field)
	case rejArch:
		if r.haveS == "" {
			return fmt.Sprintf("no service with architecture %s", r.wantS)
		}
		return fmt.Sprintf("no service with architecture %s (offers %s)", r.wantS, r.haveS)
	case rejMin:
		return fmt.Sprintf("no service with %s >= %d (largest %d)", r.field, r.want, r.have)
	case rejMinCombined:
		return fmt.Sprintf("no service with %s >= %d together with the other minimums (largest %d)", r.field, r.want, r.have)
	case rejValue:
		if r.haveS == "" {
			return fmt.Sprintf("%s %s not offered", r.field, r.wantS)
		}
		return fmt.Sprintf("%s %s not offered (service %s offers %s)", r.field, r.wantS, r.text, r.haveS)
	case rejObject:
		return fmt.Sprintf("no service supports %s", r.field)
	case rejRel:
		return fmt.Sprintf("no service offers Link rel %q", r.wantS)
	case rejEmpty:
		return "no placeable service"
	case rejUnhonoured:
		return "its adapter does not honour " + r.text
	case rejPrice:
		return r.text
	}
	return "rejected"
}

// ---------------------------------------------------------------------------
// What a request wants, flattened

const (
	objData uint8 = 1 << iota
	objContainer
	objDomain
	objQueue
	objCapability
)

var objNames = []struct {
	bit  uint8
	name string
}{
	{objData, "DataObject"}, {objContainer, "ContainerObject"}, {objDomain, "DomainObject"},
	{objQueue, "QueueObject"}, {objCapability, "CapabilityObject"},
}

type want struct {
	kind      catalog.Kind
	encrypt   bool
	flat      // arch "" = any
	vlanNum   uint64
	vlanIsNum bool
}

// ServiceLeavesUsed are the leaves of a published Cloud-Service (as
// contract.TypeLeaves spells them) that the matching rules read: flat.read
// takes exactly these. Every other leaf of a notification is listed as
// informational in docs/conformance/notification-fields.md; the test
// TestNotificationLeavesAccounted keeps the two complete.
var ServiceLeavesUsed = []string{
	"IaaS/compute/architecture", "IaaS/compute/cores", "IaaS/compute/speed", "IaaS/compute/memory",
	"IaaS/network/vlan", "IaaS/network/VLANlabel", "IaaS/network/allocation",
	"IaaS/storage/size",
	"PaaS/Link/rel", "SaaS/Link/rel", "DSaaS/Link/rel",
	"DSaaS/CapabilityObject/type",
}

// flat is what a request asks for and a service offers, flattened from
// its IaaS, PaaS, SaaS or DSaaS element.
type flat struct {
	compute, network, storage bool
	arch                      string // lower-case
	cores, mem, speed, size   uint64
	vlan, vlanLabel, alloc    string
	ni, sl                    bool

	objects uint8
	capType string // CapabilityObject type, "" = unstated
	rel     string
}

// read flattens the one service-model element that is set.
func (f *flat) read(iaas *csbmsg.IaaS, paas *csbmsg.PaaS, saas *csbmsg.SaaS, dsaas *csbmsg.DSaaS) {
	switch {
	case iaas != nil:
		if c := iaas.Compute; c != nil {
			f.compute = true
			if c.Architecture != nil {
				f.arch = strings.ToLower(strings.TrimSpace(*c.Architecture))
			}
			f.cores, f.mem, f.speed = u(c.Cores), u(c.Memory), u(c.Speed)
		}
		if n := iaas.Network; n != nil {
			f.network = true
			f.vlan, f.vlanLabel = s(n.VLAN), s(n.VLANLabel)
			if n.Allocation != nil {
				f.alloc = string(*n.Allocation)
			}
		}
		if st := iaas.Storage; st != nil {
			f.storage = true
			f.size = u(st.Size)
		}
		f.ni = iaas.NetworkInterface != nil
		f.sl = iaas.StorageLink != nil
	case dsaas != nil:
		f.objects = dsMask(dsaas)
		if c := dsaas.CapabilityObject; c != nil && c.Type != nil {
			f.capType = strings.TrimSpace(string(*c.Type))
		}
		f.rel = linkRel(dsaas.Link)
	case paas != nil:
		f.rel = linkRel(paas.Link)
	case saas != nil:
		f.rel = linkRel(saas.Link)
	}
}

func linkRel(l *csbmsg.Link) string {
	if l == nil {
		return ""
	}
	return l.Rel
}

// feats are the IaaS elements f has, as index bits.
func (f *flat) feats() uint8 {
	var b uint8
	if f.compute {
		b |= featCompute
	}
	if f.network {
		b |= featNetwork
	}
	if f.storage {
		b |= featStorage
	}
	if f.ni {
		b |= featNI
	}
	if f.sl {
		b |= featSL
	}
	return b
}

func newWant(kind catalog.Kind, req *csbmsg.ServiceRequest) want {
	w := want{kind: kind, encrypt: req.Encryption != nil && *req.Encryption}
	switch kind { // only the element of the kind asked for
	case catalog.KindIaaS:
		w.read(req.IaaS, nil, nil, nil)
	case catalog.KindDSaaS:
		w.read(nil, nil, nil, req.DSaaS)
	case catalog.KindPaaS:
		w.read(nil, req.PaaS, nil, nil)
	case catalog.KindSaaS:
		w.read(nil, nil, req.SaaS, nil)
	}
	if w.network {
		if v, err := strconv.ParseUint(w.vlan, 10, 32); err == nil {
			w.vlanNum, w.vlanIsNum = v, true
		}
	}
	return w
}

func dsMask(d *csbmsg.DSaaS) uint8 {
	var m uint8
	if d.DataObject != nil {
		m |= objData
	}
	if d.ContainerObject != nil {
		m |= objContainer
	}
	if d.DomainObject != nil {
		m |= objDomain
	}
	if d.QueueObject != nil {
		m |= objQueue
	}
	if d.CapabilityObject != nil {
		m |= objCapability
	}
	return m
}

func u(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

func s(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// ---------------------------------------------------------------------------
// One service, flattened

type svc struct {
	id    string
	entry *catalog.ServiceEntry
	flat
	vlanLo uint64
	vlanHi uint64
	// vlanRange: the offered vlan is a range lo-hi.
	vlanRange bool
}

func newSvc(e *catalog.ServiceEntry) *svc {
	x := &svc{id: e.Service.ID, entry: e}
	sv := &e.Service
	x.read(sv.IaaS, sv.PaaS, sv.SaaS, sv.DSaaS)
	if x.network {
		if lo, hi, ok := strings.Cut(x.vlan, "-"); ok {
			l, e1 := strconv.ParseUint(lo, 10, 32)
			h, e2 := strconv.ParseUint(hi, 10, 32)
			if e1 == nil && e2 == nil && l <= h {
				x.vlanLo, x.vlanHi, x.vlanRange = l, h, true
			}
		}
	}
	return x
}

// check applies every rule of the package comment to one service.
func (x *svc) check(w *want) (rejection, bool) {
	switch w.kind {
	case catalog.KindIaaS:
		if w.compute && !x.compute {
			return rejection{code: rejNoElement, field: "compute"}, false
		}
		if w.network && !x.network {
			return rejection{code: rejNoElement, field: "network"}, false
		}
		if w.storage && !x.storage {
			return rejection{code: rejNoElement, field: "storage"}, false
		}
		if w.ni && !x.ni {
			return rejection{code: rejNoElement, field: "NetworkInterface"}, false
		}
		if w.sl && !x.sl {
			return rejection{code: rejNoElement, field: "storagelink"}, false
		}
		if w.arch != "" && w.arch != x.arch {
			return rejection{code: rejArch, wantS: w.arch, haveS: x.arch}, false
		}
		for _, m := range [...]struct {
			f          string
			want, have uint64
		}{{"cores", w.cores, x.cores}, {"memory", w.mem, x.mem}, {"speed", w.speed, x.speed}, {"storage size", w.size, x.size}} {
			if m.have < m.want {
				return rejection{code: rejMin, field: m.f, want: m.want, have: m.have}, false
			}
		}
		if w.vlan != "" && !x.offersVLAN(w) {
			return rejection{code: rejValue, field: "vlan", wantS: w.vlan, haveS: x.vlan, text: x.id}, false
		}
		if w.vlanLabel != "" && w.vlanLabel != x.vlanLabel {
			return rejection{code: rejValue, field: "VLANlabel", wantS: w.vlanLabel, haveS: x.vlanLabel, text: x.id}, false
		}
		if w.alloc != "" && w.alloc != x.alloc {
			return rejection{code: rejValue, field: "allocation", wantS: w.alloc, haveS: x.alloc, text: x.id}, false
		}
	case catalog.KindDSaaS:
		if missing := w.objects &^ x.objects; missing != 0 {
			return rejection{code: rejObject, field: objList(missing)}, false
		}
		if w.capType != "" && w.capType != x.capType {
			return rejection{code: rejValue, field: "CapabilityObject type", wantS: w.capType, haveS: x.capType, text: x.id}, false
		}
		if w.rel != "" && w.rel != x.rel {
			return rejection{code: rejRel, wantS: w.rel}, false
		}
	case catalog.KindPaaS, catalog.KindSaaS:
		if w.rel != "" && w.rel != x.rel {
			return rejection{code: rejRel, wantS: w.rel}, false
		}
	}
	return rejection{}, true
}

func (x *svc) offersVLAN(w *want) bool {
	if w.vlan == x.vlan {
		return true
	}
	return x.vlanRange && w.vlanIsNum && w.vlanNum >= x.vlanLo && w.vlanNum <= x.vlanHi
}

func objList(m uint8) string {
	var parts []string
	for _, o := range objNames {
		if m&o.bit != 0 {
			parts = append(parts, o.name)
		}
	}
	return strings.Join(parts, ", ")
}
