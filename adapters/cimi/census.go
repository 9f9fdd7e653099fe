package cimi

import (
	"context"
	"encoding/json"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Held implements contract.Census: it lists the Machine, Volume and
// Network collections the resources have parts in, once each, and
// reports a resource held when every part it names is listed.
func (a *Adapter) Held(ctx context.Context, res []*contract.Resource) ([]bool, error) {
	const op = "held"
	cep, err := a.entryPoint(ctx, op)
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, c := range []struct {
		key string
		ref *Ref
	}{{keyMachine, cep.Machines}, {keyVolume, cep.Volumes}, {keyNetwork, cep.Networks}} {
		if !anyPart(res, c.key) {
			continue
		}
		items, err := a.list(ctx, op, c.ref)
		if err != nil {
			return nil, err
		}
		for _, raw := range items {
			var it struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(raw, &it) == nil && it.ID != "" {
				listed[a.resolve(it.ID)] = true
			}
		}
	}
	out := make([]bool, len(res))
	for i, r := range res {
		parts := 0
		out[i] = true
		for _, key := range []string{keyMachine, keyVolume, keyNetwork} {
			if href := r.Native[key]; href != "" {
				parts++
				out[i] = out[i] && listed[href]
			}
		}
		out[i] = out[i] && parts > 0
	}
	return out, nil
}

// anyPart reports whether a resource of res has a part under key.
func anyPart(res []*contract.Resource, key string) bool {
	for _, r := range res {
		if r.Native[key] != "" {
			return true
		}
	}
	return false
}

var _ contract.Census = (*Adapter)(nil)
