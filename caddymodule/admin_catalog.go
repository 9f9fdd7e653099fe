package caddymodule

// The admin API's GET /csb/catalog.

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// adminCatalog is the JSON answer of GET /csb/catalog.
type adminCatalog struct {
	// Version is the catalogue's change counter.
	Version uint64 `json:"version"`
	// Placeable counts, per service model, the services placement may
	// choose now (over the whole catalogue, whatever the filters).
	Placeable map[catalog.Kind]int `json:"placeable"`
	// Count is the number of services the query matches on every page
	// (a provider listed without services counts as one).
	Count     int             `json:"count"`
	Providers []adminProvider `json:"providers"`
	// Next is the cursor of the next page (its after=); absent on the
	// last page.
	Next string `json:"next,omitempty"`
}

type adminProvider struct {
	Provider  catalog.ProviderEntry `json:"provider"`
	SeqNumber uint64                `json:"seqnumber,omitempty"`
	// Placeable counts the provider's services listed here that
	// placement may choose now.
	Placeable int            `json:"placeable"`
	Services  []adminService `json:"services"`
}

type adminService struct {
	catalog.ServiceEntry
	// Placeable is true when placement may choose the service now: it and
	// its provider are active and its entry has not expired.
	Placeable bool `json:"placeable"`
}

func placeableNow(p catalog.ProviderEntry, s catalog.ServiceEntry, now time.Time) bool {
	return p.Status == csbmsg.ServiceActive && s.Service.Status == csbmsg.ServiceActive && s.Kind != "" &&
		(s.Expires.IsZero() || now.Before(s.Expires))
}

func (api *AdminAPI) serveCatalog(w http.ResponseWriter, r *http.Request) error {
	format, e, err := api.engineRequest(w, r, http.MethodGet, csbmsg.PublishMediaType)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	providers, err := listParam(q, "provider")
	if err != nil {
		return err
	}
	kind, err := kindParam(q)
	if err != nil {
		return err
	}
	var status csbmsg.ServiceStatus
	s, err := oneParam(q, "status")
	if err != nil {
		return err
	}
	if s != "" {
		if !slices.Contains(serviceStatuses, csbmsg.ServiceStatus(s)) {
			return adminError(http.StatusBadRequest, "status %q: want active, deactivated or unavailable", s)
		}
		status = csbmsg.ServiceStatus(s)
	}

	limit, after, err := pageParams(q, catalog.DefaultPageSize, catalog.MaxPageSize)
	if err != nil {
		return err
	}
	page, err := e.catalog.ServicesPage(catalog.PageQuery{Providers: providers, Kind: kind, Status: status, After: after, Limit: limit})
	if err != nil {
		return badCursor(after)
	}
	out := adminCatalog{Version: e.catalog.Version(), Placeable: map[catalog.Kind]int{}, Providers: []adminProvider{},
		Count: page.Total, Next: page.Next}
	for _, k := range serviceKinds {
		out.Placeable[k] = len(e.catalog.Placeable(k))
	}
	now := time.Now()
	for _, pv := range page.Providers {
		ap := adminProvider{Provider: pv.Entry, SeqNumber: pv.SeqNumber, Placeable: pv.Placeable, Services: make([]adminService, 0, len(pv.Services))}
		for _, s := range pv.Services {
			ap.Services = append(ap.Services, adminService{ServiceEntry: s, Placeable: placeableNow(pv.Entry, s, now)})
		}
		out.Providers = append(out.Providers, ap)
	}
	setNextLink(w, r, page.Next)
	if format == formatJSON {
		return writeJSON(w, out)
	}
	doc, err := catalogXML(out)
	if err != nil {
		return adminError(http.StatusInternalServerError, "writing the catalogue as XML: %v", err)
	}
	return writeXML(w, csbmsg.PublishMediaType, doc)
}

// catalogXML writes the catalogue with the draft's <Cloud-Service-Provider>
// and <Cloud-Service> elements, as the codec serialises them.
func catalogXML(c adminCatalog) (*etree.Document, error) {
	doc, root := newAdminDoc("catalog", csbmsg.PublishNS)
	root.CreateAttr("version", strconv.FormatUint(c.Version, 10))
	root.CreateAttr("count", strconv.Itoa(c.Count))
	if c.Next != "" {
		root.CreateAttr("next", c.Next)
	}
	for _, k := range serviceKinds {
		pl := root.CreateElement("admin:placeable")
		pl.CreateAttr("kind", string(k))
		pl.SetText(strconv.Itoa(c.Placeable[k]))
	}
	for _, p := range c.Providers {
		pe := root.CreateElement("admin:provider")
		pe.CreateAttr("source", string(p.Provider.Source))
		if p.Provider.SubscriptionID != "" {
			pe.CreateAttr("subscription-id", p.Provider.SubscriptionID)
		}
		if p.SeqNumber > 0 {
			pe.CreateAttr("seqnumber", strconv.FormatUint(p.SeqNumber, 10))
		}
		setTime(pe, "expires", p.Provider.Expires)
		setTime(pe, "updated", p.Provider.UpdatedAt)
		pe.CreateAttr("placeable", strconv.Itoa(p.Placeable))

		n := &csbmsg.Notification{ID: "admin", SeqNumber: 1, EncryptionSupport: p.Provider.EncryptionSupport, Label: p.Provider.Label,
			Provider: csbmsg.Provider{ID: p.Provider.ID, Status: p.Provider.Status, URI: p.Provider.URI}}
		for _, s := range p.Services {
			n.Services = append(n.Services, s.Service)
		}
		placeholder := len(n.Services) == 0
		if placeholder { // a notification carries at least one service
			n.Services = []csbmsg.Service{{ID: "none", Status: csbmsg.ServiceActive}}
		}
		data, err := csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Notification: n})
		if err != nil {
			return nil, fmt.Errorf("provider %q: %v", p.Provider.ID, err)
		}
		els, err := draftElements(data, "csbnotification")
		if err != nil {
			return nil, fmt.Errorf("provider %q: %v", p.Provider.ID, err)
		}
		i := 0
		for _, el := range els {
			if el.Tag != "Cloud-Service" {
				pe.AddChild(el)
				continue
			}
			if placeholder {
				continue
			}
			s := p.Services[i]
			i++
			se := pe.CreateElement("admin:service")
			se.CreateAttr("kind", string(s.Kind))
			se.CreateAttr("source", string(s.Source))
			setTime(se, "expires", s.Expires)
			setTime(se, "updated", s.UpdatedAt)
			se.CreateAttr("placeable", strconv.FormatBool(s.Placeable))
			se.AddChild(el)
		}
	}
	return doc, nil
}
