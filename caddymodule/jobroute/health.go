package jobroute

// Passive health: the reverse proxy's failure counts of providers' native
// endpoints, fed back into the catalogue.

import (
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

// watchSet holds, per provider, the reverse proxy's shared record of the
// provider's endpoint (its passive failure count). The source learns it
// on a retry: the reverse proxy asks the source again, on the request's
// own goroutine, after counting the failure.
type watchSet struct {
	mu sync.Mutex
	m  map[string]*reverseproxy.Host // provider id → its endpoint's host record
}

// watchHealth feeds the reverse proxy's passive health counts back into
// the catalogue until the configuration is unloaded.
func (u *JobUpstreams) watchHealth(ctx caddy.Context) {
	t := time.NewTicker(time.Duration(u.HealthInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			u.checkHealth()
		}
	}
}

func (u *JobUpstreams) checkHealth() {
	cat := u.app.Catalogue()
	if cat == nil {
		return
	}
	u.watch.mu.Lock()
	type obs struct {
		provider string
		fails    int
	}
	var seen []obs
	for id, h := range u.watch.m {
		seen = append(seen, obs{id, h.Fails()})
	}
	u.watch.mu.Unlock()
	for _, o := range seen {
		healthy := o.fails < u.UnhealthyAfter
		if cat.SetHealthy(o.provider, healthy) {
			u.logger.Info("provider health changed by the transparent proxy's passive checks",
				zap.String("provider", o.provider), zap.Bool("healthy", healthy), zap.Int("recent_failures", o.fails))
		}
	}
}
