package ovf_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/ovf"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestFetchFailureHidesSignature: a descriptor linked by a presigned URL
// whose host does not answer. The fetch failed with net/http's
// *url.Error, which prints the URL whole, and ovf.Error named the href
// whole too: the signature went into the job's reason and the logs.
func TestFetchFailureHidesSignature(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // nothing listens there now: the fetch is refused
	exp, err := ovf.NewExpander(ovf.FetchConfig{
		AllowedHosts: []string{"images.example.test"},
		AllowHTTP:    true,
		AllowPrivate: true,
		Resolver:     resolver{"images.example.test": "127.0.0.1"},
	}, ovf.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	href := "http://images.example.test:" + port + "/appliance.ovf?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=s3cr3t-sig"
	_, err = exp.Expand(context.Background(), csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Link: &csbmsg.Link{Rel: "ovf", Href: href}}})
	if !errors.Is(err, ovf.ErrFetch) {
		t.Fatalf("Expand = %v, want a fetch failure", err)
	}
	if s := err.Error(); strings.Contains(s, "s3cr3t") || strings.Contains(s, "AKIAEXAMPLE") || !strings.Contains(s, "images.example.test:"+port+"/appliance.ovf") {
		t.Errorf("the error: %s", s)
	}
}
