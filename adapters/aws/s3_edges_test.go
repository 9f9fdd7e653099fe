package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
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

// TestS3NonASCIIMetadata: S3 metadata travels in x-amz-meta-* headers,
// which carry US-ASCII; S3 hands non-ASCII values back RFC 2047-encoded,
// and Swift's s3api read the raw UTF-8 bytes as Latin-1. A value such as
// "grün" was granted back as "=?UTF-8?B?Z3LDg8K8bg==?=" (mojibake, and
// encoded). The adapter now sends such values as RFC 2047 encoded words
// and decodes what it reads, so the grant equals the request, on
// provisioning and on a metadata-only update (CopyObject).
func TestS3NonASCIIMetadata(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := s3Adapter(t, sw.ProxyURL, swiftpeer.User, swiftpeer.Key)
	ctx := context.Background()
	meta := `{"color":"grün","note":"` + strings.Repeat("ä", 60) + `"}`
	res, err := a.Provision(ctx, &contract.Request{JobID: "s3-utf8meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("x"), Metadata: &meta},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
	if got := res.Granted.DSaaS.DataObject.Metadata; got == nil || *got != meta {
		t.Fatalf("grant after provisioning: %v, want %s", ptrStr(got), meta)
	}
	// Encoded, 100 "ä" (200 bytes) take more than the 256 bytes a value
	// may hold: refused before S3 is called (Swift's s3api failed with
	// 500 after the bucket was created).
	long := `{"note":"` + strings.Repeat("ä", 100) + `"}`
	if _, err := a.Update(ctx, res, &contract.Request{JobID: "s3-utf8meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Metadata: &long},
	}}}); contract.KindOf(err) != contract.KindUnsupported {
		t.Fatalf("a value too long once encoded: %v, want unsupported", err)
	}
	meta2 := `{"größe":"x"}`
	if _, err := a.Update(ctx, res, &contract.Request{JobID: "s3-utf8meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Metadata: &meta2},
	}}}); contract.KindOf(err) != contract.KindUnsupported {
		t.Fatalf("a non-ASCII key: %v, want unsupported", err) // header names are tokens
	}
	meta2 = `{"city":"Zürich"}`
	up, err := a.Update(ctx, res, &contract.Request{JobID: "s3-utf8meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Metadata: &meta2},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := up.Granted.DSaaS.DataObject.Metadata; got == nil || *got != meta2 {
		t.Fatalf("grant after a metadata update: %v, want %s", ptrStr(got), meta2)
	}
	// A new value keeps the metadata it does not name.
	up, err = a.Update(ctx, up, &contract.Request{JobID: "s3-utf8meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("y")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := up.Granted.DSaaS.DataObject.Metadata; got == nil || *got != meta2 {
		t.Fatalf("grant after a value update: %v, want %s", ptrStr(got), meta2)
	}
}

func ptrStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestS3ValueUpdateKeepsMetadataOnHeadFailure: an update with a new value
// and no <metadata> keeps the object's metadata and type, read with
// HeadObject before PutObject replaces them. When that HEAD failed (503
// here, after the SDK's retries), PutObject went ahead with no metadata
// and the default type, silently dropping them. The update must fail
// instead and change nothing.
func TestS3ValueUpdateKeepsMetadataOnHeadFailure(t *testing.T) {
	sw := swiftpeer.Shared(t)
	target, _ := url.Parse(sw.ProxyURL)
	var failHead atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failHead.Load() && r.Method == http.MethodHead {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	a := s3Adapter(t, proxy.URL, swiftpeer.User, swiftpeer.Key)
	ctx := context.Background()
	meta := `{"color":"blue"}`
	res, err := a.Provision(ctx, &contract.Request{JobID: "s3-keep-meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("one"), Mimetype: s("text/markdown"), Metadata: &meta},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
	failHead.Store(true)
	_, err = a.Update(ctx, res, &contract.Request{JobID: "s3-keep-meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("two")},
	}}})
	failHead.Store(false)
	if err == nil {
		t.Error("the update succeeded though the object's metadata could not be read")
	}
	st, err := a.Status(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	if o := st.Granted.DSaaS.DataObject; o.Metadata == nil || *o.Metadata != meta || o.Mimetype == nil || *o.Mimetype != "text/markdown" {
		t.Fatalf("after the failed update: metadata %v, type %v; want %s, text/markdown", ptrStr(o.Metadata), ptrStr(o.Mimetype), meta)
	}
}

// TestS3CreateBucketRetried: the SDK retries CreateBucket after a 5xx.
// When S3 made the bucket but the answer was lost (here a proxy forwards
// the first PUT and answers 503), the retry answers
// BucketAlreadyOwnedByYou. For the bucket the adapter named after the job
// nobody else can have made it, yet Provision failed with "already
// exists" and left the bucket behind; every later attempt at this
// provider then failed the same way. A bucket the request names is still
// never adopted.
func TestS3CreateBucketRetried(t *testing.T) {
	sw := swiftpeer.Shared(t)
	target, _ := url.Parse(sw.ProxyURL)
	var lose atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 && lose.Add(-1) >= 0 {
			rp.ServeHTTP(httptest.NewRecorder(), r) // S3 makes the bucket; the answer is lost
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	a := s3Adapter(t, proxy.URL, swiftpeer.User, swiftpeer.Key)
	ctx := context.Background()
	lose.Store(1)
	res, err := a.Provision(ctx, &contract.Request{JobID: "s3-put-lost", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("x")},
	}}})
	if res != nil {
		t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
	}
	if err != nil || res == nil || res.State != contract.StateReady {
		t.Fatalf("provision after a lost CreateBucket answer: %v %v", res, err)
	}

	lose.Store(1)
	named, err := a.Provision(ctx, &contract.Request{JobID: "s3-put-lost-2", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("s3-put-lost-named")}},
	}}})
	t.Cleanup(func() {
		_ = a.Remove(context.Background(), &contract.Resource{Native: map[string]string{nativeKind: kindBucket, nativeBucket: "s3-put-lost-named", nativeBucketMade: "true"}})
	})
	if err == nil || named != nil {
		t.Fatalf("a named bucket answered BucketAlreadyOwnedByYou was adopted: %v %v", named, err)
	}
}
