package openstack

import (
	"context"
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

// lossyProxy stands between the adapter and the real Swift and loses
// answers to container PUTs: lose of them are carried out by Swift and
// then the connection is closed instead of answering; drop of them are
// not sent on at all before the connection is closed. hide of the
// adapter's container look-ups (GET ?limit=0) are answered 404, as when
// someone makes the container between the look-up and the PUT.
type lossyProxy struct {
	lose, drop, hide atomic.Int32
}

func newLossyProxy(t *testing.T, sw *swiftpeer.Swift) (*lossyProxy, *Adapter) {
	t.Helper()
	target, _ := url.Parse(sw.StorageURL)
	p := &lossyProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	hangUp := func(w http.ResponseWriter) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		container := strings.Count(strings.TrimPrefix(r.URL.Path, target.Path), "/") == 1
		switch {
		case container && r.Method == http.MethodGet && r.URL.Query().Get("limit") == "0" && p.hide.Add(-1) >= 0:
			w.WriteHeader(http.StatusNotFound)
		case container && r.Method == http.MethodPut && p.drop.Add(-1) >= 0:
			hangUp(w)
		case container && r.Method == http.MethodPut && p.lose.Add(-1) >= 0:
			rp.ServeHTTP(httptest.NewRecorder(), r) // Swift makes the container; the answer is lost
			hangUp(w)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	a, err := New(Config{TempAuthURL: sw.AuthURL, TempAuthUser: swiftpeer.User, TempAuthKey: swiftpeer.Key,
		ObjectStoreURL: srv.URL + target.Path})
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

// set arms the proxy for the next Provision.
func (p *lossyProxy) set(lose, drop, hide int32) {
	p.lose.Store(lose)
	p.drop.Store(drop)
	p.hide.Store(hide)
}

// TestSwiftContainerPutAnswerLost: Swift's container PUT is idempotent
// (201 Created, or 202 Accepted when the container exists) and the
// adapter retries it when the answer is lost. A container the request
// names was refused on the retry's 202 ("already exists") though the
// adapter's own first PUT had made it; and when every try went
// unanswered Provision returned no Resource. Either way the container
// was left behind, untagged, and no later attempt could claim or remove
// it. The job tag now goes on with the PUT, so a retry's 202 is taken
// for the job's container and an unanswered create is removed when it
// carries the job's tag; a container someone else made is still refused
// and never removed.
func TestSwiftContainerPutAnswerLost(t *testing.T) {
	sw := swiftpeer.Shared(t)
	defer func(b func(uint) time.Duration) { retryBackoff = b }(retryBackoff)
	retryBackoff = func(uint) time.Duration { return 0 }
	p, a := newLossyProxy(t, sw)
	api := newSwiftAPI(t, sw)
	ctx := context.Background()
	named := func(job, c string) *contract.Request {
		return &contract.Request{JobID: job, Want: csbmsg.ServiceRequest{DSaaS: &csbmsg.DSaaS{
			ContainerObject: &csbmsg.ContainerObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: s(c)}, Metadata: s("tier=gold")},
			DataObject:      &csbmsg.DataObject{Value: s("x")},
		}}}
	}
	gone := func(c string) {
		t.Helper()
		t.Cleanup(func() {
			api.do(http.MethodDelete, "/"+c+"/data", "", nil)
			api.do(http.MethodDelete, "/"+c, "", nil)
		})
	}

	t.Run("retried", func(t *testing.T) {
		gone("lost-named")
		p.set(1, 0, 0)
		res, err := a.Provision(ctx, named("lost-1", "lost-named"))
		if err != nil || res == nil || res.State != contract.StateReady {
			resp, _ := api.do(http.MethodHead, "/lost-named", "", nil)
			t.Fatalf("provision after a lost PUT answer: %v %v (the container: %s, tag %q)", res, err, resp.Status, resp.Header.Get("X-Container-Meta-Csb-Job"))
		}
		resp, _ := api.do(http.MethodHead, "/lost-named", "", nil)
		if resp.Header.Get("X-Container-Meta-Csb-Job") != "lost-1" || resp.Header.Get("X-Container-Meta-Tier") != "gold" {
			t.Fatalf("the adopted container: %v", resp.Header)
		}
		if err := a.Remove(ctx, res); err != nil {
			t.Fatal(err)
		}
		if resp, _ := api.do(http.MethodHead, "/lost-named", "", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("after remove: %s", resp.Status)
		}
	})

	t.Run("unanswered", func(t *testing.T) {
		gone("lost-all")
		p.set(maxRetries+1, 0, 0)
		res, err := a.Provision(ctx, named("lost-2", "lost-all"))
		if err == nil {
			t.Fatal("provision succeeded without any answer from Swift")
		}
		if resp, _ := api.do(http.MethodHead, "/lost-all", "", nil); resp.StatusCode/100 != 2 {
			t.Fatalf("setup: Swift did not make the container: %s", resp.Status)
		}
		if res == nil {
			t.Fatalf("provision failed (%v) with no Resource: the container Swift made is left behind", err)
		}
		if err := a.Remove(ctx, res); err != nil {
			t.Fatal(err)
		}
		if resp, _ := api.do(http.MethodHead, "/lost-all", "", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("after remove: %s", resp.Status)
		}
		if err := a.Remove(ctx, res); err != nil {
			t.Fatalf("second remove: %v", err)
		}
	})

	// Someone else makes the container between the adapter's look-up and
	// its PUT: the PUT answers 202 at once, and the container is refused,
	// left as it was.
	t.Run("someone else's", func(t *testing.T) {
		gone("lost-theirs")
		if resp, _ := api.do(http.MethodPut, "/lost-theirs", "", map[string]string{"X-Container-Meta-Owner": "them"}); resp.StatusCode != http.StatusCreated {
			t.Fatalf("setup: %s", resp.Status)
		}
		p.set(0, 0, 1)
		res, err := a.Provision(ctx, named("lost-3", "lost-theirs"))
		if res != nil || contract.KindOf(err) != contract.KindClient {
			t.Fatalf("someone else's container: %v %v, want a refusal", res, err)
		}
		resp, _ := api.do(http.MethodHead, "/lost-theirs", "", nil)
		if resp.Header.Get("X-Container-Meta-Csb-Job") != "" || resp.Header.Get("X-Container-Meta-Owner") != "them" || resp.Header.Get("X-Container-Meta-Tier") != "" {
			t.Fatalf("someone else's container after the refusal: %v", resp.Header)
		}
		if found, err := a.Find(ctx, named("lost-3", "lost-theirs")); err != nil || found != nil {
			t.Fatalf("find claimed someone else's container: %+v %v", found, err)
		}
	})

	// Someone else makes the container and the adapter's PUTs go
	// unanswered: the Resource of the unanswered create does not let
	// Remove delete their container.
	t.Run("someone else's, unanswered", func(t *testing.T) {
		gone("lost-theirs-2")
		if resp, _ := api.do(http.MethodPut, "/lost-theirs-2", "", nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("setup: %s", resp.Status)
		}
		if resp, _ := api.do(http.MethodPut, "/lost-theirs-2/data", "theirs", nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("setup: %s", resp.Status)
		}
		p.set(0, maxRetries+1, 1)
		res, err := a.Provision(ctx, named("lost-4", "lost-theirs-2"))
		if err == nil {
			t.Fatal("provision succeeded without any answer from Swift")
		}
		if res != nil {
			if err := a.Remove(ctx, res); err != nil {
				t.Fatal(err)
			}
		}
		if resp, body := api.do(http.MethodGet, "/lost-theirs-2/data", "", nil); resp.StatusCode != http.StatusOK || body != "theirs" {
			t.Fatalf("someone else's object after the remove: %s %q", resp.Status, body)
		}
	})
}
