package caddymodule

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/publish"
)

func init() {
	registerAppOption("subscriptions", parseSubscriptionOptions)
	registerProviderOption("subscribe", parseSubscribe)
	registerProviderOption("publishers", parsePublishers)
	registerProviderOption("push", parsePush)
}

// SubscriptionOptions configure how the broker keeps its subscriptions at
// providers. They are read when the broker starts. In the Caddyfile:
//
//	csb {
//		subscriptions {
//			renew_at      <fraction>    # default 0.8
//			retry         <min> <max>   # default 1s 5m
//			timeout       <duration>    # default 30s
//			sync_interval <duration>    # default 10s
//		}
//	}
type SubscriptionOptions struct {
	// RenewAt is the fraction of the granted expiry after which a
	// subscription is renewed (an update). Default 0.8.
	RenewAt float64 `json:"renew_at,omitempty"`
	// RetryMin and RetryMax bound the exponential backoff, with jitter,
	// between failed subscription commands. Defaults 1s and 5m.
	RetryMin caddy.Duration `json:"retry_min,omitempty"`
	RetryMax caddy.Duration `json:"retry_max,omitempty"`
	// Timeout bounds one subscription command. Default 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// SyncInterval is how often the stored subscription records are
	// re-read to follow what other brokers sharing the storage did.
	// Default 10s.
	SyncInterval caddy.Duration `json:"sync_interval,omitempty"`
}

// Subscribe is a provider's subscription URL and the values the broker
// asks for. The provider may grant others (its csbresponse's extra
// <subscription>); the broker honours them.
type Subscribe struct {
	// URL receives the broker's <csbrequest> commands (POST). Required.
	URL string `json:"url"`
	// Expires is the subscription lifetime asked for (sent in whole
	// seconds). Default 1h; when the provider grants none, the
	// subscription does not expire.
	Expires caddy.Duration `json:"expires,omitempty"`
	// Frequency is the notification interval asked for. Default: none
	// sent.
	Frequency caddy.Duration `json:"frequency,omitempty"`
}

const defaultSubscriptionExpires = time.Hour

// Push lets a provider send notifications without a subscription the
// broker holds, under the ids listed.
type Push struct {
	// IDs are the notification ids accepted. Required.
	IDs []string `json:"ids"`
	// Expires is how long services published under these ids stay
	// placeable after each notification. Default: until withdrawn.
	Expires caddy.Duration `json:"expires,omitempty"`
}

func parseSubscriptionOptions(d *caddyfile.Dispenser, a *App) error {
	if a.Subscriptions != nil {
		return d.Err("subscriptions given twice")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	o := new(SubscriptionOptions)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "renew_at":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || f >= 1 {
				return d.Errf("subscriptions: renew_at %q must be a fraction between 0 and 1", v)
			}
			o.RenewAt = f
		case "retry":
			var lo, hi string
			if !d.Args(&lo, &hi) || d.NextArg() {
				return d.Errf("subscriptions: want retry <min> <max>")
			}
			mn, err1 := caddy.ParseDuration(lo)
			mx, err2 := caddy.ParseDuration(hi)
			if err1 != nil || err2 != nil || mn <= 0 || mx < mn {
				return d.Errf("subscriptions: retry %s %s: want two positive durations, min <= max", lo, hi)
			}
			o.RetryMin, o.RetryMax = caddy.Duration(mn), caddy.Duration(mx)
		case "timeout":
			if err := durationArg(d, &o.Timeout); err != nil {
				return err
			}
		case "sync_interval":
			if err := durationArg(d, &o.SyncInterval); err != nil {
				return err
			}
		default:
			return d.Errf("subscriptions: unrecognized option %q", d.Val())
		}
	}
	a.Subscriptions = o
	return nil
}

// parseSubscribe parses:
//
//	subscribe <url> {
//		expires   <duration>
//		frequency <duration>
//	}
func parseSubscribe(d *caddyfile.Dispenser, p *Provider) error {
	if p.Subscribe != nil {
		return d.Errf("provider %q: subscribe given twice", p.ID)
	}
	s := &Subscribe{}
	if !d.Args(&s.URL) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "expires":
			if err := durationArg(d, &s.Expires); err != nil {
				return err
			}
		case "frequency":
			if err := durationArg(d, &s.Frequency); err != nil {
				return err
			}
		default:
			return d.Errf("provider %q: subscribe: unrecognized option %q", p.ID, d.Val())
		}
	}
	if err := s.validate(); err != nil {
		return d.Errf("provider %q: %v", p.ID, err)
	}
	p.Subscribe = s
	return nil
}

func (s *Subscribe) validate() error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("subscribe: %q is not an http or https URL", s.URL)
	}
	if s.Expires < 0 || s.Frequency < 0 {
		return fmt.Errorf("subscribe: expires and frequency must be positive")
	}
	return nil
}

// parsePublishers parses: publishers <user>... ("*" allows anyone who
// reached the publish endpoint).
func parsePublishers(d *caddyfile.Dispenser, p *Provider) error {
	users := d.RemainingArgs()
	if len(users) == 0 {
		return d.ArgErr()
	}
	p.Publishers = append(p.Publishers, users...)
	return nil
}

// parsePush parses:
//
//	push <id>... {
//		expires <duration>
//	}
func parsePush(d *caddyfile.Dispenser, p *Provider) error {
	if p.Push != nil {
		return d.Errf("provider %q: push given twice", p.ID)
	}
	ps := &Push{IDs: d.RemainingArgs()}
	if len(ps.IDs) == 0 {
		return d.Errf("provider %q: push needs the notification ids it may use", p.ID)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "expires":
			if err := durationArg(d, &ps.Expires); err != nil {
				return err
			}
		default:
			return d.Errf("provider %q: push: unrecognized option %q", p.ID, d.Val())
		}
	}
	p.Push = ps
	return nil
}

// publishPolicies returns who may notify about each configured provider.
func (a *App) publishPolicies() (map[string]publish.Policy, error) {
	out := make(map[string]publish.Policy, len(a.Providers))
	owner := map[string]string{}
	for _, p := range a.Providers {
		pol := publish.Policy{Publishers: p.Publishers}
		if p.peer != nil {
			pol.CheckURL = p.peer.Check
		}
		if p.Push != nil {
			for _, id := range p.Push.IDs {
				if other, dup := owner[id]; dup {
					return nil, fmt.Errorf("provider %q: push id %q is already provider %q's", p.ID, id, other)
				}
				owner[id] = p.ID
			}
			pol.PushIDs = p.Push.IDs
			pol.PushExpires = time.Duration(p.Push.Expires)
		}
		out[p.ID] = pol
	}
	return out, nil
}

// subscriptionConfigs returns the subscriptions to keep, with each
// provider's HTTP client.
func (a *App) subscriptionConfigs() []publish.SubscriptionConfig {
	var out []publish.SubscriptionConfig
	for _, p := range a.Providers {
		if p.Subscribe == nil {
			continue
		}
		exp := time.Duration(p.Subscribe.Expires)
		if exp == 0 {
			exp = defaultSubscriptionExpires
		}
		out = append(out, publish.SubscriptionConfig{
			ProviderID: p.ID,
			URL:        p.Subscribe.URL,
			Expires:    exp,
			Frequency:  time.Duration(p.Subscribe.Frequency),
			Client:     p.HTTPClient(),
		})
	}
	return out
}
