package adaptertest

import (
	"io"
	"net/http"
	"sync"
)

// Faults is the fault state of a test double written for the kit: the
// double's Target.Fault is Apply, and its handler starts with Intercept.
// The zero value behaves.
type Faults struct {
	mu      sync.Mutex
	fault   Fault
	calls   int
	release chan struct{} // closed when the fault changes, ending held requests
}

// Apply sets the fault the double shows from now on and restarts the call
// count of FaultFailAfter. Requests held by FaultHang are released (they
// are answered 503, if their client still waits).
func (fs *Faults) Apply(f Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.fault, fs.calls = f, 0
	if fs.release != nil {
		close(fs.release)
	}
	fs.release = make(chan struct{})
}

// Intercept counts one request and, when the fault is to answer it,
// answers: fail writes the double's native error with the status (400
// for FaultClient, 500 for FaultServer and for FaultFailAfter past After),
// and FaultHang holds the request until its client gives up or Apply
// changes the fault. It reports whether it answered; if not, the double
// serves the request itself.
func (fs *Faults) Intercept(w http.ResponseWriter, r *http.Request, fail func(w http.ResponseWriter, status int)) bool {
	fs.mu.Lock()
	if fs.release == nil {
		fs.release = make(chan struct{})
	}
	fs.calls++
	f, n, release := fs.fault, fs.calls, fs.release
	fs.mu.Unlock()
	switch {
	case f.Kind == FaultClient:
		fail(w, http.StatusBadRequest)
	case f.Kind == FaultServer, f.Kind == FaultFailAfter && n > f.After:
		fail(w, http.StatusInternalServerError)
	case f.Kind == FaultHang:
		// Read the body, so the server notices when the client hangs up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
			fail(w, http.StatusServiceUnavailable)
		}
	default:
		return false
	}
	return true
}
