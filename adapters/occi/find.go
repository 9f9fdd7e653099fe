package occi

import (
	"context"
	"net/http"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Find gathers what Provision created for a job from the occi.core.title
// it gives the job's compute, storage and network (the job id), and the
// networkinterface and storagelink the compute's rendering lists as its
// links. It is the broker's reconciliation of a crash between Provision's
// creates and its recording of their answers: Provision creates storage
// and network before the compute, so a broker killed in between would
// otherwise leave them at the provider for good.
//
// A set with fewer entities or links than req asks for is marked
// incomplete: Status reports it failed, and the broker removes it rather
// than hand half a job to the consumer. Find changes nothing at the
// provider: a complete set whose compute Provision had not started yet is
// reported as it is.
func (a *Adapter) Find(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	const op = "find"
	want := req.Want.IaaS
	if want == nil || req.JobID == "" {
		return nil, nil // Provision creates nothing for such a request
	}
	md, err := a.Model(ctx)
	if err != nil {
		return nil, err
	}
	res := &contract.Resource{State: contract.StatePending, Native: map[string]string{}}
	var compute *Message
	for _, k := range []struct{ key, kind string }{
		{nativeStorage, KindStorage}, {nativeNetwork, KindNetwork}, {nativeCompute, KindCompute},
	} {
		if k.key == nativeNetwork && a.cfg.Network != "" {
			continue // the configured network is not the job's
		}
		loc, msg, err := a.titled(ctx, op, md, k.kind, req.JobID)
		if err != nil {
			return nil, err
		}
		if loc != "" {
			res.Native[k.key] = loc
			if k.key == nativeCompute {
				compute = msg
			}
		}
	}
	if len(res.Native) == 0 {
		return nil, nil
	}
	if a.cfg.Network != "" && (want.Network != nil || want.NetworkInterface != nil) {
		u, err := a.resolve(a.cfg.Network)
		if err != nil {
			return nil, &contract.Error{Kind: contract.KindClient, Op: op, Err: err}
		}
		res.Native[nativeNetwork] = u.String()
		res.Native[nativeNetworkShared] = "true"
	}
	if compute != nil {
		a.findLinks(compute, res.Native)
	}
	n := res.Native
	if want.Compute != nil && n[nativeCompute] == "" ||
		want.Storage != nil && n[nativeStorage] == "" ||
		(want.Network != nil || want.NetworkInterface != nil) && n[nativeNetwork] == "" ||
		n[nativeCompute] != "" && n[nativeNetwork] != "" && n[nativeNetworkInterface] == "" ||
		n[nativeCompute] != "" && n[nativeStorage] != "" && n[nativeStorageLink] == "" {
		model.Incomplete(res)
	}
	res.URI = primary(n)
	return model.ReadBack(ctx, a.Status, res)
}

// titledLocation returns the location of the entity of a kind whose
// occi.core.title is title, or "" when the server holds none.
func (a *Adapter) titledLocation(ctx context.Context, kind, title string) (string, error) {
	md, err := a.Model(ctx)
	if err != nil {
		return "", err
	}
	loc, _, err := a.titled(ctx, "remove", md, kind, title)
	return loc, err
}

// titled returns the location and rendering of the entity of a kind whose
// occi.core.title is title, or "" when there is none. It reads the kind's
// collection and then each member: OCCI's filtering of collections is
// optional, and titles are not unique to the broker.
func (a *Adapter) titled(ctx context.Context, op string, md *Model, kind, title string) (string, *Message, error) {
	_, coll, err := kindOf(md, kind)
	if err != nil {
		return "", nil, nil // the server has no such kind: nothing was made
	}
	r, err := a.do(ctx, op+": list "+kind, http.MethodGet, coll, nil, "")
	if err != nil {
		if contract.KindOf(err) == contract.KindNotFound {
			return "", nil, nil
		}
		return "", nil, err
	}
	if r.msg == nil {
		return "", nil, nil
	}
	for _, loc := range r.msg.Locations {
		u, err := a.resolve(loc)
		if err != nil {
			continue
		}
		e, err := a.do(ctx, op+": read "+kind, http.MethodGet, u.String(), nil, "")
		if contract.KindOf(err) == contract.KindNotFound {
			continue // deleted since the listing
		}
		if err != nil {
			return "", nil, err
		}
		if v, ok := e.msg.Attributes.Get(AttrCoreTitle); ok && v.S == title {
			return u.String(), e.msg, nil
		}
	}
	return "", nil, nil
}

// findLinks records the compute's links to the job's storage and network,
// from the Link values of its rendering (GFD.185 renders a resource's
// links with it; self names the link).
func (a *Adapter) findLinks(compute *Message, n map[string]string) {
	path := func(loc string) string {
		u, err := a.resolve(loc)
		if err != nil {
			return ""
		}
		return u.Path
	}
	for _, l := range compute.Links {
		if l.Self == "" || l.IsAction() {
			continue
		}
		self, err := a.resolve(l.Self)
		if err != nil {
			continue
		}
		switch t := path(l.Target); {
		case t != "" && t == path(n[nativeStorage]) && n[nativeStorageLink] == "":
			n[nativeStorageLink] = self.String()
		case t != "" && t == path(n[nativeNetwork]) && n[nativeNetworkInterface] == "":
			n[nativeNetworkInterface] = self.String()
		}
	}
}
