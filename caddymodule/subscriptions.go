package caddymodule

import (
	"fmt"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/publish"
)

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

// Push lets a provider send notifications without a subscription the
// broker holds, under the ids listed.
type Push struct {
	// IDs are the notification ids accepted. Required.
	IDs []string `json:"ids"`
	// Expires is how long services published under these ids stay
	// placeable after each notification. Default: until withdrawn.
	Expires caddy.Duration `json:"expires,omitempty"`
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
			exp = publish.DefaultSubscriptionExpires
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
