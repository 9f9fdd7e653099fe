package publish

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/internal/defaults"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// Defaults of ManagerOptions, and of what a broker asks a provider for.
const (
	// DefaultSubscriptionExpires is the subscription lifetime a broker
	// asks for when its configuration names none (SubscriptionConfig's
	// zero Expires itself sends no <expires>).
	DefaultSubscriptionExpires = time.Hour

	DefaultSubscriptionPrefix = "csb/subscriptions/"
	DefaultRenewAt            = 0.8
	DefaultRetryMin           = time.Second
	DefaultRetryMax           = 5 * time.Minute
	DefaultRequestTimeout     = 30 * time.Second
	DefaultSubscriptionSync   = 10 * time.Second
)

// SubscriptionConfig is one provider the broker subscribes to.
type SubscriptionConfig struct {
	// ProviderID is the provider's Cloud-Service-Provider-id.
	ProviderID string
	// URL is where subscription commands are POSTed.
	URL string
	// Expires is the subscription lifetime the broker asks for; zero sends
	// no <expires>.
	Expires time.Duration
	// Frequency is the notification interval the broker asks for; zero
	// sends no <frequency>.
	Frequency time.Duration
	// Client sends the commands (TLS trust and Digest, Basic or bearer
	// authentication toward the provider). Nil: a plain client.
	Client *http.Client
}

// Sender sends one subscription command to a provider and returns the
// provider's <csbresponse>. An error means no protocol answer was
// received (transport failure, HTTP status other than 200, a body that is
// not a csbresponse).
type Sender interface {
	Send(ctx context.Context, cfg SubscriptionConfig, req *csbmsg.PublishRequest) (*csbmsg.PublishResponse, error)
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// Sender sends commands. Required (HTTPSender in production).
	Sender Sender
	// Catalog receives the lease of every subscription (its services
	// leave placement when the subscription lapses). Required.
	Catalog *catalog.Catalog
	// Ingester is told when a resynchronisation is asked for, so the next
	// notification is taken as the provider's full state, and forgets ids
	// that are no longer held. Optional.
	Ingester *Ingester
	// Store keeps one record per provider under KeyPrefix, so a restart
	// (or another broker sharing the store) continues the subscription,
	// and serialises commands of brokers sharing the store with its locks.
	// Nil: memory only.
	Store store.Store
	// KeyPrefix is the store key prefix. Default "csb/subscriptions/".
	KeyPrefix string
	// Clock is the time source. Default: the wall clock.
	Clock clock.Clock
	// Logger receives one line per state change.
	Logger *zap.Logger
	// RenewAt is the fraction of the granted expiry after which the
	// subscription is renewed. Default 0.8.
	RenewAt float64
	// RetryMin and RetryMax bound the exponential backoff (with jitter)
	// between failed attempts. Defaults 1s and 5m.
	RetryMin, RetryMax time.Duration
	// RequestTimeout bounds one command. Default 30s.
	RequestTimeout time.Duration
	// SyncInterval is how often the stored records are re-read to follow
	// what other brokers sharing the store did. Default 10s; negative
	// disables.
	SyncInterval time.Duration
	// Rand returns a number in [0, 1) for the jitter. Default math/rand.
	Rand func() float64
}

