package tests

import (
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestAudit2EncryptionFalseOnEncryptingProvider: a request that says
// <encryption>false</encryption> and is placed on a provider with
// encryption-support gets <encryption>false</encryption> back: the
// answer reports the job's service, not what the provider could do.
func TestAudit2EncryptionFalseOnEncryptingProvider(t *testing.T) {
	b := i17CapsStart(t, "refuse")
	req := i17CapsVM("10.1.2.3") // the ip keeps it off plain (refuse mode)
	req.Encryption = new(bool)   // false
	a := b.create("", req, nil)
	mustStatus(t, a, csbmsg.StatusOK)
	if !strings.Contains(string(a.Body), "<encryption>false</encryption>") || a.Resp.Encryption == nil || *a.Resp.Encryption {
		t.Fatalf("want <encryption>false</encryption> in the answer:\n%s", a.Body)
	}
	a = b.waitJob("", a.jobID(), "success")
	if !strings.Contains(a.Resp.Reason, "provisioned at occi") || !strings.Contains(string(a.Body), "<encryption>false</encryption>") {
		t.Fatalf("read of the job (want it on the encrypting provider occi, unencrypted):\n%s", a.Body)
	}
}
