package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
	"github.com/caddy-csb/caddy-csb/tests/ospeer"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestMain stops the shared Swift of the live cloud tests after all tests,
// and the shared OpenStack, which it starts in the background first when
// every test runs (see ospeer.Background).
func TestMain(m *testing.M) {
	ospeer.Background()
	code := swiftpeer.Main(m)
	ospeer.StopShared(code != 0)
	harness.RemoveBinary()
	os.Exit(code)
}

// cloudBroker is a real Caddy fronting the real Swift twice: natively
// (openstack adapter, TempAuth) as provider "swift", and through its S3 API
// (aws adapter, s3api) as provider "s3". alice may place only on swift,
// bob only on s3. Job routes are served by csb_job_route and
// reverse_proxy { dynamic csb }.
type cloudBroker struct {
	t    *testing.T
	p    *harness.Process
	base string // http://127.0.0.1:<port>
	sw   *swiftpeer.Swift
}

// csbAuthHeader carries a consumer's broker credentials when its native
// client uses Authorization for itself (S3's SigV4); the route copies it
// into Authorization for basic_auth.
const csbAuthHeader = "X-Csb-Authorization"

// cloudOptions shape the broker's Caddyfile.
type cloudOptions struct {
	proxy      string // lines inside reverse_proxy after dynamic csb
	s3Endpoint string // default: the Swift proxy itself
}

func startCloudBroker(t *testing.T, o cloudOptions) *cloudBroker {
	t.Helper()
	sw := swiftpeer.Shared(t)
	if o.s3Endpoint == "" {
		o.s3Endpoint = sw.ProxyURL
	}
	port := harness.FreePort(t)
	hashes := map[string]string{}
	for u, pw := range testUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hashes[u] = string(h)
	}
	caddyfile := fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider swift {
			adapter openstack {
				tempauth_url %s
				tempauth_user %s
				tempauth_key %s
			}
			discover
		}
		provider s3 {
			adapter aws {
				services s3
				s3_endpoint %s
				path_style
				access_key_id %s
				secret_access_key %s
			}
			discover
		}
		jobs {
			respond_within 10s
			poll_interval 20ms
			access alice {
				allow swift
			}
			access bob {
				allow s3
			}
		}
	}
}

