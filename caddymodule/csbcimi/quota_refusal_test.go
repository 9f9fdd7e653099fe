package csbcimi

import (
	"net/http"
	"strings"
	"testing"
)

// A create refused by the owner's limits (the jobs block's
// max_jobs_per_owner, a quota) was answered 409 "no provider could
// create the machine: job limit reached: ...", which blamed the
// providers for a refusal of the owner's holdings. The answer is still
// 409 (the owner can change its holdings and resubmit; see create), and
// its message is the engine's reason, naming the limit, alone.
func TestCIMIQuotaRefusalNamesTheLimit(t *testing.T) {
	b := startEngineBrokerWith(t, engineOptions{
		jobs: "max_jobs_per_owner 1",
		csb:  "quota {\n\t\t\tuser bob {\n\t\t\t\tcores 1\n\t\t\t}\n\t\t}",
	})
	b.create("alice", plainMachine)
	for _, tc := range []struct {
		user, path, body, want string
	}{
		{"alice", "/cimi/machines", plainMachine, "job limit reached: "},
		{"alice", "/cimi/volumes", `{"volumeTemplate":{"volumeConfig":{"capacity":1048576}}}`, "job limit reached: "},
		{"bob", "/cimi/machines", `{"machineTemplate":{"machineConfig":{"cpu":2,"memory":1048576}}}`, "quota exceeded: "},
	} {
		a := b.do(tc.user, "POST", tc.path, tc.body)
		msg, _ := a.json["message"].(string)
		if a.status != http.StatusConflict || !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "provider") {
			t.Errorf("%s POST %s over a limit: want 409 with the engine's reason %q...: %s", tc.user, tc.path, tc.want, a)
		}
	}
	// A create no provider can make still says so.
	a := b.do("bob", "POST", "/cimi/machines", `{"machineTemplate":{"machineConfig":{"cpu":1,"memory":1073741824}}}`)
	if msg, _ := a.json["message"].(string); a.status != http.StatusConflict || !strings.HasPrefix(msg, "no provider") {
		t.Errorf("a create no provider fits: %s", a)
	}
}
