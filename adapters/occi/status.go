package occi

import (
	"context"
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// Status reads every entity the resource holds and rebuilds Granted. A
// resource whose primary entity is gone is reported with StateGone.
func (a *Adapter) Status(ctx context.Context, res *contract.Resource) (*contract.Resource, error) {
	out := &contract.Resource{URI: res.URI, Native: copyMap(res.Native), Endpoint: res.Endpoint}
	ia := &csbmsg.IaaS{}
	states := []contract.State{}
	gone := false
	get := func(key string) (*Message, error) {
		loc := out.Native[key]
		if loc == "" {
			return nil, nil
		}
		r, err := a.do(ctx, "status", http.MethodGet, loc, nil, "")
		if err != nil {
			if contract.KindOf(err) == contract.KindNotFound {
				if loc == out.URI {
					gone = true
				}
				return nil, nil
			}
			return nil, err
		}
		return r.msg, nil
	}
	var compute *Message
	if m, err := get(nativeCompute); err != nil {
		return nil, err
	} else if m != nil {
		compute = m
		ia.Compute = fromOCCI(computeRows, m.Attributes)
		if ia.Compute == nil {
			ia.Compute = &csbmsg.Compute{}
		}
		st, _ := m.Attributes.Get("occi.compute.state")
		states = append(states, settle(out.Native, nativeCompute, computeStates, st.S))
	}
	if m, err := get(nativeStorage); err != nil {
		return nil, err
	} else if m != nil {
		ia.Storage = fromOCCI(storageRows, m.Attributes)
		if ia.Storage == nil {
			ia.Storage = &csbmsg.Storage{}
		}
		st, _ := m.Attributes.Get("occi.storage.state")
		states = append(states, settle(out.Native, nativeStorage, storageStates, st.S))
	}
	if m, err := get(nativeNetwork); err != nil {
		return nil, err
	} else if m != nil {
		ia.Network = fromOCCI(networkRows, m.Attributes)
		if ia.Network == nil {
			ia.Network = &csbmsg.Network{}
		}
		if out.Native[nativeNetworkShared] == "" {
			st, _ := m.Attributes.Get("occi.network.state")
			states = append(states, settle(out.Native, nativeNetwork, linkStates, st.S))
		}
	}
	if loc := out.Native[nativeNetworkInterface]; loc != "" {
		attrs, err := a.linkAttributes(ctx, compute, loc)
		if err != nil {
			return nil, err
		}
		ia.NetworkInterface = fromOCCI(networkInterfaceRows, attrs)
		if ia.NetworkInterface == nil {
			ia.NetworkInterface = &csbmsg.NetworkInterface{}
		}
	}
	if loc := out.Native[nativeStorageLink]; loc != "" {
		attrs, err := a.linkAttributes(ctx, compute, loc)
		if err != nil {
			return nil, err
		}
		ia.StorageLink = fromOCCI(storageLinkRows, attrs)
		if ia.StorageLink == nil {
			ia.StorageLink = &csbmsg.StorageLink{}
		}
	}
	out.Granted = csbmsg.ServiceRequest{IaaS: ia}
	switch {
	case gone || out.URI == "":
		out.State = contract.StateGone
		out.Granted = csbmsg.ServiceRequest{}
	case out.Native[contract.NativeIncomplete] != "":
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
// the link), else from the link's own location.
func (a *Adapter) linkAttributes(ctx context.Context, source *Message, loc string) (Attributes, error) {
	want, err := a.resolve(loc)
	if err != nil {
		return Attributes{}, err
	}
	if source != nil {
		for _, l := range source.Links {
			if l.Self == "" {
				continue
			}
			if u, err := a.resolve(l.Self); err == nil && u.Path == want.Path {
				return l.Attributes, nil
			}
		}
	}
	r, err := a.do(ctx, "status", http.MethodGet, loc, nil, "")
	if err != nil {
		if contract.KindOf(err) == contract.KindNotFound {
			return Attributes{}, nil
		}
		return Attributes{}, err
	}
	return r.msg.Attributes, nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
