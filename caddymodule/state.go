package caddymodule

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/publish"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// enginePool holds the broker engine of this process. Every configuration
// that has the csb app holds a reference; a reload loads the same engine
// (the new configuration provisions before the old one is cleaned up), so
// the catalogue, the sequencing state and the subscriptions live on with
// no gap. When the last configuration lets go (Caddy stops, or a new
// configuration has no csb app) the engine's destructor removes the
// subscriptions and writes the catalogue out.
var enginePool = caddy.NewUsagePool()

const engineKey = "csb.engine"

// engine is the broker's long-lived state. It is built once per process
// from the first configuration (its storage and storage-related options)
// and reconfigured by every configuration's Start (and again by the
// running configuration when a reload fails: retire). Helpers add their
// own long-lived parts here (the job manager, ...): a field, its creation
// in newEngine, its reconfiguration in applyConfig and its shutdown in
// Destruct.
type engine struct {
	store   store.Store
	catalog *catalog.Catalog
	ingest  *publish.Ingester
	subs    *publish.Manager
	log     *swapLogger

	// consumer is the job manager and the current config's placer and
	// adapters (jobs.go).
	consumer *consumerEngine

	mu      sync.Mutex
	started bool
	// apps are the apps whose Start took the engine over and that are
	// not stopped yet, oldest first: the last one's configuration is the
	// one applied (takeOver, handBack).
	apps []*App
}

