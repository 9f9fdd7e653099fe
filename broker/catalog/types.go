// Package catalog keeps the broker's provider catalogue: every provider and
// every service it offers, whether the provider published it in a
// csb-publish notification, was declared in the configuration, or was
// discovered by an adapter. Placement reads it.
//
// This package does not import Caddy.
package catalog

import (
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Source says where a catalogue entry came from.
type Source string

// Entry sources.
const (
	SourcePublished  Source = "published"  // a csb-publish notification
	SourceStatic     Source = "static"     // declared in the configuration
	SourceDiscovered Source = "discovered" // read by an adapter's Discover
)

// Kind is the service model of a catalogue service.
type Kind string

// Service kinds.
const (
	KindIaaS  Kind = "IaaS"
	KindPaaS  Kind = "PaaS"
	KindSaaS  Kind = "SaaS"
	KindDSaaS Kind = "DSaaS"
)

// KindOf returns the kind of a service, or "" when it carries no support
// element.
func KindOf(s *csbmsg.Service) Kind {
	switch {
	case s.IaaS != nil:
		return KindIaaS
	case s.PaaS != nil:
		return KindPaaS
	case s.SaaS != nil:
		return KindSaaS
	case s.DSaaS != nil:
		return KindDSaaS
	}
	return ""
}

// ProviderEntry is one provider in the catalogue.
type ProviderEntry struct {
	ID                string               `json:"id"`
	Status            csbmsg.ServiceStatus `json:"status"`
	URI               string               `json:"uri,omitempty"`
	EncryptionSupport *bool                `json:"encryption_support,omitempty"`
	Label             string               `json:"label,omitempty"`
	Source            Source               `json:"source"`
	// SubscriptionID is the subscription whose notifications describe this
	// provider, if any.
	SubscriptionID string `json:"subscription_id,omitempty"`
	// Expires is when the entry leaves placement unless renewed; zero
	// means never (static providers).
	Expires   time.Time `json:"expires,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ServiceEntry is one service of a provider in the catalogue.
type ServiceEntry struct {
	ProviderID string         `json:"provider_id"`
	Kind       Kind           `json:"kind"`
	Service    csbmsg.Service `json:"service"`
	Source     Source         `json:"source"`
	Expires    time.Time      `json:"expires,omitzero"`
	UpdatedAt  time.Time      `json:"updated_at"`
}