http://127.0.0.1:%d {
	route {
		@csbauth header %s *
		request_header @csbauth Authorization {header.%s}
		request_header -%s
		basic_auth {
			alice %s
			bob %s
		}
		csb_job_route /csb/jobs/*
		reverse_proxy /csb/jobs/* {
%s
		}
		csb
	}
}
`, sw.AuthURL, swiftpeer.User, swiftpeer.Key, o.s3Endpoint, swiftpeer.User2, swiftpeer.Key2,
		port, csbAuthHeader, csbAuthHeader, csbAuthHeader, hashes["alice"], hashes["bob"], o.proxy)
	b := &cloudBroker{t: t, sw: sw, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	b.p = harness.Start(t, caddyfile)
	t.Cleanup(func() {
		// A Caddy built with -race (CSB_CADDY_BIN) reports races here.
		if strings.Contains(b.p.Log(), "WARNING: DATA RACE") {
			t.Errorf("the broker reported a data race:\n%s", b.p.Log())
		}
	})
	return b
}

func basicAuth(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+testUsers[user]))
}

// consume sends a Consumer-interface request as user.
func (b *cloudBroker) consume(user, method, path string, req *csbmsg.ServiceRequest) (*csbmsg.ServiceResponse, []byte) {
	b.t.Helper()
	var body io.Reader
	if req != nil {
		body = bytes.NewReader(consumerBody(b.t, req))
	}
	hr, _ := http.NewRequest(method, b.base+"/csb/consumer"+path, body)
	if req != nil {
		hr.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	}
	hr.SetBasicAuth(user, testUsers[user])
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		b.t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, data)
	}
	msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
	if err != nil || msg.Response == nil {
		b.t.Fatalf("answer does not parse: %v\n%s", err, data)
	}
	return msg.Response, data
}

// createJob creates a DSaaS job for user, waiting (bounded) until the
// provider's discovered services are in the catalogue.
func (b *cloudBroker) createJob(user string, want *csbmsg.DSaaS) *csbmsg.ServiceResponse {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, data := b.consume(user, http.MethodPost, "", &csbmsg.ServiceRequest{DSaaS: want})
		if resp.Status == csbmsg.StatusOK && resp.JobInfo != nil && resp.JobInfo.JobStatus == "success" {
			return resp
		}
		// 408 until discovery has filled the catalogue.
		if resp.Status != csbmsg.StatusUnableToFindResource || time.Now().After(deadline) {
			b.t.Fatalf("create for %s: %s\n%s", user, data, b.p.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// route sends a raw request to a job route.
func (b *cloudBroker) route(user, method, path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, nil)
	if user != "" {
		req.SetBasicAuth(user, testUsers[user])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProxySwiftCLI: Swift's own client uploads and downloads an object
// through the broker's job route against the real Swift; the bytes match,
// and the object is in the job's container as Swift itself sees it.
func TestProxySwiftCLI(t *testing.T) {
	b := startCloudBroker(t, cloudOptions{proxy: "dynamic csb"})
	job := b.createJob("alice", &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: str("hello.txt")}, Value: str("hello from the broker")}})
	id := job.JobInfo.JobID
	container := *job.DSaaS.ContainerObject.ObjectID
	// The swift CLI authenticates to the broker with the user
	// information of its storage URL (HTTP Basic); its own token means
	// nothing to Swift: the broker replaces it.
	storage := strings.Replace(b.base, "http://", "http://alice:"+testUsers["alice"]+"@", 1) + "/csb/jobs/" + id
	ctx := context.Background()
	cli := func(args ...string) (string, error) {
		return swiftpeer.RunCLI(ctx, append([]string{"--os-storage-url", storage, "--os-auth-token", "consumer-token"}, args...)...)
	}
	out, err := cli("download", container, "hello.txt", "-o", "-")
	if err != nil || out != "hello from the broker" {
		t.Fatalf("download of the job's object: %q %v\n%s", out, err, b.p.Log())
	}
	data := randomBytes(t, 256<<10)
	file := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("upload", container, file, "--object-name", "blob.bin"); err != nil {
		t.Fatalf("upload: %v\n%s", err, b.p.Log())
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	if _, err := cli("download", container, "blob.bin", "-o", got); err != nil {
		t.Fatalf("download: %v", err)
	}
	if back, _ := os.ReadFile(got); !bytes.Equal(back, data) {
		t.Fatalf("downloaded %d bytes differ from the %d uploaded", len(back), len(data))
	}
	// Swift itself holds the object in the job's container.
	tok, acct, err := b.sw.Auth(ctx, swiftpeer.User, swiftpeer.Key)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", acct+"/"+container+"/blob.bin", nil)
	req.Header.Set("X-Auth-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(direct, data) {
		t.Fatalf("Swift holds %d bytes, want the %d uploaded", len(direct), len(data))
	}

	// Only the owner; nothing outside the job; nothing without a job.
	for _, tc := range []struct {
		user, method, path string
		want               int
	}{
		{"bob", "GET", "/csb/jobs/" + id + "/" + container + "/hello.txt", 404},
		{"", "GET", "/csb/jobs/" + id + "/" + container + "/hello.txt", 401},
		{"alice", "GET", "/csb/jobs/no-such-job/" + container + "/hello.txt", 404},
		{"alice", "GET", "/csb/jobs/" + id + "/", 404},
		{"alice", "GET", "/csb/jobs/" + id + "/other-container", 404},
		{"alice", "DELETE", "/csb/jobs/" + id + "/" + container, 403},
	} {
		if code, body := b.route(tc.user, tc.method, tc.path); code != tc.want {
			t.Errorf("%s %s %s: %d %q, want %d", tc.user, tc.method, tc.path, code, body, tc.want)
		}
	}
	if strings.Contains(b.p.Log(), tok) {
		t.Fatal("a provider token appears in the broker's log")
	}

	// Removing the job removes the container and its objects; the route
	// is gone with it.
	b.consume("alice", http.MethodDelete, "/"+id, nil)
	req, _ = http.NewRequest("GET", acct+"/"+container, nil)
	req.Header.Set("X-Auth-Token", tok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("container after job removal: %s", resp.Status)
	}
	if code, _ := b.route("alice", "GET", "/csb/jobs/"+id+"/"+container+"/blob.bin"); code != 404 {
		t.Fatalf("route of a removed job: %d", code)
	}
}

// TestProxyS3SDK: the AWS SDK for Go v2 S3 client, with its default
// settings and the consumer's own (meaningless) keys, uploads and
// downloads an object through the broker's job route against the real
// Swift's S3 API; the broker re-signs every request with the provider's
// key.
func TestProxyS3SDK(t *testing.T) {
	b := startCloudBroker(t, cloudOptions{proxy: "dynamic csb"})
	job := b.createJob("bob", &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}})
	id := job.JobInfo.JobID
	bucket := *job.DSaaS.ContainerObject.ObjectID
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: sdkaws.String(b.base + "/csb/jobs/" + id),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("CONSUMERKEY", "consumer-secret", ""),
		APIOptions:   []func(*middleware.Stack) error{smithyhttp.AddHeaderValue(csbAuthHeader, basicAuth("bob"))},
	})
	ctx := context.Background()
	data := randomBytes(t, 300<<10)
	_, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: sdkaws.String("dir/blob.bin"), Body: bytes.NewReader(data),
		ContentType: sdkaws.String("application/octet-stream"), Metadata: map[string]string{"origin": "sdk"},
	})
	if err != nil {
		t.Fatalf("put through the broker: %v\n%s", err, b.p.Log())
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: sdkaws.String("dir/blob.bin")})
	if err != nil {
		t.Fatalf("get through the broker: %v", err)
	}
	back, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(back, data) || got.Metadata["origin"] != "sdk" {
		t.Fatalf("got %d bytes (metadata %v), want the %d uploaded", len(back), got.Metadata, len(data))
	}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil || len(list.Contents) != 1 || *list.Contents[0].Key != "dir/blob.bin" {
		t.Fatalf("list: %v %v", list, err)
	}
	// Swift itself holds the object, in the s3 provider's account.
	tok, acct, err := b.sw.Auth(ctx, swiftpeer.User2, swiftpeer.Key2)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", acct+"/"+bucket+"/dir/blob.bin", nil)
	req.Header.Set("X-Auth-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(direct, data) {
		t.Fatalf("Swift holds %d bytes, want %d", len(direct), len(data))
	}
	// Other buckets do not exist through the route; alice cannot use it.
	if _, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: sdkaws.String("someone-else")}); err == nil {
		t.Fatal("another bucket was reachable")
	}
	if code, _ := b.route("alice", "GET", "/csb/jobs/"+id+"/"+bucket); code != 404 {
		t.Fatalf("alice on bob's route: %d", code)
	}
	b.consume("bob", http.MethodDelete, "/"+id, nil)
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err == nil {
		t.Fatal("the bucket survived the job")
	}
}

// TestProxyPassiveHealth: when a provider's endpoint drops connections,
// the reverse proxy's passive health checks count the failures, the
// source feeds them to the catalogue, and the provider leaves placement;
// once the failures expire it comes back.
func TestProxyPassiveHealth(t *testing.T) {
	sw := swiftpeer.Shared(t)
	fp := swiftpeer.NewFaultProxy(t, sw.ProxyURL)
	b := startCloudBroker(t, cloudOptions{s3Endpoint: fp.URL, proxy: `dynamic csb {
				unhealthy_after 1
				health_interval 50ms
			}
			fail_duration 2s
			max_fails 5
			lb_retries 1`})
	job := b.createJob("bob", &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}})
	bucket := *job.DSaaS.ContainerObject.ObjectID
	route := "/csb/jobs/" + job.JobInfo.JobID + "/" + bucket
	if code, body := b.route("bob", "GET", route); code != 200 {
		t.Fatalf("list through the route: %d %s", code, body)
	}
	fp.SetDown(true)
	if code, _ := b.route("bob", "GET", route); code != http.StatusBadGateway {
		t.Fatalf("route to a provider that drops connections: %d, want 502", code)
	}
	// The provider leaves placement: bob (who may use only s3) gets 408.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, data := b.consume("bob", http.MethodPost, "", &csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}}})
		if resp.Status == csbmsg.StatusUnableToFindResource {
			break
		}
		if resp.Status == csbmsg.StatusOK && resp.JobInfo != nil {
			b.consume("bob", http.MethodDelete, "/"+resp.JobInfo.JobID, nil)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failing provider stayed in placement: %s\n%s", data, b.p.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	b.p.WaitLog(`"healthy":false`, 5*time.Second)
	// Recovery: once the failures expire (fail_duration), it is back.
	fp.SetDown(false)
	b.p.WaitLog(`"healthy":true`, 10*time.Second)
	again := b.createJob("bob", &csbmsg.DSaaS{ContainerObject: &csbmsg.ContainerObject{}})
	b.consume("bob", http.MethodDelete, "/"+again.JobInfo.JobID, nil)
	b.consume("bob", http.MethodDelete, "/"+job.JobInfo.JobID, nil)
}
