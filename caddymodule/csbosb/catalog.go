package csbosb

import (
	"sort"
	"strings"
	"sync"

	"code.cloudfoundry.org/brokerapi/v13/domain"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// serviceNames are the OSB service offerings, one per service model.
var serviceNames = map[catalog.Kind][2]string{
	catalog.KindIaaS:  {"csb-iaas", "Virtual machines (IaaS), placed across clouds by the Cloud Service Broker"},
	catalog.KindDSaaS: {"csb-dsaas", "Storage containers (DSaaS), placed across clouds by the Cloud Service Broker"},
	catalog.KindSaaS:  {"csb-saas", "Applications (SaaS), placed across providers by the Cloud Service Broker"},
	catalog.KindPaaS:  {"csb-paas", "Platforms (PaaS), placed across providers by the Cloud Service Broker"},
}

// catalogView is the OSB catalogue at one version of the broker's
// catalogue.
type catalogView struct {
	version  uint64
	services []domain.Service
	plans    map[string]*osbPlan // by plan id
	service  map[string]catalog.Kind
}

// catalogCache rebuilds the view only when the broker's catalogue
// changed (brokerapi reads the catalogue on every provision).
type catalogCache struct {
	mu   sync.Mutex
	view *catalogView
}

// view returns the OSB catalogue for the broker's catalogue as it is now.
func (b *osbBroker) view() *catalogView {
	cat := b.app.Catalogue()
	var version uint64
	if cat != nil {
		version = cat.Version()
	}
	b.cache.mu.Lock()
	defer b.cache.mu.Unlock()
	if v := b.cache.view; v != nil && v.version == version {
		return v
	}
	v := b.buildView(cat, version)
	b.cache.view = v
	return v
}

func (b *osbBroker) buildView(cat *catalog.Catalog, version uint64) *catalogView {
	v := &catalogView{version: version, plans: map[string]*osbPlan{}, service: map[string]catalog.Kind{}}
	all := append([]osbPlan(nil), b.h.plans...)
	if b.h.derive() {
		// A declared plan keeps its name: a derived plan of the same
		// name is left out (names are unique within a service).
		declared := map[string]bool{}
		for _, p := range b.h.plans {
			declared[string(p.Kind)+"/"+p.Plan.Name] = true
		}
		for _, p := range derivePlans(cat, b.h.BrokerID) {
			if !declared[string(p.Kind)+"/"+p.Plan.Name] {
				all = append(all, p)
			}
		}
	}
	byKind := map[catalog.Kind][]domain.ServicePlan{}
	for i := range all {
		p := &all[i]
		v.plans[p.ID] = p
		desc := p.Plan.Description
		if desc == "" {
			desc = p.describe()
		}
		providers := b.providersFor(p)
		meta := &domain.ServicePlanMetadata{
			DisplayName: p.Plan.Name,
			Bullets:     []string{desc},
			AdditionalMetadata: map[string]any{
				"providers": providers,
				"derived":   p.Derived,
			},
		}
		if len(providers) == 0 {
			meta.Bullets = append(meta.Bullets, "no provider can serve it at the moment")
		} else {
			meta.Bullets = append(meta.Bullets, "served by "+strings.Join(providers, ", "))
		}
		sp := domain.ServicePlan{
			ID:            p.ID,
			Name:          p.Plan.Name,
			Description:   desc,
			Bindable:      domain.BindableValue(true),
			PlanUpdatable: domain.PlanUpdatableValue(true),
			Metadata:      meta,
		}
		if b.h.MaintenanceVersion != "" {
			sp.MaintenanceInfo = &domain.MaintenanceInfo{Version: b.h.MaintenanceVersion}
		}
		byKind[p.Kind] = append(byKind[p.Kind], sp)
	}
	for _, k := range kinds {
		plans := byKind[k]
		if len(plans) == 0 {
			continue
		}
		sort.SliceStable(plans, func(i, j int) bool { return plans[i].Name < plans[j].Name })
		id := serviceID(b.h.BrokerID, k)
		v.service[id] = k
		names := serviceNames[k]
		v.services = append(v.services, domain.Service{
			ID:                   id,
			Name:                 names[0],
			Description:          names[1],
			Bindable:             true,
			InstancesRetrievable: true,
			BindingsRetrievable:  true,
			PlanUpdatable:        true,
			Tags:                 []string{"csb", strings.ToLower(string(k))},
			Plans:                plans,
			Metadata: &domain.ServiceMetadata{
				DisplayName:         names[0],
				ProviderDisplayName: "caddy-csb",
				AdditionalMetadata:  map[string]any{"service_model": string(k)},
			},
		})
	}
	return v
}

// providersFor names the providers whose offers can serve plan p now: a
// dry run of placement for the plan's request.
func (b *osbBroker) providersFor(p *osbPlan) []string {
	d, err := b.app.ExplainPlacement("", p.request(params{}))
	if err != nil || d == nil {
		return []string{}
	}
	defer d.Release()
	out := []string{}
	pin := p.Plan.Provider
	for _, c := range d.Ordered() {
		if pin == "" || c.ProviderID == pin {
			out = append(out, c.ProviderID)
		}
	}
	return out
}

// matching returns the providers that can serve req for user (a dry run
// of placement), best first, and why none can when none can.
func (b *osbBroker) matching(user string, req placementRequest) ([]string, string) {
	d, err := b.app.ExplainPlacement(user, req.req)
	if err != nil {
		return nil, err.Error()
	}
	defer d.Release()
	var out []string
	for _, c := range d.Ordered() {
		if req.provider == "" || c.ProviderID == req.provider {
			out = append(out, c.ProviderID)
		}
	}
	if len(out) > 0 {
		return out, ""
	}
	if req.provider != "" {
		for _, c := range d.Candidates {
			if c.ProviderID == req.provider {
				return nil, "provider " + req.provider + ": " + c.Reason()
			}
		}
		return nil, "provider " + req.provider + " offers nothing of this kind now"
	}
	return nil, d.NoMatchReason()
}

// placementAccess limits the job's placement to the providers the dry run
// found (the pinned one, or those the platform user may use).
func placementAccess(providers []string) *placement.Access {
	return &placement.Access{Allow: providers}
}
