package occi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Update applies a changed request: attribute changes (resize, hostname,
// vlan, ...) as partial updates, elements the resource does not have yet
// (a storage, a network, their links) as creations, then the requested
// actions. Elements the request leaves out are left as they are.
func (a *Adapter) Update(ctx context.Context, res *contract.Resource, req *contract.Request) (*contract.Resource, error) {
	want := req.Want.IaaS
	if want == nil {
		return nil, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: errors.New("the occi adapter updates IaaS resources only")}
	}
	if err := validate(want); err != nil {
		err.(*contract.Error).Op = "update"
		return nil, err
	}
	md, err := a.Model(ctx)
	if err != nil {
		return nil, err
	}
	cur, err := a.Status(ctx, res)
	if err != nil {
		return nil, err
	}
	if cur.State == contract.StateGone {
		return cur, &contract.Error{Kind: contract.KindNotFound, Op: "update", Err: fmt.Errorf("%s is gone", res.URI)}
	}
	have := cur.Granted.IaaS
	if have == nil {
		have = &csbmsg.IaaS{}
	}
	n := cur.Native
	title := req.JobID

	// Storage: resize through the 1.1 resize action when the server has it,
	// else as a partial update of occi.storage.size (1.2).
	if want.Storage != nil {
		if n[nativeStorage] == "" {
			loc, err := a.createStorage(ctx, md, want.Storage, title)
			if err != nil {
				return cur, err
			}
			n[nativeStorage] = loc
		} else if want.Storage.Size != nil && (have.Storage == nil || have.Storage.Size == nil || *have.Storage.Size != *want.Storage.Size) {
			if err := a.resizeStorage(ctx, md, n[nativeStorage], *want.Storage.Size); err != nil {
				return cur, err
			}
		}
	}
	if (want.Network != nil || want.NetworkInterface != nil) && n[nativeNetwork] == "" {
		if a.cfg.Network != "" {
			u, err := a.resolve(a.cfg.Network)
			if err != nil {
				return cur, &contract.Error{Kind: contract.KindClient, Op: "update", Err: err}
			}
			n[nativeNetwork], n[nativeNetworkShared] = u.String(), "true"
		} else {
			loc, err := a.createNetwork(ctx, md, want.Network, title)
			if err != nil {
				return cur, err
			}
			n[nativeNetwork] = loc
		}
	} else if want.Network != nil && n[nativeNetworkShared] == "" {
		attrs, mixins, err := changed(networkRows, want.Network, have.Network)
		if err != nil {
			return cur, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: err}
		}
		if attrs.Len() > 0 {
			if err := a.updateEntity(ctx, md, KindNetwork, n[nativeNetwork], attrs, mixins); err != nil {
				return cur, err
			}
		}
	}
	if want.Compute != nil {
		if n[nativeCompute] == "" {
			loc, err := a.createCompute(ctx, md, want.Compute, req.Service, title)
			if err != nil {
				return cur, err
			}
			n[nativeCompute] = loc
		} else {
			attrs, _, err := changed(computeRows, want.Compute, have.Compute)
			if err != nil {
				return cur, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: err}
			}
			if attrs.Len() > 0 {
				if err := a.updateEntity(ctx, md, KindCompute, n[nativeCompute], attrs, nil); err != nil {
					return cur, err
				}
			}
		}
	}
	if n[nativeCompute] != "" {
		if n[nativeNetwork] != "" && n[nativeNetworkInterface] == "" && (want.NetworkInterface != nil || want.Network != nil) {
			loc, err := a.createNetworkInterface(ctx, md, want.NetworkInterface, n[nativeCompute], n[nativeNetwork], title)
			if err != nil {
				return cur, err
			}
			n[nativeNetworkInterface] = loc
		} else if want.NetworkInterface != nil && n[nativeNetworkInterface] != "" {
			attrs, mixins, err := changed(networkInterfaceRows, want.NetworkInterface, have.NetworkInterface)
			if err != nil {
				return cur, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: err}
			}
			if attrs.Len() > 0 {
				if err := a.updateEntity(ctx, md, KindNetworkInterface, n[nativeNetworkInterface], attrs, mixins); err != nil {
					return cur, err
				}
			}
		}
		if n[nativeStorage] != "" && n[nativeStorageLink] == "" && (want.StorageLink != nil || want.Storage != nil) {
			loc, err := a.createStorageLink(ctx, md, want.StorageLink, n[nativeCompute], n[nativeStorage], title)
			if err != nil {
				return cur, err
			}
			n[nativeStorageLink] = loc
		} else if want.StorageLink != nil && n[nativeStorageLink] != "" {
			attrs, _, err := changed(storageLinkRows, want.StorageLink, have.StorageLink)
			if err != nil {
				return cur, &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: err}
			}
			if attrs.Len() > 0 {
				if err := a.updateEntity(ctx, md, KindStorageLink, n[nativeStorageLink], attrs, nil); err != nil {
					return cur, err
				}
			}
		}
	}
	cur.URI = primary(n)
	if err := a.applyActions(ctx, md, cur, &req.Want, false); err != nil {
		return cur, err
	}
	st, err := a.Status(ctx, cur)
	if err != nil {
		return cur, err
	}
	return st, nil
}

