// Package svclink finds the Link of a PaaS or SaaS part of a service, for
// the front-ends that show services (the console, the csb command).
package svclink

import "github.com/caddy-csb/caddy-csb/broker/csbmsg"

// Of returns the Link of v, a *csbmsg.PaaS or *csbmsg.SaaS; nil for a
// nil part or any other value.
func Of(v any) *csbmsg.Link {
	switch x := v.(type) {
	case *csbmsg.PaaS:
		if x != nil {
			return x.Link
		}
	case *csbmsg.SaaS:
		if x != nil {
			return x.Link
		}
	}
	return nil
}
