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
