package tests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/adapters/openstack"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/ospeer"
)

// TestNovaFinder: the crash-recovery finder (contract.Finder) of a fresh
// adapter, as after a broker restart between Nova's create and the
// broker's record of it, locates the job's server on a real Nova by its
// name and csb-job tag, and adopts neither a server of the same name
// tagged for another job nor anything before the create.
func TestNovaFinder(t *testing.T) {
	o := ospeer.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := os2AdapterConfig(o)
	before, err := openstack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	jobID := "find" + os2RandomID()
	req := &contract.Request{JobID: jobID, Owner: "alice", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(1), Memory: u64(1)}}}}

	// A decoy in the same project: the job's server name, another job's
	// tag.
	tok, err := o.Token(ctx, ospeer.BrokerProject)
	if err != nil {
		t.Fatal(err)
	}
	decoy := os2BootAs(t, o, tok, "csb-"+jobID, map[string]string{"csb-job": "someone-else"})
	t.Cleanup(func() {
		o.Admin(context.Background(), http.MethodDelete, o.ComputeURL+"/servers/"+decoy, nil, nil, nil)
	})
	if res, err := before.Find(ctx, req); err != nil || res != nil {
		t.Fatalf("Find before the create: %+v %v (want nothing: the decoy is another job's)", res, err)
	}

	created, err := before.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// The broker "crashes" here: a new adapter knows only the job id.
	after, err := openstack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	found, err := after.Find(ctx, req)
	if err != nil || found == nil {
		t.Fatalf("Find after the create: %+v %v", found, err)
	}
	if found.Native["server_id"] != created.Native["server_id"] || found.Native["server_id"] == decoy || found.URI != created.URI {
		t.Fatalf("Find located %+v, want the created %+v (decoy %s)", found, created, decoy)
	}
	// The found resource is a full one: Status follows it to ready, and
	// Remove deletes it.
	found = os2Settle(t, after, found)
	if err := after.Remove(ctx, found); err != nil {
		t.Fatal(err)
	}
	os2WaitServer(t, o, found.Native["server_id"], "deleted", func(s *ospeer.Server, st int) bool { return st == http.StatusNotFound })
	if res, err := after.Find(ctx, req); err != nil || res != nil {
		t.Fatalf("Find after the removal: %+v %v", res, err)
	}
}

// os2BootAs boots a server with the given name and metadata with token
// (its project) and returns its id.
func os2BootAs(t *testing.T, o *ospeer.OpenStack, token, name string, meta map[string]string) string {
	t.Helper()
	var out struct {
		Server struct{ ID string } `json:"server"`
	}
	if err := ospeer.Call(context.Background(), token, http.MethodPost, o.ComputeURL+"/servers", map[string]any{"server": map[string]any{
		"name": name, "imageRef": o.ImageID, "flavorRef": ospeer.Flavors[0].ID, "metadata": meta,
	}}, &out); err != nil {
		t.Fatal(err)
	}
	return out.Server.ID
}

// os2AdapterConfig is the adapter's configuration for the broker user in
// project csb of o.
func os2AdapterConfig(o *ospeer.OpenStack) openstack.Config {
	return openstack.Config{
		AuthURL: o.AuthURL, Region: ospeer.Region,
		Username: ospeer.BrokerUser, UserDomainName: "Default", Password: ospeer.BrokerPassword,
		ProjectName: ospeer.BrokerProject, ProjectDomainName: "Default",
		Image: o.ImageID,
	}
}

// os2Settle polls the adapter's Status until the resource is ready.
func os2Settle(t *testing.T, ad *openstack.Adapter, res *contract.Resource) *contract.Resource {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for res.State != contract.StateReady {
		var err error
		if res, err = ad.Status(ctx, res); err != nil {
			t.Fatal(err)
		}
		if res.State == contract.StateFailed || time.Now().After(deadline) {
			t.Fatalf("resource not ready: %+v", res)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
	return res
}

// TestNovaAdapterResize: the adapter's resize on a real Nova: an update
// asking for 2 cores and 2 GB moves the server to the smallest flavor
// that fits, Status confirms the resize when Nova waits in VERIFY_RESIZE,
// and the grant follows the new flavor.
func TestNovaAdapterResize(t *testing.T) {
	o := ospeer.Shared(t)
	ctx := context.Background()
	ad, err := openstack.New(os2AdapterConfig(o))
	if err != nil {
		t.Fatal(err)
	}
	req := &contract.Request{JobID: "resize" + os2RandomID(), Owner: "alice",
		Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(1), Memory: u64(1)}}}}
	res, err := ad.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Native["server_id"]
	t.Cleanup(func() { ad.Remove(context.Background(), res) })
	res = os2Settle(t, ad, res)
	upd := &contract.Request{JobID: req.JobID, Owner: "alice",
		Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(2), Memory: u64(2)}}}}
	if res, err = ad.Update(ctx, res, upd); err != nil {
		t.Fatal(err)
	}
	res = os2Settle(t, ad, res)
	s, _, err := o.GetServer(ctx, id)
	if err != nil || s.Status != "ACTIVE" || s.Flavor.OriginalName != ospeer.Flavors[1].Name {
		t.Fatalf("server after the resize: %+v %v", s, err)
	}
	if g := res.Granted.IaaS; g == nil || g.Compute == nil || *g.Compute.Cores != 2 || *g.Compute.Memory != 2 {
		t.Fatalf("grant after the resize: %+v", res.Granted.IaaS)
	}
}

func os2RandomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
