package digestauth

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/digest"
)

// TestDigestAbsoluteURIParameter: clients such as Jetty's (before 9.4.9),
// okhttp-digest and Node's request put the absolute URI in the uri
// parameter while the request line has the origin form. It names the
// resource of the request (scheme from the connection, host from the
// Host header), so the provider must let it in; another host or scheme
// is still refused.
func TestDigestAbsoluteURIParameter(t *testing.T) {
	d := provisionDigest(t, &HTTPDigestAuth{Realm: "broker", Accounts: []DigestAccount{{Username: "alice", HA1: map[string]string{
		"SHA-256": digest.HA1(digest.SHA256, "alice", "broker", "wonderland"),
	}}}})
	for i, tc := range []struct {
		uri string
		tls bool
		ok  bool
	}{
		{"http://broker.example/csb/publish?x=1", false, true},
		{"https://broker.example/csb/publish?x=1", true, true},
		{"https://broker.example/csb/publish?x=1", false, false},
		{"http://other.example/csb/publish?x=1", false, false},
	} {
		chals, err := digest.ParseChallenges(d.server.Challenges(false)[0])
		if err != nil {
			t.Fatal(err)
		}
		nonce, _ := chals[0].Get("nonce")
		in := digest.Input{
			Algorithm: digest.SHA256, HA1: digest.HA1(digest.SHA256, "alice", "broker", "wonderland"),
			Nonce: nonce, Cnonce: "0a4f113b", NC: "00000001", QOP: digest.QOPAuth, Method: http.MethodGet, URI: tc.uri,
		}
		r := httptest.NewRequest(http.MethodGet, "/csb/publish?x=1", nil)
		r.Host = "broker.example"
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		r.Header.Set("Authorization", `Digest username="alice", realm="broker", uri="`+tc.uri+`", algorithm=SHA-256, nonce="`+nonce+
			`", nc=00000001, cnonce="0a4f113b", qop=auth, response="`+in.Response()+`"`)
		w := httptest.NewRecorder()
		_, ok, err := d.Authenticate(w, r)
		if err != nil || ok != tc.ok {
			t.Errorf("%d: uri %s (TLS %v): ok=%v err=%v, want ok=%v", i, tc.uri, tc.tls, ok, err, tc.ok)
		}
	}
}
