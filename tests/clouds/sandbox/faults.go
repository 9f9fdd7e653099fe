package sandbox

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Faults makes the cloud's native APIs (CIMI and CDMI, not the publish
// endpoint) misbehave on purpose. The zero value injects nothing.
type Faults struct {
	// Latency delays every native request by this long before it is
	// handled. A request whose client gives up first is dropped.
	Latency time.Duration `json:"latency,omitempty"`
	// ErrorRate is the fraction (0..1) of native requests answered with
	// ErrorRateStatus instead of being handled. Draws come from a
	// generator seeded with Seed, so a run is reproducible.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// ErrorRateStatus is the HTTP status of the errors ErrorRate injects.
	// Default 500.
	ErrorRateStatus int `json:"error_rate_status,omitempty"`
	// FailAfter, when positive, lets that many native requests through and
	// answers every later one with FailAfterStatus, whatever ErrorRate
	// draws.
	FailAfter int `json:"fail_after,omitempty"`
	// FailAfterStatus is the HTTP status of the errors FailAfter injects.
	// Default 500.
	FailAfterStatus int `json:"fail_after_status,omitempty"`
	// Hang makes every native request block until its client gives up
	// (the request context ends); it simulates a provider that never
	// answers.
	Hang bool `json:"hang,omitempty"`
	// Seed seeds the error-rate generator.
	Seed uint64 `json:"seed,omitempty"`
}

type faultState struct {
	mu    sync.Mutex
	f     Faults
	rng   *rand.Rand
	count int
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	// release is closed when the faults change, ending hung requests.
	release chan struct{}
}

func newFaultState() *faultState {
	return &faultState{rng: rand.New(rand.NewPCG(0, 0)), sleep: sleepCtx, release: make(chan struct{})}
}

// SetFaults replaces the fault settings and resets the fail-after counter
// and the random generator (seeded with f.Seed).
func (c *Cloud) SetFaults(f Faults) {
	fs := c.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
	fs.count = 0
	fs.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	close(fs.release)
	fs.release = make(chan struct{})
}

// Faults returns the current fault settings.
func (c *Cloud) Faults() Faults {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	return c.faults.f
}

// SetSleep replaces how injected latency waits (tests).
func (c *Cloud) SetSleep(fn func(ctx context.Context, d time.Duration) error) {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	c.faults.sleep = fn
}

// decide returns the status to inject (0 for none), the latency and
// whether to hang.
func (fs *faultState) decide() (status int, latency time.Duration, hang <-chan struct{}, sleep func(context.Context, time.Duration) error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.f
	orDefault := func(st int) int {
		if st == 0 {
			return http.StatusInternalServerError
		}
		return st
	}
	fs.count++
	// Draw on every request, even one fail_after answers, so the
	// sequence of draws does not depend on fail_after.
	if f.ErrorRate > 0 && fs.rng.Float64() < f.ErrorRate {
		status = orDefault(f.ErrorRateStatus)
	}
	if f.FailAfter > 0 && fs.count > f.FailAfter {
		status = orDefault(f.FailAfterStatus)
	}
	if f.Hang {
		hang = fs.release
	}
	return status, f.Latency, hang, fs.sleep
}

// withFaults wraps a native API handler with the fault injector.
func (c *Cloud) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, latency, hang, sleep := c.faults.decide()
		if hang != nil {
			// Read the body first: the server notices a client that gave
			// up (and cancels r.Context) only once the body is consumed.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
			select {
			case <-r.Context().Done():
			case <-hang:
				http.Error(w, "sandbox: hang released", http.StatusServiceUnavailable)
			}
			return
		}
		if latency > 0 {
			if err := sleep(r.Context(), latency); err != nil {
				return
			}
		}
		if status != 0 {
			http.Error(w, "sandbox: injected fault", status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
