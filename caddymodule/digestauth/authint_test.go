package digestauth

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// TestDigestLargeBodyWithDefaults: a route with the default qop (auth and
// auth-int) and auth_int_max_body (1 MiB), and this project's own client
// (digest.Transport, as the csb CLI uses it), which prefers auth-int.
// Before, every request with a body over 1 MiB got 401, a refusal that
// looked like a wrong password; now the refusal offers qop=auth alone and
// the client gets in with it.
func TestDigestLargeBodyWithDefaults(t *testing.T) {
	d := provisionDigest(t, &HTTPDigestAuth{Realm: "broker", Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{
		"SHA-256": digest.HA1(digest.SHA256, "alice", "broker", "wonderland"),
	}}}})
	srv := serveAuth(t, d)
	c := &http.Client{Transport: &digest.Transport{Username: "alice", Password: "wonderland"}}
	for _, n := range []int{2 << 20, 10, 2 << 20} {
		resp, err := c.Post(srv.URL+"/csb/publish", "application/octet-stream", bytes.NewReader(make([]byte, n)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) != len("alice SHA-256 ")+n {
			t.Fatalf("body of %d bytes: %d, %d bytes back", n, resp.StatusCode, len(body))
		}
	}
}
