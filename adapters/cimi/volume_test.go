package cimi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/sandbox"
)

// countingSandbox is a sandbox cloud whose CIMI requests are counted by
// method and the collection they name.
func countingSandbox(t *testing.T) (*cimi.Adapter, func(string) int) {
	t.Helper()
	cloud := sandbox.New(sandbox.Config{Capacity: sandbox.Capacity{Cores: 64, MemoryGB: 64, StorageGB: 200}})
	var mu sync.Mutex
	seen := map[string]int{}
	h := cloud.CIMI("/cimi")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/cimi"), "/"), "/")
		key := r.Method + " " + parts[0]
		if len(parts) > 1 {
			key += "/"
		}
		if len(parts) > 2 {
			key += parts[2]
		}
		mu.Lock()
		seen[key]++
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a, err := cimi.New(cimi.Config{Endpoint: srv.URL + "/cimi/"})
	if err != nil {
		t.Fatal(err)
	}
	return a, func(k string) int { mu.Lock(); defer mu.Unlock(); return seen[k] }
}

// TestProvisionTakesTheCreatedMachine: a machine the provider answered
// 201 with (its state given) is not read back: one POST and no GET of
// the machine, and the status comes from the create's answer.
func TestProvisionTakesTheCreatedMachine(t *testing.T) {
	a, seen := countingSandbox(t)
	ctx := context.Background()
	vm := iaasReq(func(i *csbmsg.IaaS) {
		i.Compute = &csbmsg.Compute{Cores: ptr(uint64(1)), Memory: ptr(uint64(1)), Architecture: ptr("x86_64")}
	})
	for i, id := range []string{"j1", "j2"} {
		vm.JobID = id
		res, err := a.Provision(ctx, &vm)
		if err != nil || res.State != contract.StateReady || res.Granted.IaaS == nil || res.Granted.IaaS.Compute == nil {
			t.Fatalf("provision: %+v %v", res, err)
		}
		if got := seen("POST machines"); got != i+1 {
			t.Fatalf("%d machine creates, want %d", got, i+1)
		}
	}
	if got := seen("GET machines/"); got != 0 {
		t.Fatalf("%d reads of a machine after its create, want 0", got)
	}
}

// TestAttachVolume: AttachVolume POSTs a MachineVolume to the machine's
// volumes at the cloud and returns its href; DetachVolume DELETEs it,
// and a second detach is KindNotFound.
func TestAttachVolume(t *testing.T) {
	a, seen := countingSandbox(t)
	ctx := context.Background()
	vm := iaasReq(func(i *csbmsg.IaaS) {
		i.Compute = &csbmsg.Compute{Cores: ptr(uint64(1)), Memory: ptr(uint64(1)), Architecture: ptr("x86_64")}
	})
	vm.JobID = "m"
	m, err := a.Provision(ctx, &vm)
	if err != nil {
		t.Fatal(err)
	}
	vol := iaasReq(func(i *csbmsg.IaaS) { i.Storage = &csbmsg.Storage{Size: ptr(uint64(1))} })
	vol.JobID = "v"
	v, err := a.Provision(ctx, &vol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AttachVolume(ctx, m, m, "/dev/vdc"); contract.KindOf(err) != contract.KindUnsupported {
		t.Fatalf("a machine as the volume: %v", err)
	}
	href, err := a.AttachVolume(ctx, m, v, "/dev/vdc")
	if err != nil || !strings.HasPrefix(href, m.URI+"/volumes/") || seen("POST machines/volumes") != 1 {
		t.Fatalf("attach: %q %v (machine %s)", href, err, m.URI)
	}
	if err := a.DetachVolume(ctx, m, href); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if err := a.DetachVolume(ctx, m, href); contract.KindOf(err) != contract.KindNotFound {
		t.Fatalf("detach twice: %v", err)
	}
}
