package caddymodule

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/webhook"
)

// The admin API's GET /csb/webhooks (see AdminAPI): operator webhooks,
// the long-polls waiting now, and every webhook delivery pending,
// delivered or given up (kept events { retain }, default 24h): id,
// subscriber, job, event, sequence number, state, attempts, next
// attempt, last error and HTTP status. Filters:
// ?state=pending|delivered|failed ?job=<job-id> ?subscriber=<id>. The
// answer is JSON; secrets are never shown.

type adminWebhooks struct {
	// LongPollWaiters counts the consumer long-polls blocked now.
	LongPollWaiters int64             `json:"long_poll_waiters"`
	Operators       []adminOperator   `json:"operators"`
	Deliveries      []adminDeliveryWH `json:"deliveries"`
}

type adminOperator struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"`
}

type adminDeliveryWH struct {
	ID         string    `json:"id"`
	Subscriber string    `json:"subscriber"`
	JobID      string    `json:"job_id,omitempty"`
	Event      string    `json:"event"`
	Seq        uint64    `json:"seq"`
	Created    time.Time `json:"created"`
	webhook.Progress
}

func (api *AdminAPI) serveWebhooks(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, http.MethodGet)
	}
	a := api.app
	if a == nil || a.liveEngine() == nil || a.events == nil || a.eventsView == nil {
		return adminError(http.StatusServiceUnavailable, "no csb app is running")
	}
	e, v := a.events, a.eventsView
	list, err := e.disp.List(r.Context())
	if err != nil {
		return adminError(http.StatusInternalServerError, "listing webhook deliveries: %v", err)
	}
	q := r.URL.Query()
	states, jobsWanted, subs := listParam(q, "state"), listParam(q, "job"), listParam(q, "subscriber")
	out := adminWebhooks{LongPollWaiters: e.waiters.waiting.Load(), Operators: []adminOperator{}, Deliveries: []adminDeliveryWH{}}
	for id, s := range v.operators {
		u := s.URL
		if pu, err := url.Parse(u); err == nil {
			u = pu.Redacted()
		}
		out.Operators = append(out.Operators, adminOperator{ID: id, URL: u, Events: s.Events})
	}
	slices.SortFunc(out.Operators, func(x, y adminOperator) int {
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
	for _, d := range list {
		job := d.Group
		if len(job) > 9 && job[:9] == "provider-" {
			job = ""
		}
		if len(states) > 0 && !slices.Contains(states, d.State) || len(jobsWanted) > 0 && !slices.Contains(jobsWanted, job) ||
			len(subs) > 0 && !slices.Contains(subs, d.Subscriber) {
			continue
		}
		out.Deliveries = append(out.Deliveries, adminDeliveryWH{ID: d.ID, Subscriber: d.Subscriber, JobID: job, Event: d.Type,
			Seq: d.Order, Created: d.Created, Progress: d.Progress})
	}
	return writeJSON(w, out)
}
