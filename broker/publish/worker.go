package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

type action int

const (
	actNone action = iota
	actCreate
	actUpdate
)

func (a action) String() string {
	switch a {
	case actCreate:
		return "create"
	case actUpdate:
		return "update"
	}
	return "none"
}

// Subscription statuses (State.Status).
const (
	StatusCreating = "creating"
	StatusActive   = "active"
	StatusRetrying = "retrying"
	StatusLapsed   = "lapsed"
	StatusRemoving = "removing"
	// StatusPaused: the provider is deactivated or unavailable in the
	// catalogue (draft 4.1.2.3.1.1: it "should not be contacted before it
	// becomes 'active' again"), so renewals and re-subscriptions wait
	// until its status is active again or its catalogue entry expires.
	StatusPaused = "paused"
)

// worker keeps one provider's subscription. Only its goroutine changes
// its fields; mu guards what state() reads.
type worker struct {
	m      *Manager
	pid    string
	logger *zap.Logger

	cfgCh    chan struct{} // a new configuration is pending
	resyncCh chan string   // a resynchronisation of that id is asked for
	syncCh   chan struct{} // re-read the stored record now
	wakeCh   chan struct{} // the catalogue changed: plan again
	quitCh   chan struct{}
	removeOn bool // set before quitCh is closed
	// done is closed when run returns; after, when set, is the done of
	// the provider's previous worker, which run waits for before it
	// begins.
	done  chan struct{}
	after <-chan struct{}

	mu         sync.Mutex
	cfg        SubscriptionConfig
	pendingCfg *SubscriptionConfig
	rec        Record
	tried      Record // the last create sent, granted or not
	status     string
	lastErr    string
	failures   int

	// goroutine-only state
	retryAt    time.Time
	resync     bool
	cfgChanged bool
	omitOpts   bool // the provider did not understand <expires>/<frequency>
	exists405  int
	failKey    string
	nextSync   time.Time
	lapseSeen  string
}

func newWorker(m *Manager, c SubscriptionConfig) *worker {
	return &worker{
		m:        m,
		pid:      c.ProviderID,
		logger:   m.logger.With(zap.String("provider_id", c.ProviderID)),
		cfgCh:    make(chan struct{}, 1),
		resyncCh: make(chan string, 1),
		wakeCh:   make(chan struct{}, 1),
		syncCh:   make(chan struct{}, 1),
		quitCh:   make(chan struct{}),
		done:     make(chan struct{}),
		cfg:      c,
	}
}

func (w *worker) reconfigure(c SubscriptionConfig) {
	w.mu.Lock()
	w.pendingCfg = &c
	w.mu.Unlock()
	select {
	case w.cfgCh <- struct{}{}:
	default:
	}
}

// quit ends the worker; with remove, the subscription is removed first.
// The manager's lock is held by the caller.
func (w *worker) quit(remove bool) {
	w.removeOn = remove
	close(w.quitCh)
}

// state reports the granted subscription; while there is none, the
// last create sent (its id, never accepted, so Active is false), and
// always the provider id and the URL the broker subscribes at, so that
// an operator sees which provider does not answer.
func (w *worker) state() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec := w.rec
	if rec.ID == "" {
		rec = w.tried
		rec.Active = false
	}
	if rec.ProviderID == "" {
		rec.ProviderID = w.pid
	}
	if rec.URL == "" {
		rec.URL = w.cfg.URL
	}
	return State{Record: rec, Status: w.status, LastError: w.lastErr, Failures: w.failures}
}

func (w *worker) setRec(r Record) {
	w.mu.Lock()
	w.rec = r
	w.mu.Unlock()
}

func (w *worker) setStatus(s string, fields ...zap.Field) {
	w.mu.Lock()
	changed := w.status != s
	w.status = s
	w.mu.Unlock()
	if changed && s != StatusRetrying {
		if w.rec.ID != "" { // none yet while the first create is under way
			fields = append([]zap.Field{zap.String("subscription_id", w.rec.ID)}, fields...)
		}
		w.logger.Info("subscription "+s, fields...)
	}
}

func (w *worker) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), w.m.opt.RequestTimeout)
}

// testHookAwaitPrevious is called when a worker starts waiting for the
// previous worker of its provider (tests).
var testHookAwaitPrevious func()

