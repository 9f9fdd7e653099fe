package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// Storage layout.
const (
	queuePrefix = "csb/webhooks/queue/" // queue/<subscriber>/<group>/<order>: a pending Delivery
	logPrefix   = "csb/webhooks/log/"   // log/<subscriber>/<group>/<order>: a delivered or given-up Delivery
	subPrefix   = "csb/webhooks/sub/"   // sub/<id>: a consumer's Subscriber
	lockName    = "csb-webhooks"
)

// Delivery states.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateFailed    = "failed" // given up after MaxAttempts
)

// Subscriber is where deliveries go.
type Subscriber struct {
	// ID names the subscriber: letters, digits, '-' and '_'.
	ID string `json:"id"`
	// URL receives the POSTs.
	URL string `json:"url"`
	// Secret signs them (see package doc).
	Secret string `json:"secret"`
	// Owner is the consumer who registered it ("" for an operator's).
	Owner string `json:"owner,omitempty"`
	// Events, when set, lists the event types it receives. Default all.
	Events []string `json:"events,omitempty"`
	// Closed is when a consumer's subscriber was closed (a job of it
	// ended), or last found still in use (Config.InUse): it is deleted
	// once Retain has passed since, nothing is queued for it and it is
	// not in use.
	Closed time.Time `json:"closed,omitzero"`
	// Registered is when Register stored it. A consumer's subscriber
	// that was never closed, registered more than Retain ago, that no
	// job names (Config.InUse) and with nothing queued is deleted too:
	// the create it was registered for never stored its job (the broker
	// stopped in between), so nothing would ever close it.
	Registered time.Time `json:"registered,omitzero"`
	// InUseAt is when a pass last found such an open subscriber named
	// by a job: it is asked of again Retain later.
	InUseAt time.Time `json:"in_use_at,omitzero"`
}

// Wants reports whether s receives events of type typ.
func (s *Subscriber) Wants(typ string) bool {
	if len(s.Events) == 0 {
		return true
	}
	for _, e := range s.Events {
		if e == typ {
			return true
		}
	}
	return false
}

// Message is what a delivery carries: its body is
// {"type": Type, "timestamp": Time, "data": Data}.
type Message struct {
	// Type is the event type ("csb.job.state").
	Type string
	// Group orders deliveries: a subscriber's deliveries of one group are
	// sent one at a time in Order. The job id for job events.
	Group string
	// Order is the position within the group (the job's event number).
	Order uint64
	// Time is when the event happened.
	Time time.Time
	// Data is the event's data (marshalled to JSON).
	Data any
}

// Delivery is one message to one subscriber and its progress.
type Delivery struct {
	ID         string          `json:"id"`
	Subscriber string          `json:"subscriber"`
	Group      string          `json:"group"`
	Order      uint64          `json:"order"`
	Type       string          `json:"type"`
	Body       json.RawMessage `json:"body"`
	Created    time.Time       `json:"created"`
	Progress
}

// Progress is where a delivery stands: its state (StatePending, ...),
// the attempts made and when the next is due, the last failure, and when
// it was delivered or given up. It is embedded, so its JSON is flat.
type Progress struct {
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastStatus  int       `json:"last_status,omitempty"`
	Done        time.Time `json:"done,omitzero"`
}

func (d *Delivery) key(prefix string) string {
	return fmt.Sprintf("%s%s/%s/%020d", prefix, d.Subscriber, d.Group, d.Order)
}

