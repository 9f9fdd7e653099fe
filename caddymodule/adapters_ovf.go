package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/adapters/ovf"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/placement"
)

// OVFConfig configures the expansion of OVF-linked requests: a consumer
// request whose IaaS Link has rel "ovf" names an OVF descriptor (DMTF
// DSP0243), which the broker fetches and reads into compute, storage and
// network requirements before placement (see adapters/ovf/README.md).
//
// It is a step of the csb app rather than a csb.adapters module because
// placement needs the requirements before any provider, and so any
// adapter, is chosen. Without this block, OVF links are not expanded.
//
// Fetching is denied by default: list the hosts descriptors may come from.
type OVFConfig struct {
	// AllowedHosts are host patterns descriptors may be fetched from:
	// "images.example.org", "*.example.org" (subdomains only), optionally
	// with ":port". Default none: every fetch is refused.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`

	// AllowPrivate lets hosts resolve to loopback, private, link-local
	// (cloud metadata) and other non-public addresses. Default false.
	AllowPrivate bool `json:"allow_private,omitempty"`

	// AllowHTTP allows plain http URLs. Default false (https only).
	AllowHTTP bool `json:"allow_http,omitempty"`

	// MaxSize is the largest descriptor accepted, in bytes. Default 1 MiB.
	MaxSize int64 `json:"max_size,omitempty"`

	// MaxDepth is the deepest element nesting accepted. Default 32.
	MaxDepth int `json:"max_depth,omitempty"`

	// MaxElements is the most elements accepted. Default 20000.
	MaxElements int `json:"max_elements,omitempty"`

	// Timeout bounds one fetch, redirects included. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// MaxRedirects is how many same-origin redirects are followed.
	// Default 3; -1 means none.
	MaxRedirects int `json:"max_redirects,omitempty"`

	// Rels are the Link rels that mark a descriptor (case-insensitive).
	// Default ["ovf"].
	Rels []string `json:"rels,omitempty"`

	expander *ovf.Expander
}

// provision builds the expander; admin are the addresses of Caddy's
// admin endpoint, never fetched from. It makes no network call.
func (c *OVFConfig) provision(admin []string) error {
	if c == nil {
		return nil
	}
	exp, err := ovf.NewExpander(ovf.FetchConfig{
		AllowedHosts: c.AllowedHosts,
		AllowPrivate: c.AllowPrivate,
		AllowHTTP:    c.AllowHTTP,
		MaxBytes:     c.MaxSize,
		Timeout:      time.Duration(c.Timeout),
		MaxRedirects: c.MaxRedirects,
		Admin:        admin,
	}, ovf.Limits{MaxBytes: c.MaxSize, MaxDepth: c.MaxDepth, MaxElements: c.MaxElements}, c.Rels...)
	if err != nil {
		return fmt.Errorf("ovf: %w", err)
	}
	c.expander = exp
	return nil
}

// OVFExpander returns the expander the consumer path calls before
// placement (Expand(ctx, req)), or nil when the csb app has no ovf block;
// a request with an OVF link should then be answered 420.
func (a *App) OVFExpander() *ovf.Expander {
	if a.OVF == nil {
		return nil
	}
	return a.OVF.expander
}

// ExpandForExplain is req with its OVF link expanded (OVFExpander), for a
// placement dry-run (the admin API's, a consumer's and the console's
// explain): req itself when the app has no ovf block; the expansion may
// take at most 30 seconds. It refuses what a create refuses before
// placement (expandOVF), with the same error: a *placement.RequestError
// for an IaaS Link the broker would not read (420), else the fetch or
// parse error (a create's 400).
func (a *App) ExpandForExplain(ctx context.Context, req *csbmsg.ServiceRequest) (*csbmsg.ServiceRequest, error) {
	exp := a.OVFExpander()
	if exp == nil {
		return req, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out := *req
	if err := expandOVF(ctx, exp, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// expandOVF is what a create does to a request before placement when the
// app has an ovf block (jobs.Config.Expand), and an explain likewise: it
// fills in the requirements of the OVF descriptor the IaaS Link names, or
// refuses the request. An IaaS Link of another rel (or without href) is
// refused with 420: placement counts the IaaS Link as honoured
// (honouredSets) because the broker reads the descriptor, and no adapter
// reads a Link the broker does not, so it would go unread.
func expandOVF(ctx context.Context, exp *ovf.Expander, req *csbmsg.ServiceRequest) error {
	if _, ok := exp.Descriptor(*req); !ok && req.IaaS != nil && req.IaaS.Link != nil {
		return &placement.RequestError{Status: csbmsg.StatusUnsupported,
			Reason: fmt.Sprintf("IaaS Link with rel %q: the broker reads only OVF descriptors (rel %s)", req.IaaS.Link.Rel, strings.Join(exp.RelNames(), ", "))}
	}
	out, err := exp.Expand(ctx, *req)
	if err != nil {
		return ovfRefusal(err)
	}
	*req = out
	return nil
}
