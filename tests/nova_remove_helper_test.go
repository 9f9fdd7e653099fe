package tests

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/ospeer"
)

// os2Remove removes alice's job id through the Consumer interface and
// wants it removed. The one-node Nova runs on sqlite and now and then
// answers a DELETE with 500 "Unexpected API Error" when the machine is
// loaded; the broker answers that 410 with the provider's message, and a
// consumer asks again. So does this helper, at most three times, and only
// for that answer: any other refusal fails at once.
func os2Remove(t *testing.T, b *os2Broker, id string) *answer {
	t.Helper()
	var a *answer
	for i := 0; i < 3; i++ {
		a = b.do("alice", http.MethodDelete, "/"+id, nil, nil)
		if a.Resp == nil || a.Resp.Status != csbmsg.StatusCannotRemoveResource || !strings.Contains(a.Resp.Reason, "provider_5xx (HTTP 500)") {
			break
		}
		t.Logf("removal of %s: %s; asking again", id, a.Resp.Reason)
	}
	mustStatus(t, a, csbmsg.StatusOK)
	return a
}

// os2AdminDelete deletes a Nova resource as the cloud's admin, straight
// at Nova; like os2Remove it asks again, at most three times, when Nova
// answers 500 "Unexpected API Error", and fails on any other error.
func os2AdminDelete(ctx context.Context, t *testing.T, o *ospeer.OpenStack, url string) {
	t.Helper()
	for i := 0; ; i++ {
		st, err := o.Admin(ctx, http.MethodDelete, url, nil, nil, nil)
		if err == nil {
			return
		}
		if st != http.StatusInternalServerError || i == 2 {
			t.Fatal(err)
		}
		t.Logf("DELETE %s: %v; asking again", url, err)
	}
}