func (w *worker) run() {
	defer w.m.wg.Done()
	defer close(w.done)
	if w.after != nil {
		// The provider's previous worker is still removing the
		// subscription: continuing the stored one now would adopt what
		// it is about to remove, delete and release.
		if testHookAwaitPrevious != nil {
			testHookAwaitPrevious()
		}
		select {
		case <-w.after:
		case <-w.m.stop:
			return
		case <-w.quitCh: // left again before it began: it holds nothing
			return
		}
	}
	w.begin()
	for {
		now := w.m.clock.Now()
		act, at := w.plan(now)
		if act != actNone {
			if held, st, until := w.held(now); held {
				if w.state().Status != StatusPaused {
					w.setStatus(StatusPaused, zap.String("provider_status", string(st)))
				}
				act, at = actNone, until // the entry's expiry, or a catalogue change
			}
		}
		wake := at
		if w.m.opt.Store != nil && w.m.opt.SyncInterval > 0 {
			if w.nextSync.IsZero() {
				w.nextSync = now.Add(w.m.opt.SyncInterval)
			}
			if act == actNone || w.nextSync.Before(wake) {
				wake = w.nextSync
			}
		}
		if act == actNone && !at.IsZero() && (wake.IsZero() || at.Before(wake)) {
			wake = at
		}
		var timerC <-chan time.Time
		var t interface{ Stop() bool }
		if !wake.IsZero() {
			tm := w.m.clock.NewTimer(wake.Sub(now))
			timerC, t = tm.C(), tm
		}
		stopTimer := func() {
			if t != nil {
				t.Stop()
			}
		}
		select {
		case <-w.m.stop:
			stopTimer()
			return
		case <-w.quitCh:
			stopTimer()
			if w.removeOn {
				w.removeWithRetries()
			}
			return
		case <-w.cfgCh:
			stopTimer()
			w.applyConfig()
		case id := <-w.resyncCh:
			stopTimer()
			if id == w.rec.ID && w.rec.Active {
				w.resync = true
			}
		case <-w.syncCh:
			stopTimer()
			w.syncFromStore()
		case <-w.wakeCh:
			stopTimer()
		case fired := <-timerC:
			if !w.nextSync.IsZero() && !fired.Before(w.nextSync) {
				w.nextSync = fired.Add(w.m.opt.SyncInterval)
				w.syncFromStore()
				continue
			}
			switch act {
			case actCreate:
				w.create()
			case actUpdate:
				w.update()
			}
		}
	}
}

// held reports whether the provider must not be contacted now: the
// catalogue holds it deactivated or unavailable and its entry has not
// expired (an expired entry no longer says anything about the provider:
// the broker subscribes again to learn). until is the entry's expiry
// (zero: none).
func (w *worker) held(now time.Time) (bool, csbmsg.ServiceStatus, time.Time) {
	if w.m.opt.Catalog == nil {
		return false, "", time.Time{}
	}
	p, ok := w.m.opt.Catalog.Provider(w.pid)
	if !ok || p.Status != csbmsg.ServiceDeactivated && p.Status != csbmsg.ServiceUnavailable {
		return false, "", time.Time{}
	}
	if !p.Expires.IsZero() && !now.Before(p.Expires) {
		return false, "", time.Time{}
	}
	return true, p.Status, p.Expires
}

// wake makes the worker plan again (non-blocking).
func (w *worker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

// plan returns the next command and when it is due.
func (w *worker) plan(now time.Time) (action, time.Time) {
	due := func(t time.Time) time.Time {
		if t.Before(now) {
			return now
		}
		return t
	}
	r := w.rec
	if r.ID == "" || !r.Active {
		return actCreate, due(w.retryAt)
	}
	if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		if w.lapseSeen != r.ID {
			// A new phase: subscribe again at once.
			w.lapseSeen = r.ID
			w.retryAt = time.Time{}
			w.setStatus(StatusLapsed, zap.Time("expired_at", r.ExpiresAt))
		}
		return actCreate, due(w.retryAt)
	}
	if w.resync || w.cfgChanged {
		return actUpdate, due(w.retryAt)
	}
	if !w.retryAt.IsZero() {
		if !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(w.retryAt) {
			return actNone, r.ExpiresAt // wake at the lapse, then plan again
		}
		return actUpdate, due(w.retryAt)
	}
	if !r.RenewAt.IsZero() {
		return actUpdate, due(r.RenewAt)
	}
	return actNone, time.Time{}
}

