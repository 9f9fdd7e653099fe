package model

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		w    csbmsg.ServiceRequest
		want string
		err  string
	}{
		{csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}}, IaaS, ""},
		{csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{}}, DSaaS, ""},
		{csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{}}, "", "provision: unsupported: x serves IaaS (A) and DSaaS (B); PaaS and SaaS are for the link adapter"},
		{csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}, DSaaS: &csbmsg.DSaaS{}}, "", "provision: unsupported: want exactly one of <IaaS> or <DSaaS>"},
		{csbmsg.ServiceRequest{}, "", "provision: unsupported: want exactly one of <IaaS> or <DSaaS>"},
	} {
		got, err := Of("provision", "x", "IaaS (A) and DSaaS (B)", tc.w)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("Of(%+v) = %q, %v; want %q, %s", tc.w, got, err, tc.want, tc.err)
		}
	}
	if err := Foreign("x", &contract.Resource{URI: "u"}); contract.KindOf(err) != contract.KindNotFound {
		t.Errorf("Foreign: %v", err)
	}
}

func TestParts(t *testing.T) {
	complete := &contract.Resource{Native: map[string]string{}}
	incomplete := &contract.Resource{Native: map[string]string{contract.NativeIncomplete: "true"}}
	for _, tc := range []struct {
		state       contract.State
		parts, gone int
		res         *contract.Resource
		want        contract.State
	}{
		{contract.StateReady, 3, 0, complete, contract.StateReady},
		{contract.StatePending, 3, 0, complete, contract.StatePending},
		{contract.StateReady, 3, 3, complete, contract.StateGone},
		{contract.StateReady, 3, 1, complete, contract.StateFailed},
		{contract.StateReady, 3, 0, incomplete, contract.StateFailed},
		{contract.StateReady, 2, 2, incomplete, contract.StateGone},
		{contract.StateReady, 0, 0, complete, contract.StateReady},
	} {
		if got := (Parts{Held: tc.parts, Gone: tc.gone}).State(tc.state, tc.res); got != tc.want {
			t.Errorf("State(%s) of %d parts, %d gone, incomplete %v = %s, want %s", tc.state, tc.parts, tc.gone, tc.res == incomplete, got, tc.want)
		}
	}
}

func TestRouterUpdateNeedsTheModelsElement(t *testing.T) {
	called := ""
	update := func(kind string) func(context.Context, *contract.Resource, *contract.Request) (*contract.Resource, error) {
		return func(context.Context, *contract.Resource, *contract.Request) (*contract.Resource, error) {
			called = kind
			return &contract.Resource{}, nil
		}
	}
	r := &Router{Adapter: "x", KindKey: "kind", Routes: map[string]Route{
		"server": {Model: IaaS, What: "a server", Update: update("server")},
		"bucket": {Model: DSaaS, What: "a bucket", Update: update("bucket")},
	}}
	server := &contract.Resource{Native: map[string]string{"kind": "server"}}
	bucket := &contract.Resource{Native: map[string]string{"kind": "bucket"}}
	ctx := context.Background()
	iaas := &contract.Request{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}}}
	dsaas := &contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{}}}

	_, err := r.Update(ctx, server, dsaas)
	if contract.KindOf(err) != contract.KindClient || called != "" || !strings.Contains(err.Error(), "the job is a server; the update carries no <IaaS>") {
		t.Errorf("server updated with <DSaaS>: %v (called %q)", err, called)
	}
	if _, err := r.Update(ctx, bucket, iaas); contract.KindOf(err) != contract.KindClient || called != "" || !strings.Contains(err.Error(), "the job is a bucket; the update carries no <DSaaS>") {
		t.Errorf("bucket updated with <IaaS>: %v (called %q)", err, called)
	}
	if _, err := r.Update(ctx, server, iaas); err != nil || called != "server" {
		t.Errorf("server updated with <IaaS>: %v (called %q)", err, called)
	}
	if _, err := r.Update(ctx, bucket, dsaas); err != nil || called != "bucket" {
		t.Errorf("bucket updated with <DSaaS>: %v (called %q)", err, called)
	}
}

func TestIncompleteAndReadBack(t *testing.T) {
	res := &contract.Resource{State: contract.StatePending, Native: map[string]string{"k": "v"}}
	Incomplete(res)
	if res.State != contract.StateFailed || res.Native[contract.NativeIncomplete] == "" || res.Native["k"] != "v" {
		t.Fatalf("Incomplete: %+v", res)
	}
	if got := (Parts{Held: 1}).State(contract.StateReady, res); got != contract.StateFailed {
		t.Errorf("an incomplete job reads as %s", got)
	}

	read := &contract.Resource{State: contract.StateReady}
	got, err := ReadBack(context.Background(), func(context.Context, *contract.Resource) (*contract.Resource, error) { return read, nil }, res)
	if got != read || err != nil {
		t.Errorf("readable: got %v, %v", got, err)
	}
	got, err = ReadBack(context.Background(), func(context.Context, *contract.Resource) (*contract.Resource, error) {
		return nil, errors.New("not yet")
	}, res)
	if got != res || err != nil {
		t.Errorf("not readable yet: got %v, %v", got, err)
	}
}
