package aws

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestMain shares one real Swift (with s3api) between the tests.
func TestMain(m *testing.M) { os.Exit(swiftpeer.Main(m)) }

func s(v string) *string { return &v }

func s3Adapter(t *testing.T, endpoint, user, key string) *Adapter {
	t.Helper()
	a, err := New(Config{Region: "us-east-1", S3Endpoint: endpoint, PathStyle: true, AccessKeyID: user, SecretAccessKey: key, Services: []string{"s3"}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// swiftGet reads a path of the account through Swift's own API.
func swiftGet(t testing.TB, sw *swiftpeer.Swift, user, key, path string) (*http.Response, string) {
	t.Helper()
	tok, storage, err := sw.Auth(context.Background(), user, key)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", storage+path, nil)
	req.Header.Set("X-Auth-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestS3Lifecycle brokers a DSaaS request to the real Swift through its
// S3 API (s3api): the bucket and the object are checked through Swift's
// native API, then updated and removed.
func TestS3Lifecycle(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := s3Adapter(t, sw.ProxyURL, swiftpeer.User, swiftpeer.Key)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "S3_Life", Owner: "alice", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject:   &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("dir/hello.txt")}, Value: s("Hello, S3!"), Mimetype: s("text/markdown"), Metadata: s(`{"Color":"blue"}`)},
		DomainObject: &csbmsg.DomainObject{},
	}}})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	const b = "csb-s3-life"
	if res.State != contract.StateReady || res.Native[nativeBucket] != b || res.URI != sw.ProxyURL+"/"+b+"/dir/hello.txt" || res.Endpoint != sw.ProxyURL {
		t.Fatalf("resource %+v", res)
	}
	resp, body := swiftGet(t, sw, swiftpeer.User, swiftpeer.Key, "/"+b+"/dir/hello.txt")
	if resp.StatusCode != 200 || body != "Hello, S3!" || resp.Header.Get("X-Object-Meta-Color") != "blue" || resp.Header.Get("Content-Type") != "text/markdown" {
		t.Fatalf("through Swift: %s %q %v", resp.Status, body, resp.Header)
	}
	g := res.Granted.DSaaS
	if *g.DataObject.Metadata != `{"color":"blue"}` || *g.DataObject.Mimetype != "text/markdown" || *g.ContainerObject.ObjectID != b ||
		g.DomainObject == nil || *g.DomainObject.Children == "0" {
		t.Fatalf("grant %+v %+v %+v", g.DataObject, g.ContainerObject, g.DomainObject)
	}
	res, err = a.Update(ctx, res, &contract.Request{JobID: "S3_Life", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Metadata: s("color=green; size=xl")},
	}}})
	if err != nil {
		t.Fatalf("update metadata: %v", err)
	}
	resp, body = swiftGet(t, sw, swiftpeer.User, swiftpeer.Key, "/"+b+"/dir/hello.txt")
	if body != "Hello, S3!" || resp.Header.Get("X-Object-Meta-Color") != "green" || resp.Header.Get("X-Object-Meta-Size") != "xl" || resp.Header.Get("Content-Type") != "text/markdown" {
		t.Fatalf("after metadata update: %q %v", body, resp.Header)
	}
	res, err = a.Update(ctx, res, &contract.Request{JobID: "S3_Life", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("v2")},
	}}})
	if err != nil {
		t.Fatalf("update value: %v", err)
	}
	resp, body = swiftGet(t, sw, swiftpeer.User, swiftpeer.Key, "/"+b+"/dir/hello.txt")
	if body != "v2" || resp.Header.Get("X-Object-Meta-Color") != "green" {
		t.Fatalf("after value update: %q %v", body, resp.Header)
	}
	if err := a.Remove(ctx, res); err != nil {
		t.Fatal(err)
	}
	if resp, _ := swiftGet(t, sw, swiftpeer.User, swiftpeer.Key, "/"+b); resp.StatusCode != 404 {
		t.Fatalf("bucket after remove: %s", resp.Status)
	}
	// An existing bucket is never adopted.
	if _, err := a.Provision(ctx, &contract.Request{JobID: "x", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("csb-s3-taken")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	_, err = a.Provision(ctx, &contract.Request{JobID: "y", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("csb-s3-taken")}},
	}}})
	if contract.KindOf(err) != contract.KindClient || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("existing bucket: %v", err)
	}
	// Find never claims a bucket the request names: it could be
	// someone else's (here job x's, for job y).
	if found, err := a.Find(ctx, &contract.Request{JobID: "y", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("csb-s3-taken")}},
	}}}); err != nil || found != nil {
		t.Fatalf("find claimed a named bucket: %+v %v", found, err)
	}
	a.Remove(ctx, &contract.Resource{Native: map[string]string{nativeKind: kindBucket, nativeBucket: "csb-s3-taken", nativeBucketMade: "true"}})
	// Wrong credentials: a provider_4xx that shows no secret.
	bad := s3Adapter(t, sw.ProxyURL, swiftpeer.User, "wrong-s3cret")
	_, err = bad.Provision(ctx, &contract.Request{JobID: "z", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{}}})
	if contract.KindOf(err) != contract.KindClient || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad credentials: %v", err)
	}
}

