package ovf

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// DefaultRel is the IaaS Link rel that marks an OVF descriptor.
const DefaultRel = "ovf"

// Error is what Expand returns: the descriptor, and why it was refused.
// Err wraps one of the package's sentinel errors (ErrHostNotAllowed,
// ErrTooLarge, ErrDoctype, ...).
type Error struct {
	Href string
	Err  error
}

// Error names the descriptor without its URL's user info and query
// (peerurl.RedactString): a presigned descriptor URL's signature does not
// go into the job's reason or the logs.
func (e *Error) Error() string {
	return fmt.Sprintf("ovf descriptor %s: %v", peerurl.RedactString(e.Href), e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Expander turns OVF-linked IaaS requests into plain IaaS requirements.
// It is safe for concurrent use.
type Expander struct {
	// Fetcher fetches descriptors. Required.
	Fetcher *Fetcher
	// Limits bound the descriptor. Zero fields take the defaults; MaxBytes
	// defaults to the fetcher's.
	Limits Limits
	// Rels are the Link rels (case-insensitive) that mark a descriptor.
	// Default ["ovf"].
	Rels []string
}

// NewExpander returns an expander that fetches with cfg.
func NewExpander(cfg FetchConfig, lim Limits, rels ...string) (*Expander, error) {
	f, err := NewFetcher(cfg)
	if err != nil {
		return nil, err
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = f.cfg.MaxBytes
	}
	return &Expander{Fetcher: f, Limits: lim, Rels: rels}, nil
}

// Descriptor returns the href of the OVF descriptor a request links to,
// if any.
func (e *Expander) Descriptor(req csbmsg.ServiceRequest) (string, bool) {
	if req.IaaS == nil || req.IaaS.Link == nil || req.IaaS.Link.Href == "" {
		return "", false
	}
	for _, r := range e.RelNames() {
		if strings.EqualFold(strings.TrimSpace(req.IaaS.Link.Rel), r) {
			return req.IaaS.Link.Href, true
		}
	}
	return "", false
}

// RelNames returns the Link rels that name an OVF descriptor: Rels, or
// DefaultRel.
func (e *Expander) RelNames() []string {
	if len(e.Rels) == 0 {
		return []string{DefaultRel}
	}
	return e.Rels
}

// Expand fetches and reads the descriptor a request's IaaS Link points to
// and returns the request with the requirements filled in. Values the
// consumer wrote in the request win over the descriptor's; the Link stays,
// as a record of where the requirements came from. A request without an
// OVF link is returned as it is. The request passed in is not modified.
func (e *Expander) Expand(ctx context.Context, req csbmsg.ServiceRequest) (csbmsg.ServiceRequest, error) {
	href, ok := e.Descriptor(req)
	if !ok {
		return req, nil
	}
	data, err := e.Fetcher.Fetch(ctx, href)
	if err != nil {
		return req, &Error{Href: href, Err: err}
	}
	r, err := Parse(data, e.Limits)
	if err != nil {
		return req, &Error{Href: href, Err: err}
	}
	out := req
	ia := copyIaaS(req.IaaS)
	r.Apply(ia)
	out.IaaS = ia
	return out, nil
}

// Apply fills the requirements into ia where ia leaves them open, in the
// draft's units: memory and storage in whole GB (GiB, 2^30 bytes), speed
// in whole GHz. Requirements are minimums, so they round up.
func (r *Requirements) Apply(ia *csbmsg.IaaS) {
	if r.CPUs > 0 || r.MemoryBytes > 0 || r.CPUHz > 0 {
		if ia.Compute == nil {
			ia.Compute = &csbmsg.Compute{}
		}
		c := ia.Compute
		if c.Cores == nil && r.CPUs > 0 {
			c.Cores = ptr(r.CPUs)
		}
		if c.Memory == nil && r.MemoryBytes > 0 {
			c.Memory = ptr(ceilDiv(r.MemoryBytes, 1<<30))
		}
		if c.Speed == nil && r.CPUHz > 0 {
			c.Speed = ptr(ceilDiv(r.CPUHz, 1e9))
		}
	}
	if r.DiskBytes > 0 {
		if ia.Storage == nil {
			ia.Storage = &csbmsg.Storage{}
		}
		if ia.Storage.Size == nil {
			ia.Storage.Size = ptr(ceilDiv(r.DiskBytes, 1<<30))
		}
		if ia.StorageLink == nil && ia.Compute != nil {
			ia.StorageLink = &csbmsg.StorageLink{}
		}
	}
	if len(r.Networks) > 0 {
		if ia.Network == nil {
			ia.Network = &csbmsg.Network{}
		}
		if ia.NetworkInterface == nil {
			ia.NetworkInterface = &csbmsg.NetworkInterface{}
		}
		if ia.NetworkInterface.MAC == nil && len(r.MACs) > 0 {
			ia.NetworkInterface.MAC = ptr(r.MACs[0])
		}
	}
}

func ceilDiv(v, unit float64) uint64 {
	n := math.Ceil(v/unit - 1e-9)
	if n < 1 {
		n = 1
	}
	return uint64(n)
}

func ptr[T any](v T) *T { return &v }

// copyIaaS copies the IaaS element deeply enough that filling it leaves the
// original untouched.
func copyIaaS(in *csbmsg.IaaS) *csbmsg.IaaS {
	out := *in
	out.Link = clone(in.Link)
	out.Compute = clone(in.Compute)
	out.Storage = clone(in.Storage)
	out.Network = clone(in.Network)
	out.NetworkInterface = clone(in.NetworkInterface)
	out.StorageLink = clone(in.StorageLink)
	return &out
}

// clone returns a shallow copy of *p, or nil.
func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
