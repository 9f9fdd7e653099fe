package csbplacement_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/caddymodule"
	_ "github.com/caddy-csb/caddy-csb/caddymodule/csbadapters"
	"github.com/caddy-csb/caddy-csb/caddymodule/csbplacement"
	"github.com/caddy-csb/caddy-csb/caddymodule/internal/caddytest"
)

// pricedApp loads a csb app with two link providers whose price options
// are 0.50 (p1) and 0.20 (p2), placed by cheapest with a price of its
// own for p1 (0.05).
func pricedApp(t *testing.T) *caddymodule.App {
	t.Helper()
	cf := fmt.Sprintf(`{
	admin off
	persist_config off
	storage file_system %s/storage
	csb {
		provider p1 {
			adapter link
			price 0.50
			service app {
				kind saas
				link app http://127.0.0.1:9/p1/
			}
		}
		provider p2 {
			adapter link
			price 0.20
			service app {
				kind saas
				link app http://127.0.0.1:9/p2/
			}
		}
		placement cheapest {
			price p1 0.05
		}
	}
}
`, t.TempDir())
	return caddytest.Load(t, cf, nil)
}

func linkRequest() *csbmsg.ServiceRequest {
	return &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "app"}}}
}

// TestJobsArePricedAsPlaced: a job is charged the price its placement
// ranked it by, and a request's maximum price is held to that price:
// the cheapest policy's own price for a provider (not the provider's
// price option) for the app's placer, and the providers' price options
// for a placer a front-end makes with another policy (NewPlacer), which
// had no operator prices at all.
func TestJobsArePricedAsPlaced(t *testing.T) {
	app := pricedApp(t)
	m := app.JobManager()
	ctx := context.Background()
	max := 0.10
	r, err := m.Create(ctx, "alice", linkRequest(), jobs.CreateOptions{MaxPrice: &max})
	if err != nil || r.Job == nil || r.Job.ProviderID != "p1" {
		t.Fatalf("create under a maximum of 0.10: %+v %v, want p1 (0.05 by the cheapest policy)", r, err)
	}
	if r.Job.Cost == nil || r.Job.Cost.Price != 0.05 {
		t.Fatalf("cost of the job at p1: %+v, want price 0.05", r.Job.Cost)
	}
	placer, err := app.NewPlacer(&csbplacement.PlacementFirst{})
	if err != nil {
		t.Fatal(err)
	}
	max = 0.60
	r, err = m.Create(ctx, "alice", linkRequest(), jobs.CreateOptions{MaxPrice: &max, Placer: placer})
	if err != nil || r.Job == nil || r.Job.ProviderID != "p1" {
		t.Fatalf("create with the first policy under 0.60: %+v %v", r, err)
	}
	if r.Job.Cost == nil || r.Job.Cost.Price != 0.50 {
		t.Fatalf("cost of the job placed by another policy: %+v, want p1's price option 0.50", r.Job.Cost)
	}
}
