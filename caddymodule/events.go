package caddymodule

// Job events in the Caddy glue: the job manager's events (broker/jobs
// events.go) become Caddy events emitted through the events app, webhook
// deliveries (broker/webhook) to consumers' callbacks and operators'
// webhooks, and the wake-ups of long-polls (consumer_wait.go).
//
// Caddy events, emitted by the csb app (origin module "csb"), with their
// data:
//
//	csb.job.state          job_id owner provider_id old_status new_status reason seq time [expires]
//	csb.job.lease_warning  the same, with expires: the lease ends within events { lease_warning }
//	csb.job.reclaimed      the same: the reaper removed the resources of an ended lease
//	csb.job.drift          the same: the job's resource vanished at its provider; the job failed
//	csb.provider.health    provider_id healthy time: the transparent proxy's passive health mark changed
//
// They are emitted in order from one goroutine, not from the job's
// goroutine, so a slow handler delays later events but never a job; the
// Caddy event's abort has no effect. Webhook bodies are
// {"type": <event name>, "timestamp": ..., "data": <the same data>}.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/peerurl"
	"github.com/caddy-csb/caddy-csb/broker/store"
	"github.com/caddy-csb/caddy-csb/broker/webhook"
)

// Caddy event names.
const (
	EventJobState       = "csb.job.state"
	EventJobLeaseWarn   = "csb.job.lease_warning"
	EventJobReclaimed   = "csb.job.reclaimed"
	EventJobDrift       = "csb.job.drift"
	EventProviderHealth = "csb.provider.health"
)

// EventsConfig configures job events, webhooks and the long-poll
// (Caddyfile: the events block of the csb global option).
type EventsConfig struct {
	// LeaseWarning is how long before a job's lease ends the
	// csb.job.lease_warning event is sent (by the reaper, so up to
	// jobs reap_interval late). Default 5m; negative: never.
	LeaseWarning caddy.Duration `json:"lease_warning,omitempty"`
	// MaxWait bounds the long-poll: GET <consumer_path>/<id>?wait=<d>
	// waits at most this long (a longer wait is shortened to it, and the
	// Csb-Wait response header says how long was waited for). Default
	// 60s.
	MaxWait caddy.Duration `json:"max_wait,omitempty"`
	// ClusterRecheck is how often a long-poll re-reads its job, to see
	// changes made by another broker sharing the storage (this broker's
	// own changes end a poll at once). Default 1s.
	ClusterRecheck caddy.Duration `json:"cluster_recheck,omitempty"`
	// Webhooks are the operator's webhooks: every event of every job
	// (and provider health) is delivered to each. Their URLs are trusted
	// like a provider's configured URLs (loopback included); Caddy's
	// admin endpoint is refused. Default: none.
	Webhooks []*OperatorWebhook `json:"webhooks,omitempty"`
	// AllowedHosts are the host patterns consumers' callback URLs
	// (Csb-Callback) may name ("hooks.example.org", "*.example.org",
	// optionally ":port"). Default: any host.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// AllowPrivate lets callback URLs reach addresses that are not public
	// (loopback, private, link-local). Default false: refused, when the
	// callback is registered and again when a delivery connects.
	AllowPrivate bool `json:"allow_private,omitempty"`
	// RetryMin and RetryMax bound the backoff between attempts of a
	// delivery, which doubles from RetryMin. Defaults 1s and 10m.
	RetryMin caddy.Duration `json:"retry_min,omitempty"`
	RetryMax caddy.Duration `json:"retry_max,omitempty"`
	// MaxAttempts is how many times a delivery is tried before it is
	// given up. Default 10.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Retain is how long delivered and given-up deliveries stay listed
	// in the admin API (GET /csb/webhooks), and so how late a job event
	// whose deliveries a crash lost is found and delivered (within half
	// of it: events_outbox.go); a closed callback no job names any more
	// is deleted Retain after its close. Default 24h.
	Retain caddy.Duration `json:"retain,omitempty"`
}

