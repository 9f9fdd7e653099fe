package cimi_test

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/adapters/httpx"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
)

// closedAddr is a loopback address nothing listens on: a call to it is
// refused at once.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// noRetry makes the adapter's calls fail at their first error.
func noRetry(c *httpx.Client) { c.Retries = -1 }

// assertNoSecret fails when the error a job's reason is made of holds a
// secret.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded")
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error holds the secret %q: %v", s, err)
		}
	}
}

// TestTransportErrorHidesEndpointCredentials: a CIMI endpoint
// configured with an API key in its query or with user info, unreachable.
// net/http's error prints the URL it could not call, query and user
// name included, and the adapter's error (the job's reason) held it.
func TestTransportErrorHidesEndpointCredentials(t *testing.T) {
	addr := closedAddr(t)
	for _, ep := range []string{
		"http://" + addr + "/cimi?api_key=s3cr3t-key",
		"http://csb-user:s3cr3t-pass@" + addr + "/cimi",
	} {
		a, err := cimi.New(cimi.Config{Endpoint: ep})
		if err != nil {
			t.Fatal(err)
		}
		a.SetRetryPolicy(noRetry)
		_, err = a.Discover(context.Background())
		assertNoSecret(t, err, "s3cr3t", "csb-user")
		if err != nil && !strings.Contains(err.Error(), addr+"/cimi") {
			t.Errorf("the error no longer says which call failed: %v", err)
		}
	}
}

// TestAnswerEchoingCredentialsHidden: the provider (or a proxy in front
// of it) answers an error with the request it got, the broker's Basic or
// bearer credentials in it. The adapter's error carried the echo.
func TestAnswerEchoingCredentialsHidden(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, _ := httputil.DumpRequest(r, false)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(append([]byte("unexpected request:\n"), dump...))
	}))
	defer srv.Close()
	basic := base64.StdEncoding.EncodeToString([]byte("csb:s3cr3t-pass"))
	for _, auth := range []httpclient.Auth{
		{Scheme: httpclient.SchemeBasic, Username: "csb", Password: "s3cr3t-pass"},
		{Scheme: httpclient.SchemeBearer, Token: "s3cr3t-token"},
	} {
		hc, err := httpclient.New(httpclient.Config{Auth: auth})
		if err != nil {
			t.Fatal(err)
		}
		a, err := cimi.New(cimi.Config{Endpoint: srv.URL + "/cimi"})
		if err != nil {
			t.Fatal(err)
		}
		a.SetHTTPClient(hc)
		_, err = a.Discover(context.Background())
		assertNoSecret(t, err, "s3cr3t", basic)
	}
}

// TestRefusedRedirectHidesSignature: the provider redirects to a
// presigned URL on another host, which its peer URL policy refuses. The
// *url.Error net/http returns names the redirect's target, signature
// and all; the adapter's error held it.
func TestRefusedRedirectHidesSignature(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://bucket.s3.example.com/cep.json?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=s3cr3t-sig", http.StatusFound)
	}))
	defer srv.Close()
	pol, err := peerurl.New(peerurl.Config{Origins: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := httpclient.New(httpclient.Config{Peer: pol})
	if err != nil {
		t.Fatal(err)
	}
	a, err := cimi.New(cimi.Config{Endpoint: srv.URL + "/cimi"})
	if err != nil {
		t.Fatal(err)
	}
	a.SetHTTPClient(hc)
	a.SetRetryPolicy(noRetry)
	_, err = a.Discover(context.Background())
	assertNoSecret(t, err, "s3cr3t", "AKIAEXAMPLE")
	if err != nil && !strings.Contains(err.Error(), "bucket.s3.example.com/cep.json") {
		t.Errorf("the error no longer names the refused target: %v", err)
	}
}

// TestConfigErrorHidesPassword: an endpoint whose password holds a "/"
// does not parse; the configuration error (Caddy's log, the admin API's
// answer) quoted it whole.
func TestConfigErrorHidesPassword(t *testing.T) {
	_, err := cimi.New(cimi.Config{Endpoint: "https://csb:pa/s3cr3t@cloud.example/cimi"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "cloud.example/cimi") {
		t.Errorf("New: %v", err)
	}
}
