// Package link is the cloud service adapter for PaaS and SaaS offers. The
// draft describes those services by a Link only (a rel and an href), so
// there is no native API to call: provisioning hands the consumer the
// service's own URI, and the broker's transparent proxy can front it.
//
//   - Provision matches the requested Link rel against the service's, and
//     returns the service's Link href (else its Cloud-Service-URI) as the
//     job's Cloud-service-URI (Resource.URI) and as Resource.Endpoint, the
//     base URL the job-aware proxy forwards to.
//   - Status, Update and Remove are bookkeeping: there is nothing at the
//     provider to read, change or delete. Status reports what Provision
//     granted; Update accepts a changed rel the service offers; Remove
//     marks the resource gone.
//
// This package does not import Caddy.
package link

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Adapter is the link adapter. The zero value is ready to use and is safe
// for concurrent use. Its only state is a ledger of the grants it made in
// this process and has not removed (Live), for metrics and tests; the
// Resource itself carries everything the adapter needs.
type Adapter struct {
	// Schemes are the URI schemes a service's href may have. Default
	// http and https (the proxy forwards HTTP).
	Schemes []string
	// CheckURL, when set, judges a service's href before it is granted
	// (the broker's peer URL policy for the provider): a refused href
	// fails the provisioning with an error naming it. Nil: no check
	// beyond Schemes.
	CheckURL func(*url.URL) error

	mu   sync.Mutex
	live map[string]struct{}
}

// defaultSchemes are the schemes a service's href may have when
// Adapter.Schemes is empty: the transparent proxy forwards HTTP.
var defaultSchemes = []string{"http", "https"}

// Native keys of a Resource.
const (
	nativeKind  = "kind" // PaaS or SaaS
	nativeRel   = "rel"
	nativeGrant = "grant" // random id of the grant, for the ledger
	nativeGone  = "removed"
)

// Live returns how many grants this adapter made and has not removed
// since the process started.
func (a *Adapter) Live() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.live)
}

func (a *Adapter) record(res *contract.Resource) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	res.Native[nativeGrant] = id
	a.mu.Lock()
	if a.live == nil {
		a.live = map[string]struct{}{}
	}
	a.live[id] = struct{}{}
	a.mu.Unlock()
}

// Provision returns the matched service's URI.
func (a *Adapter) Provision(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	if err := ctx.Err(); err != nil {
		return nil, &contract.Error{Kind: contract.KindTimeout, Op: "provision", Err: err}
	}
	kind, want, err := requested(req.Want)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: err}
	}
	offer := offered(req.Service, kind)
	href, err := a.href(req.Service, offer)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: err}
	}
	rel := ""
	if offer != nil {
		rel = offer.Rel
	}
	if want != nil && want.Rel != "" {
		if offer != nil && offer.Rel != "" && !strings.EqualFold(want.Rel, offer.Rel) {
			return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "provision", Err: fmt.Errorf("service %q offers rel %q, not %q", req.Service.ID, offer.Rel, want.Rel)}
		}
		rel = want.Rel
	}
	res := grant(kind, rel, href)
	a.record(res)
	return res, nil
}

func grant(kind, rel, href string) *contract.Resource {
	l := &csbmsg.Link{Rel: rel, Href: href}
	res := &contract.Resource{
		URI:      href,
		Endpoint: href,
		State:    contract.StateReady,
		Native:   map[string]string{nativeKind: kind, nativeRel: rel},
	}
	if kind == "PaaS" {
		res.Granted = csbmsg.ServiceRequest{PaaS: &csbmsg.PaaS{Link: l}}
	} else {
		res.Granted = csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: l}}
	}
	return res
}

// requested returns the kind and Link of a PaaS or SaaS request.
func requested(w csbmsg.ServiceRequest) (string, *csbmsg.Link, error) {
	switch {
	case w.IaaS != nil || w.DSaaS != nil:
		return "", nil, errors.New("the link adapter provisions PaaS and SaaS only")
	case w.PaaS != nil && w.SaaS != nil:
		return "", nil, errors.New("a request for both PaaS and SaaS")
	case w.PaaS != nil:
		return "PaaS", w.PaaS.Link, nil
	case w.SaaS != nil:
		return "SaaS", w.SaaS.Link, nil
	}
	return "", nil, errors.New("the request has no PaaS or SaaS element")
}

