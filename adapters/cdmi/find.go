package cdmi

import (
	"cmp"
	"context"

	"github.com/caddy-csb/caddy-csb/adapters/internal/model"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Find gathers what Provision created for the job from the names it
// gives (the container and domain are named after the job, the objects
// after the request): the broker's reconciliation of a crash between
// Provision's creates and its recording of their answers. A job with
// fewer objects than req asks for is reported failed, so the broker
// removes it rather than hand it to the consumer.
func (a *Adapter) Find(ctx context.Context, req *contract.Request) (*contract.Resource, error) {
	const op = "find"
	want := req.Want.DSaaS
	if want == nil {
		return nil, nil // Provision creates nothing for such a request
	}
	at := a.places(want, req.JobID)
	res := &contract.Resource{State: contract.StatePending, Native: map[string]string{}, Endpoint: a.cfg.Endpoint}
	missing := false
	for _, p := range []struct{ key, ct string }{
		{keyContainer, TypeContainer}, {keyData, TypeObject}, {keyQueue, TypeQueue}, {keyDomain, TypeDomain},
	} {
		key, url := p.key, at[p.key]
		if url == "" {
			continue
		}
		_, err := a.get(ctx, op+": read "+key, url+selection(key), p.ct)
		switch {
		case err == nil:
			res.Native[key] = url
		case contract.KindOf(err) == contract.KindNotFound:
			missing = true
		default:
			return nil, err
		}
	}
	if len(res.Native) == 0 {
		return nil, nil
	}
	if missing {
		model.Incomplete(res)
	}
	if at[keyCap] != "" {
		res.Native[keyCap] = at[keyCap]
	}
	res.URI = cmp.Or(res.Native[keyContainer], res.Native[keyDomain], res.Native[keyCap])
	return model.ReadBack(ctx, a.Status, res)
}
