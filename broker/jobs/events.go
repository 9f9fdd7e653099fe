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
// Seq. Events are announced by the process that wrote the record. Those
// of a write a new job's log holds in memory (wal.go's deferred writes)
// wait with it, and are announced once a record that carries them is
// stored, before the job's later ones; a job dropped before (a create
// answered as failed) announces none of them.
//
// The outbox. Observers hear an event once its record is stored; an
// observer's own writes (the webhook deliveries) come after, and a
// process that dies in between would lose them: the record says the
// event happened, and nothing would make its deliveries. So an event
// that the Outbox (SetOutbox) has recipients for is also kept in the
// record that carries it (EventState.Outbox), written by the same write,
// and handed to the Outbox after it (emit). Nothing is added to a
// record, and no write to a save, when no event has recipients (no
// webhook, no callback). An entry leaves the record at the job's next
// write, once its deliveries are known stored: by this process, which
// handed it over (EventState.handed, in memory), or else handed over
// again, idempotently, before that write (settleOutbox). A job not
// written again keeps its last entries; a reaper pass that reads its
// record (at start, and whenever the record changed, on whichever
// broker of a cluster runs the pass) hands over again, under the job's
// lock, those whose deliveries are missing (recoverOutbox). The Outbox
// tells which are missing and ignores entries too old to tell (the
// webhook dispatcher keeps a delivered delivery for a while only), so
// entries left in records cost nothing but their bytes.

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
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
	// the end makes a new warning due), and once more when the ended
	// lease's reclaim is deferred because the volume is attached (its
	// Reason says so).
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
	// To are the ids of the webhook subscribers the event is delivered
	// to (the Outbox's Recipients when the event was numbered: the job's
	// subscribers and the operators' webhooks); empty when none.
	To []string `json:"to,omitempty"`

	// state is the EventState of the job whose save announces the event,
	// when emit is to hand it to the Outbox: emit records there that it
	// did (handed). Nil for an event already in the record's outbox that
	// must wait for an earlier one (settleOutbox).
	state *EventState
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

	// Outbox holds the job's events with recipients (Event.To) whose
	// deliveries the Outbox may not have stored yet: written with the
	// state change they announce, dropped at a later write once they are
	// stored (see the package's outbox, above).
	Outbox []Event `json:"outbox,omitempty"`

	// queued are events the next save announces (reclaim, drift,
	// warning) after the state change it finds.
	queued []Event
	// handed is the Seq of the last outbox entry this process handed to
	// the Outbox (kept in memory with the job: a job read again from the
	// store does not know it, and hands its entries over again).
	handed uint64
}

// Outbox stores what a job event must cause outside the job's record,
// durably (the caddymodule events glue: the webhook deliveries). Its
// methods are called by the goroutine that holds the job's lock (Deliver,
// Recipients) or by a reaper pass (Delivered), and must not call back
// into the manager for the same job.
type Outbox interface {
	// Recipients returns the ids of whom ev is delivered to (sorted, or
	// in any order that is the same for the same event); none: ev is not
	// kept in the job's record.
	Recipients(ev Event) []string
	// Deliver stores ev's deliveries to ev.To and returns once they are
	// stored. A delivery already stored is kept as it is, so an event
	// delivered twice is sent once. recovered: ev comes from a record's
	// outbox, written by a process that may have stored its deliveries
	// or not (it may be too old to tell: the Outbox then leaves it).
	Deliver(ctx context.Context, ev Event, recovered bool) error
	// Delivered reports whether every delivery Deliver(ev, true) would
	// store is stored; it only reads.
	Delivered(ctx context.Context, ev Event) (bool, error)
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

// eventHub holds the observers and the Outbox.
type eventHub struct {
	mu     sync.RWMutex
	next   int
	fns    map[int]func(Event)
	outbox Outbox
}

// outboxTimeout bounds an Outbox call made by a save (whose caller's
// context is not at hand).
const outboxTimeout = 10 * time.Second

// SetOutbox makes o the manager's Outbox (nil: none; job events are then
// not kept in records) and returns a function that unsets it, if it is
// still the one set.
func (m *Manager) SetOutbox(o Outbox) (cancel func()) {
	h := &m.events
	h.mu.Lock()
	h.outbox = o
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		if h.outbox == o {
			h.outbox = nil
		}
		h.mu.Unlock()
	}
}

func (m *Manager) outbox() Outbox {
	h := &m.events
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.outbox
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

// emit announces evs (the events stored, in order: those a save's
// record carries, after the held ones of earlier deferred writes) to the
// observers, and hands those stamped for it to the Outbox. A hand-over
// that fails leaves the event, and the job's later ones, in the record's
// outbox, so that its deliveries are stored before theirs: the next
// write of the job or a reaper pass hands them over in order; so does an
// event with recipients not stamped for it (it waits for an earlier one).
func (m *Manager) emit(evs ...[]Event) {
	n := 0
	for _, b := range evs {
		n += len(b)
	}
	if n == 0 {
		return
	}
	h := &m.events
	h.mu.RLock()
	o := h.outbox
	for _, b := range evs {
		for _, ev := range b {
			for _, fn := range h.fns {
				fn(ev)
			}
		}
	}
	h.mu.RUnlock()
	if o == nil {
		return
	}
	for _, b := range evs {
		for _, ev := range b {
			if ev.state == nil {
				if len(ev.To) > 0 {
					return
				}
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), outboxTimeout)
			err := o.Deliver(ctx, ev, false)
			cancel()
			if err != nil {
				m.logger.Warn("storing a job event's deliveries; kept in the job's outbox", zapStr("job_id", ev.JobID), zap.Uint64("seq", ev.Seq), zapErr(err))
				return
			}
			ev.state.handed = max(ev.state.handed, ev.Seq)
		}
	}
}

