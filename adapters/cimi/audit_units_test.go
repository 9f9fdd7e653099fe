package cimi_test

import (
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestAuditGBSentAsKiB (CONFORMANCE.md, adapter interpretations: the
// draft's GB read as GiB, CIMI memory and capacity in KiB): the
// conformance kit only checks that the granted values come back equal to
// the requested ones, which a wrong factor applied both ways would also
// give. This test reads what the CIMI peer received: 4 GB of memory is
// 4 × 1,048,576 KiB in the MachineConfiguration, 20 GB of storage is
// 20 × 1,048,576 KiB in the VolumeConfiguration.
func TestAuditGBSentAsKiB(t *testing.T) {
	f := newFixture(t)
	a, err := cimi.New(cimi.Config{Endpoint: f.base + "/cep"})
	if err != nil {
		t.Fatal(err)
	}
	mem, size := uint64(4), uint64(20)
	res, err := a.Provision(t.Context(), &contract.Request{JobID: "units", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Cores: &[]uint64{1}[0], Memory: &mem},
		Storage: &csbmsg.Storage{Size: &size},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Remove(t.Context(), res) })
	f.mu.Lock()
	defer f.mu.Unlock()
	var machines, volumes int
	for p, r := range f.res {
		switch {
		case strings.HasPrefix(p, "/machines/") && strings.Count(p, "/") == 2:
			machines++
			if got, _ := r["memory"].(float64); got != 4*1048576 {
				t.Errorf("machine %s memory %v KiB, want %d (4 GiB)", p, got, 4*1048576)
			}
		case strings.HasPrefix(p, "/volumes/"):
			volumes++
			if got, _ := r["capacity"].(float64); got != 20*1048576 {
				t.Errorf("volume %s capacity %v KiB, want %d (20 GiB)", p, got, 20*1048576)
			}
		}
	}
	if machines != 1 || volumes != 1 {
		t.Fatalf("the peer holds %d machines and %d volumes, want 1 and 1", machines, volumes)
	}
}