// newEngine builds the engine on the configuration's storage and starts it
// warm from what that storage holds.
func newEngine(ctx caddy.Context, a *App) (*engine, error) {
	e := &engine{store: contextStore(ctx), log: newSwapLogger(ctx.Logger())}
	logger := e.log.logger
	co := a.Catalog
	if co == nil {
		co = new(CatalogOptions)
	}
	cat, err := catalog.New(catalog.Options{
		Store:        e.store,
		Logger:       logger.Named("catalog"),
		FlushDelay:   time.Duration(co.FlushDelay),
		SyncInterval: time.Duration(co.SyncInterval),
		Retention:    time.Duration(co.Retention),
		CacheCost:    co.CacheSize,
		// One publisher must not grow the catalogue without end.
		MaxPublishedServices: co.MaxServices,
		// A health mark's change becomes a job event (events.go).
		OnHealth: func(id string, healthy bool) {
			if c := e.consumer; c != nil {
				c.jobs.ProviderHealth(id, healthy)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	e.catalog = cat
	// The catalogue is read after the start: what needs no catalogue (a
	// consumer reading its job, the admin API) is served meanwhile, and
	// placement, the publish interface and the catalogue listings wait
	// for it. The engine outlives this configuration (a reload keeps
	// it), so the load does not end with the configuration's context.
	loadCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	began := time.Now()
	cat.LoadInBackground(loadCtx, func(np, ns int, err error) {
		cancel()
		if err != nil {
			logger.Warn("catalogue partly loaded from storage", zap.Error(err))
		}
		logger.Info("catalogue loaded from storage", zap.Int("providers", np), zap.Int("services", ns), zap.Duration("took", time.Since(began)))
	})

	so := a.Subscriptions
	if so == nil {
		so = new(SubscriptionOptions)
	}
	e.ingest = publish.NewIngester(publish.IngestOptions{
		Catalog: cat,
		Logger:  logger.Named("publish"),
	})
	e.subs = publish.NewManager(publish.ManagerOptions{
		Sender:         publish.HTTPSender{UserAgent: "caddy-csb"},
		Catalog:        cat,
		Ingester:       e.ingest,
		Store:          e.store,
		Logger:         logger.Named("subscriptions"),
		RenewAt:        so.RenewAt,
		RetryMin:       time.Duration(so.RetryMin),
		RetryMax:       time.Duration(so.RetryMax),
		RequestTimeout: time.Duration(so.Timeout),
		SyncInterval:   time.Duration(so.SyncInterval),
	})
	e.ingest.SetSubscriptions(e.subs, e.subs.Resync)
	if e.consumer, err = newConsumerEngine(e.store, logger.Named("jobs"), a, cat); err != nil {
		return nil, err
	}
	return e, nil
}

// start begins the background work once.
func (e *engine) start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		e.started = true
		e.catalog.Start()
	}
}

// Destruct implements caddy.Destructor: the last configuration using the
// engine is gone, so the broker is stopping. Subscriptions are removed at
// their providers (one try each) and the catalogue is written out.
func (e *engine) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	e.consumer.stop()
	e.subs.Close(ctx, true)
	err := e.catalog.Close(ctx)
	e.log.logger.Info("broker engine stopped")
	return err
}

// swapLogger is a zap logger whose output can be moved to the logger of
// the newest configuration: the engine outlives the configuration it was
// built with, whose log writers a reload may close.
type swapLogger struct {
	target *atomic.Pointer[zap.Logger]
	logger *zap.Logger
}

func newSwapLogger(l *zap.Logger) *swapLogger {
	t := new(atomic.Pointer[zap.Logger])
	t.Store(l)
	return &swapLogger{target: t, logger: zap.New(swapCore{target: t}).Named(l.Name())}
}

// set sends the output to l from now on.
func (s *swapLogger) set(l *zap.Logger) { s.target.Store(l) }

// swapCore forwards to the core of the current target logger.
type swapCore struct {
	target *atomic.Pointer[zap.Logger]
	fields []zapcore.Field
}

func (c swapCore) core() zapcore.Core { return c.target.Load().Core() }

func (c swapCore) Enabled(l zapcore.Level) bool { return c.core().Enabled(l) }

func (c swapCore) With(fields []zapcore.Field) zapcore.Core {
	return swapCore{target: c.target, fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

func (c swapCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	core := c.core()
	if !core.Enabled(ent.Level) {
		return ce
	}
	if len(c.fields) > 0 {
		core = core.With(c.fields)
	}
	return core.Check(ent, ce)
}

func (c swapCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	return c.core().With(c.fields).Write(ent, fields)
}

func (c swapCore) Sync() error { return c.core().Sync() }

// Interface guards.
var (
	_ caddy.Destructor = (*engine)(nil)
	_ zapcore.Core     = swapCore{}
)

// loadPooled takes a reference to the value under key in pool (the
// engines that live on across reloads), building it the first time.
func loadPooled[T caddy.Destructor](pool *caddy.UsagePool, key string, build func() (T, error)) (T, error) {
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) { return build() })
	if err != nil {
		var none T
		return none, err
	}
	return val.(T), nil
}

// provisionEngine takes a reference to the process's engine, building it
// (warm from storage) for the first configuration. It applies nothing:
// the configuration is applied in Start, once Caddy knows the whole new
// configuration provisioned.
func (a *App) provisionEngine(ctx caddy.Context) error {
	var err error
	if a.engine, err = loadPooled(enginePool, engineKey, func() (*engine, error) { return newEngine(ctx, a) }); err != nil {
		return err
	}
	a.live = new(atomic.Pointer[engine])
	a.live.Store(a.engine)
	return nil
}

// validatePublish checks the catalogue and publish settings.
func (a *App) validatePublish() error {
	if _, err := a.catalogConfig(); err != nil {
		return err
	}
	if _, err := a.publishPolicies(); err != nil {
		return err
	}
	for _, p := range a.Providers {
		if p.Subscribe != nil {
			if err := p.Subscribe.validate(); err != nil {
				return fmt.Errorf("provider %q: %v", p.ID, err)
			}
		}
		// Provision loads the adapter and Caddy then clears AdapterRaw, so
		// a provisioned provider is known by its loaded adapter.
		if p.Discover != nil && len(p.AdapterRaw) == 0 && p.adapter == nil {
			return fmt.Errorf("provider %q: discover needs an adapter", p.ID)
		}
	}
	return nil
}

// applyEngine applies this configuration to the engine: the engine's
// log, the catalogue's providers and static entries, who may publish,
// the subscriptions (a provider that stays unchanged gets no command at
// all).
func (a *App) applyEngine() error {
	e := a.engine
	e.log.set(a.logger)
	cfg, err := a.catalogConfig()
	if err != nil {
		return err
	}
	pols, err := a.publishPolicies()
	if err != nil {
		return err
	}
	if err := e.catalog.Configure(cfg); err != nil {
		return err
	}
	if err := e.ingest.Configure(a.lenient(), pols); err != nil {
		return err
	}
	return e.subs.Configure(a.subscriptionConfigs())
}

// applyConfig applies this configuration to the engines: the broker
// engine's parts (applyEngine), the Consumer interface's
// (applyConsumer) and the events' (applyEvents).
func (a *App) applyConfig() error {
	if err := a.applyEngine(); err != nil {
		return err
	}
	if err := a.applyConsumer(); err != nil {
		return err
	}
	a.applyEvents()
	return nil
}

// takeOver records that a's Start is applying its configuration to the
// engine: from now on (partly, if the Start fails) the engine holds a's
// settings, until retire.
func (e *engine) takeOver(a *App) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.apps = append(e.apps, a)
}