// begin continues the subscription stored for the provider, if there is
// one that is still valid for the configured URL.
func (w *worker) begin() {
	ctx, cancel := w.ctx()
	defer cancel()
	stored, err := w.m.load(ctx, w.pid)
	if err != nil {
		w.logger.Warn("stored subscription unreadable; subscribing anew", zap.Error(err))
		return
	}
	if stored == nil || stored.ID == "" || !stored.Active {
		return
	}
	now := w.m.clock.Now()
	if stored.URL != w.cfg.URL {
		old := w.cfg
		old.URL = stored.URL
		w.sendRemove(ctx, old, *stored)
		_ = w.m.deleteRecord(ctx, w.pid)
		return
	}
	if !stored.ExpiresAt.IsZero() && !now.Before(stored.ExpiresAt) {
		w.logger.Info("stored subscription lapsed while stopped", zap.String("subscription_id", stored.ID))
		return
	}
	w.adopt(*stored, "subscription continued from storage")
	w.cfgChanged = stored.RequestedExpires != seconds(w.cfg.Expires) || stored.RequestedFrequency != seconds(w.cfg.Frequency)
}

// adopt takes over a stored record (a restart, or another broker's work)
// and logs msg unless it is empty.
func (w *worker) adopt(r Record, msg string) {
	if w.rec.ID != "" && w.rec.ID != r.ID {
		w.m.release(w.rec.ID)
	}
	w.m.hold(r.ID, w.pid)
	w.m.opt.Catalog.SetLease(r.ID, r.ExpiresAt)
	w.setRec(r)
	w.retryAt = time.Time{}
	w.mu.Lock()
	w.status = StatusActive
	w.mu.Unlock()
	if msg != "" {
		w.logger.Info(msg, zap.String("subscription_id", r.ID), zap.Uint64("seqnumber", r.SeqNumber),
			zap.Time("expires_at", r.ExpiresAt))
	}
}

func (w *worker) applyConfig() {
	w.mu.Lock()
	c := w.pendingCfg
	w.pendingCfg = nil
	old := w.cfg
	if c != nil {
		w.cfg = *c
		if c.URL != old.URL {
			w.tried = Record{} // sent to the old URL
		}
	}
	w.mu.Unlock()
	if c == nil {
		return
	}
	switch {
	case c.URL != old.URL && w.rec.Active:
		ctx, cancel := w.ctx()
		w.sendRemove(ctx, old, w.rec)
		_ = w.m.deleteRecord(ctx, w.pid)
		cancel()
		w.m.release(w.rec.ID)
		w.setRec(Record{})
		w.retryAt = time.Time{}
	case seconds(c.Expires) != seconds(old.Expires) || seconds(c.Frequency) != seconds(old.Frequency):
		w.cfgChanged = true
		w.omitOpts = false
	}
}

// syncFromStore follows what other brokers sharing the store did.
func (w *worker) syncFromStore() {
	ctx, cancel := w.ctx()
	defer cancel()
	stored, err := w.m.load(ctx, w.pid)
	if err != nil {
		return
	}
	switch {
	case stored == nil && w.rec.Active:
		// Another broker removed it (it stopped): subscribe again.
		w.logger.Info("subscription record removed by another broker; subscribing again", zap.String("subscription_id", w.rec.ID))
		w.m.release(w.rec.ID)
		w.setRec(Record{})
		w.retryAt = w.m.clock.Now().Add(w.m.backoff(1)) // spread the brokers
	case stored == nil:
	case stored.ID == w.rec.ID && stored.SeqNumber > w.rec.SeqNumber && stored.Active:
		w.adopt(*stored, "subscription renewed by another broker")
	case stored.ID != w.rec.ID && stored.Active && stored.URL == w.cfg.URL &&
		(stored.ExpiresAt.IsZero() || w.m.clock.Now().Before(stored.ExpiresAt)):
		w.adopt(*stored, "subscription created by another broker")
	}
}

// fail records a failed attempt and schedules the next one. It logs once
// per change of (command, answer).
func (w *worker) fail(act action, answer string, err error, retryNow bool) {
	w.mu.Lock()
	w.failures++
	w.lastErr = fmt.Sprintf("%s: %s", act, answer)
	if err != nil {
		w.lastErr += ": " + err.Error()
	}
	n := w.failures
	w.mu.Unlock()
	delay := time.Duration(0)
	if !retryNow {
		delay = w.m.backoff(n)
	}
	w.retryAt = w.m.clock.Now().Add(delay)
	w.setStatus(StatusRetrying)
	if key := act.String() + "/" + answer; key != w.failKey {
		w.failKey = key
		fields := []zap.Field{zap.String("subscription_id", w.rec.ID), zap.String("command", act.String()),
			zap.String("answer", answer), zap.Duration("retry_in", delay)}
		if err != nil {
			fields = append(fields, zap.Error(err))
		}
		w.logger.Warn("subscription command failed", fields...)
	}
}

