package occi_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// TestTransportErrorsHideSecrets: a request that gets no answer failed
// with net/http's *url.Error as it was, whose text (the job's reason)
// holds the URL it could not call: the user info of an endpoint
// configured as https://user:password@host/ (net/http masks the password
// only), or the signature of a presigned URL the server redirected to
// and the peer URL policy refused.
func TestTransportErrorsHideSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://bucket.s3.example.com/model?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=s3cr3t-sig", http.StatusFound)
	}))
	defer srv.Close()
	pol, err := peerurl.New(peerurl.Config{Origins: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	peerClient, err := httpclient.New(httpclient.Config{Peer: pol})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		endpoint string
		client   *http.Client
		want     string // what the error still names
	}{
		{"http://occi-user:s3cr3t-pass@" + closed + "/occi/", nil, closed + "/occi/"},
		{srv.URL + "/occi/", peerClient, "bucket.s3.example.com/model"},
	} {
		a, err := occi.New(occi.Config{Endpoint: tc.endpoint, MaxRetries: -1, RetryBackoff: -1})
		if err != nil {
			t.Fatal(err)
		}
		if tc.client != nil {
			a.SetHTTPClient(tc.client)
		}
		_, err = a.Discover(context.Background())
		if err == nil {
			t.Fatal("discovery succeeded")
		}
		for _, secret := range []string{"s3cr3t", "occi-user", "AKIAEXAMPLE"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error holds %q: %v", secret, err)
			}
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("the error no longer names %s: %v", tc.want, err)
		}
	}
}

// TestConfigErrorHidesPassword: an endpoint whose password holds a "/"
// does not parse; the configuration error (Caddy's log, the admin API's
// answer) quoted it whole.
func TestConfigErrorHidesPassword(t *testing.T) {
	_, err := occi.New(occi.Config{Endpoint: "https://csb:pa/s3cr3t@cloud.example/occi/"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "cloud.example/occi/") {
		t.Errorf("New: %v", err)
	}
}
