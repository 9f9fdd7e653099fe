package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// laggingEC2 puts the double behind an EC2 that has not yet propagated
// new instance ids: while lag is set, a call naming an instance id
// (DescribeInstances, TerminateInstances) is answered
// InvalidInstanceID.NotFound, as the EC2 API reference's "Eventual
// consistency" page says happens right after RunInstances.
func laggingEC2(t *testing.T, d *ec2Double, lag *atomic.Bool) *Adapter {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && lag.Load() {
			if id := r.Form.Get("InstanceId.1"); id != "" {
				d.fail(w, 400, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
				return
			}
		}
		d.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	a := ec2Adapter(t, d)
	a.cfg.EC2Endpoint = srv.URL
	return a
}

// TestEC2NewInstanceNotYetVisible: EC2 may answer
// InvalidInstanceID.NotFound for an instance RunInstances has just
// made. Status must not report such an instance gone (the broker then
// fails the attempt and, the resource being gone, removes nothing: a
// running instance is left behind), and Remove must not report it
// removed. Once the window for propagation has passed, NotFound means
// gone again.
func TestEC2NewInstanceNotYetVisible(t *testing.T) {
	d := newEC2Double(t)
	var lag atomic.Bool
	a := laggingEC2(t, d, &lag)
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	a.clock = clk
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "job-lag", Want: adaptertest.IaaS(1, 1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	lag.Store(true)
	clk.Advance(2 * time.Second)
	st, err := a.Status(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != contract.StatePending {
		t.Fatalf("a new instance EC2 does not list yet reads %s, want pending", st.State)
	}
	if err := a.Remove(ctx, st); err == nil {
		t.Fatalf("Remove of a new instance EC2 does not list yet succeeded; the instance is left running (inventory %d)", d.inventory())
	}
	lag.Store(false)
	if err := a.Remove(ctx, st); err != nil || d.inventory() != 0 {
		t.Fatalf("remove once visible: %v (inventory %d)", err, d.inventory())
	}

	// Long after the launch, NotFound is EC2's word that the instance is
	// gone (terminated instances drop out of the listing after a while).
	res2, err := a.Provision(ctx, &contract.Request{JobID: "job-lag-2", Want: adaptertest.IaaS(1, 1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	lag.Store(true)
	clk.Advance(2 * time.Hour)
	if st, err := a.Status(ctx, res2); err != nil || st.State != contract.StateGone {
		t.Fatalf("long after launch: %v %v, want gone", st, err)
	}
	if err := a.Remove(ctx, res2); err != nil {
		t.Fatalf("remove long after launch: %v", err)
	}
}

// TestEC2RetryAfterTerminatedInstance: a client token stays bound to its
// instance for at least 24 hours after the instance terminates (EC2 API
// reference, Ensuring idempotency). When an attempt's instance failed or
// was removed and the broker provisions the same job at the same
// provider again (the next candidate of its plan, or the retry after an
// interrupted attempt), RunInstances with the job's token must not hand
// back the dead instance: that attempt would fail without EC2 trying.
// Retrying that second Provision still returns its instance.
func TestEC2RetryAfterTerminatedInstance(t *testing.T) {
	d := newEC2Double(t)
	a := ec2Adapter(t, d)
	ctx := context.Background()
	req := &contract.Request{JobID: "job-again", Want: adaptertest.IaaS(1, 1, 0)}
	first, err := a.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, first); err != nil {
		t.Fatal(err)
	}
	second, err := a.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id := second.Native[nativeInstanceID]
	if id == first.Native[nativeInstanceID] || d.inventory() != 1 {
		t.Fatalf("second provisioning got instance %s (first %s), inventory %d: want a new running instance", id, first.Native[nativeInstanceID], d.inventory())
	}
	if st := waitReady(t, a, second); st.State != contract.StateReady {
		t.Fatalf("second instance: %s", st.State)
	}
	again, err := a.Provision(ctx, req)
	if err != nil || again.Native[nativeInstanceID] != id || d.inventory() != 1 {
		t.Fatalf("retried provisioning: %v %v (inventory %d), want instance %s", again, err, d.inventory(), id)
	}
}

// TestEC2RootVolumeTooLarge: a gp3 volume holds at most 16384 GiB. A
// larger <storage><size> was cut to 16384 without a word while the grant
// reported the size asked for; it is refused (capacity) before EC2 is
// called.
func TestEC2RootVolumeTooLarge(t *testing.T) {
	d := newEC2Double(t)
	a := ec2Adapter(t, d)
	res, err := a.Provision(context.Background(), &contract.Request{JobID: "job-huge-disk", Want: adaptertest.IaaS(1, 1, 20000)})
	if contract.KindOf(err) != contract.KindCapacity || res != nil {
		var got string
		if res != nil {
			got = fmt.Sprintf("granted %d GB, VolumeSize %v", *res.Granted.IaaS.Storage.Size, d.lastForm["BlockDeviceMapping.1.Ebs.VolumeSize"])
		}
		t.Fatalf("20000 GB root volume: %s %v, want capacity", got, err)
	}
	if d.inventory() != 0 {
		t.Fatalf("an instance was launched")
	}
	if _, err := a.Provision(context.Background(), &contract.Request{JobID: "job-max-disk", Want: adaptertest.IaaS(1, 1, 16384)}); err != nil {
		t.Fatalf("16384 GB: %v", err)
	}
}

// TestEC2LongOwner: an EC2 tag value holds at most 256 Unicode
// characters. The csb-owner tag carried the authenticated consumer as
// is, so every IaaS job of a consumer with a longer name (an X.509
// subject, a long user id) failed at RunInstances. The tag is informative
// (Find goes by csb-job): a name EC2 cannot hold is left out, as the
// openstack adapter leaves out a csb-owner Nova cannot hold.
func TestEC2LongOwner(t *testing.T) {
	d := newEC2Double(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && r.Form.Get("Action") == "RunInstances" {
			for k, v := range r.Form {
				if strings.HasPrefix(k, "TagSpecification.") && strings.HasSuffix(k, ".Value") && utf8.RuneCountInString(v[0]) > 256 {
					d.fail(w, 400, "InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters")
					return
				}
			}
		}
		d.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	a := ec2Adapter(t, d)
	a.cfg.EC2Endpoint = srv.URL
	owner := "CN=" + strings.Repeat("ü", 300) + ",O=Example"
	res, err := a.Provision(context.Background(), &contract.Request{JobID: "job-long-owner", Owner: owner, Want: adaptertest.IaaS(1, 1, 0)})
	if err != nil {
		t.Fatalf("provision for a long owner: %v", err)
	}
	if tags := d.instance(res.Native[nativeInstanceID]).Tags; tags["csb-job"] != "job-long-owner" {
		t.Fatalf("tags %v", tags)
	}
	res, err = a.Provision(context.Background(), &contract.Request{JobID: "job-owner", Owner: "alice", Want: adaptertest.IaaS(1, 1, 0)})
	if err != nil || d.instance(res.Native[nativeInstanceID]).Tags["csb-owner"] != "alice" {
		t.Fatalf("a short owner is tagged: %v", err)
	}
}
