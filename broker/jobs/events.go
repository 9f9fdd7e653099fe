package jobs

// Job events: observers registered with Manager.Observe hear of every job
// state change, lease warning, reclaim and drift, and of provider health
// changes. The Caddy glue turns them into Caddy events and webhook
// deliveries; the long-poll wakes on them.
//
// A job's events are numbered (Event.Seq) in the job record itself and
// are announced only once the record that carries them is stored, so the
// numbers are gapless, increase with every event of the job, and survive
// restarts and cluster hand-overs: a receiver orders a job's events by
// Seq. Events are announced by the process that wrote the record.

import (
	"context"
	"sync"
	"time"
)

// EventKind names what an Event reports.
type EventKind string

// Event kinds.
const (
	// EventStateChange: the job's status changed (OldStatus → NewStatus). A new
	// job's first event has OldStatus "".
	EventStateChange EventKind = "state"
	// EventLeaseWarning: the job's lease ends at Expires, within
	// Config.LeaseWarning; sent once per lease end (a renewal that moves
	// the end makes a new warning due).
	EventLeaseWarning EventKind = "lease_warning"
	// EventReclaimed: the reaper removed the resources of an ended lease
	// (the job is now expired).
	EventReclaimed EventKind = "reclaimed"
	// EventDrift: the job's resource vanished at its provider (found by
	// a resource check); the job is now failed.
	EventDrift EventKind = "drift"
	// EventProviderHealth: the broker's own health mark of a provider
	// changed (Healthy); no job fields are set.
	EventProviderHealth EventKind = "provider_health"
)

// Event is one job or provider event.
type Event struct {
	Kind       EventKind `json:"kind"`
	JobID      string    `json:"job_id,omitempty"`
	Owner      string    `json:"owner,omitempty"`
	ProviderID string    `json:"provider_id,omitempty"`
	// OldStatus and NewStatus: the status before and after (equal for
	// events other than EventStateChange).
	OldStatus Status `json:"old_status,omitempty"`
	NewStatus Status `json:"new_status,omitempty"`
	// Reason is the job's reason after the event (why it changed).
	Reason string `json:"reason,omitempty"`
	// Expires is when the job's lease ends (zero when none).
	Expires time.Time `json:"expires,omitzero"`
	// Time is when the event happened (the manager's clock).
	Time time.Time `json:"time"`
	// Seq numbers the job's events from 1 (0 for provider events).
	Seq uint64 `json:"seq,omitempty"`
	// Healthy is the provider's new health mark (EventProviderHealth).
	Healthy *bool `json:"healthy,omitempty"`
	// Subscribers are the job's webhook subscriber ids
	// (CreateOptions.Subscribers).
	Subscribers []string `json:"subscribers,omitempty"`
}

// EventState is the part of a job record the events keep.
type EventState struct {
	// Seq is the number of the job's last announced event.
	Seq uint64 `json:"seq,omitempty"`
	// Status is the status the last EventStateChange announced.
	Status Status `json:"status,omitempty"`
	// LeaseWarned is the lease end the last EventLeaseWarning was sent
	// for.
	LeaseWarned time.Time `json:"lease_warned,omitzero"`
	// Subscribers are opaque ids of the job's webhook subscribers, set at
	// create (CreateOptions.Subscribers) and carried by every event.
	Subscribers []string `json:"subscribers,omitempty"`

	// queued are events the next save announces (reclaim, drift,
	// warning) after the state change it finds.
	queued []Event
}

// DefaultLeaseWarning is Config.LeaseWarning's default.
const DefaultLeaseWarning = 5 * time.Minute

// leaseWarning returns how long before a lease ends it is warned of; 0:
// never (Config.LeaseWarning negative).
func (c *Config) leaseWarning() time.Duration {
	switch {
	case c.LeaseWarning < 0:
		return 0
	case c.LeaseWarning == 0:
		return DefaultLeaseWarning
	}
	return c.LeaseWarning
}

