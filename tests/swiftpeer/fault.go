package swiftpeer

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/adaptertest"
)

// FaultProxy is a reverse proxy on loopback in front of a real peer that
// can be told to misbehave the way adaptertest.Fault asks: answer every
// call with 400 or 500, hang until the client gives up, or fail every call
// after the first N. The peer itself stays real; only the faults are
// injected. The Host header is kept, so TempAuth storage URLs and S3
// signatures name the proxy.
type FaultProxy struct {
	URL string // http://127.0.0.1:<port>

	mu    sync.Mutex
	fault adaptertest.Fault
	calls int
	down  bool
}

// NewFaultProxy starts a FaultProxy in front of target (scheme://host:port)
// and stops it when the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{}
	closed := make(chan struct{})
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		f := p.fault
		p.calls++
		n := p.calls
		down := p.down
		p.mu.Unlock()
		if down {
			// Drop the connection without an answer, as a crashed
			// server would.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		switch {
		case f.Kind == adaptertest.FaultClient:
			http.Error(w, "injected fault", http.StatusBadRequest)
		case f.Kind == adaptertest.FaultServer, f.Kind == adaptertest.FaultFailAfter && n > f.After:
			http.Error(w, "injected fault", http.StatusInternalServerError)
		case f.Kind == adaptertest.FaultHang:
			// Read the body so the server notices when the client hangs up.
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-closed:
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(closed) }) // runs first: releases hung calls
	p.URL = srv.URL
	return p
}

// Apply sets the fault (adaptertest.Fault{} restores normal service) and
// restarts the call count.
func (p *FaultProxy) Apply(f adaptertest.Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
	p.calls = 0
}

// SetDown makes the proxy drop every connection without an answer (true)
// or serve again (false).
func (p *FaultProxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}
