package cimi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
)

// createPeer is a loopback CIMI peer as lean as a peer can be, so that
// what a machine create allocates is the adapter's: its answers are
// rendered once, and a MachineCreate is answered 201 Created with a
// STARTED Machine shaped as the sandbox cloud renders one (Location,
// CIMI-Job-URI, the Machine's whole representation), which the
// adapter takes without reading the machine back. It counts the
// connections it accepts.
type createPeer struct {
	srv      *httptest.Server
	endpoint string
	conns    chan struct{} // one value per accepted connection
}

func newCreatePeer(tb testing.TB) *createPeer {
	p := &createPeer{conns: make(chan struct{}, 1<<16)}
	mux := http.NewServeMux()
	var cep, images, machine []byte
	var location, job string
	mux.HandleFunc("GET /cimi/cloudEntryPoint", func(w http.ResponseWriter, r *http.Request) { answer(w, http.StatusOK, cep) })
	mux.HandleFunc("GET /cimi/machineImages", func(w http.ResponseWriter, r *http.Request) { answer(w, http.StatusOK, images) })
	mux.HandleFunc("POST /cimi/machines", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(cimi.VersionHeader) == "" || r.Header.Get("Content-Type") != cimi.MediaType {
			http.Error(w, "want the CIMI version header and a JSON body", http.StatusBadRequest)
			return
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		h := w.Header()
		h["Location"] = []string{location}
		h[cimi.JobHeader] = []string{job}
		answer(w, http.StatusCreated, machine)
	})
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns <- struct{}{}
		}
	}
	p.srv.Start()
	tb.Cleanup(p.srv.Close)
	u := p.srv.URL + "/cimi"
	p.endpoint = u + "/cloudEntryPoint"
	cep = []byte(`{"resourceURI":"` + cimi.NS + `/CloudEntryPoint","id":"` + u + `/cloudEntryPoint","name":"bench",` +
		`"baseURI":"` + u + `/","machines":{"href":"` + u + `/machines"},"machineConfigs":{"href":"` + u + `/machineConfigs"},` +
		`"machineImages":{"href":"` + u + `/machineImages"},"volumes":{"href":"` + u + `/volumes"},` +
		`"networks":{"href":"` + u + `/networks"},"jobs":{"href":"` + u + `/jobs"}}`)
	images = []byte(`{"resourceURI":"` + cimi.NS + `/MachineImageCollection","id":"` + u + `/machineImages","count":1,` +
		`"machineImages":[{"resourceURI":"` + cimi.NS + `/MachineImage","id":"` + u + `/machineImages/debian-12",` +
		`"name":"debian-12","state":"AVAILABLE","type":"IMAGE","imageLocation":"sandbox://debian-12"}]}`)
	id := u + "/machines/m-1"
	location, job = id, u+"/jobs/j-1"
	machine = []byte(`{"resourceURI":"` + cimi.NS + `/Machine","id":"` + id + `","name":"csb-job-1",` +
		`"description":"caddy-csb job job-1","created":"2026-01-02T03:04:05Z","updated":"2026-01-02T03:04:05Z",` +
		`"state":"STARTED","cpu":1,"memory":1048576,"cpuArch":"x86_64",` +
		`"disks":{"href":"` + id + `/disks"},"volumes":{"href":"` + id + `/volumes"},` +
		`"networkInterfaces":{"href":"` + id + `/networkInterfaces","networkInterfaces":null},` +
		`"operations":[{"rel":"edit","href":"` + id + `"},{"rel":"delete","href":"` + id + `"},` +
		`{"rel":"` + cimi.ActionNS + `stop","href":"` + id + `/stop"},{"rel":"` + cimi.ActionNS + `restart","href":"` + id + `/restart"},` +
		`{"rel":"` + cimi.ActionNS + `suspend","href":"` + id + `/suspend"}],` +
		`"properties":{"csb_job":"job-1","csb_owner":"alice"}}`)
	return p
}