// eventHub holds the observers.
type eventHub struct {
	mu   sync.RWMutex
	next int
	fns  map[int]func(Event)
}

// Observe registers fn to hear of every event from now on and returns a
// function that unregisters it. fn is called synchronously by the
// goroutine that stored the job (holding the job's lock), in the job's
// event order: it must not block (hand slow work to a goroutine or a
// queue of its own) and must not call back into the manager for the
// same job.
func (m *Manager) Observe(fn func(Event)) (cancel func()) {
	h := &m.events
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = map[int]func(Event){}
	}
	id := h.next
	h.next++
	h.fns[id] = fn
	return func() {
		h.mu.Lock()
		delete(h.fns, id)
		h.mu.Unlock()
	}
}

func (m *Manager) emit(evs []Event) {
	if len(evs) == 0 {
		return
	}
	h := &m.events
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, ev := range evs {
		for _, fn := range h.fns {
			fn(ev)
		}
	}
}

// ProviderHealth announces a change of a provider's health mark (the
// catalogue's SetHealthy) to the observers.
func (m *Manager) ProviderHealth(providerID string, healthy bool) {
	m.emit([]Event{{Kind: EventProviderHealth, ProviderID: providerID, Healthy: &healthy, Time: m.now()}})
}

// queueEvent records an event of kind on j, announced by j's next save.
func (m *Manager) queueEvent(j *Job, kind EventKind) {
	j.Events.queued = append(j.Events.queued, Event{Kind: kind})
}

// stampEvents is save's part before the write: it numbers the status
// change since the last announced one and the queued events, and records
// them on j. It returns them and a function that undoes it when the
// write fails. A record written before events existed (no announced
// status, not new) starts without an event.
func (m *Manager) stampEvents(j *Job) ([]Event, func()) {
	saved := j.Events
	saved.queued = append([]Event(nil), j.Events.queued...)
	var out []Event
	if j.Events.Status != j.Status {
		if j.Events.Status != "" || j.Rev == 1 {
			out = append(out, Event{Kind: EventStateChange, OldStatus: j.Events.Status})
		}
		j.Events.Status = j.Status
	}
	out = append(out, j.Events.queued...)
	j.Events.queued = nil
	for i := range out {
		j.Events.Seq++
		ev := &out[i]
		if ev.OldStatus == "" && ev.Kind != EventStateChange {
			ev.OldStatus = j.Status
		}
		ev.JobID, ev.Owner, ev.ProviderID = j.ID, j.Owner, j.ProviderID
		ev.NewStatus, ev.Reason, ev.Time, ev.Seq = j.Status, j.Reason, j.Updated, j.Events.Seq
		if j.Status == StatusSuccess {
			ev.Expires = j.Expires
		}
		ev.Subscribers = j.Events.Subscribers
	}
	return out, func() { j.Events = saved }
}

// leaseWarnDue reports whether j's lease should be warned of at now.
func (m *Manager) leaseWarnDue(j *Job, now time.Time) bool {
	w := m.c().leaseWarning()
	return w > 0 && j.Status == StatusSuccess && !j.Expires.IsZero() &&
		!now.Before(j.Expires.Add(-w)) && !j.Events.LeaseWarned.Equal(j.Expires)
}

// warnLease sends the lease warning of job id (a reaper pass found it
// due), under the job's lock so that a cluster sends it once.
func (m *Manager) warnLease(ctx context.Context, id string) {
	// Busy: the next pass tries again.
	j, unlock := m.lockedFresh(ctx, id, func(j *Job) bool { return j.Op == nil && m.leaseWarnDue(j, m.now()) })
	if j == nil {
		return
	}
	defer unlock()
	j.Events.LeaseWarned = j.Expires
	m.queueEvent(j, EventLeaseWarning)
	if err := m.save(ctx, j); err != nil {
		m.logger.Warn("recording a lease warning", zapStr("job_id", id), zapErr(err))
	}
}
