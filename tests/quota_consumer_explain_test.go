package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestQuotaConsumerExplain: the consumer's own dry run (POST ?explain)
// answers 408 naming the limit when a create would go over the caller's
// quota, and says nothing of the quotas of a user who has none.
func TestQuotaConsumerExplain(t *testing.T) {
	b := startConsumerBroker(t, quotaOptions("0.5", "\t\t\tuser alice {\n\t\t\t\tcores 16\n\t\t\t}"))
	for i := 0; i < 2; i++ {
		mustStatus(t, b.create("alice", vmRequest(8, 1), nil), csbmsg.StatusOK)
	}
	type explained struct {
		Status csbmsg.Status `json:"status"`
		Reason string        `json:"reason"`
		Quota  *struct {
			Admitted bool   `json:"admitted"`
			Limit    string `json:"limit"`
		} `json:"quota"`
	}
	explain := func(user string) explained {
		t.Helper()
		a := b.do(user, http.MethodPost, "?explain", consumerBody(t, vmRequest(2, 1)), map[string]string{"Accept": "application/json"})
		var ex explained
		if a.HTTP != http.StatusOK || json.Unmarshal(a.Body, &ex) != nil {
			t.Fatalf("%s explain: HTTP %d %s", user, a.HTTP, a.Body)
		}
		return ex
	}
	ex := explain("alice")
	if ex.Status != csbmsg.StatusUnableToFindResource || !strings.Contains(ex.Reason, "cores limit of user alice") || ex.Quota == nil || ex.Quota.Admitted || ex.Quota.Limit != "cores" {
		t.Fatalf("alice at her quota: %+v", ex)
	}
	if ex := explain("bob"); ex.Status != csbmsg.StatusOK || ex.Quota != nil {
		t.Fatalf("bob without a quota: %+v", ex)
	}
}
