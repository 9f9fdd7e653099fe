package cimi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/tests/clouds/sandbox"
)

// blinder serves a CIMI peer; once the number of PUTs (edits) it is
// armed with have been answered 2xx, it answers every GET 500 until it
// is disarmed: the provider carried out the changes and then could not
// be read.
type blinder struct {
	next http.Handler

	mu    sync.Mutex
	puts  int // PUTs to let through before the reads fail; 0: disarmed
	blind bool
}

// status records the status an answer is written with.
type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *status) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (b *blinder) arm(puts int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.puts, b.blind = puts, false
}

func (b *blinder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	blind := b.blind && r.Method == http.MethodGet
	b.mu.Unlock()
	if blind {
		http.Error(w, "busy", http.StatusInternalServerError)
		return
	}
	sw := &status{ResponseWriter: w}
	b.next.ServeHTTP(sw, r)
	if r.Method == http.MethodPut && sw.code/100 == 2 {
		b.mu.Lock()
		if b.puts > 0 {
			b.puts--
			b.blind = b.puts == 0
		}
		b.mu.Unlock()
	}
}

// TestAnUpdateWhoseResultCannotBeReadIsDone: an update whose resizes
// went through at the provider, but whose last read (the status that
// builds the granted resource) failed, returned an error: the broker
// recorded the update failed and kept the job's old request while the
// provider held the new sizes. The update is now done: the resource
// handed back grants the new sizes merged into what was read before,
// and is pending, so the next Status reads the actual values.
func TestAnUpdateWhoseResultCannotBeReadIsDone(t *testing.T) {
	cloud := sandbox.New(sandbox.Config{Capacity: sandbox.Capacity{Cores: 64, MemoryGB: 64, StorageGB: 200}})
	b := &blinder{next: cloud.CIMI("/cimi")}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	a, err := cimi.New(cimi.Config{Endpoint: srv.URL + "/cimi/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := a.Provision(ctx, &contract.Request{JobID: "r1", Want: full(1, 1, 2, nil).Want})
	if err != nil {
		t.Fatal(err)
	}
	b.arm(2) // the machine's edit, then the volume's
	up, err := a.Update(ctx, res, &contract.Request{JobID: "r1", Want: full(2, 3, 5, nil).Want})
	b.arm(0)
	if err != nil {
		t.Fatalf("the update failed: %v", err)
	}
	if up.State != contract.StatePending {
		t.Errorf("state %s, want pending", up.State)
	}
	granted(2, 3, 5)(t, up)
	if u := cloud.Usage(); u.Cores != 2 || u.MemoryGB != 3 || u.StorageGB != 5 {
		t.Fatalf("the provider holds %+v, want the new sizes", u)
	}
	st, err := a.Status(ctx, up)
	if err != nil || st.State != contract.StateReady {
		t.Fatalf("status after the update: %+v, %v", st, err)
	}
	granted(2, 3, 5)(t, st)
	if err := a.Remove(ctx, st); err != nil {
		t.Fatal(err)
	}
}