// Config configures a Dispatcher. Zero values take the defaults named.
type Config struct {
	// Store keeps subscribers and deliveries. Required.
	Store store.Store
	// Client returns the HTTP client that may call u (the caller checks
	// u against its peer URL policy there). Required.
	Client func(u *url.URL) (*http.Client, error)
	// Subscriber returns an operator's subscriber by id (consumers' are
	// in the store). Default: none.
	Subscriber func(id string) (*Subscriber, bool)
	// Logger receives a line per given-up delivery. Default: none.
	Logger *zap.Logger
	// Clock is the time source. Default: the wall clock.
	Clock clock.Clock
	// RetryMin and RetryMax bound the backoff between attempts, which
	// doubles from RetryMin. Defaults 1s and 10m.
	RetryMin, RetryMax time.Duration
	// MaxAttempts is how many times a delivery is tried before it is
	// given up (recorded as failed; the group's next one goes on).
	// Default 10.
	MaxAttempts int
	// Timeout bounds one attempt. Default 10s.
	Timeout time.Duration
	// Retain is how long delivered and given-up deliveries stay listed.
	// Default 24h.
	Retain time.Duration
	// Parallel is how many groups are sent at once. Default 4.
	Parallel int
	// InUse reports whether a consumer's closed subscriber may still be
	// sent messages (the caller knows: a job that names it is still
	// stored). A subscriber is closed when one of its jobs ends, but a
	// job's events go on after that (a reclaim waits for its provider as
	// long as the provider is held back; a failed job expires or is
	// removed later), and one subscriber may serve several jobs (a copy
	// inherits its source's): deleting it Retain after the close would
	// leave those events with nowhere to go. A subscriber in use (or one
	// InUse cannot tell of) is kept, and asked of again Retain later.
	// Default: none, a closed subscriber goes Retain after its close.
	InUse func(ctx context.Context, s *Subscriber) (bool, error)
}

// Defaults of Config.
const (
	DefaultRetryMin    = time.Second
	DefaultRetryMax    = 10 * time.Minute
	DefaultMaxAttempts = 10
	DefaultTimeout     = 10 * time.Second
	DefaultRetain      = 24 * time.Hour
	DefaultParallel    = 4
)

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	pos := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	pos(&c.RetryMin, DefaultRetryMin)
	pos(&c.RetryMax, DefaultRetryMax)
	pos(&c.Timeout, DefaultTimeout)
	pos(&c.Retain, DefaultRetain)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	c.Clock = clock.OrReal(c.Clock)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Subscriber == nil {
		c.Subscriber = func(string) (*Subscriber, bool) { return nil, false }
	}
	return c
}

// Dispatcher delivers webhooks. Create it with New, start it with Start
// and stop it with Stop.
type Dispatcher struct {
	mu   sync.Mutex
	cfg  Config
	kick chan struct{}
	// store is cfg.Store, which Reconfigure keeps: read without mu while
	// Reconfigure rewrites cfg (a configuration reload, with the loop
	// running).
	store store.Store

	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  sync.Once
}

// New returns a Dispatcher.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Client == nil {
		return nil, errors.New("webhook: Store and Client are required")
	}
	d := &Dispatcher{cfg: cfg.WithDefaults(), kick: make(chan struct{}, 1), store: cfg.Store}
	d.base, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// Reconfigure replaces the tunables, Client and Subscriber (a config
// reload); Store stays.
func (d *Dispatcher) Reconfigure(cfg Config) {
	d.mu.Lock()
	cfg.Store = d.store
	if cfg.Client == nil {
		cfg.Client = d.cfg.Client
	}
	if cfg.InUse == nil {
		cfg.InUse = d.cfg.InUse
	}
	d.cfg = cfg.WithDefaults()
	d.mu.Unlock()
	d.Kick()
}

func (d *Dispatcher) c() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Register stores a consumer's subscriber under a new id and returns it.
func (d *Dispatcher) Register(ctx context.Context, s Subscriber) (string, error) {
	if _, err := ParseSecret(s.Secret); err != nil {
		return "", err
	}
	s.ID = newID()
	s.Registered = d.c().Clock.Now()
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	if err := d.store.Store(ctx, subPrefix+s.ID, b); err != nil {
		return "", err
	}
	return s.ID, nil
}

// Unregister deletes a consumer's subscriber (one whose job was not
// created after all).
func (d *Dispatcher) Unregister(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("webhook: bad subscriber id %q", id)
	}
	return d.store.Delete(ctx, subPrefix+id)
}