// OperatorWebhook is one operator webhook.
type OperatorWebhook struct {
	// URL receives the deliveries. Required.
	URL string `json:"url"`
	// Secret signs them: "whsec_" and the base64 of 24 to 64 random
	// bytes (placeholders such as {env.CSB_WEBHOOK_SECRET} are expanded).
	// Required.
	Secret string `json:"secret"`
	// Events lists the event names delivered. Default: all.
	Events []string `json:"events,omitempty"`
}

// DefaultMaxWait is EventsConfig.MaxWait's default.
const DefaultMaxWait = 60 * time.Second

func (c *EventsConfig) maxWait() time.Duration {
	if c == nil || c.MaxWait <= 0 {
		return DefaultMaxWait
	}
	return time.Duration(c.MaxWait)
}

// DefaultClusterRecheck is EventsConfig.ClusterRecheck's default.
const DefaultClusterRecheck = time.Second

func (c *EventsConfig) clusterRecheck() time.Duration {
	if c == nil || c.ClusterRecheck <= 0 {
		return DefaultClusterRecheck
	}
	return time.Duration(c.ClusterRecheck)
}

func (c *EventsConfig) leaseWarning() time.Duration {
	if c == nil {
		return 0
	}
	return time.Duration(c.LeaseWarning)
}

var eventNames = []string{EventJobState, EventJobLeaseWarn, EventJobReclaimed, EventJobDrift, EventProviderHealth}

