package tests

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/ospeer"
)

// TestNovaQuotaExceeded: project csb-tiny may hold no instance, so Nova
// answers the create 403 "Quota exceeded"; the adapter reads it as a
// capacity failure and the consumer gets the draft's 408 (unable to find
// resource) naming Nova's reason, with nothing left at Nova.
func TestNovaQuotaExceeded(t *testing.T) {
	b := os2Start(t, os2Provider{id: "tiny", auth: os2PasswordAuth(ospeer.TinyProject)})
	b.catalogue("tiny", len(ospeer.Flavors))
	before, err := b.o.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := b.create("alice", &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: u64(1), Memory: u64(1)}}}, nil)
	if a.status() == csbmsg.StatusOK && a.jobStatus() != "failed" {
		a = b.os2WaitJob("alice", a.jobID(), "failed")
	}
	if a.HTTP != http.StatusOK || (a.status() != csbmsg.StatusUnableToFindResource && a.jobStatus() != "failed") ||
		!strings.Contains(a.Resp.Reason, "Quota exceeded") {
		t.Fatalf("create beyond the project's quota: want status 408 with Nova's \"Quota exceeded\": %s", a.Body)
	}
	after, err := b.o.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("Nova holds %d servers after the refused create, %d before", len(after), len(before))
	}
}

// TestNovaConflictAndNotFound: a server its admin locked answers 409 to
// a stop and to a delete, so the consumer's update fails with the draft's
// 409 and the removal with 410, each naming Nova's reason, and the job
// stays as it was. A server deleted behind the broker's back makes the
// job failed at its next renewal, and removing the job then succeeds.
func TestNovaConflictAndNotFound(t *testing.T) {
	b := os2Start(t, os2Provider{id: "nova"})
	o := b.o
	ctx := context.Background()
	b.catalogue("nova", len(ospeer.Flavors))
	a := b.createVM("alice", 1, 1)
	id := a.jobID()
	srv := os2ServerOf(t, o, id)

	if _, err := o.Admin(ctx, http.MethodPost, o.ComputeURL+"/servers/"+srv.ID+"/action", map[string]any{"lock": nil}, nil, nil); err != nil {
		t.Fatal(err)
	}
	stop := csbmsg.ComputeStop
	a = b.do("alice", http.MethodPut, "/"+id, consumerBody(t, &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Action: &stop}}}), nil)
	if a.status() != csbmsg.StatusCannotUpdateResource || !strings.Contains(a.Resp.Reason, "locked") {
		t.Fatalf("stop of a locked server: want status 409 naming the lock: %s", a.Body)
	}
	a = b.do("alice", http.MethodDelete, "/"+id, nil, nil)
	if a.status() != csbmsg.StatusCannotRemoveResource || !strings.Contains(a.Resp.Reason, "locked") {
		t.Fatalf("removal of a locked server: want status 410 naming the lock: %s", a.Body)
	}
	if s, _, err := o.GetServer(ctx, srv.ID); err != nil || s.Status != "ACTIVE" {
		t.Fatalf("the locked server after the refusals: %+v %v", s, err)
	}
	a = b.do("alice", http.MethodGet, "/"+id, nil, nil)
	if a.jobStatus() != "success" {
		t.Fatalf("the job after the refusals: %s", a.Body)
	}

	// Not found: the admin deletes the server.
	if _, err := o.Admin(ctx, http.MethodPost, o.ComputeURL+"/servers/"+srv.ID+"/action", map[string]any{"unlock": nil}, nil, nil); err != nil {
		t.Fatal(err)
	}
	os2AdminDelete(ctx, t, o, o.ComputeURL+"/servers/"+srv.ID)
	os2WaitServer(t, o, srv.ID, "deleted", func(s *ospeer.Server, st int) bool { return st == http.StatusNotFound })
	a = b.do("alice", http.MethodPut, "/"+id, nil, nil) // renewal checks the resource first
	t.Logf("renewal of a job whose server is gone: %s", a.Body)
	a = b.os2WaitJob("alice", id, "failed")
	if !strings.Contains(a.Resp.Reason, "gone") {
		t.Fatalf("job whose server was deleted behind the broker's back: %s", a.Body)
	}
	a = b.do("alice", http.MethodDelete, "/"+id, nil, nil)
	mustStatus(t, a, csbmsg.StatusOK)
}