func (w *worker) succeeded() {
	w.mu.Lock()
	n := w.failures
	w.failures = 0
	w.lastErr = ""
	w.mu.Unlock()
	if n > 0 {
		w.logger.Info("subscription command succeeded after failures", zap.Int("failures", n))
	}
	w.failKey = ""
	w.retryAt = time.Time{}
}

func (w *worker) request(act csbmsg.SubscriptionAction, r Record) *csbmsg.PublishRequest {
	s := csbmsg.Subscription{ID: r.ID, SeqNumber: r.SeqNumber, Action: act}
	if act != csbmsg.ActionRemove && !w.omitOpts {
		if v := r.RequestedExpires; v > 0 {
			s.Expires = &v
		}
		if v := r.RequestedFrequency; v > 0 {
			s.Frequency = &v
		}
	}
	return &csbmsg.PublishRequest{Subscription: s}
}

func answerOf(resp *csbmsg.PublishResponse, err error) string {
	if err != nil {
		return "no_answer"
	}
	return fmt.Sprint(int(resp.Status))
}

// grant applies an accepted create or update: the values the provider
// granted (its extra <subscription>, else what was asked), the lapse time
// and the renewal time, and the catalogue lease.
func (w *worker) grant(r *Record, resp *csbmsg.PublishResponse, sentAt time.Time) {
	var exp, freq *uint64
	if v := r.RequestedExpires; v > 0 && !w.omitOpts {
		exp = &v
	}
	if v := r.RequestedFrequency; v > 0 && !w.omitOpts {
		freq = &v
	}
	adjusted := false
	if s := resp.Subscription; s != nil {
		if s.Expires != nil {
			adjusted = adjusted || exp == nil || *exp != *s.Expires
			v := *s.Expires
			exp = &v
		}
		if s.Frequency != nil {
			adjusted = adjusted || freq == nil || *freq != *s.Frequency
			v := *s.Frequency
			freq = &v
		}
	}
	r.Expires, r.Frequency = exp, freq
	r.Active = true
	r.GrantedAt = sentAt
	r.ExpiresAt, r.RenewAt = time.Time{}, time.Time{}
	if exp != nil && *exp > 0 {
		d := time.Duration(*exp) * time.Second
		r.ExpiresAt = sentAt.Add(d)
		r.RenewAt = sentAt.Add(time.Duration(float64(d) * w.m.opt.RenewAt))
	}
	r.UpdatedAt = w.m.clock.Now()
	w.m.opt.Catalog.SetLease(r.ID, r.ExpiresAt)
	if adjusted {
		w.logger.Info("provider adjusted subscription", zap.String("subscription_id", r.ID),
			zap.Uint64("requested_expires", r.RequestedExpires), zap.Uint64("requested_frequency", r.RequestedFrequency),
			zapOpt("expires", exp), zapOpt("frequency", freq))
	}
}

func zapOpt(name string, v *uint64) zap.Field {
	if v == nil {
		return zap.Skip()
	}
	return zap.Uint64(name, *v)
}

// locked returns a context for one exchange of act (w.ctx) and takes the
// store's lock of the provider, with the function that releases both; a
// lock that cannot be taken fails act (ok false).
func (w *worker) locked(act action) (ctx context.Context, release func(), ok bool) {
	ctx, cancel := w.ctx()
	unlock, err := w.m.lock(ctx, w.pid)
	if err != nil {
		w.fail(act, "lock", err, false)
		cancel()
		return nil, nil, false
	}
	return ctx, func() { unlock(); cancel() }, true
}

// storedActive returns the provider's record in the store when it is an
// active subscription (nil otherwise, or when it cannot be read).
func (w *worker) storedActive(ctx context.Context) *Record {
	if stored, err := w.m.load(ctx, w.pid); err == nil && stored != nil && stored.Active {
		return stored
	}
	return nil
}

