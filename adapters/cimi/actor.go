package cimi

import (
	"context"
	"net/http"
	"strings"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// Act runs a machine action (contract.ActionStart, ...) through the
// Machine's operation for it, and records the provider's Job if it
// answers with one (Status follows it).
func (a *Adapter) Act(ctx context.Context, res *contract.Resource, action string) (*contract.Resource, error) {
	const op = "act"
	href := res.Native[keyMachine]
	if href == "" {
		return nil, unsupported(op, "the job holds no machine")
	}
	rel := ActionNS + action
	var m Machine
	if _, err := a.call(ctx, op+": read machine", http.MethodGet, href, nil, &m); err != nil {
		return nil, err
	}
	resp, err := a.act(ctx, op+": "+action, "machine", m.State, m.Operations, action, rel)
	if err != nil {
		return nil, err
	}
	out := res.Clone()
	if j := resp.Header.Get(JobHeader); j != "" {
		out.Native[keyJob] = a.resolve(j)
	}
	if st, err := a.Status(ctx, out); err == nil {
		return st, nil
	}
	return out, nil
}

// MachineState reads the Machine and returns its state as the provider
// spells it (upper-cased).
func (a *Adapter) MachineState(ctx context.Context, res *contract.Resource) (string, error) {
	href := res.Native[keyMachine]
	if href == "" {
		return "", unsupported("machine state", "the job holds no machine")
	}
	var m Machine
	if _, err := a.call(ctx, "machine state: read machine", http.MethodGet, href, nil, &m); err != nil {
		return "", err
	}
	return strings.ToUpper(m.State), nil
}

var _ contract.Actor = (*Adapter)(nil)
