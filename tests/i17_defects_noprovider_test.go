package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestI17DefectsNoMatchNamesSilentProvider: a broker whose providers have
// published nothing yet (one never answers its subscription, one offers
// only another model) answers a create with 408 whose reason names every
// provider and why.
func TestI17DefectsNoMatchNamesSilentProvider(t *testing.T) {
	silent := i17DefectsNewSilentPeer(t)
	hash, err := bcrypt.GenerateFromPassword([]byte(testUsers["alice"]), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	port := harness.FreePort(t)
	harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider silent {
			subscribe %s
		}
		provider store {
			service box {
				kind dsaas
				objects data container
			}
		}
		subscriptions {
			timeout 300ms
		}
	}
}

http://127.0.0.1:%d {
	basic_auth {
		alice %s
	}
	csb
}
`, silent.URL(), port, hash))
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", port), bytes.NewReader(consumerBody(t, vmRequest(1, 1))))
	req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	req.SetBasicAuth("alice", testUsers["alice"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
	if err != nil || msg.Response == nil {
		t.Fatalf("answer: %v\n%s", err, data)
	}
	want := "no provider offers an active IaaS service: silent: nothing published yet; store: no active IaaS service"
	if msg.Response.Status != csbmsg.StatusUnableToFindResource || msg.Response.Reason != want {
		t.Fatalf("got %d %q, want 408 %q", msg.Response.Status, msg.Response.Reason, want)
	}
}
