package openstack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"
)

// TestErrorsHideEchoedCredentials: a TempAuth or Swift answer that
// echoes the request it refused (a proxy or debug middleware in front
// of Swift does) holds the broker's X-Auth-Key or its token.
// gophercloud's error text carries the answer's body whole, and it
// became the job's reason.
func TestErrorsHideEchoedCredentials(t *testing.T) {
	for _, failAuth := range []bool{true, false} {
		srv := httptest.NewServer(nil)
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/auth/v1.0" && !failAuth {
				w.Header().Set("X-Auth-Token", "AUTH_tks3cr3t-token")
				w.Header().Set("X-Storage-Url", srv.URL+"/v1/AUTH_test")
				w.WriteHeader(http.StatusOK)
				return
			}
			dump, _ := httputil.DumpRequest(r, false)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadRequest)
			w.Write(append([]byte("refused:\n"), dump...))
		})
		a, err := New(Config{TempAuthURL: srv.URL + "/auth/v1.0", TempAuthUser: "test:tester", TempAuthKey: "s3cr3t-key"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Discover(context.Background())
		srv.Close()
		if err == nil {
			t.Fatal("discovery succeeded")
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("failing auth %v: the error holds a credential: %v", failAuth, err)
		}
		if !strings.Contains(err.Error(), "400") {
			t.Errorf("the error no longer says what the provider answered: %v", err)
		}
	}
}

// TestConfigErrorHidesPassword: a URL whose password holds a "/" does
// not parse; the configuration error (Caddy's log, the admin API's
// answer) quoted it whole.
func TestConfigErrorHidesPassword(t *testing.T) {
	_, err := New(Config{AuthURL: "https://csb:pa/s3cr3t@keystone.example/v3", Username: "csb", Password: "x", UserDomainName: "Default"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "keystone.example/v3") {
		t.Errorf("New: %v", err)
	}
}