// handBack forgets a (its configuration stops or is cleaned up) and
// returns the app whose configuration the engine must hold again: the
// newest of the others still running, when a's was the one applied last.
// That is a reload whose new configuration failed to start (the csb
// app's own Start failed, or another app's after it): Caddy stops and
// cleans up the new configuration and keeps the running one, whose
// settings the new one had replaced. A reload that succeeded stops the
// old configuration after the new one took over: nothing to hand back.
func (e *engine) handBack(a *App) *App {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := slices.Index(e.apps, a)
	if i < 0 {
		return nil
	}
	last := i == len(e.apps)-1
	e.apps = slices.Delete(e.apps, i, i+1)
	if !last || len(e.apps) == 0 {
		return nil
	}
	return e.apps[len(e.apps)-1]
}

// retire ends a's hold on the engine (Stop, or Cleanup for an app whose
// Start failed, which Caddy does not stop): this configuration's own
// background work, its discovery, stops, and the running configuration
// it had taken the engine over from gets it back (handBack). The engine
// keeps running: a reload's new configuration has already taken it
// over, and when Caddy stops the engine's destructor ends it.
func (a *App) retire() {
	a.stopDiscovery()
	if a.engine == nil {
		return
	}
	prev := a.engine.handBack(a)
	if prev == nil {
		return
	}
	if err := prev.applyConfig(); err != nil {
		prev.logger.Error("giving the broker engine back to the running configuration after a failed reload", zap.Error(err))
		return
	}
	prev.logger.Info("a reload failed: the broker engine is back on the running configuration")
}

// cleanupEngine lets go of the engine. The app's engine field stays:
// the configuration's handlers may still be serving requests (a reload's
// old servers finish theirs meanwhile), which read it unsynchronised
// and go on with the engine; only the live pointer of the admin API and
// the metrics is cleared.
func (a *App) cleanupEngine() error {
	a.stopDiscovery()
	if a.engine == nil || a.released {
		return nil
	}
	a.released = true
	if a.live != nil {
		a.live.Store(nil)
	}
	_, err := enginePool.Delete(engineKey)
	return err
}

// Catalogue returns the engine's catalogue, or nil.
func (a *App) Catalogue() *catalog.Catalog {
	if a.engine == nil {
		return nil
	}
	return a.engine.catalog
}

// liveEngine returns the app's engine while the app holds it (between
// Provision and Cleanup), for readers on other goroutines than Caddy's
// config loading: the admin API and the metrics scrape.
func (a *App) liveEngine() *engine {
	if a.live == nil {
		return nil
	}
	return a.live.Load()
}
