package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// i17DefectsBadKeys walks a JSON document and returns the path of every
// object key that is not snake_case (lower-case letters, digits, "_"),
// and the set of keys seen. The one exception is data, not a name: the
// keys of "placeable" are the service models (IaaS, PaaS, SaaS, DSaaS),
// spelt as the "kind" values are.
func i17DefectsBadKeys(v any, path string, bad *[]string, seen map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			seen[k] = true
			if strings.HasSuffix(path, "/placeable") && (k == "IaaS" || k == "PaaS" || k == "SaaS" || k == "DSaaS") {
				continue
			}
			ok := k != ""
			for _, r := range k {
				if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
					ok = false
				}
			}
			if !ok {
				*bad = append(*bad, path+"/"+k)
			}
			i17DefectsBadKeys(e, path+"/"+k, bad, seen)
		}
	case []any:
		for i, e := range x {
			i17DefectsBadKeys(e, fmt.Sprintf("%s[%d]", path, i), bad, seen)
		}
	}
}

// TestI17DefectsAdminJSONIsSnakeCase walks every JSON answer of the admin
// API (catalogue, jobs, one job in full with its request and grant,
// subscriptions, placement explain) of a broker with a published
// catalogue, a static one and a job, and fails on any key that is not
// snake_case, as Caddy's own JSON is.
func TestI17DefectsAdminJSONIsSnakeCase(t *testing.T) {
	b := startOpsBroker(t)
	sub := b.double.expect(csbmsg.ActionCreate, 1, 20*time.Second)
	if r := notify(t, b.publish, "csp2", notification(t, sub.ID, 1, "csp2", "vm", "wf", "sms")); r.Status != 200 {
		t.Fatalf("notification: %+v", r)
	}
	a := b.create("alice", vmRequest(2, 4), nil)
	mustStatus(t, a, csbmsg.StatusOK)
	id := a.jobID()
	answers := map[string][]byte{}
	for _, path := range []string{"/csb/catalog", "/csb/catalog?provider=csp2", "/csb/jobs", "/csb/jobs/" + id, "/csb/subscriptions"} {
		status, ct, data := adminDo(t, b.admin, http.MethodGet, path, "", "", nil)
		if status != 200 || !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("GET %s: %d %s\n%s", path, status, ct, data)
		}
		answers["GET "+path] = data
	}
	// Explain a request that fits and one nothing matches.
	for _, req := range []*csbmsg.ServiceRequest{vmRequest(2, 4), vmRequest(512, 4)} {
		status, _, data := adminDo(t, b.admin, http.MethodPost, "/csb/placement/explain", "", csbmsg.ConsumerMediaType, consumerBody(t, req))
		if status != 200 {
			t.Fatalf("explain: %d\n%s", status, data)
		}
		answers[fmt.Sprintf("POST explain %d cores", *req.IaaS.Compute.Cores)] = data
	}
	seen := map[string]bool{}
	for what, data := range answers {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, data)
		}
		var bad []string
		i17DefectsBadKeys(v, "", &bad, seen)
		if len(bad) > 0 {
			sort.Strings(bad)
			t.Errorf("%s: keys not in snake_case: %v", what, bad)
		}
	}
	// The walk reached the engine's nested types: the draft's service
	// (catalogue), the request and the grant (the job in full).
	for _, k := range []string{"provider_id", "iaas", "cores", "memory", "id", "request", "attempts", "candidates", "last_notification"} {
		if !seen[k] {
			t.Errorf("no %q key in any admin answer: the walk missed part of them", k)
		}
	}
}
