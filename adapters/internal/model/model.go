// Package model routes the calls of the adapters that serve IaaS and
// DSaaS through two native APIs (openstack: Nova and Swift; aws: EC2 and
// S3): which API a request is for, and the error for a Resource another
// adapter made.
package model

import (
	"fmt"

	"github.com/caddy-csb/caddy-csb/broker/adapters"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Service models an adapter can serve.
const (
	IaaS  = "IaaS"
	DSaaS = "DSaaS"
)

// Of returns IaaS or DSaaS for a request that asks for exactly one of
// them, else an unsupported error for op. adapter names the adapter and
// apis its native APIs, for the error ("openstack", "IaaS (Nova) and
// DSaaS (Swift)").
func Of(op, adapter, apis string, w csbmsg.ServiceRequest) (string, error) {
	switch {
	case w.IaaS != nil && w.DSaaS == nil:
		return IaaS, nil
	case w.DSaaS != nil && w.IaaS == nil:
		return DSaaS, nil
	case w.PaaS != nil || w.SaaS != nil:
		return "", adapters.Errorf(adapters.KindUnsupported, op, "%s serves %s; PaaS and SaaS are for the link adapter", adapter, apis)
	}
	return "", adapters.Errorf(adapters.KindUnsupported, op, "want exactly one of <IaaS> or <DSaaS>")
}

// Foreign is the error for a Resource whose native kind the adapter does
// not know: another adapter made it.
func Foreign(adapter string, res *adapters.Resource) error {
	return &adapters.Error{Kind: adapters.KindNotFound, Op: "resource", Err: fmt.Errorf("resource %q was not made by the %s adapter", res.URI, adapter)}
}