// TestConformanceS3 runs the conformance kit against the real Swift's S3
// API, with faults injected by a loopback proxy in front of it.
func TestConformanceS3(t *testing.T) {
	sw := swiftpeer.Shared(t)
	fp := swiftpeer.NewFaultProxy(t, sw.ProxyURL)
	body := func(t testing.TB, res *contract.Resource) string {
		_, b := swiftGet(t, sw, swiftpeer.User2, swiftpeer.Key2, "/"+res.Native[nativeBucket]+"/"+res.Native[nativeObject])
		return b
	}
	adaptertest.Run(t, adaptertest.Target{
		New: func(t *testing.T) contract.Adapter { return s3Adapter(t, fp.URL, swiftpeer.User2, swiftpeer.Key2) },
		Cases: []adaptertest.Case{
			{
				Name: "bucket-and-object",
				Req: contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
					DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("doc.txt")}, Value: s("v1"), Metadata: s("rev=1")},
				}}},
				Check: func(t testing.TB, res *contract.Resource) {
					if b := body(t, res); b != "v1" {
						t.Errorf("object holds %q", b)
					}
				},
				Updates: []adaptertest.Update{
					{
						Name: "new value",
						Req:  contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Value: s("v2")}}}},
						Check: func(t testing.TB, res *contract.Resource) {
							if b := body(t, res); b != "v2" || *res.Granted.DSaaS.DataObject.Metadata != `{"rev":"1"}` {
								t.Errorf("object holds %q, grant %+v", b, res.Granted.DSaaS.DataObject)
							}
						},
					},
					{
						Name: "new metadata",
						Req:  contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Metadata: s("rev=2")}}}},
						Check: func(t testing.TB, res *contract.Resource) {
							if *res.Granted.DSaaS.DataObject.Metadata != `{"rev":"2"}` {
								t.Errorf("metadata %s", *res.Granted.DSaaS.DataObject.Metadata)
							}
						},
					},
				},
			},
			{
				Name: "empty-bucket",
				Req:  contract.Request{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}, DomainObject: &csbmsg.DomainObject{}}}},
				Check: func(t testing.TB, res *contract.Resource) {
					if res.Granted.DSaaS.DomainObject == nil || res.Granted.DSaaS.ContainerObject == nil {
						t.Errorf("grant %+v", res.Granted.DSaaS)
					}
				},
			},
		},
		Unsupported: []contract.Request{
			{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{QueueObject: &csbmsg.QueueObject{}}}},
			{Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{Metadata: s("a=b")}}}},
			{Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}}}, // this provider offers S3 only
		},
		Fault: fp.Apply,
		Inventory: func() int {
			c, o, err := sw.Count(context.Background(), swiftpeer.User2, swiftpeer.Key2)
			if err != nil {
				// Called from the kit's subtests: no FailNow on this
				// test; -1 fails the subtest's comparison.
				t.Errorf("inventory of the Swift: %v", err)
				return -1
			}
			return c + o
		},
	})
}

