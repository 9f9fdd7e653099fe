package openstack

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// bulkSwift is a TempAuth and Swift account double with the bulk
// middleware of Swift's default proxy pipeline
// (swift/common/middleware/bulk.py): a POST or DELETE with ?bulk-delete
// on any path of the account deletes the objects and containers its
// body lists, one "/container[/object]" per line, each relative to the
// account, not to the request's path.
type bulkSwift struct {
	srv *httptest.Server

	mu      sync.Mutex
	objects map[string]bool // "container/object", and "container/" for the container itself
}

func newBulkSwift(t *testing.T) *bulkSwift {
	b := &bulkSwift{objects: map[string]bool{}}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bulkSwift) has(path string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.objects[path]
}

func (b *bulkSwift) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/auth/v1.0" {
		w.Header().Set("X-Auth-Token", "AUTH_tk0")
		w.Header().Set("X-Storage-Url", b.srv.URL+"/v1/AUTH_test")
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.Header.Get("X-Auth-Token") != "AUTH_tk0" || !strings.HasPrefix(r.URL.Path, "/v1/AUTH_test/") {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if _, bulk := r.URL.Query()["bulk-delete"]; bulk && (r.Method == http.MethodPost || r.Method == http.MethodDelete) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		for _, line := range strings.Split(string(body), "\n") {
			p, err := url.PathUnescape(strings.TrimSpace(line))
			if err != nil || p == "" {
				continue
			}
			p = strings.TrimPrefix(p, "/")
			if !strings.Contains(p, "/") {
				p += "/"
			}
			delete(b.objects, p)
		}
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestSwiftFrontRefusesBulkDelete: Swift's bulk middleware, in its
// default proxy pipeline, deletes what the body of a ?bulk-delete
// request lists anywhere in the account, whatever container the request
// path names. Sent on the job's container through the job route, it
// deleted other jobs' objects and containers; the route refuses it.
func TestSwiftFrontRefusesBulkDelete(t *testing.T) {
	sw := newBulkSwift(t)
	sw.objects["csb-job/data"], sw.objects["csb-job/"] = true, true
	sw.objects["other/secret"], sw.objects["other/"] = true, true
	a, err := New(Config{TempAuthURL: sw.srv.URL + "/auth/v1.0", TempAuthUser: "test:tester", TempAuthKey: "testing"})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{Native: map[string]string{nativeKind: kindStorage, nativeContainer: "csb-job", nativeStorageURL: sw.srv.URL + "/v1/AUTH_test"}}
	fc := &adaptertest.Fronted{T: t, Fronter: a, Resource: res, CredentialHeader: "X-Auth-Token", Credential: "consumer-token"}
	for _, target := range []string{"/csb-job?bulk-delete", "/csb-job/data?bulk-delete=1", "/csb-job?Bulk-Delete&bulk-delete"} {
		for _, method := range []string{http.MethodPost, http.MethodDelete} {
			_, _, err := fc.Do(method, target, map[string]string{"Content-Type": "text/plain"}, "/other/secret\n/other\n")
			if ae, ok := err.(*contract.Error); !ok || ae.Status != http.StatusForbidden {
				t.Errorf("%s %s: %v, want 403", method, target, err)
			}
		}
	}
	if !sw.has("other/secret") || !sw.has("other/") {
		t.Fatal("a bulk delete sent on the job's container deleted another container and its object")
	}
}

// TestSwiftFrontRefusesObjectVersioning: the route refuses the legacy
// versioning headers (X-Versions-Location, X-History-Location) but let
// X-Versions-Enabled through, which turns on Swift's object versioning
// where the cluster allows it (allow_object_versioning). Swift then
// keeps every deleted or overwritten object in a hidden versions
// container and refuses to delete the container while versions remain
// (object_versioning.py, handle_delete: 409), so the job's Remove,
// which deletes the objects and then the container, failed for good.
func TestSwiftFrontRefusesObjectVersioning(t *testing.T) {
	sw := newBulkSwift(t)
	a, err := New(Config{TempAuthURL: sw.srv.URL + "/auth/v1.0", TempAuthUser: "test:tester", TempAuthKey: "testing"})
	if err != nil {
		t.Fatal(err)
	}
	res := &contract.Resource{Native: map[string]string{nativeKind: kindStorage, nativeContainer: "csb-job", nativeStorageURL: sw.srv.URL + "/v1/AUTH_test"}}
	fc := &adaptertest.Fronted{T: t, Fronter: a, Resource: res, CredentialHeader: "X-Auth-Token", Credential: "consumer-token"}
	for _, method := range []string{http.MethodPost, http.MethodPut} {
		_, _, err := fc.Do(method, "/csb-job", map[string]string{"X-Versions-Enabled": "true"}, "")
		if ae, ok := err.(*contract.Error); !ok || ae.Status != http.StatusForbidden {
			t.Errorf("%s with X-Versions-Enabled: %v, want 403", method, err)
		}
	}
}
