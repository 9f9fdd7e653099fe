package csbmsg

import (
	"strings"
	"testing"
)

func TestMarshalRefusesInvalidValues(t *testing.T) {
	okNotif := func(mod func(n *Notification)) *Publish {
		n := &Notification{ID: "n", SeqNumber: 1, Provider: Provider{ID: "p", Status: ServiceActive},
			Services: []Service{{ID: "s", Status: ServiceActive}}}
		mod(n)
		return &Publish{Notification: n}
	}
	pubCases := []struct {
		name string
		p    *Publish
		err  string
	}{
		{"nothing set", &Publish{}, "exactly one of Request, Response and Notification must be set, not 0"},
		{"two set", &Publish{Request: &PublishRequest{}, Response: &PublishResponse{Status: 200}}, "not 2"},
		{"version", &Publish{Version: "2.0", Response: &PublishResponse{Status: 200}}, `version "2.0" is not "1.0"`},
		{"empty id", &Publish{Request: &PublishRequest{Subscription: Subscription{Action: ActionCreate}}}, `/csbpublish/csbrequest/subscription: attribute id: "" is not an NMTOKEN`},
		{"action", &Publish{Request: &PublishRequest{Subscription: Subscription{ID: "s", Action: "delete"}}}, `attribute action: "delete" is not one of`},
		{"status 0", &Publish{Response: &PublishResponse{}}, "status 0 is not a three-digit status code"},
		{"status 1000", &Publish{Response: &PublishResponse{Status: 1000}}, "three-digit"},
		{"reason NUL", &Publish{Response: &PublishResponse{Status: 200, Reason: "a\x00"}}, "attribute reason"},
		{"no service", okNotif(func(n *Notification) { n.Services = nil }), "at least one Service"},
		{"two kinds", okNotif(func(n *Notification) { n.Services[0].PaaS, n.Services[0].SaaS = &PaaS{}, &SaaS{} }), "at most one of IaaS"},
		{"provider status", okNotif(func(n *Notification) { n.Provider.Status = "" }), "Cloud-Service-Provider-status>: \"\" is not one of"},
		{"bad URI", okNotif(func(n *Notification) { n.Services[0].URI = "http://[x" }), "Cloud-Service: <Cloud-Service-URI>"},
		{"label", okNotif(func(n *Notification) { n.Label = "a b" }), `<label>: "a b" is not an NMTOKEN`},
		{"string with U+FFFE", okNotif(func(n *Notification) {
			n.Services[0].DSaaS = &DSaaS{DataObject: &DataObject{Value: ptr("\uFFFE")}}
		}), "<value>"},
		{"invalid utf-8", okNotif(func(n *Notification) {
			n.Services[0].IaaS = &IaaS{Compute: &Compute{Hostname: ptr("\xff")}}
		}), "<hostname>"},
		{"capability type", okNotif(func(n *Notification) {
			n.Services[0].DSaaS = &DSaaS{CapabilityObject: &CapabilityObject{Type: ptr(CapabilityType("Disk"))}}
		}), "<type>"},
	}
	for _, c := range pubCases {
		out, err := MarshalPublish(c.p)
		if err == nil || !strings.Contains(err.Error(), c.err) || out != nil {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.err)
		}
	}
	if _, err := MarshalPublish(nil); err == nil {
		t.Error("nil *Publish accepted")
	}
	conCases := []struct {
		name string
		c    *Consumer
		err  string
	}{
		{"nothing set", &Consumer{}, "not 0"},
		{"job action", &Consumer{Request: &ServiceRequest{JobInfo: &JobInfo{JobID: "j", Action: "create"}}}, "<action>"},
		{"job id", &Consumer{Request: &ServiceRequest{JobInfo: &JobInfo{Action: JobUpdate}}}, "<job-id>"},
		{"vlan", &Consumer{Request: &ServiceRequest{IaaS: &IaaS{Network: &Network{VLAN: ptr("")}}}}, "<vlan>"},
		{"job status", &Consumer{Response: &ServiceResponse{Status: 200, JobInfo: &ResponseJobInfo{JobID: "j", JobStatus: "\x01"}}}, "<job-status>"},
	}
	for _, c := range conCases {
		if _, err := MarshalConsumer(c.c); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.err)
		}
	}
	if _, err := MarshalConsumer(nil); err == nil {
		t.Error("nil *Consumer accepted")
	}
}

// TestMarshalNormalises: token and URI values are written collapsed, as
// the schema types read them.
func TestMarshalNormalises(t *testing.T) {
	out, err := MarshalPublish(&Publish{Request: &PublishRequest{Subscription: Subscription{ID: " s1 ", SeqNumber: 1, Action: " create"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `<subscription id="s1" seqnumber="1" action="create"/>`) {
		t.Fatalf("got\n%s", out)
	}
}

func TestMarshalLayout(t *testing.T) {
	out, err := MarshalPublish(&Publish{Response: &PublishResponse{Status: 200, Reason: "OK: Request accepted"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>
<csbpublish xmlns="urn:ietf:params:xml:ns:csb-publish" version="1.0">
  <csbresponse status="200" reason="OK: Request accepted"/>
</csbpublish>
`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}
