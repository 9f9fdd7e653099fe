package occi

import (
	"context"
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Status reads every entity the resource holds and rebuilds Granted. A
// resource whose primary entity is gone is reported with StateGone; one
// that still has it but has lost another of its own entities is failed
// (as model.Parts rules for the other adapters), so the broker does not
// keep handing out a job that lacks part of what it granted.
func (a *Adapter) Status(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	out := res.Clone() // State and Granted are set below
	ia := &csbmsg.IaaS{}
	states := []contract.State{}
	gone, partGone := false, false
	get := func(key string) (*Message, error) {
		loc := out.Native[key]
		if loc == "" {
			return nil, nil
		}
		r, err := a.do(ctx, "status", http.MethodGet, loc, nil, "")
		if err != nil {
			if contract.KindOf(err) == contract.KindNotFound {
				switch {
				case loc == out.URI:
					gone = true
				case !(key == nativeNetwork && out.Native[nativeNetworkShared] != ""):
					partGone = true
				}
				return nil, nil
			}
			return nil, err
		}
		return r.msg, nil
	}
	// The job's entities, with the states their state attribute maps to.
	entities := []struct {
		key, stateAttr string
		states         stateMap
	}{
		{nativeCompute, "occi.compute.state", computeStates},
		{nativeStorage, "occi.storage.state", storageStates},
		{nativeNetwork, "occi.network.state", linkStates},
	}
	read := map[string]*Message{}
	for _, e := range entities {
		m, err := get(e.key)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		read[e.key] = m
		if e.key == nativeNetwork && out.Native[nativeNetworkShared] != "" {
			continue // the provider's network: its state is not the job's
		}
		st, _ := m.Attributes.Get(e.stateAttr)
		states = append(states, settle(out.Native, e.key, e.states, st.S))
	}
	ia.Compute = grantedOf(computeRows, read[nativeCompute])
	ia.Storage = grantedOf(storageRows, read[nativeStorage])
	ia.Network = grantedOf(networkRows, read[nativeNetwork])
	compute := read[nativeCompute] // its rendering may carry its links
	var err error
	var st contract.State
	if ia.NetworkInterface, st, err = networkInterfaceLink.granted(ctx, a, compute, out.Native); err != nil {
		return nil, err
	}
	states = append(states, st)
	if ia.StorageLink, st, err = storageLinkLink.granted(ctx, a, compute, out.Native); err != nil {
		return nil, err
	}
	states = append(states, st)
	out.Granted = csbmsg.ServiceRequest{IaaS: ia}
	switch {
	case gone || out.URI == "":
		out.State = contract.StateGone
		out.Granted = csbmsg.ServiceRequest{}
	case out.Native[contract.NativeIncomplete] != "" || partGone:
		out.State = contract.StateFailed
	default:
		out.State = contract.StateReady
		for _, s := range states {
			if s == contract.StateFailed {
				out.State = contract.StateFailed
				break
			}
			if s == contract.StatePending {
				out.State = contract.StatePending
			}
		}
	}
	return out, nil
}

// grantedOf is the element an entity's rendering m grants (nil for an
// entity not read): one that has none of the rows' attributes grants an
// empty element, not none.
func grantedOf[E any](rows []row[E], m *Message) *E {
	if m == nil {
		return nil
	}
	if e := fromOCCI(rows, m.Attributes); e != nil {
		return e
	}
	return new(E)
}

// granted reads the link n holds, if any, from the rendering of its
// source (the compute) or from its own location, and the state its state
// attribute maps to (linkStates: a link in error fails the job). A link
// rendered without a state, as some servers render inline links, is
// ready. A link the server no longer has (its location answers 404 or
// 410) grants nothing and fails the job: the job created it, so it is a
// part of the job that is gone, as a storage or network would be.
func (l linkKind[E]) granted(ctx context.Context, a *Adapter, source *Message, n map[string]string) (*E, contract.State, error) {
	loc := n[l.key]
	if loc == "" {
		return nil, contract.StateReady, nil
	}
	attrs, gone, err := a.linkAttributes(ctx, source, loc)
	if err != nil {
		return nil, "", err
	}
	if gone {
		return nil, contract.StateFailed, nil
	}
	st := contract.StateReady
	if v, ok := attrs.Get(l.stateAttr); ok {
		st = stateOf(linkStates, v.S)
	}
	return grantedOf(l.rows, &Message{Attributes: attrs}), st, nil
}

// settle returns the adapter state of an entity in OCCI state occi. After
// an action, the entity is pending until it reaches the state the action
// leads to (recorded in native as <key>_target_state); then the target is
// forgotten, so later changes at the provider show as they are.
func settle(native map[string]string, key string, m stateMap, occi string) contract.State {
	s := stateOf(m, occi)
	tk := targetKey(key)
	t := native[tk]
	if t == "" || s != contract.StateReady {
		return s
	}
	if !strings.EqualFold(t, occi) {
		return contract.StatePending
	}
	delete(native, tk)
	return s
}

func targetKey(key string) string { return key + "_target_state" }

// linkAttributes reads a link's attributes: from the Link value the
// source's rendering carries (rOCCI renders links inline, with self= naming
// the link), else from the link's own location. gone reports that the
// link is at neither: its location answers 404 or 410.
func (a *Adapter) linkAttributes(ctx context.Context, source *Message, loc string) (attrs Attributes, gone bool, err error) {
	want, err := a.resolve(loc)
	if err != nil {
		return Attributes{}, false, err
	}
	if source != nil {
		for _, l := range source.Links {
			if l.Self == "" {
				continue
			}
			if u, err := a.resolve(l.Self); err == nil && u.Path == want.Path {
				return l.Attributes, false, nil
			}
		}
	}
	r, err := a.do(ctx, "status", http.MethodGet, loc, nil, "")
	if err != nil {
		if contract.KindOf(err) == contract.KindNotFound {
			return Attributes{}, true, nil
		}
		return Attributes{}, false, err
	}
	return r.msg.Attributes, false, nil
}
