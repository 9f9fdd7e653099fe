package aws

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// losingEC2 puts the double behind a connection that loses the answers
// of some calls: while lose says so for a call's Action, the double
// carries the call out and then, before anything is answered, after
// calls back (if set), the connection is closed, as a reset would.
func losingEC2(t *testing.T, d *ec2Double, lose func(action string) bool, after func()) *Adapter {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || !lose(r.Form.Get("Action")) {
			d.serve(w, r)
			return
		}
		d.serve(httptest.NewRecorder(), r) // EC2 acts; the answer is lost
		if after != nil {
			after()
		}
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		c.Close()
	}))
	t.Cleanup(srv.Close)
	a := ec2Adapter(t, d)
	a.cfg.EC2Endpoint = srv.URL
	return a
}

// TestEC2RunInstancesAnswerLost: a RunInstances that reached EC2 but
// whose answer was lost (the connection reset on every try of the SDK,
// or the attempt's deadline passing after the call was sent) failed
// Provision with no Resource. The broker counted the attempt failed with
// nothing to remove and went on with the next provider of its plan,
// while the instance ran on, nobody's, at this one. The client token
// finds it: found, it is adopted as the answer (one instance, not two);
// when it cannot be looked up, Provision's error comes with a handle by
// which Remove terminates it.
func TestEC2RunInstancesAnswerLost(t *testing.T) {
	t.Run("adopted", func(t *testing.T) {
		d := newEC2Double(t)
		a := losingEC2(t, d, func(action string) bool { return action == "RunInstances" }, nil)
		res, err := a.Provision(context.Background(), &contract.Request{JobID: "job-lost", ProviderID: "aws-east", Want: adaptertest.IaaS(1, 1, 0)})
		if err != nil {
			t.Fatalf("provision whose RunInstances answers were lost: %v (EC2 holds %d instances, none handed back)", err, d.inventory())
		}
		id := res.Native[nativeInstanceID]
		if d.inventory() != 1 || d.instance(id).ClientToken != clientToken("aws-east", "job-lost", "") {
			t.Fatalf("adopted instance %q; EC2 holds %d instances", id, d.inventory())
		}
		if st := waitReady(t, a, res); st.State != contract.StateReady {
			t.Fatalf("adopted instance: %s", st.State)
		}
		if err := a.Remove(context.Background(), res); err != nil || d.inventory() != 0 {
			t.Fatalf("remove: %v (inventory %d)", err, d.inventory())
		}
	})
	t.Run("removed", func(t *testing.T) {
		d := newEC2Double(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The attempt's deadline passes once RunInstances is sent: no
		// lookup can follow.
		var lost atomic.Int32
		a := losingEC2(t, d, func(action string) bool { return action == "RunInstances" }, func() { lost.Add(1); cancel() })
		res, err := a.Provision(ctx, &contract.Request{JobID: "job-cut", ProviderID: "aws-east", Want: adaptertest.IaaS(1, 1, 0)})
		if err == nil || lost.Load() == 0 {
			t.Fatalf("provision cut short after sending: %v %v", res, err)
		}
		if res == nil {
			t.Fatalf("provision failed (%v) with no Resource, while EC2 holds %d instances for the job: nothing removes them", err, d.inventory())
		}
		if res.State == contract.StateGone || !strings.Contains(res.URI, "client-token") {
			t.Fatalf("handle of the lost call: %+v", res)
		}
		if st, err := a.Status(context.Background(), res); err != nil || st.State != contract.StateFailed {
			t.Fatalf("status of the handle: %+v %v, want failed", st, err)
		}
		// The broker's cleanup: Remove, with a context of its own.
		if err := a.Remove(context.Background(), roundTripRes(t, res)); err != nil {
			t.Fatal(err)
		}
		if n := d.inventory(); n != 0 {
			t.Fatalf("after the cleanup EC2 still holds %d instances for the job", n)
		}
		// Removing again, or a token that launched nothing, is no error.
		if err := a.Remove(context.Background(), res); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		// A refusal EC2 answered settles the call: no handle, nothing
		// to remove.
		d := newEC2Double(t)
		d.vcpuLimit = 1
		a := ec2Adapter(t, d)
		res, err := a.Provision(context.Background(), &contract.Request{JobID: "job-refused", Want: adaptertest.IaaS(1, 1, 0)})
		if contract.KindOf(err) != contract.KindCapacity || res != nil {
			t.Fatalf("refused RunInstances: %+v %v", res, err)
		}
	})
}

// roundTripRes is res as the broker stores and reads it back.
func roundTripRes(t *testing.T, res *contract.Resource) *contract.Resource {
	t.Helper()
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back contract.Resource
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}
