package digestauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// TestDigestMethodBeforeRewrite: Caddy's "method" directive runs before
// the authentication handlers (it comes before basic_auth in the
// directive order) and changes r.Method, as "rewrite" and "uri" change
// r.RequestURI. The client computed its response over the method it
// sent, so the provider must check the response against the original
// request's method, as it already does for the request-target; with the
// rewritten method no client could ever authenticate on such a route.
func TestDigestMethodBeforeRewrite(t *testing.T) {
	d := provisionDigest(t, &HTTPDigestAuth{Realm: "broker", Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{
		"SHA-256": digest.HA1(digest.SHA256, "alice", "broker", "wonderland"),
	}}}})
	chals, err := digest.ParseChallenges(d.server.Challenges(false)[0])
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := chals[0].Get("nonce")
	opaque, _ := chals[0].Get("opaque")
	in := digest.Input{
		Algorithm: digest.SHA256, HA1: digest.HA1(digest.SHA256, "alice", "broker", "wonderland"),
		Nonce: nonce, Cnonce: "0a4f113b", NC: "00000001", QOP: digest.QOPAuth, Method: http.MethodGet, URI: "/x",
	}
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Authorization", `Digest username="alice", realm="broker", uri="/x", algorithm=SHA-256, nonce="`+nonce+
		`", nc=00000001, cnonce="0a4f113b", qop=auth, response="`+in.Response()+`", opaque="`+opaque+`"`)
	// What Caddy's server stores before any handler runs, then what the
	// "method POST" directive does.
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.OriginalRequestCtxKey, *r))
	r.Method = http.MethodPost

	w := httptest.NewRecorder()
	user, ok, err := d.Authenticate(w, r)
	if err != nil || !ok || user.ID != "alice" {
		t.Fatalf("credentials for the method the client sent: ok=%v user=%q err=%v, WWW-Authenticate %q",
			ok, user.ID, err, w.Header().Values("WWW-Authenticate"))
	}
}
