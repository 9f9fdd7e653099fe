// Package model routes the calls of the adapters that serve IaaS and
// DSaaS through two native APIs (openstack: Nova and Swift; aws: EC2 and
// S3): which API a request is for, the error for a Resource another
// adapter made, and the mapping tables their READMEs show. It also holds
// the state rule of a job made of several provider objects (Parts), for
// every adapter, and how a Find reports such a job (Incomplete,
// ReadBack).
package model

import (
	"context"
	"fmt"

	"github.com/caddy-csb/caddy-csb/broker/contract"
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
		return "", contract.Errorf(contract.KindUnsupported, op, "%s serves %s; PaaS and SaaS are for the link adapter", adapter, apis)
	}
	return "", contract.Errorf(contract.KindUnsupported, op, "want exactly one of <IaaS> or <DSaaS>")
}

// Foreign is the error for a Resource whose native kind the adapter does
// not know: another adapter made it.
func Foreign(adapter string, res *contract.Resource) error {
	return &contract.Error{Kind: contract.KindNotFound, Op: "resource", Err: fmt.Errorf("resource %q was not made by the %s adapter", res.URI, adapter)}
}

// Parts tallies the provider objects a job is made of as its Status reads
// them back.
type Parts struct {
	// Held counts the objects the job holds; Gone those of them the
	// provider no longer has.
	Held, Gone int
}

// State is the state of the job whose present objects read as state: gone
// when every object is, failed when some are or the broker recorded the
// job as incomplete (Native[contract.NativeIncomplete]), else state.
func (p Parts) State(state contract.State, res *contract.Resource) contract.State {
	switch {
	case p.Held > 0 && p.Gone == p.Held:
		return contract.StateGone
	case p.Gone > 0 || res.Native[contract.NativeIncomplete] != "":
		return contract.StateFailed
	}
	return state
}

// Incomplete marks res, what a Find gathered of a job, as holding fewer
// objects than the request asks for: failed now, and recorded so
// (Native[contract.NativeIncomplete]) for Status to keep reporting it
// failed (Parts.State), so the broker removes the job rather than hand
// it to the consumer.
func Incomplete(res *contract.Resource) {
	res.Native[contract.NativeIncomplete] = "true"
	res.State = contract.StateFailed
}

// ReadBack is the answer of a Find that gathered res: res as status
// reads it back, or res itself while it cannot be read yet (the broker
// polls).
func ReadBack(ctx context.Context, status func(context.Context, *contract.Resource) (*contract.Resource, error), res *contract.Resource) (*contract.Resource, error) {
	if out, err := status(ctx, res); err == nil {
		return out, nil
	}
	return res, nil
}

// Route is what a two-API adapter does with the resources of one of its
// native APIs (aws: EC2 instances or S3 buckets; openstack: Nova servers
// or Swift storage).
type Route struct {
	// Model is the service model the API serves: IaaS or DSaaS.
	Model string
	// What names the API's resources in errors ("an EC2 instance").
	What   string
	Status func(ctx context.Context, res *contract.Resource) (*contract.Resource, error)
	// Update is called only with a request that carries the element of
	// Model.
	Update func(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error)
	Remove func(ctx context.Context, res *contract.Resource) error
	// Find returns what Provision made for the request's job, or nil.
	Find func(ctx context.Context, req *contract.Request) (*contract.Resource, error)
}

// Router sends a two-API adapter's Status, Update and Remove to the Route
// of the resource's kind (its Native[KindKey]), and Find to the Route of
// the request's model. An adapter embeds it, so these are its methods.
type Router struct {
	// Adapter names the adapter in the error for a foreign resource.
	Adapter string
	// KindKey is the Native key that holds a resource's kind.
	KindKey string
	// Routes are the native APIs by the kind their resources carry.
	Routes map[string]Route
}

func (r *Router) route(res *contract.Resource) (Route, bool) {
	rt, ok := r.Routes[res.Native[r.KindKey]]
	return rt, ok
}

// Status reads the resource back through the API that made it.
func (r *Router) Status(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	if rt, ok := r.route(res); ok {
		return rt.Status(ctx, res)
	}
	return nil, Foreign(r.Adapter, res)
}

// Update changes the resource through the API that made it. An update
// without the element of the API's model (<IaaS> for a server) is the
// client's error.
func (r *Router) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	if rt, ok := r.route(res); ok {
		if (rt.Model == IaaS && req.Want.IaaS == nil) || (rt.Model == DSaaS && req.Want.DSaaS == nil) {
			return nil, &contract.Error{Kind: contract.KindClient, Op: "update", Err: fmt.Errorf("the job is %s; the update carries no <%s>", rt.What, rt.Model)}
		}
		return rt.Update(ctx, res, req)
	}
	return nil, Foreign(r.Adapter, res)
}

// Remove deletes the resource through the API that made it. A resource
// with no Native entries (nothing was created) is removed at once.
func (r *Router) Remove(ctx context.Context, res *contract.Resource) error {
	if rt, ok := r.route(res); ok {
		return rt.Remove(ctx, res)
	}
	if len(res.Native) == 0 {
		return nil
	}
	return Foreign(r.Adapter, res)
}

// Find looks for what Provision made for req's job through the API of
// model m, and reads it back: a resource found but not readable yet is
// returned as found, for the broker to poll.
func (r *Router) Find(ctx context.Context, m string, req *contract.Request) (*contract.Resource, error) {
	for _, rt := range r.Routes {
		if rt.Model != m {
			continue
		}
		res, err := rt.Find(ctx, req)
		if err != nil || res == nil {
			return nil, err
		}
		if out, err := rt.Status(ctx, res); err == nil {
			return out, nil
		}
		return res, nil
	}
	return nil, nil
}

// CopyOf returns a copy of *p, or a new T when p is nil: a granted
// element to change without touching the resource it was read from.
func CopyOf[T any](p *T) *T {
	out := new(T)
	if p != nil {
		*out = *p
	}
	return out
}
