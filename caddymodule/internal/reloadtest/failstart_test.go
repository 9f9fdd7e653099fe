package reloadtest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

func init() { caddy.RegisterModule(failingApp{}) }

// failingApp is an app that fails to start, as an HTTP app whose port is
// taken does. It notes whether its configuration's csb app had started
// before it: Caddy starts a configuration's apps in the order of a Go
// map, so either may come first.
type failingApp struct {
	csb      *caddymodule.App
	csbFirst bool
}

// lastFailing is the failingApp that failed last.
var lastFailing atomic.Pointer[failingApp]

func (failingApp) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "reloadtest_failing", New: func() caddy.Module { return new(failingApp) }}
}

func (f *failingApp) Provision(ctx caddy.Context) error {
	app, err := ctx.App("csb")
	if err != nil {
		return err
	}
	f.csb = app.(*caddymodule.App)
	return nil
}

// Start fails; the csb app had started when the catalogue has its
// configuration's provider b.
func (f *failingApp) Start() error {
	_, f.csbFirst = f.csb.Catalogue().Provider("b")
	lastFailing.Store(f)
	return errors.New("address already in use")
}

func (f *failingApp) Stop() error { return nil }

// TestFailedStartOfAnotherAppHandsTheEngineBack: a reload whose csb app
// started but whose other app then failed to start (Caddy stops the csb
// app it had started, and cleans up) gives the engine back to the
// running configuration: the running app's creates are placed on its
// own providers, with its settings. They were placed by the failed
// configuration's placer, over its providers (b, which offers nothing:
// the create was refused), with its settings (a 2h lease). The reload
// is tried until Caddy has started the csb app first (each order is
// even odds; the other order leaves the engine alone, which is checked
// too).
func TestFailedStartOfAnotherAppHandsTheEngineBack(t *testing.T) {
	b := newBroker(t)
	b.mustLoad(`{"providers": [{"id": "a", "adapter": {"name": "link"},
			"services": [{"id": "crm", "kind": "saas", "link": {"rel": "crm", "href": "https://crm.example.org/"}}]}],
		"consumer": {"lease_default": "1h", "anonymous": "allow"}}`, "")
	app := b.app()
	for i := 0; ; i++ {
		if i == 64 {
			t.Fatal("in 64 failed reloads, Caddy never started the csb app before the failing one")
		}
		err := b.load(`{"providers": [{"id": "b"}], "consumer": {"lease_default": "2h"}}`, `"reloadtest_failing": {}`)
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("the failing configuration loaded: %v", err)
		}
		if b.app() != app {
			t.Fatal("the failed reload replaced the running configuration")
		}
		if got := app.JobManager().Config().LeaseDefault; got != time.Hour {
			t.Fatalf("reload %d (csb app started first: %t): lease_default %s, want the running configuration's 1h", i, lastFailing.Load().csbFirst, got)
		}
		req := &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "crm"}}}
		r, err := app.JobManager().Create(context.Background(), "alice", req, jobs.CreateOptions{})
		if err != nil || r.Job == nil || r.Job.ProviderID != "a" || r.Job.Status != jobs.StatusSuccess {
			t.Fatalf("reload %d (csb app started first: %t): create %+v %v, want a job at a", i, lastFailing.Load().csbFirst, r, err)
		}
		if lastFailing.Load().csbFirst {
			return
		}
	}
}
