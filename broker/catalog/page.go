package catalog

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Page sizes of ServicesPage.
const (
	// DefaultPageSize is the page size when a query sets none.
	DefaultPageSize = 1000
	// MaxPageSize bounds a page; a larger limit is lowered to it.
	MaxPageSize = 10000
)

// ErrBadCursor is returned by ServicesPage for an After no page gave.
var ErrBadCursor = errors.New("catalog: malformed page cursor")

// PageQuery selects one page of the catalogue's services, in Snapshot's
// order (providers in configuration order, then by id; each provider's
// services by id). Zero fields match everything.
type PageQuery struct {
	// Providers: only these providers' services.
	Providers []string
	Kind      Kind
	Status    csbmsg.ServiceStatus
	// After is the cursor of the previous page (ServicePage.Next); ""
	// starts at the first provider.
	After string
	// Limit is the number of services on the page (a provider listed
	// without services, when no Kind or Status is asked for, counts as
	// one): DefaultPageSize when 0 or less, at most MaxPageSize.
	Limit int
}

// ServicePage is one page of the catalogue.
type ServicePage struct {
	// Providers holds the providers of the page's services with those
	// services (ProviderView.Placeable counts the placeable ones among
	// them). A provider whose services span pages is on each of them.
	Providers []ProviderView
	// Total counts the services matching the query on every page (and
	// the providers listed without services).
	Total int
	// Next is the cursor of the next page, "" on the last. A service that
	// exists from the first page to the last is on exactly one page,
	// whatever is published meanwhile.
	Next string
}

// pageCursor is a position: after service of provider ("" service:
// after the provider listed without services).
type pageCursor struct{ provider, service string }

func (p pageCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(p.provider + "\x00" + p.service))
}

func parsePageCursor(s string) (pageCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return pageCursor{}, ErrBadCursor
	}
	p, svc, ok := strings.Cut(string(b), "\x00")
	if !ok || p == "" {
		return pageCursor{}, ErrBadCursor
	}
	return pageCursor{provider: p, service: svc}, nil
}

// providerBefore reports whether provider a comes before provider id b in
// the catalogue's order (resort's), b known or not. Callers hold c.mu.
func (c *Catalog) providerBefore(a, b string) bool {
	oa, aok := c.order[a]
	ob, bok := c.order[b]
	switch {
	case aok && bok && oa != ob:
		return oa < ob
	case aok != bok:
		return aok
	}
	return a < b
}

// ServicesPage returns one page of the catalogue's services matching q,
// for the admin API. It copies only the page's entries.
func (c *Catalog) ServicesPage(q PageQuery) (ServicePage, error) {
	c.wait()
	var after *pageCursor
	if q.After != "" {
		cur, err := parsePageCursor(q.After)
		if err != nil {
			return ServicePage{}, err
		}
		after = &cur
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	c.checkExpiry()
	now := c.clock.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	filtered := q.Kind != "" || q.Status != ""
	match := func(s *svc) bool {
		return (q.Kind == "" || s.e.Kind == q.Kind) && (q.Status == "" || s.e.Service.Status == q.Status)
	}
	var out ServicePage
	n, more := 0, false
	var last pageCursor
	for _, p := range c.sorted {
		id := p.entry.ID
		if len(q.Providers) > 0 && !slices.Contains(q.Providers, id) {
			continue
		}
		// The total counts every provider's matches, before the cursor
		// and after the page too.
		matching := len(p.services)
		if filtered {
			matching = 0
			for _, s := range p.services {
				if match(s) {
					matching++
				}
			}
		} else if matching == 0 {
			matching = 1 // the provider, listed without services
		}
		out.Total += matching
		if more || matching == 0 {
			continue
		}
		if after != nil && (c.providerBefore(id, after.provider) || id == after.provider && len(p.services) == 0) {
			continue // before the cursor, or the cursor's own empty provider
		}
		pv := ProviderView{Entry: p.entry, SeqNumber: p.seq}
		if len(p.services) == 0 {
			if n == limit {
				more = true
				continue
			}
			out.Providers = append(out.Providers, pv)
			n++
			last = pageCursor{provider: id}
			continue
		}
		ids := p.serviceIDs()
		if after != nil && id == after.provider {
			i, found := slices.BinarySearch(ids, after.service)
			if found {
				i++
			}
			ids = ids[i:]
		}
		for _, sid := range ids {
			s := p.services[sid]
			if !match(s) {
				continue
			}
			if n == limit {
				more = true
				break
			}
			pv.Services = append(pv.Services, s.e)
			if p.placeableAt(s, now) {
				pv.Placeable++
			}
			n++
			last = pageCursor{provider: id, service: sid}
		}
		if len(pv.Services) > 0 {
			out.Providers = append(out.Providers, pv)
		}
	}
	if more {
		out.Next = last.String()
	}
	return out, nil
}
