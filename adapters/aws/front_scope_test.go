package aws

import (
	"context"
	"net/http"
	"net/url"
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

// TestEC2FrontRefusesRepeatedParameters: the EC2 route read the action
// from the query string first and the form body after it, and checked
// only the first Action. A POST whose query string named
// DescribeInstances on the job's instance and whose body named
// RunInstances passed the check; a server that reads the body first (as
// the double, written with Go's ParseForm, does) ran RunInstances with
// the provider's credentials. Query API parameters are unique: a request
// repeating one is refused.
func TestEC2FrontRefusesRepeatedParameters(t *testing.T) {
	d := newEC2Double(t)
	a := ec2Adapter(t, d)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "fr-dup", Want: adaptertest.IaaS(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	res = waitReady(t, a, res)
	id := res.Native[nativeInstanceID]
	fc := &adaptertest.Fronted{T: t, Fronter: a, Resource: res, CredentialHeader: "Authorization",
		Credential: "AWS4-HMAC-SHA256 Credential=CONSUMERKEY/20261122/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
	query := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {id}}.Encode()
	run := url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}, "ImageId": {"ami-1"}, "InstanceType": {"t3.nano"}, "MinCount": {"1"}, "MaxCount": {"1"}}.Encode()
	before := d.inventory()
	resp, _, err := fc.Do("POST", "/?"+query, form, run)
	if d.inventory() != before {
		t.Fatalf("a consumer launched an instance through the job route (%v)", resp.Status)
	}
	if contract.KindOf(err) != contract.KindClient {
		t.Fatalf("repeated Action: %v, want refused", err)
	}
	// The same parameter twice in the body is refused as well.
	body := "Action=StopInstances&Version=2016-11-15&InstanceId.1=" + id + "&Action=TerminateInstances"
	if _, _, err := fc.Do("POST", "/", form, body); contract.KindOf(err) != contract.KindClient {
		t.Fatalf("repeated Action in the body: %v, want refused", err)
	}
}
