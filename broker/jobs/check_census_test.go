package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
)

// newListingEnv is newLifeEnv whose adapters list (contract.Census).
func newListingEnv(t *testing.T) *env {
	var e *env
	e = newLifeEnv(t, func(c *jobs.Config) {
		c.CheckInterval = 10 * time.Minute
		c.Adapter = func(id string, _ catalog.Kind) (contract.Adapter, bool) {
			a, ok := e.ads[id]
			if !ok {
				return nil, false
			}
			return jobstest.Lister{Adapter: a}, true
		}
	})
	return e
}

// TestCheckPassAsksListingProvidersOnce: a pass asks a provider whose
// adapter lists once for all its due jobs, and Status only about those
// its listing did not show.
func TestCheckPassAsksListingProvidersOnce(t *testing.T) {
	e := newListingEnv(t)
	var last *jobs.Job
	for range 5 {
		last = lifeJob(t, e)
	}
	e.clock.Advance(10 * time.Minute)
	status := e.ads["a"].Calls("status")
	st, err := e.m.CheckOnce(context.Background())
	if err != nil || st.Checked != 5 || st.Listed != 5 || st.Gone != 0 {
		t.Fatalf("check pass: %+v %v, want 5 checked by the listing", st, err)
	}
	if n := e.ads["a"].Calls("held"); n != 1 {
		t.Fatalf("%d listings, want 1", n)
	}
	if n := e.ads["a"].Calls("status") - status; n != 0 {
		t.Fatalf("%d Status calls for resources the listing showed", n)
	}
	vanish(t, e, last)
	e.clock.Advance(10 * time.Minute)
	st, err = e.m.CheckOnce(context.Background())
	if err != nil || st.Checked != 5 || st.Listed != 4 || st.Gone != 1 {
		t.Fatalf("check pass after one vanished: %+v %v, want 4 listed, 1 gone", st, err)
	}
	got, err := e.m.Get(context.Background(), "alice", last.ID)
	if err != nil || got.Status != jobs.StatusFailed {
		t.Fatalf("the vanished job: %+v %v", got, err)
	}
}

// TestCheckPassListingFailureAsksJobByJob: when the listing fails, the
// pass asks Status for each job, as for an adapter that does not list.
func TestCheckPassListingFailureAsksJobByJob(t *testing.T) {
	e := newListingEnv(t)
	for range 3 {
		lifeJob(t, e)
	}
	e.clock.Advance(10 * time.Minute)
	e.ads["a"].SetFault(jobstest.Fault{Status: errors.New("listing down")})
	status := e.ads["a"].Calls("status")
	st, err := e.m.CheckOnce(context.Background())
	if err != nil || st.Checked != 3 || st.Listed != 0 || st.Gone != 0 {
		t.Fatalf("check pass: %+v %v", st, err)
	}
	if n := e.ads["a"].Calls("status") - status; n != 3 {
		t.Fatalf("%d Status calls after a failed listing, want one a job", n)
	}
}

// unwrapping is the Caddy glue's metered adapter as the manager sees
// it: an Adapter that hides the optional interfaces of the one it wraps
// and hands it out through Unwrap.
type unwrapping struct{ contract.Adapter }

func (w unwrapping) Unwrap() contract.Adapter { return w.Adapter }

// TestCheckPassListsThroughAWrapper: an adapter that lists is asked to
// list even when the manager holds it through a wrapper (the glue meters
// every adapter), not asked job by job.
func TestCheckPassListsThroughAWrapper(t *testing.T) {
	var e *env
	e = newLifeEnv(t, func(c *jobs.Config) {
		c.CheckInterval = 10 * time.Minute
		c.Adapter = func(id string, _ catalog.Kind) (contract.Adapter, bool) {
			a, ok := e.ads[id]
			if !ok {
				return nil, false
			}
			return unwrapping{jobstest.Lister{Adapter: a}}, true
		}
	})
	for range 3 {
		lifeJob(t, e)
	}
	e.clock.Advance(10 * time.Minute)
	status := e.ads["a"].Calls("status")
	st, err := e.m.CheckOnce(context.Background())
	if err != nil || st.Checked != 3 || st.Listed != 3 {
		t.Fatalf("check pass: %+v %v, want 3 checked by the listing", st, err)
	}
	if n := e.ads["a"].Calls("held"); n != 1 {
		t.Fatalf("%d listings through the wrapper, want 1", n)
	}
	if n := e.ads["a"].Calls("status") - status; n != 0 {
		t.Fatalf("%d Status calls for resources the listing showed", n)
	}
}