// TestS3Front forwards consumer requests to the real Swift's S3 API the
// way the transparent proxy does: the consumer's signature is replaced by
// the provider's (SigV4), and requests outside the job's bucket are
// refused.
func TestS3Front(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := s3Adapter(t, sw.ProxyURL, swiftpeer.User, swiftpeer.Key)
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "front", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("a b.txt")}, Value: s("fronted")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Remove(ctx, res) })
	fc := &adaptertest.Fronted{T: t, Fronter: a, Resource: res, CredentialHeader: "Authorization",
		Credential: "AWS4-HMAC-SHA256 Credential=CONSUMER/20261122/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"}
	send := fc.Do
	if resp, body, err := send("GET", "/csb-front/a%20b.txt", nil, ""); err != nil || resp.StatusCode != 200 || body != "fronted" {
		t.Fatalf("GET: %v %v %q", resp, err, body)
	}
	if resp, body, err := send("PUT", "/csb-front/new.bin", map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD", "X-Amz-Meta-Color": "red"}, "\x00\x01\x02"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT: %v %v %q", resp, err, body)
	}
	if resp, _ := swiftGet(t, sw, swiftpeer.User, swiftpeer.Key, "/csb-front/new.bin"); resp.Header.Get("X-Object-Meta-Color") != "red" {
		t.Fatalf("metadata through the front: %v", resp.Header)
	}
	if resp, body, err := send("GET", "/csb-front?list-type=2", nil, ""); err != nil || resp.StatusCode != 200 || !strings.Contains(body, "<Key>new.bin</Key>") {
		t.Fatalf("list: %v %v %q", resp, err, body)
	}
	fc.Refuses([]adaptertest.Refusal{
		{Method: "GET", Target: "/", Kind: contract.KindNotFound},
		{Method: "GET", Target: "/other-bucket/x", Kind: contract.KindNotFound},
		{Method: "DELETE", Target: "/csb-front", Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front?acl", Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front?policy", Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front/x", Header: map[string]string{"X-Amz-Acl": "public-read"}, Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front/x", Header: map[string]string{"X-Amz-Copy-Source": "/other-bucket/secret"}, Kind: contract.KindClient},
		{Method: "PUT", Target: "/csb-front/x", Header: map[string]string{"X-Amz-Content-Sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, Kind: contract.KindClient},
	})
}

// TestS3DefaultCredentialChain: with no keys in the configuration the
// adapter takes the SDK's default chain; here the environment's keys
// (shared files and the instance metadata service pointed away), against
// the real s3api. Wrong keys in the environment are refused by the
// provider, so the keys really come from there.
func TestS3DefaultCredentialChain(t *testing.T) {
	sw := swiftpeer.Shared(t)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ACCESS_KEY_ID", swiftpeer.User)
	want := csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Value: s("from the environment")}}}
	ctx := context.Background()

	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-"+swiftpeer.Key)
	if _, err := s3Adapter(t, sw.ProxyURL, "", "").Provision(ctx, &contract.Request{JobID: "S3_EnvBad", Owner: "alice", Want: want}); err == nil {
		t.Fatal("wrong keys in the environment were accepted")
	}

	t.Setenv("AWS_SECRET_ACCESS_KEY", swiftpeer.Key)
	a := s3Adapter(t, sw.ProxyURL, "", "")
	res, err := a.Provision(ctx, &contract.Request{JobID: "S3_Env", Owner: "alice", Want: want})
	if err != nil {
		t.Fatalf("provision with the environment's keys: %v", err)
	}
	resp, body := swiftGet(t, sw, swiftpeer.User, swiftpeer.Key, "/"+res.Native[nativeBucket]+"/data")
	if resp.StatusCode != 200 || body != "from the environment" {
		t.Fatalf("through Swift: %s %q", resp.Status, body)
	}
	if err := a.Remove(ctx, res); err != nil {
		t.Fatal(err)
	}
}