// Record is a subscription as it is stored and reported.
type Record struct {
	ProviderID string `json:"provider_id"`
	URL        string `json:"url"`
	// ID is the subscription id, a random token.
	ID string `json:"id"`
	// SeqNumber is the seqnumber of the last command sent for ID.
	SeqNumber uint64 `json:"seqnumber"`
	// Active is true once the provider accepted the subscription.
	Active bool `json:"active"`
	// RequestedExpires and RequestedFrequency are what the broker last
	// asked for (seconds; zero: not sent).
	RequestedExpires   uint64 `json:"requested_expires,omitempty"`
	RequestedFrequency uint64 `json:"requested_frequency,omitempty"`
	// Expires and Frequency are the values granted: the provider's
	// (csbresponse's extra <subscription>) when it gave them, else the
	// requested ones.
	Expires   *uint64 `json:"expires,omitempty"`
	Frequency *uint64 `json:"frequency,omitempty"`
	// GrantedAt is when the last create or update was accepted.
	GrantedAt time.Time `json:"granted_at,omitzero"`
	// ExpiresAt is when the subscription lapses unless renewed; zero:
	// never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RenewAt is when the broker renews it.
	RenewAt   time.Time `json:"renew_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
}

// State is a subscription's record with what the broker is doing about
// it, as Snapshot reports it.
type State struct {
	Record
	// Status is creating, active, retrying, lapsed or removing.
	Status string `json:"status"`
	// LastError is the last failure, if the last attempt failed.
	LastError string `json:"last_error,omitempty"`
	// Failures counts consecutive failed attempts.
	Failures int `json:"failures,omitempty"`
}

// Manager keeps the broker's subscriptions at providers: one goroutine
// per provider creates the subscription, renews it at RenewAt of the
// granted expiry, retries failures with capped exponential backoff and
// jitter, resynchronises on request, and removes it when the provider
// leaves the configuration or the manager closes with remove set.
//
// What the broker does with each answer (table 1 of the draft):
//
//	command  answer                      next step
//	create   200                         active; renew at RenewAt of the granted expires
//	create   405 (id exists)             create again at once with a fresh id (backoff after 3 in a row)
//	create   420 (not understood)        create again at once without <expires>/<frequency>, if they were sent; else backoff
//	create   400, 401, 402, 403, 404     backoff, then create with a fresh id
//	update   200                         renewed
//	update   404 (no such subscription)  create again at once with a fresh id
//	update   420                         update again at once without <expires>/<frequency>, if they were sent; else backoff
//	update   400, 401, 402, 403, 405     backoff, then update again (next seqnumber); if the subscription
//	                                     lapses meanwhile, create with a fresh id
//	remove   200, 404                    removed
//	remove   other                       retried with backoff (3 tries) when the provider left the
//	                                     configuration; one try when the broker stops
//	any      no answer (transport error, treated like the refusals above (backoff)
//	         HTTP status other than 200)
//
// Failures are logged once per change of (command, answer), not per try.
type Manager struct {
	opt    ManagerOptions
	clock  clock.Clock
	logger *zap.Logger

	mu      sync.Mutex
	workers map[string]*worker // by provider id
	// leaving holds, by provider id, the done channel of a worker that
	// left the configuration and may still be removing its subscription.
	leaving map[string]<-chan struct{}
	ids     map[string]string // held subscription id → provider id
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  bool
	// awake is the workers a catalogue change wakes (a copy of workers,
	// read without mu: the catalogue calls its subscribers from whatever
	// goroutine changed it).
	awake atomic.Pointer[[]*worker]
}

// WithDefaults returns opt with its unset or out-of-range fields set to
// their defaults (the Default constants), the wall clock, a no-op logger
// and math/rand for the jitter. Sender, Catalog, Ingester and Store are
// left as they are.
func (opt ManagerOptions) WithDefaults() ManagerOptions {
	defaults.Zero(&opt.KeyPrefix, DefaultSubscriptionPrefix)
	opt.Clock = clock.OrReal(opt.Clock)
	defaults.Zero(&opt.Logger, zap.NewNop())
	if opt.RenewAt <= 0 || opt.RenewAt >= 1 {
		opt.RenewAt = DefaultRenewAt
	}
	defaults.Positive(&opt.RetryMin, DefaultRetryMin)
	if opt.RetryMax < opt.RetryMin {
		opt.RetryMax = max(DefaultRetryMax, opt.RetryMin)
	}
	defaults.Positive(&opt.RequestTimeout, DefaultRequestTimeout)
	defaults.Zero(&opt.SyncInterval, DefaultSubscriptionSync)
	if opt.Rand == nil {
		opt.Rand = rand.Float64
	}
	return opt
}

// Validate checks the tunables as given: RenewAt is a fraction in (0, 1)
// or zero (the default), and the retry bounds are in order when both are
// set. NewManager itself falls back to the defaults instead; Validate is
// for configuration that should be refused rather than corrected.
// Errors name the fields as the Caddy configuration does (snake_case).
func (opt ManagerOptions) Validate() error {
	if opt.RenewAt < 0 || opt.RenewAt >= 1 {
		return fmt.Errorf("subscriptions: renew_at %v: want a fraction between 0 and 1", opt.RenewAt)
	}
	if opt.RetryMin < 0 || opt.RetryMax < 0 || opt.RequestTimeout < 0 {
		return errors.New("subscriptions: retry and timeout durations must be positive")
	}
	if opt.RetryMin > 0 && opt.RetryMax > 0 && opt.RetryMax < opt.RetryMin {
		return fmt.Errorf("subscriptions: retry maximum %s is shorter than the minimum %s", opt.RetryMax, opt.RetryMin)
	}
	return nil
}

// NewManager returns a manager with no subscriptions; Configure starts
// them.
func NewManager(opt ManagerOptions) *Manager {
	opt = opt.WithDefaults()
	m := &Manager{
		opt:     opt,
		clock:   opt.Clock,
		logger:  opt.Logger,
		workers: make(map[string]*worker),
		leaving: make(map[string]<-chan struct{}),
		ids:     make(map[string]string),
		stop:    make(chan struct{}),
	}
	if opt.Catalog != nil {
		// A provider's status changes in the catalogue: a paused
		// subscription may go on (worker.held).
		opt.Catalog.Subscribe(func() {
			if ws := m.awake.Load(); ws != nil {
				for _, w := range *ws {
					w.wake()
				}
			}
		})
	}
	return m
}

// publishAwake copies the workers for the catalogue's wake-ups (the
// caller holds mu).
func (m *Manager) publishAwake() {
	ws := make([]*worker, 0, len(m.workers))
	for _, w := range m.workers {
		ws = append(ws, w)
	}
	m.awake.Store(&ws)
}

// Configure sets the providers to subscribe to. New providers get a
// subscription (or continue the one stored for them); providers no longer
// listed get theirs removed; providers whose requested expires or
// frequency changed get an update; a changed URL removes the subscription
// at the old URL and creates one at the new. Providers that stay unchanged
// are left alone: a configuration reload causes no command at all.
func (m *Manager) Configure(cfgs []SubscriptionConfig) error {
	seen := make(map[string]bool, len(cfgs))
	for _, c := range cfgs {
		if c.ProviderID == "" || c.URL == "" {
			return fmt.Errorf("subscription needs a provider id and a url")
		}
		if seen[c.ProviderID] {
			return fmt.Errorf("provider %q: subscribed twice", c.ProviderID)
		}
		seen[c.ProviderID] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("subscription manager closed")
	}
	for pid, done := range m.leaving {
		select {
		case <-done:
			delete(m.leaving, pid) // removed
		default:
		}
	}
	for pid, w := range m.workers {
		if !seen[pid] {
			delete(m.workers, pid)
			w.quit(true)
			m.leaving[pid] = w.done
		}
	}
	for _, c := range cfgs {
		if w := m.workers[c.ProviderID]; w != nil {
			w.reconfigure(c)
			continue
		}
		w := newWorker(m, c)
		w.after = m.leaving[c.ProviderID]
		delete(m.leaving, c.ProviderID)
		m.workers[c.ProviderID] = w
		m.wg.Add(1)
		go w.run()
	}
	m.publishAwake()
	return nil
}

// Close stops every subscription goroutine. With remove set (the broker
// is stopping), each held subscription is removed at its provider, one
// try each, bounded by ctx, and its stored record is deleted; without it
// the subscriptions stay as they are, for the next start to continue.
func (m *Manager) Close(ctx context.Context, remove bool) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	workers := make([]*worker, 0, len(m.workers))
	for _, w := range m.workers {
		workers = append(workers, w)
	}
	m.workers = map[string]*worker{}
	m.publishAwake()
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
	if !remove {
		return
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.removeOnce(ctx)
		}()
	}
	wg.Wait()
}

// Resync asks the provider's subscription for a resynchronisation: an
// update, after which the provider's next notification is taken as its
// full state. The ingester calls it on a seqnumber gap.
func (m *Manager) Resync(providerID, id string) {
	m.mu.Lock()
	w := m.workers[providerID]
	m.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case w.resyncCh <- id:
	default:
	}
}

// SubscriptionProvider implements SubscriptionLookup. An id this broker
// does not know yet is looked up in the store record of providerHint, so
// a subscription created a moment ago by another broker sharing the store
// is recognised.
//
// A subscription whose granted expiry has passed is not held: it no
// longer exists (draft 4.1.2.2.1), though the worker keeps its record
// until a new subscription replaces it. Its notifications would be
// acknowledged while their entries land already expired, out of
// placement. The store is asked first, in case another broker sharing it
// renewed the subscription and this one has not followed yet.
func (m *Manager) SubscriptionProvider(id, providerHint string) (string, bool) {
	m.mu.Lock()
	pid, ok := m.ids[id]
	w := m.workers[providerHint]
	m.mu.Unlock()
	now := m.clock.Now()
	if ok && !m.lapsed(id, now) {
		return pid, true
	}
	if w == nil || m.opt.Store == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, err := m.load(ctx, providerHint)
	if err != nil || rec == nil || rec.ID != id {
		return "", false
	}
	if !rec.Active && rec.SeqNumber != 1 {
		return "", false
	}
	if rec.Active && !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt) {
		return "", false // lapsed here and in the store
	}
	m.hold(rec.ID, providerHint)
	switch {
	case rec.Active:
		m.opt.Catalog.SetLease(rec.ID, rec.ExpiresAt)
	case rec.RequestedExpires > 0:
		// A create not answered yet: the provisional lease its broker
		// set (create). Without one the catalogue would publish the
		// notification's entries as never expiring, and a stored
		// "never" wins every later merge of the lease.
		m.opt.Catalog.SetLease(rec.ID, rec.UpdatedAt.Add(time.Duration(rec.RequestedExpires)*time.Second))
	}
	select { // let the worker adopt it
	case w.syncCh <- struct{}{}:
	default:
	}
	return providerHint, true
}

// lapsed reports whether the lease the catalogue holds for a subscription
// id (its granted expiry, or the provisional one of an unanswered create)
// has passed.
func (m *Manager) lapsed(id string, now time.Time) bool {
	if m.opt.Catalog == nil {
		return false
	}
	x, ok := m.opt.Catalog.Lease(id)
	return ok && !x.IsZero() && !now.Before(x)
}

// Snapshot returns the state of every subscription, by provider id.
func (m *Manager) Snapshot() []State {
	m.mu.Lock()
	out := make([]State, 0, len(m.workers))
	for _, w := range m.workers {
		out = append(out, w.state())
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ProviderID < out[j].ProviderID })
	return out
}

func (m *Manager) hold(id, pid string) {
	m.mu.Lock()
	m.ids[id] = pid
	m.mu.Unlock()
}

func (m *Manager) release(id string) {
	if id == "" {
		return
	}
	m.mu.Lock()
	delete(m.ids, id)
	m.mu.Unlock()
	if m.opt.Ingester != nil {
		m.opt.Ingester.Forget(id)
	}
}

func (m *Manager) key(pid string) string { return m.opt.KeyPrefix + url.PathEscape(pid) }

func (m *Manager) load(ctx context.Context, pid string) (*Record, error) {
	if m.opt.Store == nil {
		return nil, nil
	}
	data, err := m.opt.Store.Load(ctx, m.key(pid))
	if errors.Is(err, store.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec := new(Record)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("subscription record of %q: %w", pid, err)
	}
	return rec, nil
}

func (m *Manager) save(ctx context.Context, rec Record) error {
	if m.opt.Store == nil {
		return nil
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return m.opt.Store.Store(ctx, m.key(rec.ProviderID), data)
}

func (m *Manager) deleteRecord(ctx context.Context, pid string) error {
	if m.opt.Store == nil {
		return nil
	}
	err := m.opt.Store.Delete(ctx, m.key(pid))
	if errors.Is(err, store.ErrNotExist) {
		return nil
	}
	return err
}

// lock serialises commands for one provider across brokers sharing the
// store.
func (m *Manager) lock(ctx context.Context, pid string) (unlock func(), err error) {
	if m.opt.Store == nil {
		return func() {}, nil
	}
	name := m.key(pid)
	if err := m.opt.Store.Lock(ctx, name); err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.opt.Store.Unlock(ctx, name)
	}, nil
}

// backoff returns the delay before retry number n (1-based): RetryMin
// doubled per failure, capped at RetryMax, with "equal jitter" (between
// half and all of it).
func (m *Manager) backoff(n int) time.Duration {
	d := m.opt.RetryMin
	for i := 1; i < n && d < m.opt.RetryMax; i++ {
		d *= 2
	}
	d = min(d, m.opt.RetryMax)
	return d/2 + time.Duration(m.opt.Rand()*float64(d/2))
}

// newToken returns a fresh subscription id: 128 random bits, base64url,
// which is a valid NMTOKEN.
func newToken() string {
	var b [16]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func seconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Second - 1) / time.Second)
}