// updateEntity changes attributes of an entity: a partial update (POST to
// the entity, GFD.185 3.4.4 / GFD.223 10.3.1); a server that refuses POST
// there (405) gets a full replacement (PUT) of the current rendering with
// the changes applied.
func (a *Adapter) updateEntity(ctx context.Context, md *Model, kindID, loc string, attrs Attributes, mixins []string) error {
	kind, _, err := kindOf(md, kindID)
	if err != nil {
		return err
	}
	msg := &Message{Categories: []Category{kind}, Attributes: attrs}
	if err := a.withMixins(md, msg, kindID, mixins); err != nil {
		return err
	}
	_, err = a.do(ctx, "update", http.MethodPost, loc, msg, "")
	var ae *contract.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusMethodNotAllowed {
		return err
	}
	r, err := a.do(ctx, "update", http.MethodGet, loc, nil, "")
	if err != nil {
		return err
	}
	full := &Message{}
	for _, c := range r.msg.Categories {
		full.Categories = append(full.Categories, Category{Term: c.Term, Scheme: c.Scheme, Class: c.Class})
	}
	for _, name := range r.msg.Attributes.Names() {
		if md.Immutable(kindID, name) {
			continue
		}
		v, _ := r.msg.Attributes.Get(name)
		full.Attributes.Set(name, v)
	}
	for _, name := range attrs.Names() {
		v, _ := attrs.Get(name)
		full.Attributes.Set(name, v)
	}
	for _, id := range mixins {
		if !full.HasCategory(id) {
			if c, ok := mixinRef(md, id); ok {
				full.Categories = append(full.Categories, c)
			}
		}
	}
	_, err = a.do(ctx, "update", http.MethodPut, loc, full, "")
	return err
}

func (a *Adapter) resizeStorage(ctx context.Context, md *Model, loc string, size uint64) error {
	resize := storageActions[csbmsg.StorageActResize].OCCI
	if md.KindHasAction(KindStorage, resize) {
		attrs := Attributes{}
		attrs.Set(resizeSizeAttr, Int(size))
		return a.invoke(ctx, md, KindStorage, loc, resize, attrs)
	}
	attrs := Attributes{}
	attrs.Set("occi.storage.size", Int(size))
	return a.updateEntity(ctx, md, KindStorage, loc, attrs, nil)
}

