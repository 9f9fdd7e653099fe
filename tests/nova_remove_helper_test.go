package tests

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
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