// adoptOther adopts stored, an active record of the store, when it is
// another broker's subscription (not w's record) to the configured URL
// that has not expired at now, and reports whether it did.
func (w *worker) adoptOther(stored *Record, now time.Time) bool {
	if stored.ID == w.rec.ID || stored.URL != w.cfg.URL || !(stored.ExpiresAt.IsZero() || now.Before(stored.ExpiresAt)) {
		return false
	}
	w.adopt(*stored, "subscription created by another broker")
	w.succeeded()
	return true
}

func (w *worker) create() {
	ctx, release, ok := w.locked(actCreate)
	if !ok {
		return
	}
	defer release()
	now := w.m.clock.Now()
	if stored := w.storedActive(ctx); stored != nil && w.adoptOther(stored, now) {
		return
	}
	cfg := w.cfg
	r := Record{
		ProviderID: w.pid, URL: cfg.URL, ID: newToken(), SeqNumber: 1,
		RequestedExpires: seconds(cfg.Expires), RequestedFrequency: seconds(cfg.Frequency), UpdatedAt: now,
	}
	previous := w.rec
	if previous.ID == "" || previous.Active {
		w.setStatus(StatusCreating)
	}
	// Hold the id before sending: a provider may notify before it answers.
	w.m.hold(r.ID, w.pid)
	provisional := time.Time{}
	if r.RequestedExpires > 0 {
		provisional = now.Add(time.Duration(r.RequestedExpires) * time.Second)
	}
	w.m.opt.Catalog.SetLease(r.ID, provisional)
	_ = w.m.save(ctx, r) // so brokers sharing the store know the id at once
	w.mu.Lock()
	w.tried = r
	w.mu.Unlock()

	resp, err := w.m.opt.Sender.Send(ctx, cfg, w.request(csbmsg.ActionCreate, r))
	answer := answerOf(resp, err)
	if err == nil && resp.Status == csbmsg.StatusOK {
		w.grant(&r, resp, now)
		_ = w.m.save(ctx, r)
		if previous.ID != "" && previous.ID != r.ID {
			w.m.release(previous.ID)
		}
		w.setRec(r)
		w.exists405 = 0
		w.resync, w.cfgChanged = false, false
		w.succeeded()
		w.setStatus(StatusActive, zap.Uint64("seqnumber", r.SeqNumber), zapOpt("expires", r.Expires), zapOpt("frequency", r.Frequency))
		return
	}
	// Refused or unanswered: this id is not ours.
	w.m.release(r.ID)
	if previous.Active || previous.ID == "" {
		_ = w.m.deleteRecord(ctx, w.pid)
	}
	switch {
	case err == nil && resp.Status == csbmsg.StatusSubscriptionExists:
		w.exists405++
		w.fail(actCreate, answer, reasonErr(resp), w.exists405 < 3)
	case err == nil && resp.Status == csbmsg.StatusUnsupported && !w.omitOpts && (r.RequestedExpires > 0 || r.RequestedFrequency > 0):
		w.omitOpts = true
		w.fail(actCreate, answer, reasonErr(resp), true)
	default:
		w.fail(actCreate, answer, errOr(resp, err), false)
	}
}

