package occi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/occi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// loser sits between the adapter and the fixture and loses answers: the
// next request it is told to lose is carried to the fixture (or, with
// drop, not), and the connection is then closed without a byte of the
// answer, as a connection reset after the request was sent.
type loser struct {
	*httptest.Server
	backend *url.URL
	proxy   *httputil.ReverseProxy

	mu     sync.Mutex
	method string
	path   string
	query  string
	drop   bool
	lost   int
}

func newLoser(t *testing.T, backend string) *loser {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	l := &loser{backend: u, proxy: httputil.NewSingleHostReverseProxy(u)}
	l.Server = httptest.NewServer(l)
	t.Cleanup(l.Close)
	return l
}

// loseNext makes the next request with method to path (any, if "") and
// query lose its answer; drop keeps it from the fixture as well.
func (l *loser) loseNext(method, path, query string, drop bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.method, l.path, l.query, l.drop = method, path, query, drop
}

// losses is how many answers were lost.
func (l *loser) losses() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

func (l *loser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	lose := l.method != "" && r.Method == l.method && (l.path == "" || r.URL.Path == l.path) && r.URL.RawQuery == l.query
	drop := l.drop
	if lose {
		l.method = ""
		l.lost++
	}
	l.mu.Unlock()
	if !lose {
		l.proxy.ServeHTTP(w, r)
		return
	}
	if !drop {
		body, _ := io.ReadAll(r.Body)
		out, _ := http.NewRequest(r.Method, l.backend.ResolveReference(r.URL).String(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// TestAnUpdateWhoseAnswerIsLostIsReadBack: a partial update (POST, which
// the adapter never repeats), a replacement (PUT, once retries are spent)
// or an action whose answer was lost after the server carried it out was
// reported failed: the broker recorded the update as not applied and kept
// the job's old request, while the provider held the new values. The
// adapter now reads the entity back after a lost answer and counts the
// update as done when the entity holds what was asked; when it does not
// (the request never arrived), the update still fails.
func TestAnUpdateWhoseAnswerIsLostIsReadBack(t *testing.T) {
	for _, c := range []struct {
		name   string
		opts   occitest.Options
		method string
		key    string // the entity whose request loses its answer
		query  string
		want   func(*csbmsg.IaaS)
		check  func(*csbmsg.IaaS) bool
	}{
		{
			name: "partial update", method: http.MethodPost, key: "compute",
			want:  func(ia *csbmsg.IaaS) { ia.Compute = &csbmsg.Compute{Memory: p(uint64(8))} },
			check: func(g *csbmsg.IaaS) bool { return *g.Compute.Memory == 8 },
		},
		{
			name: "replacement", opts: occitest.Options{NoPartialUpdate: true}, method: http.MethodPut, key: "network",
			want:  func(ia *csbmsg.IaaS) { ia.Network = &csbmsg.Network{VLAN: p("43")} },
			check: func(g *csbmsg.IaaS) bool { return *g.Network.VLAN == "43" },
		},
		{
			name: "link update", method: http.MethodPost, key: "storagelink",
			want:  func(ia *csbmsg.IaaS) { ia.StorageLink = &csbmsg.StorageLink{DeviceID: p("xvdc")} },
			check: func(g *csbmsg.IaaS) bool { return *g.StorageLink.DeviceID == "xvdc" },
		},
		{
			name: "resize action", method: http.MethodPost, key: "storage", query: "action=resize",
			want:  func(ia *csbmsg.IaaS) { ia.Storage = &csbmsg.Storage{Size: p(uint64(40))} },
			check: func(g *csbmsg.IaaS) bool { return *g.Storage.Size == 40 },
		},
		{
			name: "stop action", method: http.MethodPost, key: "compute", query: "action=stop",
			want:  func(ia *csbmsg.IaaS) { ia.Compute = &csbmsg.Compute{Action: p(csbmsg.ComputeStop)} },
			check: func(g *csbmsg.IaaS) bool { return *g.Compute.Status == csbmsg.ComputeInactive },
		},
	} {
		for _, drop := range []bool{false, true} {
			name := c.name + "/carried out"
			if drop {
				name = c.name + "/never arrived"
			}
			t.Run(name, func(t *testing.T) {
				c.opts.Profile = occitest.Rocci
				srv := occitest.NewServer(t, c.opts)
				l := newLoser(t, srv.URL)
				a, err := occi.New(occi.Config{Endpoint: l.URL, RetryBackoff: -1, MaxRetries: -1})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				res, err := a.Provision(ctx, &contract.Request{JobID: "job-1", Want: fullIaaS(), Service: csbmsg.Service{ID: "occi"}})
				if err != nil {
					t.Fatal(err)
				}
				loc, err := url.Parse(res.Native[c.key])
				if err != nil {
					t.Fatal(err)
				}
				l.loseNext(c.method, loc.Path, c.query, drop)
				want := csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{}}
				c.want(want.IaaS)
				up, err := a.Update(ctx, res, &contract.Request{JobID: "job-1", Want: want})
				if l.losses() != 1 {
					t.Fatalf("%d answers lost, want 1", l.losses())
				}
				if drop {
					if err == nil {
						t.Fatalf("an update that never reached the server succeeded: %+v", up.Granted.IaaS)
					}
					return
				}
				if err != nil {
					t.Fatalf("an update the server carried out failed: %v", err)
				}
				if !c.check(up.Granted.IaaS) {
					t.Errorf("granted after the update: %+v %+v %+v %+v", up.Granted.IaaS.Compute, up.Granted.IaaS.Storage, up.Granted.IaaS.Network, up.Granted.IaaS.StorageLink)
				}
			})
		}
	}
}