// heard returns evs if anybody hears job events (an observer or the
// Outbox), else nil: a deferred write's events are held for their
// announcement (wal.go) only when it has an audience.
func (m *Manager) heard(evs []Event) []Event {
	if len(evs) == 0 {
		return nil
	}
	h := &m.events
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.fns) == 0 && h.outbox == nil {
		return nil
	}
	return evs
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
//
// It also settles the record's outbox (settleOutbox) and adds to it the
// events that have recipients, stamped for emit to hand over after the
// write (unless an earlier entry could not be handed over: they wait for
// it, in the record).
func (m *Manager) stampEvents(j *Job) ([]Event, func()) {
	saved := j.Events
	saved.queued = append([]Event(nil), j.Events.queued...)
	saved.Outbox = append([]Event(nil), j.Events.Outbox...)
	o := m.outbox()
	held := m.settleOutbox(j, o)
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
		if o == nil {
			continue
		}
		if ev.To = o.Recipients(*ev); len(ev.To) > 0 {
			j.Events.Outbox = append(j.Events.Outbox, *ev)
			if !held {
				ev.state = &j.Events
			}
		}
	}
	return out, func() { j.Events = saved }
}

// settleOutbox drops from j's outbox, before a write of j, the entries
// whose deliveries are stored: those this process handed over, and the
// others once handed over again now (idempotently: the Outbox keeps a
// delivery already stored), in order. It reports whether an entry could
// not be: it stays, with those after it, and the events of this write
// wait behind it (held). Without an Outbox, the entries stay for a
// process that has one.
//
// The entries of events not announced yet (a deferred write's, held with
// the job until a record that carries them is stored, wal.go) stay too:
// handed over now, their deliveries could be stored for a record that
// never is. They are handed over when they are announced, after the
// write, before this write's events.
func (m *Manager) settleOutbox(j *Job, o Outbox) (held bool) {
	if len(j.Events.Outbox) == 0 {
		return false
	}
	var waiting uint64
	if m.wal != nil {
		waiting = m.wal.waitingFrom(j.ID)
	}
	var keep []Event
	for _, ev := range j.Events.Outbox {
		switch {
		case ev.Seq <= j.Events.handed:
			continue
		case o == nil || held || waiting > 0 && ev.Seq >= waiting:
			keep = append(keep, ev)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), outboxTimeout)
		err := o.Deliver(ctx, ev, true)
		cancel()
		if err != nil {
			m.logger.Warn("storing a job event's deliveries again; kept in the job's outbox", zapStr("job_id", j.ID), zap.Uint64("seq", ev.Seq), zapErr(err))
			held = true
			keep = append(keep, ev)
			continue
		}
		j.Events.handed = max(j.Events.handed, ev.Seq)
	}
	j.Events.Outbox = keep
	return held
}

// recoverOutbox is a reaper pass's part of the outbox: j was read by the
// pass, without its lock. When an entry of its outbox has deliveries
// missing (its writer died before it stored them, or storing them
// failed), it takes the job's lock, reads the job again and hands its
// entries over again, in order; the record is not written (the entries
// go at the job's next write, or stay, harmless, see above). A job with
// an operation in progress is left to its worker, whose next write hands
// them over (settleOutbox). It reports false when the pass should read
// the record again next time, whatever its version: something is left to
// do.
func (m *Manager) recoverOutbox(ctx context.Context, j *Job) bool {
	o := m.outbox()
	if o == nil || len(j.Events.Outbox) == 0 {
		return true
	}
	if j.Op != nil {
		return false
	}
	missing := false
	for _, ev := range j.Events.Outbox {
		ok, err := o.Delivered(ctx, ev)
		if err != nil {
			m.logger.Warn("reading a job event's deliveries", zapStr("job_id", j.ID), zap.Uint64("seq", ev.Seq), zapErr(err))
			return false
		}
		if !ok {
			missing = true
			break
		}
	}
	if !missing {
		return true
	}
	// Its writer may be between its write and its hand-over still (or its
	// worker about to release the job): under the lock, that is done.
	j, unlock := m.lockedFresh(ctx, j.ID, func(j *Job) bool { return j.Op == nil && len(j.Events.Outbox) > 0 })
	if j == nil {
		return false
	}
	defer unlock()
	for _, ev := range j.Events.Outbox {
		if err := o.Deliver(ctx, ev, true); err != nil {
			m.logger.Warn("storing a job event's deliveries again", zapStr("job_id", j.ID), zap.Uint64("seq", ev.Seq), zapErr(err))
			return false
		}
	}
	m.logger.Info("job events' deliveries stored again from the job's outbox", zapStr("job_id", j.ID), zap.Int("events", len(j.Events.Outbox)))
	return true
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
