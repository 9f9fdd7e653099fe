package digest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestAudit2NoAnswerToOtherSchemes sends challenges of other schemes that
// carry every parameter a Digest challenge needs (realm, nonce, qop): the
// transport must answer none of them, so only the scheme name keeps it from
// sending credentials. TestTransportNoBasicDowngrade's bare Basic challenge
// has no nonce and is refused for that reason alone.
func TestAudit2NoAnswerToOtherSchemes(t *testing.T) {
	for _, ch := range []string{
		`Basic realm="x", nonce="abc", qop="auth"`,
		`Bearer realm="x", nonce="abc", qop="auth"`,
	} {
		var saw atomic.Value
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			saw.Store(r.Header.Get("Authorization"))
			w.Header().Set("WWW-Authenticate", ch)
			w.WriteHeader(http.StatusUnauthorized)
		}))
		c := &http.Client{Transport: &Transport{Username: "alice", Password: "wonderland"}}
		code, _ := get(t, c, "GET", srv.URL, "")
		srv.Close()
		if code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", ch, code)
		}
		if v, _ := saw.Load().(string); v != "" {
			t.Errorf("%s: credentials sent: %q", ch, v)
		}
	}
}
