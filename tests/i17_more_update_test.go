package tests

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// i17MoreResp decodes a refusal too (refusals are <CloudServiceResponse>
// documents whatever their HTTP status).
func i17MoreResp(t *testing.T, a *answer) *csbmsg.ServiceResponse {
	t.Helper()
	if a.Resp != nil {
		return a.Resp
	}
	msg, err := csbmsg.ParseConsumer(a.Body, csbmsg.Options{})
	if err != nil || msg.Response == nil {
		t.Fatalf("answer: %d %s", a.HTTP, a.Body)
	}
	return msg.Response
}

// TestI17MoreUpdateHonoursFields: a PUT adding a NetworkInterface ip to a
// job on the CIMI provider (whose adapter does not honour it) is refused
// with 420 naming the field, where it used to answer 200 and drop it;
// under "unhonoured_fields ignore" it applies and Csb-Ignored-Fields
// names the field.
func TestI17MoreUpdateHonoursFields(t *testing.T) {
	for _, mode := range []string{"refuse", "ignore"} {
		t.Run(mode, func(t *testing.T) {
			b := i17CapsStart(t, mode)
			a := b.create("", i17CapsVM(""), nil)
			mustStatus(t, a, csbmsg.StatusOK)
			id := a.jobID()
			if a = b.waitJob("", id, "success"); !strings.Contains(a.Resp.Reason, "provisioned at plain") {
				t.Fatalf("the job is not at the CIMI provider: %s", a.Body)
			}
			a = b.do("", http.MethodPut, "/"+id, consumerBody(t, i17CapsVM("10.1.2.3")), nil)
			r := i17MoreResp(t, a)
			if mode == "refuse" {
				if r.Status != csbmsg.StatusUnsupported || !strings.Contains(r.Reason, "unsupported element IaaS/NetworkInterface/ip") {
					t.Fatalf("want 420 naming IaaS/NetworkInterface/ip: %d %s", a.HTTP, a.Body)
				}
				return
			}
			if r.Status != csbmsg.StatusOK || a.Header.Get("Csb-Ignored-Fields") != "IaaS/NetworkInterface/ip" {
				t.Fatalf("want 200 with Csb-Ignored-Fields: %v\n%s", a.Header, a.Body)
			}
		})
	}
}
