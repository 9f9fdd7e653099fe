package aws

import (
	"context"
	"net/http"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestS3FrontRefusesBucketDeleteWithQuery: the job route refuses DELETE
// of the job's bucket (the bucket goes when the job is removed), but let
// it through when the request carried any query parameter: S3, and
// Swift's s3api, ignore parameters that name no subresource
// (x-id=DeleteBucket is what the SDKs themselves add), so
// DELETE /<bucket>?x-id=DeleteBucket deleted the job's bucket, freeing
// its name for another job to claim while this one's route still led
// there.
func TestS3FrontRefusesBucketDeleteWithQuery(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := s3Adapter(t, sw.ProxyURL, swiftpeer.User, swiftpeer.Key)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "front-del", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Remove(ctx, res) })
	fc := &adaptertest.Fronted{T: t, Fronter: a, Resource: res, CredentialHeader: "Authorization",
		Credential: "AWS4-HMAC-SHA256 Credential=CONSUMER/20261122/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"}
	for _, target := range []string{"/csb-front-del?x-id=DeleteBucket", "/csb-front-del?foo", "/csb-front-del/?x-id=DeleteBucket"} {
		if _, _, err := fc.Do("DELETE", target, nil, ""); contract.KindOf(err) != contract.KindClient {
			t.Errorf("DELETE %s: %v, want refused", target, err)
		}
	}
	if resp, _ := swiftGet(t, sw, swiftpeer.User, swiftpeer.Key, "/csb-front-del"); resp.StatusCode/100 != 2 {
		t.Fatalf("the job's bucket was deleted through the job route: %s", resp.Status)
	}
	// Deleting the bucket's tags is a bucket subresource, not the bucket.
	if resp, _, err := fc.Do("DELETE", "/csb-front-del?tagging", nil, ""); err != nil || resp.StatusCode == http.StatusForbidden {
		t.Fatalf("DELETE ?tagging: %v %v", resp, err)
	}
}
