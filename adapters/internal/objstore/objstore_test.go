package objstore

import (
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func s(v string) *string { return &v }

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		d    csbmsg.DSaaS
		want string
	}{
		{csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("box")}}, DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ParentURI: s("https://x/v1/a/other")}}}, "box"},
		{csbmsg.DSaaS{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ParentURI: s("https://x/v1/AUTH_a/photos/")}}}, "photos"},
		{csbmsg.DSaaS{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ParentURI: s("photos")}}}, "photos"},
		{csbmsg.DSaaS{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ParentURI: s("")}}}, ""},
		{csbmsg.DSaaS{}, ""},
	} {
		if got := ContainerName(&tc.d); got != tc.want {
			t.Errorf("ContainerName(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if ObjectName(&csbmsg.DataObject{}) != DefaultObjectName || ObjectName(&csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("a/b")}}) != "a/b" {
		t.Error("ObjectName")
	}
	if v, mt := Content(&csbmsg.DataObject{}); v != "" || mt != DefaultMimetype {
		t.Errorf("Content of an empty object: %q %q", v, mt)
	}
	if v, mt := Content(&csbmsg.DataObject{Value: s("x"), Mimetype: s("text/markdown")}); v != "x" || mt != "text/markdown" {
		t.Errorf("Content: %q %q", v, mt)
	}
	if got := EscapePath("a b/c?d"); got != "a%20b/c%3Fd" {
		t.Errorf("EscapePath: %q", got)
	}
}

func TestMetadataAndRefusals(t *testing.T) {
	if m, err := Metadata("object metadata", nil); m != nil || err != nil {
		t.Errorf("nil metadata: %v %v", m, err)
	}
	if m, err := Metadata("object metadata", s("Color=blue")); err != nil || m["color"] != "blue" {
		t.Errorf("metadata: %v %v", m, err)
	}
	if m, err := Metadata("object metadata", s("no-equals")); err != nil || m["csb-metadata"] != "no-equals" {
		t.Errorf("plain metadata: %v %v", m, err)
	}
	// What headers cannot carry is refused before any provider call, and
	// not as the provider's 4xx.
	if _, err := Metadata("object metadata", s("two\nlines")); contract.KindOf(err) != contract.KindUnsupported {
		t.Errorf("metadata headers cannot carry: %v", err)
	}
	for _, d := range []csbmsg.DSaaS{
		{QueueObject: &csbmsg.QueueObject{}},
		{Link: &csbmsg.Link{Href: "https://x"}},
		{DomainObject: &csbmsg.DomainObject{Metadata: s("a=b")}},
	} {
		if err := Unsupported(&d, "Swift"); contract.KindOf(err) != contract.KindUnsupported {
			t.Errorf("Unsupported(%+v) = %v", d, err)
		}
	}
	if err := Unsupported(&csbmsg.DSaaS{DomainObject: &csbmsg.DomainObject{}, DataObject: &csbmsg.DataObject{}}, "Swift"); err != nil {
		t.Errorf("a plain request refused: %v", err)
	}
	svc := Service("s3", "https://s3.example")
	if svc.DSaaS == nil || *svc.DSaaS.ContainerObject.ParentURI != "https://s3.example" || !*svc.DSaaS.DomainObject.Enabled || svc.Status != csbmsg.ServiceActive {
		t.Errorf("Service: %+v", svc)
	}
}

// TestOtherParent: a DataObject's parentURI naming another container
// than the one the job's object goes in is refused; one naming it, by
// name or by one of its URLs, is not.
func TestOtherParent(t *testing.T) {
	do := func(parent string) *csbmsg.DSaaS {
		return &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ParentURI: s(parent)}}}
	}
	for _, tc := range []struct {
		d    *csbmsg.DSaaS
		uris []string
		ok   bool
	}{
		{do("https://x/v1/AUTH_a/box"), nil, true},
		{do("https://x/v1/AUTH_a/box/"), nil, true},
		{do("box"), nil, true},
		{do(""), nil, true},
		{&csbmsg.DSaaS{DataObject: &csbmsg.DataObject{}}, nil, true},
		{&csbmsg.DSaaS{}, nil, true},
		{do("https://box.s3.eu-west-1.amazonaws.com"), []string{"https://box.s3.eu-west-1.amazonaws.com"}, true},
		{do("https://x/v1/AUTH_a/other"), nil, false},
		{do("https://other.s3.eu-west-1.amazonaws.com"), []string{"https://box.s3.eu-west-1.amazonaws.com"}, false},
	} {
		err := OtherParent("update", tc.d, "box", tc.uris...)
		if (err == nil) != tc.ok || (err != nil && contract.KindOf(err) != contract.KindUnsupported) {
			t.Errorf("parent %v: %v, want ok=%v (else unsupported)", tc.d.DataObject, err, tc.ok)
		}
	}
}
