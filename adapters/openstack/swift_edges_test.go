package openstack

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
	"time"

	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// TestSwiftMetadataTooLarge: Swift refuses metadata whose keys and
// values take more than max_meta_overall_size (4096 bytes by default),
// though every item is within the per-item limits. The adapter promises
// to refuse what headers cannot carry before Swift is called
// (unsupported); it created the container and failed with provider_4xx.
func TestSwiftMetadataTooLarge(t *testing.T) {
	sw := swiftpeer.Shared(t)
	a := tempAuthAdapter(t, sw)
	api := newSwiftAPI(t, sw)
	ctx := context.Background()
	var items []string
	for i := range 17 { // 17 × (2 or 3 + 250) bytes > 4096
		items = append(items, fmt.Sprintf("k%d=%s", i, strings.Repeat("v", 250)))
	}
	big := strings.Join(items, "; ")
	for _, d := range []*csbmsg.DSaaS{
		{ContainerObject: &csbmsg.ContainerObject{Metadata: s(big)}},
		{DataObject: &csbmsg.DataObject{Value: s("x"), Metadata: s(big)}},
	} {
		res, err := a.Provision(ctx, &contract.Request{JobID: "big-meta", Want: csbmsg.ServiceRequest{DSaaS: d}})
		if res != nil {
			t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
		}
		if contract.KindOf(err) != contract.KindUnsupported || res != nil {
			t.Fatalf("metadata over 4096 bytes: %v %v, want unsupported and nothing created", res, err)
		}
		if resp, _ := api.do(http.MethodGet, "/csb-big-meta", "", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("the container was created: %s", resp.Status)
		}
	}
}

// TestSwiftValueUpdateKeepsMetadataOnHeadFailure: an update with a new
// value and no <metadata> keeps the object's metadata and type, which
// the adapter reads with HEAD before the PUT replaces them. When that
// HEAD failed (503 here, after the retries), the PUT went ahead with no
// metadata and the default type: the update succeeded and silently
// dropped them. It must fail instead, and change nothing.
func TestSwiftValueUpdateKeepsMetadataOnHeadFailure(t *testing.T) {
	sw := swiftpeer.Shared(t)
	defer func(b func(uint) time.Duration) { retryBackoff = b }(retryBackoff)
	retryBackoff = func(uint) time.Duration { return 0 }
	target, _ := url.Parse(sw.StorageURL)
	var failHead atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failHead.Load() && r.Method == http.MethodHead {
			http.Error(w, "injected", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	a, err := New(Config{TempAuthURL: sw.AuthURL, TempAuthUser: swiftpeer.User, TempAuthKey: swiftpeer.Key,
		ObjectStoreURL: proxy.URL + target.Path})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	meta := `{"color":"blue"}`
	res, err := a.Provision(ctx, &contract.Request{JobID: "keep-meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("one"), Mimetype: s("text/markdown"), Metadata: &meta},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
	failHead.Store(true)
	_, err = a.Update(ctx, res, &contract.Request{JobID: "keep-meta", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
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
		t.Fatalf("after the failed update: metadata %v, type %v; want %s, text/markdown", o.Metadata, o.Mimetype, meta)
	}
}

// TestSwiftContainerPutRetried: the container PUT is retried on 503 (PUT
// is idempotent). When Swift made the container but the answer was lost
// (a 503 from a load balancer, here a proxy that forwards the first PUT
// and answers 503), the retried PUT answers 202 "already there". For a
// container the adapter named after the job nobody else can have made
// it, yet Provision failed with "already exists" and left the container
// behind, untagged; every later attempt at this provider then failed the
// same way. A container the request names is taken too when the 202
// answers a retried PUT (TestSwiftContainerPutAnswerLost: the job's tag
// goes on with the PUT, and one someone else made is still refused).
func TestSwiftContainerPutRetried(t *testing.T) {
	sw := swiftpeer.Shared(t)
	defer func(b func(uint) time.Duration) { retryBackoff = b }(retryBackoff)
	retryBackoff = func(uint) time.Duration { return 0 }
	target, _ := url.Parse(sw.StorageURL)
	var lose atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Count(strings.TrimPrefix(r.URL.Path, target.Path), "/") == 1 && lose.Add(-1) >= 0 {
			rp.ServeHTTP(httptest.NewRecorder(), r) // Swift makes the container; the answer is lost
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	a, err := New(Config{TempAuthURL: sw.AuthURL, TempAuthUser: swiftpeer.User, TempAuthKey: swiftpeer.Key,
		ObjectStoreURL: proxy.URL + target.Path})
	if err != nil {
		t.Fatal(err)
	}
	api := newSwiftAPI(t, sw)
	ctx := context.Background()
	lose.Store(1)
	res, err := a.Provision(ctx, &contract.Request{JobID: "put-lost", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		DataObject: &csbmsg.DataObject{Value: s("x")},
	}}})
	if res != nil {
		t.Cleanup(func() { _ = a.Remove(context.Background(), res) })
	}
	if err != nil || res == nil || res.State != contract.StateReady {
		resp, _ := api.do(http.MethodHead, "/csb-put-lost", "", nil)
		t.Fatalf("provision after a lost PUT answer: %v %v (the container: %s)", res, err, resp.Status)
	}
	if resp, _ := api.do(http.MethodHead, "/csb-put-lost", "", nil); resp.Header.Get("X-Container-Meta-Csb-Job") != "put-lost" {
		t.Fatalf("the container is not tagged with the job: %v", resp.Header)
	}

	// A container the request names: the 202 answers the retried PUT,
	// and the container the first one made carries the job's tag.
	lose.Store(1)
	named, err := a.Provision(ctx, &contract.Request{JobID: "put-lost-2", Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
		ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s("put-lost-named")}},
	}}})
	t.Cleanup(func() { api.do(http.MethodDelete, "/put-lost-named", "", nil) })
	if err != nil || named == nil || named.State != contract.StateReady {
		t.Fatalf("a named container whose PUT answer was lost: %v %v", named, err)
	}
	if resp, _ := api.do(http.MethodHead, "/put-lost-named", "", nil); resp.Header.Get("X-Container-Meta-Csb-Job") != "put-lost-2" {
		t.Fatalf("the named container is not tagged with the job: %v", resp.Header)
	}
}
