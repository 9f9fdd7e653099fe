package caddymodule

import (
	"cmp"
	"errors"
	"net/http"

	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/peerurl"
	"github.com/caddy-csb/caddy-csb/broker/webhook"
)

// The admin API's GET /csb/webhooks (see AdminAPI): operator webhooks,
// the long-polls waiting now, and every webhook delivery pending,
// delivered or given up (kept events { retain }, default 24h): id,
// subscriber, job, event, sequence number, state, attempts, next
// attempt, last error and HTTP status. Filters:
// ?state=pending|delivered|failed ?job=<job-id> ?subscriber=<id>; the
// deliveries come in pages, oldest first: ?limit=<n> (default 1000, at
// most 10000) and ?after=<the previous page's next> (admin_page.go). The
// answer is JSON; secrets are never shown.

type adminWebhooks struct {
	// LongPollWaiters counts the consumer long-polls blocked now.
	LongPollWaiters int64           `json:"long_poll_waiters"`
	Operators       []adminOperator `json:"operators"`
	// Count is the number of deliveries the query matches on every
	// page; Deliveries holds a page of them, oldest first, and Next the
	// cursor of the next page (its after=), absent on the last.
	Count      int               `json:"count"`
	Deliveries []adminDeliveryWH `json:"deliveries"`
	Next       string            `json:"next,omitempty"`
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
	if err := negotiateJSON(r); err != nil {
		return err
	}
	q := r.URL.Query()
	var filters [3][]string
	for i, name := range []string{"state", "job", "subscriber"} {
		var err error
		if filters[i], err = listParam(q, name); err != nil {
			return err
		}
	}
	states, jobsWanted, subs := filters[0], filters[1], filters[2]
	for _, s := range states {
		if !slices.Contains(webhookStates, s) {
			return adminError(http.StatusBadRequest, "state %q: want pending, delivered or failed", s)
		}
	}
	limit, after, err := pageParams(q, webhooksPageSize, webhooksMaxPageSize)
	if err != nil {
		return err
	}
	var from webhookCursor
	if after != "" {
		if from, err = parseWebhookCursor(after); err != nil {
			return badCursor(after)
		}
	}
	// An app a reload cleaned up answers 503 (running); its events
	// field is set once, by Provision.
	a, _, err := api.running()
	if err != nil {
		return err
	}
	e, v := a.events, a.eventsView
	if e == nil || v == nil {
		return adminError(http.StatusServiceUnavailable, "no csb app is running")
	}
	list, err := e.disp.List(r.Context())
	if err != nil {
		return adminError(http.StatusInternalServerError, "listing webhook deliveries: %v", err)
	}
	slices.SortStableFunc(list, func(x, y webhook.Delivery) int {
		return webhookCursor{x.Created.UnixNano(), x.ID}.compare(webhookCursor{y.Created.UnixNano(), y.ID})
	})
	out := adminWebhooks{LongPollWaiters: e.waiters.waiting.Load(), Operators: []adminOperator{}, Deliveries: []adminDeliveryWH{}}
	for id, s := range v.operators {
		out.Operators = append(out.Operators, adminOperator{ID: id, URL: peerurl.RedactString(s.URL), Events: s.Events})
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
		out.Count++
		at := webhookCursor{d.Created.UnixNano(), d.ID}
		if after != "" && at.compare(from) <= 0 {
			continue
		}
		if len(out.Deliveries) == limit {
			if out.Next == "" {
				last := out.Deliveries[limit-1]
				out.Next = webhookCursor{last.Created.UnixNano(), last.ID}.String()
			}
			continue
		}
		out.Deliveries = append(out.Deliveries, adminDeliveryWH{ID: d.ID, Subscriber: d.Subscriber, JobID: job, Event: d.Type,
			Seq: d.Order, Created: d.Created, Progress: d.Progress})
	}
	setNextLink(w, r, out.Next)
	return writeJSON(w, out)
}

// webhookStates are the values of /csb/webhooks' state filter.
var webhookStates = []string{webhook.StatePending, webhook.StateDelivered, webhook.StateFailed}

// Page sizes of /csb/webhooks' deliveries.
const (
	webhooksPageSize    = 1000
	webhooksMaxPageSize = 10000
)

// webhookCursor is a position in the deliveries' order: creation time,
// then id.
type webhookCursor struct {
	created int64
	id      string
}

func (c webhookCursor) compare(o webhookCursor) int {
	if c.created != o.created {
		return cmp.Compare(c.created, o.created)
	}
	return strings.Compare(c.id, o.id)
}

func (c webhookCursor) String() string { return strconv.FormatInt(c.created, 36) + "." + c.id }

func parseWebhookCursor(s string) (webhookCursor, error) {
	n, id, ok := strings.Cut(s, ".")
	created, err := strconv.ParseInt(n, 36, 64)
	if !ok || id == "" || err != nil {
		return webhookCursor{}, errors.New("malformed cursor")
	}
	return webhookCursor{created, id}, nil
}