// validate checks the configuration without side effects.
func (c *EventsConfig) validate() error {
	if c == nil {
		return nil
	}
	if c.MaxWait < 0 {
		return fmt.Errorf("events: max_wait %s: must be positive", time.Duration(c.MaxWait))
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("events: max_attempts %d: must be positive", c.MaxAttempts)
	}
	if c.RetryMin < 0 || c.RetryMax < 0 || c.RetryMax > 0 && c.RetryMax < c.RetryMin {
		return fmt.Errorf("events: retry %s %s: want 0 < min <= max", time.Duration(c.RetryMin), time.Duration(c.RetryMax))
	}
	for _, h := range c.AllowedHosts {
		if _, err := peerurl.ParsePattern(h); err != nil {
			return fmt.Errorf("events: %v", err)
		}
	}
	for _, w := range c.Webhooks {
		u, err := url.Parse(w.URL)
		if err != nil || !u.IsAbs() || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("events: webhook %q: not an absolute http or https url", w.URL)
		}
		if w.Secret == "" {
			return fmt.Errorf("events: webhook %q: a secret is required", w.URL)
		}
		for _, e := range w.Events {
			if !containsString(eventNames, e) {
				return fmt.Errorf("events: webhook %q: unknown event %q (known: %s)", w.URL, e, strings.Join(eventNames, ", "))
			}
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// eventsPool holds the process's events engine beside the broker engine
// (enginePool): it lives on across reloads.
var eventsPool = caddy.NewUsagePool()

const eventsKey = "csb.events"

// eventsEngine is the long-lived part: the observer of the job manager,
// the webhook dispatcher, the long-poll waiters and the queue of Caddy
// events.
type eventsEngine struct {
	jobs    *jobs.Manager
	disp    *webhook.Dispatcher
	view    atomic.Pointer[eventsView]
	waiters waiterSet
	logger  *swapLogger
	unobs   func()
	clock   clock.Clock // the dispatcher's (nil: the wall clock)

	qmu    sync.Mutex
	queue  []jobs.Event
	signal chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
}

// eventsView is what one configuration contributes.
type eventsView struct {
	cfg       *EventsConfig
	ctx       caddy.Context
	events    *caddyevents.App
	operators map[string]*webhook.Subscriber // id → operator webhook
	admin     []string
	logger    *zap.Logger

	mu      sync.Mutex
	clients map[string]*http.Client // policy key → client
}

func newEventsEngine(ctx caddy.Context, a *App) (*eventsEngine, error) {
	return startEventsEngine(a.engine.consumer.jobs, a.engine.store, ctx.Logger().Named("events"), nil)
}

// startEventsEngine makes the events engine of job manager m over st (clk:
// the dispatcher's clock, nil for the wall clock): the webhook
// dispatcher, the manager's observer and Outbox (events_outbox.go), and
// the emitter. The dispatcher starts with the first configuration
// (startEvents).
func startEventsEngine(m *jobs.Manager, st store.Store, logger *zap.Logger, clk clock.Clock) (*eventsEngine, error) {
	e := &eventsEngine{jobs: m, logger: newSwapLogger(logger), signal: make(chan struct{}, 1), done: make(chan struct{})}
	var err error
	e.disp, err = webhook.New(webhook.Config{Store: st, Client: e.client, Subscriber: e.operator, InUse: e.callbackInUse, Logger: e.logger.logger, Clock: clk})
	if err != nil {
		return nil, err
	}
	e.clock = clk
	unobs, unbox := m.Observe(e.observe), m.SetOutbox(e)
	e.unobs = func() { unobs(); unbox() }
	e.wg.Add(1)
	go e.emitLoop()
	return e, nil
}

// Destruct stops the emitter and the dispatcher (the last configuration
// let go).
func (e *eventsEngine) Destruct() error {
	e.unobs()
	close(e.done)
	e.wg.Wait()
	e.disp.Stop()
	return nil
}

// operator returns the current configuration's operator webhook id.
func (e *eventsEngine) operator(id string) (*webhook.Subscriber, bool) {
	v := e.view.Load()
	if v == nil {
		return nil, false
	}
	s, ok := v.operators[id]
	return s, ok
}

// observe is the job manager's observer: it must not block.
func (e *eventsEngine) observe(ev jobs.Event) {
	if ev.Kind == jobs.EventStateChange {
		e.waiters.wake(ev.JobID)
	}
	e.qmu.Lock()
	e.queue = append(e.queue, ev)
	e.qmu.Unlock()
	select {
	case e.signal <- struct{}{}:
	default:
	}
	// A job event's webhook deliveries are the Outbox's (Deliver,
	// events_outbox.go): they are kept in the job's record until stored.
	// A provider's health change is in no record: its deliveries are
	// stored now.
	if ev.JobID != "" {
		return
	}
	v := e.view.Load()
	if v == nil || len(v.operators) == 0 {
		return
	}
	var subs []string
	for id := range v.operators {
		subs = append(subs, id)
	}
	msg := webhook.Message{Type: eventName(ev.Kind), Group: "provider-" + keySafe(ev.ProviderID), Order: uint64(ev.Time.UnixNano()), Time: ev.Time, Data: eventData(ev)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.disp.Enqueue(ctx, msg, subs...); err != nil {
		e.logger.logger.Error("queueing webhook deliveries", zap.String("event", msg.Type), zap.Error(err))
	}
}

// emitLoop emits the queued events through the current configuration's
// events app, in order.
func (e *eventsEngine) emitLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.done:
			return
		case <-e.signal:
		}
		for {
			e.qmu.Lock()
			batch := e.queue
			e.queue = nil
			e.qmu.Unlock()
			if len(batch) == 0 {
				break
			}
			v := e.view.Load()
			for _, ev := range batch {
				if v != nil && v.events != nil {
					v.events.Emit(v.ctx, eventName(ev.Kind), eventData(ev))
				}
			}
		}
	}
}

func eventName(k jobs.EventKind) string {
	switch k {
	case jobs.EventStateChange:
		return EventJobState
	case jobs.EventLeaseWarning:
		return EventJobLeaseWarn
	case jobs.EventReclaimed:
		return EventJobReclaimed
	case jobs.EventDrift:
		return EventJobDrift
	case jobs.EventProviderHealth:
		return EventProviderHealth
	}
	return "csb." + string(k)
}