// applyActions triggers the actions and status changes a request
// carries. On create (fresh), and unless the adapter is configured with
// NoStart, an entity the server made in its idle state is brought up: an
// inactive compute is started, an offline storage brought online, an
// inactive network brought up — unless the request asks for that state.
func (a *Adapter) applyActions(ctx context.Context, md *Model, res *contract.Resource, want *csbmsg.ServiceRequest, fresh bool) error {
	ia := want.IaaS
	have := res.Granted.IaaS
	if have == nil {
		have = &csbmsg.IaaS{}
	}
	n := res.Native
	bringUp := fresh && !a.cfg.NoStart && res.State == contract.StateReady
	if loc := n[nativeCompute]; loc != "" && ia.Compute != nil {
		var act *action
		switch {
		case ia.Compute.Action != nil:
			x, ok := computeActions[*ia.Compute.Action]
			if !ok {
				return &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf("compute action %q", *ia.Compute.Action)}
			}
			act = &x
		case ia.Compute.Status != nil:
			act = computeStatusAction(*ia.Compute.Status, have.Compute)
		case bringUp:
			act = computeStatusAction(csbmsg.ComputeActive, have.Compute)
		}
		if act != nil {
			if err := a.invoke(ctx, md, KindCompute, loc, act.OCCI, Attributes{}); err != nil {
				return err
			}
			setTarget(n, nativeCompute, act.Target)
		}
	}
	if loc := n[nativeNetwork]; loc != "" && n[nativeNetworkShared] == "" && ia.Network != nil {
		var act *action
		cur := ""
		if have.Network != nil && have.Network.Status != nil {
			cur = string(*have.Network.Status)
		}
		switch {
		case ia.Network.Action != nil:
			x, ok := networkActions[*ia.Network.Action]
			if !ok {
				return &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf("network action %q", *ia.Network.Action)}
			}
			act = &x
		case ia.Network.Status != nil && string(*ia.Network.Status) != cur:
			act = statusActions(networkActions, *ia.Network.Status == csbmsg.NetworkActive, csbmsg.NetworkUp, csbmsg.NetworkDown)
		case ia.Network.Status == nil && bringUp && cur == string(csbmsg.NetworkInactive):
			act = statusActions(networkActions, true, csbmsg.NetworkUp, csbmsg.NetworkDown)
		}
		if act != nil {
			if err := a.invoke(ctx, md, KindNetwork, loc, act.OCCI, Attributes{}); err != nil {
				return err
			}
			setTarget(n, nativeNetwork, act.Target)
		}
	}
	if loc := n[nativeStorage]; loc != "" && ia.Storage != nil {
		var act *action
		cur := ""
		if have.Storage != nil && have.Storage.Status != nil {
			cur = string(*have.Storage.Status)
		}
		switch {
		case ia.Storage.Action != nil:
			x, ok := storageActions[*ia.Storage.Action]
			if !ok {
				return &contract.Error{Kind: contract.KindUnsupported, Op: "update", Err: fmt.Errorf("storage action %q", *ia.Storage.Action)}
			}
			act = &x
		case ia.Storage.Status != nil && string(*ia.Storage.Status) != cur:
			if s := *ia.Storage.Status; s == csbmsg.StorageOnline || s == csbmsg.StorageOffline {
				act = statusActions(storageActions, s == csbmsg.StorageOnline, csbmsg.StorageActOnline, csbmsg.StorageActOffline)
			}
		case ia.Storage.Status == nil && bringUp && cur == string(csbmsg.StorageOffline):
			act = statusActions(storageActions, true, csbmsg.StorageActOnline, csbmsg.StorageActOffline)
		}
		if act != nil && act.OCCI == storageActions[csbmsg.StorageActResize].OCCI {
			// An explicit resize: the size change itself is applied with
			// the other attribute changes (resizeStorage).
			if ia.Storage.Size == nil {
				return &contract.Error{Kind: contract.KindClient, Op: "update", Err: errors.New("storage resize needs a size")}
			}
			act = nil
		}
		if act != nil {
			if err := a.invoke(ctx, md, KindStorage, loc, act.OCCI, Attributes{}); err != nil {
				return err
			}
			setTarget(n, nativeStorage, act.Target)
		}
	}
	return nil
}

// setTarget records the state an action leads to ("" = unchanged).
func setTarget(native map[string]string, key, target string) {
	if target == "" {
		delete(native, targetKey(key))
		return
	}
	native[targetKey(key)] = target
}

func statusActions[K comparable](m map[K]action, up bool, upAct, downAct K) *action {
	x := m[downAct]
	if up {
		x = m[upAct]
	}
	return &x
}

// computeStatusAction returns the action that moves a compute to the
// wanted status, or nil when it is there already.
func computeStatusAction(want csbmsg.ComputeStatus, have *csbmsg.Compute) *action {
	if have != nil && have.Status != nil && *have.Status == want {
		return nil
	}
	var x action
	switch want {
	case csbmsg.ComputeActive:
		x = computeActions[csbmsg.ComputeStart]
	case csbmsg.ComputeInactive:
		x = computeActions[csbmsg.ComputeStop]
	case csbmsg.ComputeSuspended:
		x = computeActions[csbmsg.ComputeSuspend]
	default:
		return nil
	}
	return &x
}

// invoke triggers an action: POST <entity>?action=<term> with the action's
// category (GFD.185 3.4.4, GFD.223 10.3.2). The kind must list the action
// (or, if it lists none, the server must declare it). The category sent carries the
// specification's identifier, which is also what the kind lists: the
// recorded rOCCI server declares the "down" action itself under a scheme
// ending "action#up", a slip its kind's action list does not repeat.
func (a *Adapter) invoke(ctx context.Context, md *Model, kindID, loc, actionID string, attrs Attributes) error {
	scheme, term, _ := strings.Cut(actionID, "#")
	op := "action " + term
	// A kind that lists its actions is authoritative; otherwise any
	// declared action of that identifier will do.
	k, _ := md.Kind(kindID)
	_, declared := md.Action(actionID)
	if len(k.Actions) > 0 {
		declared = md.KindHasAction(kindID, actionID)
	}
	if !declared {
		return &contract.Error{Kind: contract.KindUnsupported, Op: op, Err: fmt.Errorf("the server declares no action %s", actionID)}
	}
	u, err := a.resolve(loc)
	if err != nil {
		return &contract.Error{Kind: contract.KindClient, Op: op, Err: err}
	}
	q := u.Query()
	q.Set("action", term)
	u.RawQuery = q.Encode()
	msg := &Message{Categories: []Category{{Term: term, Scheme: scheme + "#", Class: ClassAction}}, Attributes: attrs}
	_, err = a.do(ctx, op, http.MethodPost, u.String(), msg, "")
	return err
}