func offered(s csbmsg.Service, kind string) *csbmsg.Link {
	switch {
	case kind == "PaaS" && s.PaaS != nil:
		return s.PaaS.Link
	case kind == "SaaS" && s.SaaS != nil:
		return s.SaaS.Link
	}
	return nil
}

// href returns the service's Link href, else its Cloud-Service-URI, as an
// absolute URL of an allowed scheme.
func (a *Adapter) href(s csbmsg.Service, offer *csbmsg.Link) (string, error) {
	h := ""
	if offer != nil {
		h = strings.TrimSpace(offer.Href)
	}
	if h == "" {
		h = strings.TrimSpace(s.URI)
	}
	if h == "" {
		return "", fmt.Errorf("service %q has neither a Link href nor a Cloud-Service-URI", s.ID)
	}
	u, err := url.Parse(h)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("service %q: %q is not an absolute URL", s.ID, h)
	}
	schemes := a.Schemes
	if len(schemes) == 0 {
		schemes = defaultSchemes
	}
	for _, sc := range schemes {
		if strings.EqualFold(u.Scheme, sc) {
			if a.CheckURL != nil {
				if err := a.CheckURL(u); err != nil {
					return "", fmt.Errorf("service %q: %w", s.ID, err)
				}
			}
			return u.String(), nil
		}
	}
	return "", fmt.Errorf("service %q: scheme %q is not one of %v", s.ID, u.Scheme, schemes)
}

// Status reports what Provision granted; there is nothing to read at the
// provider. A removed resource is gone.
func (a *Adapter) Status(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	if err := ctx.Err(); err != nil {
		return nil, &contract.Error{Kind: contract.KindTimeout, Op: "status", Err: err}
	}
	out := res.Clone()
	if res.Native[nativeGone] != "" || res.URI == "" {
		out.State = contract.StateGone
		out.Granted = csbmsg.ServiceRequest{}
		return out, nil
	}
	out.State = contract.StateReady
	return out, nil
}

// Update records a changed rel, which the service must offer; the href
// cannot change (it is the service's, not the job's).
func (a *Adapter) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	if err := ctx.Err(); err != nil {
		return nil, &contract.Error{Kind: contract.KindTimeout, Op: "update", Err: err}
	}
	if res.Native[nativeGone] != "" {
		return nil, &contract.Error{Kind: contract.KindNotFound, Op: "update", Err: fmt.Errorf("%s was removed", res.URI)}
	}
	kind, want, err := requested(req.Want)
	if err != nil {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: err}
	}
	if k := res.Native[nativeKind]; k != "" && k != kind {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf("a %s job cannot become %s", k, kind)}
	}
	rel := res.Native[nativeRel]
	if want != nil && want.Rel != "" && !strings.EqualFold(want.Rel, rel) {
		if offer := offered(req.Service, kind); offer == nil || !strings.EqualFold(offer.Rel, want.Rel) {
			return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf("the service does not offer rel %q", want.Rel)}
		}
		rel = want.Rel
	}
	if want != nil && want.Href != "" && want.Href != res.URI {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: errors.New("the href of a linked service is the provider's and cannot be changed")}
	}
	out := grant(kind, rel, res.URI)
	out.Native[nativeGrant] = res.Native[nativeGrant]
	return out, nil
}

// Remove marks the resource gone; nothing exists at the provider to
// delete. Removing twice is not an error.
func (a *Adapter) Remove(ctx context.Context, res *contract.Resource) error {
	if err := ctx.Err(); err != nil {
		return &contract.Error{Kind: contract.KindTimeout, Op: "remove", Err: err}
	}
	if res == nil {
		return nil
	}
	if id := res.Native[nativeGrant]; id != "" {
		a.mu.Lock()
		delete(a.live, id)
		a.mu.Unlock()
	}
	// Mark the handle, so a Status of it says gone.
	if res.Native == nil {
		res.Native = map[string]string{}
	}
	res.Native[nativeGone] = "true"
	return nil
}

// Interface guard.
// CreatesNothing reports that Provision changes nothing at the provider
// (contract.Local): a grant is a URL the provider published, recorded in
// this process's ledger only.
func (a *Adapter) CreatesNothing() bool { return true }

// Interface guards.
var (
	_ contract.Adapter = (*Adapter)(nil)
	_ contract.Local   = (*Adapter)(nil)
)
