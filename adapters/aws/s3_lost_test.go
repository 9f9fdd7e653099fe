package aws

import (
	"context"
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

// TestS3CreateBucketAnswerLost: a CreateBucket of the job's own bucket
// that reached S3 but got no answer on any try of the SDK (the
// connection reset after S3 made the bucket, and again on the retries
// that S3 answered BucketAlreadyOwnedByYou), or whose attempt's deadline
// passed after it was sent, failed Provision with no Resource: the
// broker went on with the next provider of its plan and the bucket was
// left behind (and every later attempt of the job at this provider
// failed with "already exists"). The job's bucket, found there, is
// adopted; when it cannot be read, Provision's error comes with the
// bucket for the broker's cleanup to remove. A bucket the request names
// is still never adopted (TestS3CreateBucketRetried).
func TestS3CreateBucketAnswerLost(t *testing.T) {
	sw := swiftpeer.Shared(t)
	target, _ := url.Parse(sw.ProxyURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var lose atomic.Bool
	var after atomic.Pointer[func()]
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !lose.Load() || r.Method != http.MethodPut || strings.Count(strings.Trim(r.URL.Path, "/"), "/") != 0 {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r) // S3 acts; the answer is lost
		if f := after.Load(); f != nil {
			(*f)()
		}
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		c.Close()
	}))
	t.Cleanup(proxy.Close)
	a := s3Adapter(t, proxy.URL, swiftpeer.User, swiftpeer.Key)
	held := func(bucket string) bool {
		t.Helper()
		c, err := a.s3Client(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		err = statBucket(context.Background(), c, bucket)
		if err != nil && !isNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	dsaas := csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{Value: s("x")}}}

	t.Run("adopted", func(t *testing.T) {
		lose.Store(true)
		res, err := a.Provision(context.Background(), &contract.Request{JobID: "s3-lost-all", Want: dsaas})
		lose.Store(false)
		bucket := a.jobBucket("s3-lost-all")
		t.Cleanup(func() {
			_ = a.Remove(context.Background(), a.bucketResource(bucket))
		})
		if err != nil || res == nil || res.State != contract.StateReady {
			t.Fatalf("provision whose CreateBucket answers were all lost: %v %v (bucket there: %v)", res, err, held(bucket))
		}
		if res.Native[nativeBucket] != bucket || res.Granted.DSaaS.DataObject == nil || res.Granted.DSaaS.DataObject.Status == nil || *res.Granted.DSaaS.DataObject.Status != "available" {
			t.Fatalf("adopted bucket: %+v", res)
		}
		if err := a.Remove(context.Background(), res); err != nil || held(bucket) {
			t.Fatalf("remove: %v (bucket there: %v)", err, held(bucket))
		}
	})
	t.Run("removed", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The attempt's deadline passes once CreateBucket is sent: the
		// bucket cannot be read.
		stop := func() { cancel() }
		after.Store(&stop)
		lose.Store(true)
		res, err := a.Provision(ctx, &contract.Request{JobID: "s3-lost-cut", Want: dsaas})
		lose.Store(false)
		after.Store(nil)
		bucket := a.jobBucket("s3-lost-cut")
		t.Cleanup(func() {
			_ = a.Remove(context.Background(), a.bucketResource(bucket))
		})
		if err == nil {
			t.Fatalf("provision cut short after sending CreateBucket: %+v", res)
		}
		if res == nil {
			t.Fatalf("provision failed (%v) with no Resource while the bucket is there (%v): nothing removes it", err, held(bucket))
		}
		// The broker's cleanup: Remove, with a context of its own.
		if err := a.Remove(context.Background(), roundTripRes(t, res)); err != nil {
			t.Fatal(err)
		}
		if held(bucket) {
			t.Fatal("after the cleanup the job's bucket is still there")
		}
	})
}
