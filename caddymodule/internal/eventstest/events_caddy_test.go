// Package eventstest holds a test of caddy-csb's job events through a real
// Caddy events app; it registers a test events handler module, so it
// lives apart from caddymodule's own tests (which list every module).
package eventstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/caddymodule"
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbadapters"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/caddytest"
	"github.com/caddy-csb/caddy-csb/tests/clouds/occitest"
)

// eventsHeard receives what the recorder handler is given.
var eventsHeard = make(chan caddy.Event, 64)

// eventsRecorderHandler is an events.handlers module for this test: a
// subscriber configured in the events app like any other.
type eventsRecorderHandler struct{}

func (eventsRecorderHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "events.handlers.events_test_recorder", New: func() caddy.Module { return new(eventsRecorderHandler) }}
}

func (eventsRecorderHandler) Handle(_ context.Context, e caddy.Event) error {
	eventsHeard <- e
	return nil
}

func init() { caddy.RegisterModule(eventsRecorderHandler{}) }

// TestEventsThroughCaddyEventsApp: a handler subscribed in Caddy's events
// app (by name, and to the csb module) receives the job's state changes
// and a provider's health change, with their data.
func TestEventsThroughCaddyEventsApp(t *testing.T) {
	cloud := occitest.NewServer(t, occitest.Options{Profile: occitest.Rocci})
	cf := fmt.Sprintf(`{
	admin off
	storage file_system %q
	csb {
		provider p1 {
			adapter occi %s/ {
				retries 0
			}
			service vm-p1 {
				kind iaas
				compute {
					architecture x64
					cores 8
					memory 32
				}
			}
		}
	}
}
`, t.TempDir(), cloud.URL)
	app := caddytest.Load(t, cf, func(cfg map[string]any) {
		cfg["apps"].(map[string]any)["events"] = map[string]any{"subscriptions": []any{map[string]any{
			"events":   []string{caddymodule.EventJobState, caddymodule.EventProviderHealth},
			"modules":  []string{"csb"},
			"handlers": []any{map[string]any{"handler": "events_test_recorder"}},
		}}}
	})
	r, err := app.JobManager().Create(context.Background(), "alice", jobstest.VMRequest(1, 1), jobs.CreateOptions{})
	if err != nil || r.Job == nil {
		t.Fatalf("create: %+v %v", r, err)
	}
	id := r.Job.ID
	var states []string
	deadline := time.After(20 * time.Second)
	for len(states) == 0 || states[len(states)-1] != "success" {
		select {
		case e := <-eventsHeard:
			if e.Name() != caddymodule.EventJobState || e.Data["job_id"] != id {
				t.Fatalf("unexpected event %s %v", e.Name(), e.Data)
			}
			if e.Origin() == nil || e.Origin().CaddyModule().ID != "csb" || e.Data["owner"] != "alice" || e.Data["seq"] != uint64(len(states)+1) {
				t.Fatalf("event %s from %v: %v", e.Name(), e.Origin(), e.Data)
			}
			states = append(states, fmt.Sprint(e.Data["new_status"]))
		case <-deadline:
			t.Fatalf("no success event; heard %v", states)
		}
	}
	if states[0] != "pending" {
		t.Fatalf("states %v", states)
	}
	if !app.Catalogue().SetHealthy("p1", false) {
		t.Fatal("health mark unchanged")
	}
	select {
	case e := <-eventsHeard:
		if e.Name() != caddymodule.EventProviderHealth || e.Data["provider_id"] != "p1" || e.Data["healthy"] != false {
			t.Fatalf("health event %s %v", e.Name(), e.Data)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no provider health event")
	}
}
