package caddymodule

// GET <consumer_path>?catalog: the catalogue as the caller may use it
// (see consumer_list.go).

import (
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// consumerCatalog is the consumer's view of the catalogue: the providers
// the caller's access lists permit, each with the services placement may
// choose now (active, unexpired, of an active provider), in catalogue
// order. It leaves out what only operators need: subscriptions, sources,
// unplaceable services and the providers' and services' own URIs.
type consumerCatalog struct {
	// Version is the catalogue's change counter.
	Version   uint64             `json:"version"`
	Providers []consumerProvider `json:"providers"`
}

type consumerProvider struct {
	ID                string               `json:"id"`
	Status            csbmsg.ServiceStatus `json:"status"`
	EncryptionSupport *bool                `json:"encryption_support,omitempty"`
	// Label is the provider's notification label (it may carry a price,
	// "price:0.02").
	Label    string            `json:"label,omitempty"`
	Services []consumerService `json:"services"`
}

type consumerService struct {
	Kind catalog.Kind `json:"kind"`
	// Expires is when the offer leaves the catalogue unless renewed
	// (absent: never).
	Expires time.Time `json:"expires,omitzero"`
	// Service is the offer in the draft's terms (Cloud-Service-id,
	// status and the capacity of its IaaS/PaaS/SaaS/DSaaS support).
	Service csbmsg.Service `json:"service"`
}

func (h *Handler) serveConsumerCatalog(w http.ResponseWriter, r *http.Request, owner string, cfg *ConsumerConfig) error {
	if err := acceptsJSON(r); err != nil {
		return err
	}
	cat := h.app.Catalogue()
	out := consumerCatalog{Providers: []consumerProvider{}}
	if cat != nil {
		out.Version = cat.Version()
		access := cfg.access(owner)
		now := time.Now()
		for _, pv := range cat.Snapshot() {
			if !access.Permits(pv.Entry.ID) || pv.Entry.Status != csbmsg.ServiceActive {
				continue
			}
			cp := consumerProvider{ID: pv.Entry.ID, Status: pv.Entry.Status, EncryptionSupport: pv.Entry.EncryptionSupport,
				Label: pv.Entry.Label, Services: []consumerService{}}
			for _, s := range pv.Services {
				if !placeableNow(pv.Entry, s, now) {
					continue
				}
				svc := s.Service
				svc.URI = ""
				cp.Services = append(cp.Services, consumerService{Kind: s.Kind, Expires: s.Expires, Service: svc})
			}
			if len(cp.Services) > 0 {
				out.Providers = append(out.Providers, cp)
			}
		}
	}
	w.Header().Set("Csb-Status", strconv.Itoa(int(csbmsg.StatusOK)))
	return writeJSON(w, out)
}
