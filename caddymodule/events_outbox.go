package caddymodule

// The events engine as the job manager's Outbox (broker/jobs events.go):
// a job event's webhook deliveries are stored after the job's record that
// announces the event, and the record keeps the event (its outbox) until
// they are, so that a broker that dies between the two writes loses
// none: the job's next write, or a reaper pass of whichever broker runs
// it, stores them then. The dispatcher names a delivery by its
// subscriber, the job and the event's seq (broker/webhook Enqueue), so
// storing one again changes nothing, and it sends a subscriber's
// deliveries of a job in seq order.

import (
	"context"
	"slices"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/webhook"
)

// Recipients implements jobs.Outbox: the job's callbacks and the current
// configuration's operator webhooks that want the event.
func (e *eventsEngine) Recipients(ev jobs.Event) []string {
	to := slices.Clone(ev.Subscribers)
	if v := e.view.Load(); v != nil {
		name := eventName(ev.Kind)
		for id, s := range v.operators {
			if s.Wants(name) {
				to = append(to, id)
			}
		}
	}
	slices.Sort(to)
	return slices.Compact(to)
}

// Deliver implements jobs.Outbox: it stores the event's deliveries to
// ev.To and, when the job failed or ended, closes its callbacks (they
// are kept while a job names them, webhook Config.InUse). A recovered
// event whose deliveries are stored, or too old to tell, is left alone
// (webhook Recover).
func (e *eventsEngine) Deliver(ctx context.Context, ev jobs.Event, recovered bool) error {
	msg := jobMessage(ev)
	var err error
	if recovered {
		err = e.disp.Recover(ctx, msg, ev.To...)
	} else {
		err = e.disp.Enqueue(ctx, msg, ev.To...)
	}
	if err != nil {
		return err
	}
	if ev.Kind == jobs.EventStateChange && (ev.NewStatus == jobs.StatusFailed || ev.NewStatus.Final()) {
		for _, id := range ev.Subscribers {
			if err := e.disp.Close(ctx, id); err != nil {
				e.logger.logger.Warn("closing a job's callback", zap.String("job_id", ev.JobID), zap.Error(err))
			}
		}
	}
	return nil
}

// Delivered implements jobs.Outbox.
func (e *eventsEngine) Delivered(ctx context.Context, ev jobs.Event) (bool, error) {
	return e.disp.Stored(ctx, jobMessage(ev), ev.To...)
}

// jobMessage is a job event's webhook message: ordered by seq within the
// job.
func jobMessage(ev jobs.Event) webhook.Message {
	return webhook.Message{Type: eventName(ev.Kind), Group: ev.JobID, Order: ev.Seq, Time: ev.Time, Data: eventData(ev)}
}

// callbackInUse is the dispatcher's Config.InUse: whether a job of the
// callback's consumer still names it (its own job, or a copy of it, which
// inherits the callback). A job's events may come long after it failed
// or ended (a reclaim queued while its provider is held back is
// announced when the resources are removed), and they go to its
// callbacks for as long as its record is kept.
func (e *eventsEngine) callbackInUse(ctx context.Context, s *webhook.Subscriber) (bool, error) {
	if s.Owner == "" {
		return false, nil
	}
	owned, err := e.jobs.ListOwned(ctx, s.Owner)
	if err != nil {
		return false, err
	}
	for _, j := range owned {
		if slices.Contains(j.Events.Subscribers, s.ID) {
			return true, nil
		}
	}
	return false, nil
}

// Interface guards.
var _ jobs.Outbox = (*eventsEngine)(nil)
