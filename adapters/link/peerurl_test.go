package link_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/link"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestProvisionChecksTheHref: with CheckURL (the provider's peer URL
// policy), a service whose href the check refuses is not granted; the
// error names the href, and nothing is recorded as live.
func TestProvisionChecksTheHref(t *testing.T) {
	refused := errors.New("peer url refused")
	var checked []string
	a := link.Adapter{CheckURL: func(u *url.URL) error {
		checked = append(checked, u.String())
		if u.Host != "crm.example.org" {
			return refused
		}
		return nil
	}}
	admin := csbmsg.Service{ID: "adm", Status: csbmsg.ServiceActive, SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm", Href: "http://127.0.0.1:2019/config/"}}}
	_, err := a.Provision(context.Background(), &contract.Request{Want: csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm"}}}, Service: admin})
	var ae *contract.Error
	if !errors.Is(err, refused) || !errors.As(err, &ae) || !strings.Contains(err.Error(), `"adm"`) {
		t.Fatalf("refused href: %v", err)
	}
	if a.Live() != 0 {
		t.Fatalf("a refused grant was recorded")
	}
	if _, err := a.Provision(context.Background(), &contract.Request{Want: saasReq("crm").Want, Service: crm}); err != nil {
		t.Fatalf("allowed href: %v", err)
	}
	if len(checked) != 2 || checked[1] != "https://crm.example.org/tenant/" {
		t.Fatalf("checked %v", checked)
	}
}
