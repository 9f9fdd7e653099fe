package model

import (
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
