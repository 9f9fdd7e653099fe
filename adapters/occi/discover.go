package occi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Model returns the server's model, reading /-/ when the cached one is
// missing or stale.
func (a *Adapter) Model(ctx context.Context) (*Model, error) {
	a.mu.Lock()
	if a.model != nil && a.clock.Now().Sub(a.modelAt) < a.cfg.ModelTTL {
		md := a.model
		a.mu.Unlock()
		return md, nil
	}
	a.mu.Unlock()
	md, err := a.readModel(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.model, a.modelAt = md, a.clock.Now()
	a.mu.Unlock()
	return md, nil
}

func (a *Adapter) readModel(ctx context.Context) (*Model, error) {
	r, err := a.do(ctx, "discover", http.MethodGet, "-/", nil, a.cfg.Rendering)
	if err != nil {
		return nil, err
	}
	md := ModelFrom(r.msg)
	if len(md.Kinds) == 0 {
		return nil, &contract.Error{Kind: contract.KindServer, Op: "discover", Status: r.status, Err: errors.New("query interface lists no kinds")}
	}
	// The text rendering carries no attribute defaults, so template sizes
	// are unknown; the JSON rendering carries them. Ask for it when there
	// are templates, and go on without it if the server has none.
	if len(md.MixinsRelatedTo(MixinResourceTpl)) > 0 {
		if jr, err := a.do(ctx, "discover", http.MethodGet, "-/", nil, MediaJSON); err == nil && isJSON(jr.header) {
			if jm, err := ParseModelJSON(jr.body); err == nil {
				md.Merge(jm)
			}
		}
	}
	return md, nil
}

func isJSON(h http.Header) bool {
	ct := h.Get("Content-Type")
	return strings.Contains(ct, "json")
}

// Discover reads the query interface and describes the provider's offers:
// one service for its plain kinds, bounded by Config.Offer, and one per
// resource template (resource_tpl mixin) whose size is known.
func (a *Adapter) Discover(ctx context.Context) ([]csbmsg.Service, error) {
	a.mu.Lock()
	a.model = nil
	a.mu.Unlock()
	md, err := a.Model(ctx)
	if err != nil {
		return nil, err
	}
	return Services(md, a.cfg.ServiceID, a.base.String(), a.cfg.Offer), nil
}

// Services describes a model as catalogue services (see Discover).
func Services(md *Model, id, uri string, offer Offer) []csbmsg.Service {
	base := csbmsg.Service{ID: id, Status: csbmsg.ServiceActive, URI: uri, IaaS: &csbmsg.IaaS{}}
	ia := base.IaaS
	if _, ok := md.Kind(KindCompute); ok {
		ia.Compute = &csbmsg.Compute{}
		if offer.Architecture != "" {
			ia.Compute.Architecture = ptr(offer.Architecture)
		}
		ia.Compute.Cores = nz(offer.Cores)
		ia.Compute.Memory = nz(offer.Memory)
		ia.Compute.Speed = nz(offer.Speed)
	}
	if _, ok := md.Kind(KindStorage); ok {
		ia.Storage = &csbmsg.Storage{Size: nz(offer.Storage)}
	}
	if _, ok := md.Kind(KindNetwork); ok {
		ia.Network = &csbmsg.Network{}
	}
	if _, ok := md.Kind(KindNetworkInterface); ok {
		ia.NetworkInterface = &csbmsg.NetworkInterface{}
	}
	if _, ok := md.Kind(KindStorageLink); ok {
		ia.StorageLink = &csbmsg.StorageLink{}
	}
	out := []csbmsg.Service{base}
	for _, t := range md.MixinsRelatedTo(MixinResourceTpl) {
		c := templateCompute(t)
		if c == nil {
			continue
		}
		s := csbmsg.Service{ID: TemplateServiceID(t.Term), Status: csbmsg.ServiceActive, URI: t.ID(), IaaS: &csbmsg.IaaS{Compute: c}}
		if ia.Storage != nil {
			s.IaaS.Storage = ia.Storage
		}
		s.IaaS.Network, s.IaaS.NetworkInterface, s.IaaS.StorageLink = ia.Network, ia.NetworkInterface, ia.StorageLink
		out = append(out, s)
	}
	return out
}

// TemplateServiceID is the Cloud-Service-id of a resource template: "tpl-"
// and the term, reduced to NMTOKEN characters.
func TemplateServiceID(term string) string {
	var b strings.Builder
	b.WriteString("tpl-")
	for _, r := range term {
		if r == '-' || r == '_' || r == '.' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// templateCompute reads a template's fixed size from its attribute
// defaults. Offers round down (a 1.7 GiB template cannot satisfy a 2 GB
// minimum). It returns nil if the size is unknown.
func templateCompute(t Category) *csbmsg.Compute {
	c := &csbmsg.Compute{}
	known := false
	for _, d := range t.Attributes {
		if d.Default == nil {
			continue
		}
		f, ferr := d.Default.Float()
		switch d.Name {
		case "occi.compute.cores":
			if ferr == nil && f >= 1 {
				c.Cores, known = ptr(uint64(f)), true
			}
		case "occi.compute.memory":
			if ferr == nil && f >= 0 {
				c.Memory, known = ptr(uint64(f)), true
			}
		case "occi.compute.speed":
			if ferr == nil && f >= 0 {
				c.Speed = ptr(uint64(f))
			}
		case "occi.compute.architecture":
			if d.Default.S != "" {
				c.Architecture = ptr(d.Default.S)
			}
		}
	}
	if !known {
		return nil
	}
	return c
}
