package aws

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestHonouredFieldsAreNotRefused: a field the adapter declares honoured
// puts a request on its provider; one it refuses must not be declared,
// so that placement answers 420 naming it (or, with unhonoured_fields
// ignore, ignores it and says so) instead of placing the request where
// Provision fails. The S3 adapter declared the object-store set, which
// holds a container's metadata and the capability object, both of which
// S3 refuses.
func TestHonouredFieldsAreNotRefused(t *testing.T) {
	a, err := New(Config{Services: []string{"s3"}, AccessKeyID: "AKID", SecretAccessKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	meta := "color=red"
	ctype := csbmsg.CapSystemWide
	for name, w := range map[string]csbmsg.ServiceRequest{
		"container metadata": {DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{Metadata: &meta}}},
		"capability object":  {DSaaS: &csbmsg.DSaaS{CapabilityObject: &csbmsg.CapabilityObject{}}},
		"capability type":    {DSaaS: &csbmsg.DSaaS{CapabilityObject: &csbmsg.CapabilityObject{Type: &ctype}}},
	} {
		_, err := a.Provision(context.Background(), &contract.Request{JobID: "honoured", Want: w})
		if contract.KindOf(err) != contract.KindUnsupported {
			t.Fatalf("%s: %v, want unsupported", name, err)
		}
		if f := contract.Unhonoured(a.HonouredFields(), contract.RequestFields(&w)); len(f) == 0 {
			t.Errorf("%s: refused by Provision, yet every field of the request is declared honoured", name)
		}
	}
}
