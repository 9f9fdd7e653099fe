package contract

import (
	"slices"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

func ptr[T any](v T) *T { return &v }

// TestRequestFields: the walk names every set element and leaf with the
// consumer schema's spelling, and nothing that is absent.
func TestRequestFields(t *testing.T) {
	req := &csbmsg.ServiceRequest{
		IaaS: &csbmsg.IaaS{
			Compute:          &csbmsg.Compute{Cores: ptr(uint64(2)), Hostname: ptr("h")},
			Network:          &csbmsg.Network{VLANLabel: ptr("x"), Gateway: ptr("10.0.0.1")},
			NetworkInterface: &csbmsg.NetworkInterface{IP: ptr("10.0.0.5"), MAC: ptr("aa:bb:cc:dd:ee:ff")},
			StorageLink:      &csbmsg.StorageLink{DeviceID: ptr("vdb")},
			Link:             &csbmsg.Link{Href: "http://x/d.ovf"},
		},
		Encryption: ptr(true),
		JobInfo:    &csbmsg.JobInfo{JobID: "j"},
	}
	want := []string{
		"IaaS/Link", "IaaS/Link/href",
		"IaaS/compute", "IaaS/compute/cores", "IaaS/compute/hostname",
		"IaaS/network", "IaaS/network/VLANlabel", "IaaS/network/gateway",
		"IaaS/NetworkInterface", "IaaS/NetworkInterface/mac", "IaaS/NetworkInterface/ip",
		"IaaS/storagelink", "IaaS/storagelink/deviceid",
	}
	if got := RequestFields(req); !slices.Equal(got, want) {
		t.Fatalf("RequestFields:\n got %q\nwant %q", got, want)
	}
	// The draft's example asks for an active machine with online storage:
	// the state they are created in, so nothing to honour; inactive is.
	st := &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Status: ptr(csbmsg.ComputeActive)},
		Storage: &csbmsg.Storage{Status: ptr(csbmsg.StorageOffline)},
	}}
	want = []string{"IaaS/compute", "IaaS/storage", "IaaS/storage/status"}
	if got := RequestFields(st); !slices.Equal(got, want) {
		t.Fatalf("RequestFields (statuses):\n got %q\nwant %q", got, want)
	}
	ds := &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{
		ObjectRefs: csbmsg.ObjectRefs{ObjectID: ptr("photos"), ParentURI: ptr("http://p/")}, Exports: ptr("nfs"),
	}}}
	want = []string{"DSaaS/ContainerObject", "DSaaS/ContainerObject/objectID", "DSaaS/ContainerObject/parentURI", "DSaaS/ContainerObject/exports"}
	if got := RequestFields(ds); !slices.Equal(got, want) {
		t.Fatalf("RequestFields (DSaaS):\n got %q\nwant %q", got, want)
	}
}

// TestUnhonoured: a nil set honours everything; placement's own fields are
// never unhonoured.
func TestUnhonoured(t *testing.T) {
	fields := []string{"IaaS/compute", "IaaS/compute/speed", "IaaS/NetworkInterface/ip"}
	if got := Unhonoured(nil, fields); got != nil {
		t.Fatalf("nil set: %q", got)
	}
	if got := Unhonoured(Fields("IaaS/compute"), fields); !slices.Equal(got, []string{"IaaS/NetworkInterface/ip"}) {
		t.Fatalf("got %q", got)
	}
}
