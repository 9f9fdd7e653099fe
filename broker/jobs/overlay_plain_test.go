package jobs

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestOverlayPlainValues: an update that gives a plain value (a Link's
// href) changes the job's request. overlay set only pointer fields, so
// an update naming another descriptor in its Link was no change, and
// was answered as a lease renewal that did nothing it asked.
func TestOverlayPlainValues(t *testing.T) {
	cur := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Rel: "ovf", Href: "http://a/x.ovf"}}}
	upd := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Href: "http://a/y.ovf"}}}
	if !changes(cur, upd) {
		t.Fatal("an update naming another href is no change")
	}
	m := overlay(cur, upd)
	if m.IaaS.Link.Href != "http://a/y.ovf" || m.IaaS.Link.Rel != "ovf" {
		t.Fatalf("merged link %+v, want the new href and the kept rel", m.IaaS.Link)
	}
	if changes(cur, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Rel: "ovf", Href: "http://a/x.ovf"}}}) {
		t.Fatal("the same link is a change")
	}
}

// TestOverlayEmbeddedGroup: a DSaaS object's references are an embedded
// group of pointers; an update that gives one of them keeps the others.
func TestOverlayEmbeddedGroup(t *testing.T) {
	s := func(v string) *string { return &v }
	cur := &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectURI: s("/a/x"), ObjectID: s("x")}}}}
	upd := &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("y")}}}}
	m := overlay(cur, upd)
	r := m.DSaaS.DataObject.ObjectRefs
	if r.ObjectID == nil || *r.ObjectID != "y" || r.ObjectURI == nil || *r.ObjectURI != "/a/x" {
		t.Fatalf("merged refs %+v, want the new id and the kept uri", r)
	}
}