func (w *worker) update() {
	ctx, release, ok := w.locked(actUpdate)
	if !ok {
		return
	}
	defer release()
	now := w.m.clock.Now()
	if stored := w.storedActive(ctx); stored != nil {
		if stored.ID == w.rec.ID {
			// Under the lock the stored record is authoritative: another
			// broker may have renewed since we last looked.
			if stored.SeqNumber > w.rec.SeqNumber || stored.UpdatedAt.After(w.rec.UpdatedAt) {
				msg := "subscription renewed by another broker"
				if stored.SeqNumber == w.rec.SeqNumber {
					msg = "" // already seen, only its outcome is new
				}
				w.adopt(*stored, msg)
			}
			if !w.resync && !w.cfgChanged && !stored.RenewAt.IsZero() && now.Before(stored.RenewAt) {
				w.succeeded()
				return
			}
		} else if w.adoptOther(stored, now) {
			return
		}
	}
	cfg := w.cfg
	r := w.rec
	r.SeqNumber++
	r.RequestedExpires, r.RequestedFrequency = seconds(cfg.Expires), seconds(cfg.Frequency)
	r.UpdatedAt = now
	w.setRec(r)
	_ = w.m.save(ctx, r) // every later command for the id takes the next seqnumber
	resync := w.resync
	if resync && w.m.opt.Ingester != nil {
		w.m.opt.Ingester.ExpectFull(r.ID)
	}
	resp, err := w.m.opt.Sender.Send(ctx, cfg, w.request(csbmsg.ActionUpdate, r))
	answer := answerOf(resp, err)
	if resync && w.m.opt.Ingester != nil && !(err == nil && resp.Status == csbmsg.StatusOK) {
		// The provider was not asked for its full state after all: its
		// next notification is an ordinary one, which must not withdraw
		// what it does not list. The retry asks again.
		w.m.opt.Ingester.CancelFull(r.ID)
	}
	switch {
	case err == nil && resp.Status == csbmsg.StatusOK:
		w.grant(&r, resp, now)
		_ = w.m.save(ctx, r)
		w.setRec(r)
		w.resync, w.cfgChanged = false, false
		w.succeeded()
		w.setStatus(StatusActive)
		msg := "subscription renewed"
		if resync {
			msg = "subscription resynchronised"
		}
		w.logger.Info(msg, zap.String("subscription_id", r.ID), zap.Uint64("seqnumber", r.SeqNumber),
			zap.Time("expires_at", r.ExpiresAt))
	case err == nil && resp.Status == csbmsg.StatusNoSuchSubscription:
		w.logger.Info("provider no longer has the subscription; creating it again", zap.String("subscription_id", r.ID))
		_ = w.m.deleteRecord(ctx, w.pid) // so no broker continues it
		w.m.release(r.ID)
		w.setRec(Record{})
		w.retryAt = time.Time{}
	case err == nil && resp.Status == csbmsg.StatusUnsupported && !w.omitOpts && (r.RequestedExpires > 0 || r.RequestedFrequency > 0):
		w.omitOpts = true
		w.fail(actUpdate, answer, reasonErr(resp), true)
	default:
		w.fail(actUpdate, answer, errOr(resp, err), false)
	}
}

// sendRemove sends one remove command for r to cfg's URL.
func (w *worker) sendRemove(ctx context.Context, cfg SubscriptionConfig, r Record) (answer string, ok bool) {
	r.SeqNumber++
	resp, err := w.m.opt.Sender.Send(ctx, cfg, w.request(csbmsg.ActionRemove, r))
	answer = answerOf(resp, err)
	ok = err == nil && (resp.Status == csbmsg.StatusOK || resp.Status == csbmsg.StatusNoSuchSubscription)
	if ok {
		w.logger.Info("subscription removed", zap.String("subscription_id", r.ID), zap.Uint64("seqnumber", r.SeqNumber))
	} else {
		w.logger.Warn("subscription not removed", zap.String("subscription_id", r.ID), zap.String("answer", answer),
			zap.Error(errOr(resp, err)))
	}
	return answer, ok
}

// removeOnce removes the subscription at the provider (one try) unless
// another broker sharing the store has moved on, and forgets it.
func (w *worker) removeOnce(ctx context.Context) bool {
	r := w.rec
	if r.ID == "" || !r.Active {
		return true
	}
	w.setStatus(StatusRemoving)
	if unlock, err := w.m.lock(ctx, w.pid); err == nil {
		defer unlock()
	}
	if stored, err := w.m.load(ctx, w.pid); err == nil && stored != nil && stored.ID != r.ID {
		w.m.release(r.ID)
		return true // another broker holds a newer subscription: leave it
	}
	_, ok := w.sendRemove(ctx, w.cfg, r)
	// The remove used the next seqnumber: a retry takes the one after
	// (draft 4.1.2.2.1), not a replay of the command just refused.
	r.SeqNumber++
	w.setRec(r)
	_ = w.m.deleteRecord(ctx, w.pid)
	w.m.release(r.ID)
	return ok
}

// removeWithRetries removes the subscription of a provider that left the
// configuration: up to 3 tries with backoff, unless the manager stops.
func (w *worker) removeWithRetries() {
	for try := 1; ; try++ {
		ctx, cancel := w.ctx()
		ok := w.removeOnce(ctx)
		cancel()
		if ok || try == 3 {
			return
		}
		t := w.m.clock.NewTimer(w.m.backoff(try))
		select {
		case <-w.m.stop:
			t.Stop()
			return
		case <-t.C():
		}
	}
}

func reasonErr(resp *csbmsg.PublishResponse) error {
	if resp == nil || resp.Reason == "" {
		return nil
	}
	return errors.New(resp.Reason)
}

func errOr(resp *csbmsg.PublishResponse, err error) error {
	if err != nil {
		return err
	}
	return reasonErr(resp)
}
