package csbcimi

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
)

// rels lists the rel of each of a rendered resource's operations, the
// action URIs shortened to their last segment.
func rels(o obj) string {
	var out []string
	for _, p := range o["operations"].([]op) {
		out = append(out, strings.TrimPrefix(p.Rel, ActionNS))
	}
	return strings.Join(out, " ")
}

// A resource's operations are those it takes now (DSP0263 5.1.1): a
// machine still being created, or busy with an operation (a removal, an
// update, a move), offered delete and, with the provider's state STARTED,
// stop, restart and suspend, which the engine then refused with 409
// (jobs.Manager.Remove and Act take only a settled job). A volume being
// created offered delete likewise, a MachineVolume of a busy machine its
// detach, and the volumes collection of a busy machine its add (attach).
func TestCIMIOperationsFollowWhatTheEngineTakes(t *testing.T) {
	c := &call{base: "http://b/cimi/"}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	machine := func(st jobs.Status, op *jobs.Op) *jobs.Job {
		return &jobs.Job{ID: "J", Owner: "alice", Status: st, Op: op, Kind: catalog.KindIaaS, ProviderID: "p", Created: now, Updated: now,
			Request:     csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{}}},
			Attachments: []jobs.VolumeAttachment{{ID: "2", Machine: "J", Volume: "V", Created: now}}}
	}
	busy := &jobs.Op{Kind: jobs.OpRemove, Started: now}
	for _, tc := range []struct {
		name string
		j    *jobs.Job
		live string
		want string
	}{
		{"settled, started", machine(jobs.StatusSuccess, nil), contract.MachineStarted, "edit delete stop restart suspend"},
		{"settled, stopped", machine(jobs.StatusSuccess, nil), contract.MachineStopped, "edit delete start"},
		{"failed", machine(jobs.StatusFailed, nil), "", "edit delete"},
		{"being created", machine(jobs.StatusProvisioning, nil), "", "edit"},
		{"queued", machine(jobs.StatusPending, nil), "", "edit"},
		{"being removed", machine(jobs.StatusSuccess, busy), contract.MachineStarted, "edit"},
	} {
		if got := rels(c.machineObj(tc.j, tc.live)); got != tc.want {
			t.Errorf("machine %s: operations %q, want %q", tc.name, got, tc.want)
		}
		mvs := c.machineVolumeObjs(tc.j)
		col, _ := c.machineVolumeCollection(tc.j, mvs, &query{})["operations"].([]op)
		if add := len(col) == 1 && col[0].Rel == "add"; add != (tc.j.Status == jobs.StatusSuccess && tc.j.Op == nil) {
			t.Errorf("machine %s: its volumes collection's operations %v", tc.name, col)
		}
		got := ""
		if ops, ok := mvs[len(mvs)-1]["operations"].([]op); ok && len(ops) > 0 {
			got = ops[0].Rel
		}
		if want := map[bool]string{true: "delete", false: ""}[tc.j.Status == jobs.StatusSuccess && tc.j.Op == nil]; got != want {
			t.Errorf("machine %s: its MachineVolume's operation %q, want %q", tc.name, got, want)
		}
	}
	volume := func(st jobs.Status, op *jobs.Op) *jobs.Job {
		return &jobs.Job{ID: "V", Owner: "alice", Status: st, Op: op, Kind: catalog.KindIaaS, Created: now, Updated: now,
			Request: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Storage: &csbmsg.Storage{}}}}
	}
	for _, tc := range []struct {
		name string
		j    *jobs.Job
		want string
	}{
		{"settled", volume(jobs.StatusSuccess, nil), "delete"},
		{"failed", volume(jobs.StatusFailed, nil), "delete"},
		{"being created", volume(jobs.StatusProvisioning, nil), ""},
		{"being removed", volume(jobs.StatusSuccess, busy), ""},
	} {
		if got := rels(c.volumeObj(tc.j)); got != tc.want {
			t.Errorf("volume %s: operations %q, want %q", tc.name, got, tc.want)
		}
	}
}
