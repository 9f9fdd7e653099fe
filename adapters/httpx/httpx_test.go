package httpx

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

func noWait(ctx context.Context, d time.Duration) error { return ctx.Err() }

func TestStatusKinds(t *testing.T) {
	for status, want := range map[int]contract.ErrorKind{
		400: contract.KindClient, 403: contract.KindClient, 404: contract.KindNotFound, 410: contract.KindNotFound,
		409: contract.KindClient, 500: contract.KindServer, 503: contract.KindServer, 507: contract.KindCapacity,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
		c := &Client{Sleep: noWait}
		_, err := c.Do(context.Background(), Call{Op: "t", Method: http.MethodGet, URL: srv.URL})
		srv.Close()
		if k := contract.KindOf(err); k != want {
			t.Errorf("HTTP %d: kind %q, want %q", status, k, want)
		}
	}
}

// TestRetriesOnlyIdempotent: a 503 is retried for GET/PUT/DELETE, never for
// POST.
func TestRetriesOnlyIdempotent(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var waits []time.Duration
	c := &Client{Retries: 3, Backoff: 10 * time.Millisecond, Sleep: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}}
	for method, want := range map[string]int32{http.MethodGet: 4, http.MethodPut: 4, http.MethodDelete: 4, http.MethodPost: 1} {
		n.Store(0)
		waits = nil
		_, err := c.Do(context.Background(), Call{Op: "t", Method: method, URL: srv.URL, JSON: map[string]int{"a": 1}})
		if contract.KindOf(err) != contract.KindServer {
			t.Errorf("%s: %v", method, err)
		}
		if n.Load() != want {
			t.Errorf("%s sent %d times, want %d", method, n.Load(), want)
		}
		if method != http.MethodPost && (len(waits) != 3 || waits[1] < 20*time.Millisecond || waits[2] < 40*time.Millisecond) {
			t.Errorf("%s backoff %v, want 3 doubling waits", method, waits)
		}
	}
	// A 500 is the peer's answer, not a passing fault: never retried.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1); w.WriteHeader(500) })
	n.Store(0)
	_, _ = c.Do(context.Background(), Call{Method: http.MethodGet, URL: srv.URL})
	if n.Load() != 1 {
		t.Errorf("500 retried %d times", n.Load()-1)
	}
}

func TestDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := (&Client{}).Do(ctx, Call{Op: "t", Method: http.MethodGet, URL: srv.URL})
	if contract.KindOf(err) != contract.KindTimeout {
		t.Fatalf("kind %q (%v), want timeout", contract.KindOf(err), err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("returned after %v", time.Since(start))
	}
}

func TestTransportAndReuse(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err := (&Client{Retries: -1}).Do(context.Background(), Call{Op: "t", Method: http.MethodGet, URL: "http://" + addr})
	if contract.KindOf(err) != contract.KindTransport {
		t.Errorf("refused: kind %q (%v)", contract.KindOf(err), err)
	}
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) }))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := &Client{}
	for range 5 {
		var out struct{ OK bool }
		if _, err := c.Do(context.Background(), Call{Method: http.MethodGet, URL: srv.URL, Out: &out}); err != nil || !out.OK {
			t.Fatal(err)
		}
	}
	if conns.Load() != 1 {
		t.Errorf("%d connections for 5 calls, want 1 (keep-alive)", conns.Load())
	}
}

func TestRedact(t *testing.T) {
	if got := redact("https://user:secret@h/p?token=x"); got != "https://h/p" {
		t.Errorf("redact: %q", got)
	}
}
