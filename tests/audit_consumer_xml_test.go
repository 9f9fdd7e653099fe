package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestAuditConsumerHonoursXMLOption: issue 2 says the Caddyfile chooses
// the codec's mode and limits; README.md (Consumer interface) says "The body limit and
// the parser's strictness are the xml option's (max_body_size, strict)";
// README's troubleshooting says to raise max_body_size for a 413. The
// publish endpoint follows the xml option; this checks the consumer
// endpoint does too, and refuses what the publish endpoint refuses at the
// HTTP level (an unreadable charset, a content coding: 415).
func TestAuditConsumerHonoursXMLOption(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte(testUsers["alice"]), bcrypt.MinCost)
	port := harness.FreePort(t)
	harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		xml {
			mode strict
			max_body_size 3MiB
		}
	}
}

http://127.0.0.1:%d {
	basic_auth {
		alice %s
	}
	csb
}
`, port, hash))
	repaired, err := os.ReadFile(filepath.Join("..", "broker", "csbmsg", "testdata", "repaired", "consumer-request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte, hdr ...string) (int, *csbmsg.ServiceResponse) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", port), bytes.NewReader(body))
		req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		req.SetBasicAuth("alice", testUsers["alice"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return resp.StatusCode, nil
		}
		msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
		if err != nil || msg.Response == nil {
			t.Fatalf("answer: %v\n%s", err, data)
		}
		return 200, msg.Response
	}
	if code, r := post(repaired); code != 200 || r.Status != csbmsg.StatusUnsupported {
		t.Errorf("strict mode, the example's <Network>: HTTP %d, %+v; want status 420", code, r)
	}
	big := []byte(strings.Replace(string(repaired), "<CloudServiceRequest>", "<!--"+strings.Repeat("x", 3<<19)+"--><CloudServiceRequest>", 1))
	if code, _ := post(big); code == http.StatusRequestEntityTooLarge {
		t.Errorf("a 1.5 MiB body under max_body_size 3MiB: HTTP 413")
	}
	if code, _ := post(repaired, "Content-Type", csbmsg.ConsumerMediaType+"; charset=koi8-r"); code != http.StatusUnsupportedMediaType {
		t.Errorf("charset koi8-r: HTTP %d, want 415 (as on the publish endpoint)", code)
	}
	if code, _ := post(repaired, "Content-Encoding", "gzip"); code != http.StatusUnsupportedMediaType {
		t.Errorf("Content-Encoding gzip: HTTP %d, want 415 (as on the publish endpoint)", code)
	}
}
