package aws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestErrorsHideEchoedSessionToken: an S3-compatible endpoint (s3_endpoint)
// whose error message quotes the request's X-Amz-Security-Token, the
// session token of the broker's temporary credentials. The SDK's error
// carries the message, and it became the job's reason. (AWS itself
// names no credential in its messages: its errors carry the code, the
// message and the request ids.)
func TestErrorsHideEchoedSessionToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidToken</Code><Message>Invalid X-Amz-Security-Token: ` +
			r.Header.Get("X-Amz-Security-Token") + `</Message><RequestId>req-1</RequestId></Error>`))
	}))
	defer srv.Close()
	a, err := New(Config{Region: "us-east-1", S3Endpoint: srv.URL, PathStyle: true, AccessKeyID: "AKIDEXAMPLE",
		SecretAccessKey: "s3cr3t-key", SessionToken: "s3cr3t-session", Services: []string{"s3"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Provision(context.Background(), &contract.Request{JobID: "echo", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("x")},
	}}})
	if err == nil {
		t.Fatal("provisioning succeeded")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the error holds a credential: %v", err)
	}
	if errorCode(err) != "InvalidToken" || !strings.Contains(err.Error(), "InvalidToken") {
		t.Errorf("the error lost the provider's code: %v", err)
	}
}

// TestConfigErrorHidesPassword: an endpoint whose password holds a "/"
// does not parse; the configuration error (Caddy's log, the admin API's
// answer) quoted it whole.
func TestConfigErrorHidesPassword(t *testing.T) {
	_, err := New(Config{Region: "us-east-1", S3Endpoint: "https://csb:pa/s3cr3t@s3.example.com", Services: []string{"s3"}})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "s3.example.com") {
		t.Errorf("New: %v", err)
	}
}
