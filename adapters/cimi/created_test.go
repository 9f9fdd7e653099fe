package cimi_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestCreatedMachineStatus: the status a create takes from the Machine
// of its answer (which the adapter decodes only in part) is the status
// of reading the machine back, for a machine alone and for one with a
// volume attached; and the attach finds the machine's volumes
// collection in that answer: the create reads a machine back only for
// its status once a volume is attached.
func TestCreatedMachineStatus(t *testing.T) {
	a, seen := countingSandbox(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		req   contract.Request
		reads int // GETs of the machine by the create
	}{
		{"machine", iaasReq(func(i *csbmsg.IaaS) {
			i.Compute = &csbmsg.Compute{Cores: ptr(uint64(2)), Memory: ptr(uint64(3)), Architecture: ptr("x86_64"), Hostname: ptr("web1")}
		}), 0},
		{"machine_volume", iaasReq(func(i *csbmsg.IaaS) {
			i.Compute = &csbmsg.Compute{Cores: ptr(uint64(1)), Memory: ptr(uint64(1)), Architecture: ptr("x86_64")}
			i.Storage = &csbmsg.Storage{Size: ptr(uint64(2))}
			i.StorageLink = &csbmsg.StorageLink{Mountpoint: ptr("/data")}
		}), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.JobID = tc.name
			before := seen("GET machines/")
			res, err := a.Provision(ctx, &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := seen("GET machines/") - before; got != tc.reads {
				t.Errorf("the create read the machine %d times, want %d", got, tc.reads)
			}
			back, err := a.Status(ctx, res)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(res.Granted)
			want, _ := json.Marshal(back.Granted)
			if res.State != back.State || string(got) != string(want) {
				t.Errorf("create's status %s %s, read back %s %s", res.State, got, back.State, want)
			}
			if c := res.Granted.IaaS.Compute; c == nil || c.Hostname == nil || c.Architecture == nil || c.Status == nil {
				t.Errorf("granted compute %+v lacks the hostname, architecture or status", c)
			}
		})
	}
}
