package caddymodule

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/caddy-csb/caddy-csb/adapters/ovf"
)

func init() {
	registerAppOption("ovf", parseOVFOption)
}

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

// parseOVFOption parses the ovf block of the csb global option:
//
//	csb {
//		ovf {
//			allow_host    <pattern>...
//			allow_private
//			allow_http
//			max_size      <size>      # e.g. 1MiB
//			max_depth     <n>
//			max_elements  <n>
//			timeout       <duration>
//			max_redirects <n>
//			rel           <rel>...
//		}
//	}
func parseOVFOption(d *caddyfile.Dispenser, a *App) error {
	if a.OVF != nil {
		return d.Err("ovf: the block may appear only once")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &OVFConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "allow_host":
			hosts := d.RemainingArgs()
			if len(hosts) == 0 {
				return d.ArgErr()
			}
			c.AllowedHosts = append(c.AllowedHosts, hosts...)
		case "allow_private", "allow_http":
			if d.NextArg() {
				return d.ArgErr()
			}
			if opt == "allow_private" {
				c.AllowPrivate = true
			} else {
				c.AllowHTTP = true
			}
		case "max_size":
			v, err := argValue(d)
			if err != nil {
				return err
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("ovf: max_size %q is not a size between 1 byte and 1GiB", v)
			}
			c.MaxSize = int64(n)
		case "max_depth", "max_elements", "max_redirects":
			v, err := argValue(d)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || (n == 0 && opt != "max_redirects") {
				return d.Errf("ovf: %s %q is not a positive whole number", opt, v)
			}
			switch opt {
			case "max_depth":
				c.MaxDepth = n
			case "max_elements":
				c.MaxElements = n
			default:
				if n == 0 {
					n = -1 // none; 0 in JSON means the default
				}
				c.MaxRedirects = n
			}
		case "timeout":
			v, err := argValue(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("ovf: timeout %q is not a positive duration", v)
			}
			c.Timeout = caddy.Duration(dur)
		case "rel":
			rels := d.RemainingArgs()
			if len(rels) == 0 {
				return d.ArgErr()
			}
			c.Rels = append(c.Rels, rels...)
		default:
			return d.Errf("ovf: unrecognized option %q", opt)
		}
	}
	a.OVF = c
	return nil
}