// Close marks a consumer's subscriber closed at the current time (its
// job ended): a pass deletes it once Retain has passed and nothing is
// queued for it. Later messages to it are still delivered meanwhile.
// Operators' subscribers and unknown ids are left alone.
func (d *Dispatcher) Close(ctx context.Context, id string) error {
	if !ValidID(id) {
		return nil
	}
	b, err := d.store.Load(ctx, subPrefix+id)
	if errors.Is(err, store.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var s Subscriber
	if err := json.Unmarshal(b, &s); err != nil || !s.Closed.IsZero() {
		return err
	}
	s.Closed = d.c().Clock.Now()
	if b, err = json.Marshal(s); err != nil {
		return err
	}
	return d.store.Store(ctx, subPrefix+id, b)
}

// Lookup returns the subscriber id: an operator's, else a consumer's
// stored one (store.ErrNotExist when there is none).
func (d *Dispatcher) Lookup(ctx context.Context, id string) (*Subscriber, error) {
	if !ValidID(id) {
		return nil, store.ErrNotExist
	}
	return d.subscriber(ctx, id)
}

// subscriber returns the subscriber id: an operator's, else a stored one.
func (d *Dispatcher) subscriber(ctx context.Context, id string) (*Subscriber, error) {
	if s, ok := d.c().Subscriber(id); ok {
		return s, nil
	}
	b, err := d.store.Load(ctx, subPrefix+id)
	if err != nil {
		return nil, err
	}
	var s Subscriber
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Enqueue records a delivery of msg to each subscriber (that wants its
// type) and wakes the dispatcher. It returns once they are stored.
//
// A subscriber's delivery of a message is named by the subscriber, the
// group and the order (its store keys and its id, deliveryID): one that
// is already stored, queued or logged, is kept as it is, with its
// attempts. So a message enqueued again (a job event handed over again
// after a crash, see Recover) is sent once.
func (d *Dispatcher) Enqueue(ctx context.Context, msg Message, subscribers ...string) error {
	return d.enqueue(ctx, msg, false, subscribers)
}

// Recover is Enqueue for a message that may have been enqueued before,
// by a process that died or failed to store its deliveries (a job's
// outbox, broker/jobs events.go): it stores the deliveries of msg that
// are neither queued nor logged. A subscriber that is gone (a consumer's,
// deleted; an operator's, no longer configured) is skipped. A message
// older than Retain/2 is left alone: a delivered or
// given-up delivery is logged for Retain after it was done, and no
// longer, so for an older message a missing delivery may be one that
// was sent and pruned since, and re-creating it would send it twice.
func (d *Dispatcher) Recover(ctx context.Context, msg Message, subscribers ...string) error {
	if !d.recoverable(msg) {
		return nil
	}
	return d.enqueue(ctx, msg, true, subscribers)
}

// Stored reports whether every delivery of msg to subscribers that
// Recover would store is stored (queued or logged): a message older than
// Retain/2, a subscriber that is gone or does not want msg's type need
// none. It only reads.
func (d *Dispatcher) Stored(ctx context.Context, msg Message, subscribers ...string) (bool, error) {
	if !d.recoverable(msg) {
		return true, nil
	}
	for _, sid := range subscribers {
		s, err := d.subscriber(ctx, sid)
		if errors.Is(err, store.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("subscriber %s: %w", sid, err)
		}
		if !s.Wants(msg.Type) {
			continue
		}
		ok, err := d.exists(ctx, &Delivery{Subscriber: sid, Group: msg.Group, Order: msg.Order})
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// recoverable reports whether msg is young enough for Recover and Stored
// (see Recover). The margin, half of Retain, also covers clocks of a
// cluster's brokers that disagree.
func (d *Dispatcher) recoverable(msg Message) bool {
	return d.c().Clock.Now().Sub(msg.Time) < d.c().Retain/2
}

func (d *Dispatcher) enqueue(ctx context.Context, msg Message, recovering bool, subscribers []string) error {
	if len(subscribers) == 0 {
		return nil
	}
	body, err := json.Marshal(struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      any       `json:"data"`
	}{msg.Type, msg.Time.UTC(), msg.Data})
	if err != nil {
		return err
	}
	var errs []error
	for _, sid := range subscribers {
		s, err := d.subscriber(ctx, sid)
		if recovering && errors.Is(err, store.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("subscriber %s: %w", sid, err))
			continue
		}
		if !s.Wants(msg.Type) {
			continue
		}
		dl := &Delivery{ID: deliveryID(sid, msg.Group, msg.Order), Subscriber: sid, Group: msg.Group, Order: msg.Order, Type: msg.Type,
			Body: body, Created: d.c().Clock.Now(), Progress: Progress{State: StatePending}}
		// A message already queued or logged (the same job event
		// announced twice, or handed over again after a crash) keeps its
		// delivery and its attempts.
		if ok, err := d.exists(ctx, dl); err != nil {
			errs = append(errs, err)
			continue
		} else if ok {
			if !recovering {
				d.c().Logger.Warn("webhook delivery already stored", zap.String("subscriber", sid), zap.String("group", msg.Group),
					zap.Uint64("order", msg.Order), zap.String("type", msg.Type))
			}
			continue
		}
		if err := d.put(ctx, dl, queuePrefix); err != nil {
			errs = append(errs, err)
		}
	}
	d.Kick()
	return errors.Join(errs...)
}

// exists reports whether dl's subscriber, group and order has a delivery
// stored, queued or logged. The queue is read first: a pass logs a
// delivery before it deletes it from the queue (sendGroup), so one that
// is not queued any more is logged by the time the log is read, and a
// delivery moving from one to the other is never missed.
func (d *Dispatcher) exists(ctx context.Context, dl *Delivery) (bool, error) {
	for _, p := range []string{queuePrefix, logPrefix} {
		_, err := d.store.Load(ctx, dl.key(p))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, store.ErrNotExist) {
			return false, fmt.Errorf("reading webhook delivery %s: %w", dl.key(p), err)
		}
	}
	return false, nil
}

// deliveryID is the id of subscriber's delivery of a group's message
// (the Webhook-Id header): derived from them, so that a delivery stored
// again (Recover) has the id it had, and a receiver that remembers ids
// takes it for the same message.
func deliveryID(subscriber, group string, order uint64) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d", subscriber, group, order)
	return "msg_" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

func (d *Dispatcher) put(ctx context.Context, dl *Delivery, prefix string) error {
	b, err := json.Marshal(dl)
	if err != nil {
		return err
	}
	return d.store.Store(ctx, dl.key(prefix), b)
}

// Kick wakes the dispatcher for a pass now.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Start runs the dispatcher in the background until Stop.
func (d *Dispatcher) Start() {
	d.start.Do(func() {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.loop()
		}()
	})
}

// Stop stops the dispatcher and waits for the attempts under way.
// Pending deliveries stay stored for the next start.
func (d *Dispatcher) Stop() {
	d.cancel()
	d.wg.Wait()
}

// idleWait is how long the loop sleeps with nothing due, to pick up
// deliveries other brokers of a cluster enqueued.
const idleWait = 30 * time.Second

func (d *Dispatcher) loop() {
	for {
		next, err := d.Pass(d.base)
		if d.base.Err() != nil {
			return
		}
		if err != nil {
			d.c().Logger.Warn("webhook pass failed", zap.Error(err))
		}
		wait := idleWait
		if !next.IsZero() {
			wait = min(max(next.Sub(d.c().Clock.Now()), 0), idleWait)
		}
		t := d.c().Clock.NewTimer(wait)
		select {
		case <-d.base.Done():
			t.Stop()
			return
		case <-d.kick:
			t.Stop()
		case <-t.C():
		}
	}
}

// Pass sends every due delivery, one group at a time per subscriber, and
// prunes the log. It returns when the next pending attempt is due (zero
// when none). Brokers sharing the store take turns (a store lock).
func (d *Dispatcher) Pass(ctx context.Context) (time.Time, error) {
	st := d.store
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := st.Lock(lctx, lockName)
	cancel()
	if err != nil {
		return d.c().Clock.Now().Add(time.Second), nil // another broker is sending
	}
	defer st.Unlock(context.WithoutCancel(ctx), lockName)
	keys, err := st.List(ctx, queuePrefix)
	if err != nil {
		return time.Time{}, err
	}
	groups := map[string][]string{}
	var order []string
	for _, k := range keys {
		g := k[:strings.LastIndex(k, "/")]
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], k)
	}
	var (
		mu   sync.Mutex
		next time.Time
		wg   sync.WaitGroup
		sem  = make(chan struct{}, d.c().Parallel)
		// failing holds the subscribers an attempt failed for in this
		// pass (sendGroup).
		failing sync.Map
	)
	for _, g := range order {
		ks := groups[g]
		sort.Strings(ks)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if t := d.sendGroup(ctx, ks, &failing); !t.IsZero() {
				mu.Lock()
				if next.IsZero() || t.Before(next) {
					next = t
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d.prune(ctx)
	return next, nil
}

// sendGroup sends a group's deliveries in order until one is not due or
// fails; it returns when that one is due. A subscriber in failing (an
// attempt for it failed in this pass) gets no attempt: the group waits
// for the next pass.
func (d *Dispatcher) sendGroup(ctx context.Context, keys []string, failing *sync.Map) time.Time {
	for _, k := range keys {
		if ctx.Err() != nil {
			return time.Time{}
		}
		if !isOrderKey(k) {
			continue // a storage's temporary file
		}
		b, err := d.store.Load(ctx, k)
		if errors.Is(err, store.ErrNotExist) {
			continue
		}
		var dl Delivery
		if err == nil {
			err = json.Unmarshal(b, &dl)
		}
		if err != nil {
			// Never skip ahead of a delivery: the group waits for it.
			d.c().Logger.Warn("reading a webhook delivery", zap.String("key", k), zap.Error(err))
			return d.c().Clock.Now().Add(d.c().RetryMin)
		}
		now := d.c().Clock.Now()
		if now.Before(dl.NextAttempt) {
			return dl.NextAttempt
		}
		if _, down := failing.Load(dl.Subscriber); down {
			// A subscriber that does not answer would otherwise cost an
			// attempt (up to Timeout) for each of its groups, one after
			// another, while every other subscriber's deliveries wait for
			// the pass to end: one consumer's dead callback URL on many
			// jobs would hold up everyone's webhooks.
			return now.Add(d.c().RetryMin)
		}
		// Logged already: the pass that logged it could not delete it from
		// the queue (a storage error). Sent again, it would reach its
		// receiver twice.
		if _, err := d.store.Load(ctx, dl.key(logPrefix)); err == nil {
			_ = d.store.Delete(ctx, k)
			continue
		}
		if !d.attempt(ctx, &dl) {
			if ctx.Err() != nil {
				// Stop cut the attempt short (attempt left dl as it
				// was): the receiver did not fail it. Recorded, every
				// restart would cost the deliveries under way an
				// attempt, and one on its last attempt would be given
				// up. The next start sends it again, same id.
				return time.Time{}
			}
			failing.Store(dl.Subscriber, true)
			if err := d.put(ctx, &dl, queuePrefix); err != nil {
				d.c().Logger.Warn("recording a webhook attempt", zap.String("id", dl.ID), zap.Error(err))
			}
			if dl.State == StatePending {
				return dl.NextAttempt
			}
		}
		// Delivered or given up: into the log, out of the queue.
		if err := d.put(ctx, &dl, logPrefix); err != nil {
			d.c().Logger.Warn("recording a webhook delivery", zap.String("id", dl.ID), zap.Error(err))
			return now.Add(d.c().RetryMin)
		}
		_ = d.store.Delete(ctx, k)
	}
	return time.Time{}
}

// attempt sends dl once and updates it; it reports success. An attempt
// that ctx ended (Stop) leaves dl as it was.
func (d *Dispatcher) attempt(ctx context.Context, dl *Delivery) bool {
	c := d.c()
	dl.Attempts++
	now := c.Clock.Now()
	status, err := d.send(ctx, dl)
	if err != nil && ctx.Err() != nil {
		dl.Attempts-- // the dispatcher is stopping: not an attempt (sendGroup)
		return false
	}
	// The subscriber's URL may carry its token in the query, and
	// net/http's *url.Error (or a peer URL refusal) prints the URL whole:
	// the last error is listed and logged without it.
	err = peerurl.RedactError(err)
	dl.LastStatus = status
	if err == nil {
		dl.State, dl.Done, dl.LastError, dl.NextAttempt = StateDelivered, c.Clock.Now(), "", time.Time{}
		return true
	}
	dl.LastError = err.Error()
	if dl.Attempts >= c.MaxAttempts {
		dl.State, dl.Done, dl.NextAttempt = StateFailed, now, time.Time{}
		c.Logger.Warn("webhook delivery given up", zap.String("id", dl.ID), zap.String("subscriber", dl.Subscriber),
			zap.String("type", dl.Type), zap.Int("attempts", dl.Attempts), zap.Error(err))
		return false
	}
	wait := c.RetryMin
	for i := 1; i < dl.Attempts && wait < c.RetryMax; i++ {
		wait *= 2
	}
	dl.NextAttempt = now.Add(min(wait, c.RetryMax))
	return false
}

// send POSTs dl to its subscriber, signed.
func (d *Dispatcher) send(ctx context.Context, dl *Delivery) (int, error) {
	c := d.c()
	s, err := d.subscriber(ctx, dl.Subscriber)
	if err != nil {
		return 0, fmt.Errorf("subscriber %s: %w", dl.Subscriber, err)
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return 0, err
	}
	client, err := c.Client(u)
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, s.URL, bytes.NewReader(dl.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "caddy-csb-webhook")
	req.Header.Set("Csb-Event", dl.Type)
	req.Header.Set("Csb-Attempt", fmt.Sprint(dl.Attempts))
	if err := SetHeaders(req.Header, s.Secret, dl.ID, c.Clock.Now(), dl.Body); err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// prune deletes log entries older than Retain, and the consumers'
// subscribers closed longer than Retain ago with nothing queued.
func (d *Dispatcher) prune(ctx context.Context) {
	c := d.c()
	now := c.Clock.Now()
	if subs, err := d.store.List(ctx, subPrefix); err == nil {
		for _, k := range subs {
			b, err := d.store.Load(ctx, k)
			if err != nil {
				continue
			}
			var s Subscriber
			if json.Unmarshal(b, &s) != nil {
				continue
			}
			switch {
			case !s.Closed.IsZero():
				if now.Sub(s.Closed) <= c.Retain {
					continue
				}
			case s.Owner == "" || s.Registered.IsZero() || c.InUse == nil ||
				now.Sub(s.Registered) <= c.Retain || now.Sub(s.InUseAt) <= c.Retain:
				continue // an operator's, or not known to be left over
			}
			if queued, err := d.store.List(ctx, queuePrefix+s.ID+"/"); err != nil || len(queued) > 0 {
				continue
			}
			if c.InUse != nil {
				if used, err := c.InUse(ctx, &s); err != nil || used {
					// Asked of again Retain from now: a job that names
					// it may still have events to send it.
					if s.Closed.IsZero() {
						s.InUseAt = now // open and named by a job, as it should be
					} else {
						s.Closed = now
					}
					if b, err := json.Marshal(s); err == nil {
						_ = d.store.Store(ctx, k, b)
					}
					continue
				}
			}
			_ = d.store.Delete(ctx, k)
		}
	}
	keys, err := d.store.List(ctx, logPrefix)
	if err != nil {
		return
	}
	for _, k := range keys {
		b, err := d.store.Load(ctx, k)
		if err != nil {
			continue
		}
		var dl Delivery
		if json.Unmarshal(b, &dl) == nil && now.Sub(dl.Done) > c.Retain {
			_ = d.store.Delete(ctx, k)
		}
	}
}

// List returns the pending deliveries and the logged ones (delivered and
// given up, within Retain), oldest first.
func (d *Dispatcher) List(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	for _, p := range []string{queuePrefix, logPrefix} {
		keys, err := d.store.List(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			b, err := d.store.Load(ctx, k)
			if err != nil {
				continue
			}
			var dl Delivery
			if json.Unmarshal(b, &dl) == nil {
				out = append(out, dl)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// isOrderKey reports whether a queue key ends in a 20-digit order.
func isOrderKey(k string) bool {
	base := k[strings.LastIndex(k, "/")+1:]
	if len(base) != 20 {
		return false
	}
	for _, c := range base {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidID reports whether id may name a subscriber or a group (it is
// part of store keys).
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