func answer(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{cimi.MediaType}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// newConns is the number of connections the peer accepted since the
// last call.
func (p *createPeer) newConns() int {
	n := 0
	for {
		select {
		case <-p.conns:
			n++
		default:
			return n
		}
	}
}

// createReq is the brokered create of the benchmark harness: one core,
// 1 GB, x86_64, a host name.
func createReq() *contract.Request {
	return &contract.Request{JobID: "job-1", Owner: "alice", Want: csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{
		Compute: &csbmsg.Compute{Cores: ptr(uint64(1)), Memory: ptr(uint64(1)), Architecture: ptr("x86_64"), Hostname: ptr("bench")},
	}}}
}

// newCreateAdapter is an adapter on p whose CloudEntryPoint and image
// are already read, as they are after a broker's first create.
func newCreateAdapter(tb testing.TB, p *createPeer) *cimi.Adapter {
	tb.Helper()
	a, err := cimi.New(cimi.Config{Endpoint: p.endpoint})
	if err != nil {
		tb.Fatal(err)
	}
	provisionOnce(tb, a)
	return a
}

func provisionOnce(tb testing.TB, a *cimi.Adapter) {
	res, err := a.Provision(context.Background(), createReq())
	if err != nil {
		tb.Fatal(err)
	}
	if res.State != contract.StateReady || !strings.HasSuffix(res.URI, "/machines/m-1") {
		tb.Fatalf("create: state %s, uri %s; want ready, .../machines/m-1", res.State, res.URI)
	}
}

// BenchmarkMachineCreate is one brokered machine create through the
// adapter: build the MachineCreate, POST it over a kept-alive loopback
// connection, take the 201 Machine.
func BenchmarkMachineCreate(b *testing.B) {
	p := newCreatePeer(b)
	a := newCreateAdapter(b, p)
	b.ReportAllocs()
	for b.Loop() {
		provisionOnce(b, a)
	}
}

// createAllocs is what one machine create allocates, the loopback peer's
// share (net/http's server side) included: the level the adapter has
// been brought to. A change that allocates more per create fails
// TestMachineCreateAllocs; one that allocates less lowers this.
const createAllocs = 145

// TestMachineCreateAllocs pins the allocations of one machine create
// (BenchmarkMachineCreate's) at createAllocs, with a margin of one for
// what the runtime allocates now and then on its own. Allocation counts
// do not depend on the machine's speed or load, unlike times.
func TestMachineCreateAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation count: not with -short or -race")
	}
	p := newCreatePeer(t)
	a := newCreateAdapter(t, p)
	got := testing.AllocsPerRun(200, func() { provisionOnce(t, a) })
	if got > createAllocs+1 {
		t.Errorf("one machine create allocates %.0f times, want at most %d (+1)", got, createAllocs)
	}
	t.Logf("%.0f allocations per create", got)
}

// TestConcurrentCreatesReuseConnections: 16 creates at a time (the
// benchmark harness's connections) keep reusing the connections they
// open, through the adapter's default client and through the broker's
// provider client (httpclient), rather than opening and closing one per
// create, which costs the broker far more CPU than a create's
// allocations: both transports keep 16 idle connections per host. With
// net/http's default of 2, these creates open some hundred connections.
func TestConcurrentCreatesReuseConnections(t *testing.T) {
	const workers, each = 16, 100
	p := newCreatePeer(t)
	broker, err := httpclient.New(httpclient.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hc   *http.Client
	}{{"default", nil}, {"httpclient", broker}} {
		t.Run(tc.name, func(t *testing.T) {
			a := newCreateAdapter(t, p)
			a.SetHTTPClient(tc.hc)
			provisionOnce(t, a)
			p.newConns()
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range each {
						if _, err := a.Provision(context.Background(), createReq()); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			// Dials that race a connection coming back may add a few.
			if n := p.newConns(); n > 2*workers {
				t.Errorf("%d creates, %d at a time, opened %d connections, want at most %d", workers*each, workers, n, 2*workers)
			}
		})
	}
}
