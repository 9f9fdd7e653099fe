package occi_test

import (
	"context"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// TestStatusOfAJobMissingItsStorageIsFailed: when the server no longer
// holds a job's storage (deleted outside the broker) but still holds its
// compute, Status reported the job ready with no storage granted, so the
// broker kept handing out a job that lacks part of what it promised.
// The other adapters' rule (model.Parts): a job some of whose parts are
// gone is failed.
func TestStatusOfAJobMissingItsStorageIsFailed(t *testing.T) {
	srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	a := newAdapter(t, srv, nil)
	res := provision(t, a, fullIaaS())
	if res.State != contract.StateReady {
		t.Fatalf("state after provision = %s", res.State)
	}
	srv.Delete(res.Native["storage"])
	st, err := a.Status(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != contract.StateFailed {
		t.Errorf("state with the storage gone = %s, want %s", st.State, contract.StateFailed)
	}
}

// TestStatusOfAJobWhoseLinkFailedIsFailed: the README maps a link in
// state error to a failed resource, as a network in error. Status read
// the links' attributes for the grant but never their state: a job whose
// storagelink (the volume's attachment) had failed was reported ready.
func TestStatusOfAJobWhoseLinkFailedIsFailed(t *testing.T) {
	for _, k := range []struct{ key, attr string }{
		{"storagelink", "occi.storagelink.state"},
		{"networkinterface", "occi.networkinterface.state"},
	} {
		srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
		a := newAdapter(t, srv, nil)
		res := provision(t, a, fullIaaS())
		if res.State != contract.StateReady {
			t.Fatalf("state after provision = %s", res.State)
		}
		srv.SetAttribute(res.Native[k.key], k.attr, "error", true)
		st, err := a.Status(context.Background(), res)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != contract.StateFailed {
			t.Errorf("state with the %s in error = %s, want %s", k.key, st.State, contract.StateFailed)
		}
	}
}

// TestStatusOfAJobWhoseLinkIsGoneIsFailed: a link the job created that
// the server no longer has (neither rendered with the compute nor found
// at its own location, which answers 404) was read as a link without
// attributes and without a state, and so as ready: the job was reported
// ready, granting an empty storagelink, while its volume was no longer
// attached. A link that is gone is a part of the job that is gone.
func TestStatusOfAJobWhoseLinkIsGoneIsFailed(t *testing.T) {
	for _, key := range []string{"storagelink", "networkinterface"} {
		t.Run(key, func(t *testing.T) {
			srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
			a := newAdapter(t, srv, nil)
			res := provision(t, a, fullIaaS())
			if res.State != contract.StateReady {
				t.Fatalf("state after provision = %s", res.State)
			}
			srv.Delete(res.Native[key])
			st, err := a.Status(context.Background(), res)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != contract.StateFailed {
				t.Errorf("state with the %s gone = %s, want %s", key, st.State, contract.StateFailed)
			}
			g := st.Granted.IaaS
			if key == "storagelink" && g.StorageLink != nil || key == "networkinterface" && g.NetworkInterface != nil {
				t.Errorf("the %s that is gone is still granted: %+v / %+v", key, g.StorageLink, g.NetworkInterface)
			}
		})
	}
}
