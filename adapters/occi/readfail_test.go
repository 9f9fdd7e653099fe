package occi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// blinder forwards to an OCCI server. Once a request with its method to
// a path under its prefix has been answered 2xx, it answers every GET
// 503 until see is called: the provider carried out a change and then
// could not be read.
type blinder struct {
	*httptest.Server
	proxy *httputil.ReverseProxy

	mu             sync.Mutex
	method, prefix string
	blind          bool
}

func newBlinder(t *testing.T, backend string) *blinder {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	b := &blinder{proxy: httputil.NewSingleHostReverseProxy(u)}
	b.proxy.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.method != "" && r.Method == b.method && strings.HasPrefix(r.URL.Path, b.prefix) && resp.StatusCode/100 == 2 {
			b.blind, b.method = true, ""
		}
		return nil
	}
	b.Server = httptest.NewServer(b)
	t.Cleanup(b.Close)
	return b
}

// after makes the blinder fail the reads that follow the next
// successful request with method to a path under prefix.
func (b *blinder) after(method, prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.method, b.prefix = method, prefix
}

// see ends the failing reads.
func (b *blinder) see() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blind = false
}

func (b *blinder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	blind := b.blind && r.Method == http.MethodGet
	b.mu.Unlock()
	if blind {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	b.proxy.ServeHTTP(w, r)
}

// TestAnUpdateWhoseResultCannotBeReadIsDone: an update whose changes all
// went through at the provider, but whose last read (the status that
// builds the granted resource) failed, returned an error: the broker
// recorded the update failed and kept the job's old request while the
// provider held the new state, and Update deleted the storage and link
// it had just created (the undo of a failed update). The update is now
// done: the resource handed back holds what it created, grants the
// values asked merged into those read before, and is pending, so the
// next Status reads the actual values.
func TestAnUpdateWhoseResultCannotBeReadIsDone(t *testing.T) {
	for _, c := range []struct {
		name           string
		method, prefix string // the change after which reads fail
		want           csbmsg.IaaS
		check          func(t *testing.T, g *csbmsg.IaaS)
	}{
		{"storage added", http.MethodPost, "/storagelink/",
			csbmsg.IaaS{Storage: &csbmsg.Storage{Size: p(uint64(5))}, StorageLink: &csbmsg.StorageLink{DeviceID: p("xvdb")}},
			func(t *testing.T, g *csbmsg.IaaS) {
				if g.Storage == nil || g.Storage.Size == nil || *g.Storage.Size != 5 || g.StorageLink == nil || g.StorageLink.DeviceID == nil || *g.StorageLink.DeviceID != "xvdb" {
					t.Errorf("granted storage %+v, storagelink %+v", g.Storage, g.StorageLink)
				}
			}},
		{"resize", http.MethodPost, "/compute/",
			csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(2))}},
			func(t *testing.T, g *csbmsg.IaaS) {
				if g.Compute.Cores == nil || *g.Compute.Cores != 2 {
					t.Errorf("granted cores %v, want 2", g.Compute.Cores)
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			srv := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
			b := newBlinder(t, srv.URL)
			a, err := occi.New(occi.Config{Endpoint: b.URL, RetryBackoff: -1, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			res := provision(t, a, csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Cores: p(uint64(1)), Memory: p(uint64(2))}}})
			b.after(c.method, c.prefix)
			up, err := a.Update(ctx, res, &contract.Request{JobID: "job-1", Want: csbmsg.ServiceRequest{IaaS: &c.want}})
			if err != nil {
				t.Fatalf("the update failed: %v", err)
			}
			if up.State != contract.StatePending {
				t.Errorf("state %s, want pending", up.State)
			}
			g := up.Granted.IaaS
			if g == nil || g.Compute == nil || g.Compute.Memory == nil || *g.Compute.Memory != 2 {
				t.Fatalf("the grant lost what was read before the update: %+v", g)
			}
			c.check(t, g)
			if c.want.Storage != nil {
				if srv.Count(occi.KindStorage) != 1 || srv.Count(occi.KindStorageLink) != 1 || up.Native["storage"] == "" || up.Native["storagelink"] == "" {
					t.Fatalf("storages %d, storagelinks %d at the provider; the job holds %v", srv.Count(occi.KindStorage), srv.Count(occi.KindStorageLink), up.Native)
				}
			}
			// The provider answers again: Status reads the actual values.
			b.see()
			st, err := a.Status(ctx, roundTrip(t, up))
			if err != nil || st.State != contract.StateReady {
				t.Fatalf("status after the update: %+v, %v", st, err)
			}
			c.check(t, st.Granted.IaaS)
			if err := a.Remove(ctx, st); err != nil {
				t.Fatal(err)
			}
			if n := srv.Inventory(); n != 0 {
				t.Errorf("%d entities left after the job's removal", n)
			}
		})
	}
}
