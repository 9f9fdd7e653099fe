package aws

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// TestS3MetadataTooLarge: S3 keeps at most 2 KB of user-defined metadata
// (keys and values). More is refused before S3 is called (unsupported),
// as the mapping promises for what headers cannot carry, rather than by
// S3 with 400 after the bucket was created. The endpoint is never
// reached.
func TestS3MetadataTooLarge(t *testing.T) {
	a := s3Adapter(t, "http://127.0.0.1:1", "AKIDEXAMPLE", "secret")
	var items []string
	for i := range 9 { // 9 × (2 + 250) bytes > 2048
		items = append(items, fmt.Sprintf("k%d=%s", i, strings.Repeat("v", 250)))
	}
	big := strings.Join(items, "; ")
	res, err := a.Provision(context.Background(), &contract.Request{JobID: "big-meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("x"), Metadata: &big},
	}}})
	if contract.KindOf(err) != contract.KindUnsupported || res != nil {
		t.Fatalf("metadata over 2 KB: %v %v, want unsupported", res, err)
	}
	_, err = a.Update(context.Background(), &contract.Resource{Native: map[string]string{nativeKind: kindBucket, nativeBucket: "b", nativeObject: "data"}},
		&contract.Request{JobID: "big-meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Metadata: &big}}}})
	if contract.KindOf(err) != contract.KindUnsupported {
		t.Fatalf("update with metadata over 2 KB: %v, want unsupported", err)
	}
}
