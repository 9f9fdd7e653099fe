package jobs_test

import (
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// TestRefusedBeforeAnyProviderCallKeepsNoJob: when every adapter of the
// plan refuses the request before calling its provider (kind
// unsupported), the create is answered 408 with their reasons and no
// failed job is left; when one provider really refused, the job fails
// as usual (408) and is kept.
func TestRefusedBeforeAnyProviderCallKeepsNoJob(t *testing.T) {
	e := newEnv(t, []string{"a", "b"}, nil)
	for _, a := range e.ads {
		a.SetFault(jobstest.Fault{Provision: contract.Errorf(contract.KindUnsupported, "object metadata", "metadata: value holds a control character")})
	}
	r := e.create("alice", 1)
	if r.Status != csbmsg.StatusUnableToFindResource || r.Job != nil || !strings.Contains(r.Reason, "refused before any provider was called") ||
		!strings.Contains(r.Reason, "a: failed") || !strings.Contains(r.Reason, "control character") {
		t.Fatalf("%+v", r)
	}
	if ids, _ := e.store.List(ctx, "csb/jobs/"); len(ids) != 0 {
		t.Fatalf("stored %v for a request no adapter could express", ids)
	}
	e.ads["b"].SetFault(jobstest.Fault{Provision: contract.Errorf(contract.KindClient, "create", "quota")})
	r = e.create("alice", 1)
	if r.Status != csbmsg.StatusUnableToFindResource || r.Job == nil || r.Job.Status != jobs.StatusFailed {
		t.Fatalf("a provider's refusal: %+v", r)
	}
}