// eventData is an event's data, for Caddy events and webhook bodies.
func eventData(ev jobs.Event) map[string]any {
	d := map[string]any{"time": ev.Time.UTC().Format(time.RFC3339Nano)}
	if ev.ProviderID != "" {
		d["provider_id"] = ev.ProviderID
	}
	if ev.Kind == jobs.EventProviderHealth {
		d["healthy"] = ev.Healthy != nil && *ev.Healthy
		return d
	}
	d["job_id"], d["owner"], d["seq"] = ev.JobID, ev.Owner, ev.Seq
	d["old_status"], d["new_status"] = string(ev.OldStatus), string(ev.NewStatus)
	if ev.Reason != "" {
		d["reason"] = ev.Reason
	}
	if !ev.Expires.IsZero() {
		d["expires"] = ev.Expires.UTC().Format(time.RFC3339)
	}
	return d
}

func keySafe(s string) string {
	if webhook.ValidID(s) {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// client returns the HTTP client for a delivery to u: an operator
// webhook's URL is trusted like a provider's configured URL; any other
// URL (a consumer's callback) must pass allowed_hosts and, unless
// allow_private, resolve to public addresses only (checked again on every
// connection). Redirects are not followed.
func (e *eventsEngine) client(u *url.URL) (*http.Client, error) {
	v := e.view.Load()
	if v == nil {
		return nil, errors.New("events are not configured")
	}
	pol, key, err := v.policy(u)
	if err != nil {
		return nil, err
	}
	if err := pol.Check(u); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c := v.clients[key]; c != nil {
		return c, nil
	}
	c, err := httpclient.New(httpclient.Config{Peer: pol, Timeouts: httpclient.Timeouts{Overall: time.Duration(v.cfg.Timeout)}})
	if err != nil {
		return nil, err
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if v.clients == nil || len(v.clients) >= maxEventClients {
		// Callback hosts are the consumers' choice: keep a bounded set
		// (a dropped client's idle connections time out).
		v.clients = map[string]*http.Client{}
	}
	v.clients[key] = c
	return c, nil
}

// maxEventClients bounds the delivery clients kept per configuration.
const maxEventClients = 256

// policy returns the peer URL policy for u and a key naming it.
func (v *eventsView) policy(u *url.URL) (*peerurl.Policy, string, error) {
	pc := peerurl.Config{Admin: v.admin}
	for _, w := range v.cfg.Webhooks {
		// The operator's trust goes with the webhook's own URL, not with
		// its host: the dispatcher knows a delivery only by its URL, and a
		// consumer's callback elsewhere on that host (registered while
		// allow_private was on, or before the webhook was configured) is
		// judged by the consumers' rules at every delivery.
		if wu, err := url.Parse(w.URL); err == nil && wu.String() == u.String() {
			pc.Origins = []string{w.URL}
			p, err := peerurl.New(pc)
			return p, "operator " + u.Scheme + "://" + u.Host, err
		}
	}
	pc.AllowPrivate = v.cfg.AllowPrivate
	pc.AllowedHosts = v.cfg.AllowedHosts
	key := "callbacks"
	if len(pc.AllowedHosts) == 0 {
		// Any host: the URL's own, judged by its addresses.
		pc.AllowedHosts = []string{u.Host}
		key = "callback " + u.Host
	}
	p, err := peerurl.New(pc)
	if err != nil {
		return nil, "", &peerurl.Error{URL: peerurl.Redact(u), Err: fmt.Errorf("%w: %v", peerurl.ErrHostNotAllowed, err)}
	}
	return p, key, nil
}

// checkCallback judges a consumer's callback URL as a delivery will:
// allowed_hosts, and, unless allow_private, public addresses only (the
// name is resolved now).
func (v *eventsView) checkCallback(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("Csb-Callback %q: not an absolute http or https url", raw)
	}
	pol, _, err := v.policy(u)
	if err != nil {
		return nil, fmt.Errorf("Csb-Callback: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, peerResolveTimeout)
	defer cancel()
	if err := pol.CheckResolved(cctx, u); err != nil {
		return nil, fmt.Errorf("Csb-Callback: %v", err)
	}
	return u, nil
}

// provisionEvents takes a reference to the events engine and prepares
// this configuration's view: its events app, operator webhooks and URL
// policy.
func (a *App) provisionEvents(ctx caddy.Context) error {
	var err error
	if a.events, err = loadPooled(eventsPool, eventsKey, func() (*eventsEngine, error) { return newEventsEngine(ctx, a) }); err != nil {
		return err
	}
	cfg := a.Events
	if cfg == nil {
		cfg = new(EventsConfig)
	}
	v := &eventsView{cfg: cfg, ctx: ctx, operators: map[string]*webhook.Subscriber{}, admin: adminAddresses(ctx), logger: a.logger}
	repl := caddy.NewReplacer()
	for _, w := range cfg.Webhooks {
		secret := repl.ReplaceKnown(w.Secret, "")
		if _, err := webhook.ParseSecret(secret); err != nil {
			return fmt.Errorf("events: webhook %q: %v", w.URL, err)
		}
		h := sha256.Sum256([]byte(w.URL))
		id := "op-" + hex.EncodeToString(h[:6])
		v.operators[id] = &webhook.Subscriber{ID: id, URL: w.URL, Secret: secret, Events: w.Events}
	}
	if v.events, err = eventsApp(ctx); err != nil {
		return err
	}
	a.eventsView = v
	return nil
}

// eventsApp loads Caddy's events app, or nil for a context without a
// configuration (a unit test provisioning the app by hand, as
// contextStore allows).
func eventsApp(ctx caddy.Context) (app *caddyevents.App, err error) {
	defer func() {
		if recover() != nil {
			app, err = nil, nil
		}
	}()
	ev, err := ctx.App("events")
	if err != nil {
		return nil, fmt.Errorf("events: loading the events app: %v", err)
	}
	return ev.(*caddyevents.App), nil
}

// applyEvents makes this configuration's view current and gives the
// dispatcher its settings.
func (a *App) applyEvents() {
	e, v := a.events, a.eventsView
	if e == nil || v == nil {
		return
	}
	e.logger.set(a.logger)
	e.view.Store(v)
	c := v.cfg
	e.disp.Reconfigure(webhook.Config{Client: e.client, Subscriber: e.operator, Logger: e.logger.logger, Clock: e.clock,
		RetryMin: time.Duration(c.RetryMin), RetryMax: time.Duration(c.RetryMax), MaxAttempts: c.MaxAttempts,
		Timeout: time.Duration(c.Timeout), Retain: time.Duration(c.Retain)})
}

// cleanupEvents lets go of the events engine. The app's events field
// stays, as its engine field does (cleanupEngine): the configuration's
// requests still being served read it.
func (a *App) cleanupEvents() error {
	if a.events == nil || a.eventsReleased {
		return nil
	}
	a.eventsReleased = true
	a.events.view.CompareAndSwap(a.eventsView, nil)
	_, err := eventsPool.Delete(eventsKey)
	return err
}

// waiterSet holds the long-polls waiting for a job's state to change.
type waiterSet struct {
	mu      sync.Mutex
	m       map[string]map[chan struct{}]bool
	waiting atomic.Int64 // long-polls blocked now (GET /csb/webhooks shows it)
}

// add registers a waiter for job id; its channel is closed at the job's
// next state change.
func (s *waiterSet) add(id string) chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[chan struct{}]bool{}
	}
	if s.m[id] == nil {
		s.m[id] = map[chan struct{}]bool{}
	}
	s.m[id][ch] = true
	return ch
}

func (s *waiterSet) remove(id string, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.m[id]; w != nil && w[ch] {
		delete(w, ch)
		if len(w) == 0 {
			delete(s.m, id)
		}
	}
}

func (s *waiterSet) wake(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.m[id] {
		close(ch)
	}
	delete(s.m, id)
}

// Interface guards.
var _ caddy.Destructor = (*eventsEngine)(nil)
