package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/internal/defaults"
	"github.com/caddy-csb/caddy-csb/broker/internal/safecache"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// Defaults of Options, and of discovery.
const (
	// DefaultDiscoveryInterval is how often a provider's services are
	// discovered from its native API when the configuration names no
	// interval (SetDiscovered's entries expire after three of them).
	DefaultDiscoveryInterval = 5 * time.Minute

	DefaultKeyPrefix     = "csb/catalog/"
	DefaultFlushDelay    = 100 * time.Millisecond
	DefaultSyncInterval  = 10 * time.Second
	DefaultRetention     = 24 * time.Hour
	DefaultCacheCost     = 100_000
	DefaultCommitWait    = 2 * time.Millisecond
	DefaultCommitSpacing = 10 * time.Millisecond
	DefaultCommitBatch   = 128
	// DefaultMaxPublishedServices is Options.MaxPublishedServices'
	// default: a hundred times what a provider of the benchmarks
	// publishes, and about 30 MiB of catalogue.
	DefaultMaxPublishedServices = 10_000
)

// Options configure a Catalog. The zero value is usable: no persistence,
// the wall clock, no logging.
type Options struct {
	// Store keeps the catalogue's durable copy (one record per provider
	// under KeyPrefix). Nil means memory only.
	Store store.Store
	// KeyPrefix is the store key prefix. Default "csb/catalog/".
	KeyPrefix string
	// Clock is the time source. Default: the wall clock.
	Clock clock.Clock
	// Logger receives one line per state change. Default: no logging.
	Logger *zap.Logger
	// FlushDelay is how long changes are gathered before the changed
	// provider records are written to the store (when nobody called
	// Flush meanwhile). Default 100ms.
	FlushDelay time.Duration
	// JournalPrefix is the store key prefix of the journal files a Flush
	// writes (see Flush and Compact). It must not be under KeyPrefix.
	// Default: KeyPrefix without its trailing slash, plus "-journal/"
	// ("csb/catalog-journal/").
	JournalPrefix string
	// CommitWait bounds how long a Flush waits for changes announced with
	// Expect (notifications being parsed) so that they share its storage
	// write. Default 2ms; negative: no wait.
	CommitWait time.Duration
	// CommitSpacing is the shortest time between the starts of two
	// journal writes while notifications arrive concurrently (the last
	// write carried more than one, or some are being parsed): a Flush
	// that would start a write sooner waits out the rest of it, and the
	// notifications that arrive meanwhile share its write. Each write is
	// a file created, synced and renamed on Caddy's file-system storage,
	// or a request to a network store, so fewer, larger writes cost much
	// less per notification, at the price of at most this much latency
	// under load. A provider notifying in sequence (one notification per
	// write) never waits for it. Default 10ms; negative: no spacing.
	CommitSpacing time.Duration
	// CommitBatch ends the wait for CommitSpacing early: once this many
	// Flush callers wait for the next write, it starts. A batch that
	// large already spreads the write's cost thin, and waiting longer
	// would only hold the acknowledgements back: with spacing alone, n
	// providers notifying at once get at most n answers per CommitSpacing
	// however fast the broker parses. Default 128; negative: the spacing
	// is always waited out.
	CommitBatch int
	// CompactInterval is how often this broker folds its journal files
	// into the per-provider records. Default 5s.
	CompactInterval time.Duration
	// SyncInterval is how often records written by other brokers sharing
	// the store are merged in: the bound on how long a notification
	// received by one broker takes to reach placement on the others.
	// Default 10s; negative disables syncing.
	SyncInterval time.Duration
	// Retention is how long a provider whose published entries have all
	// expired stays visible before it is dropped. Default 24h.
	Retention time.Duration
	// CacheCost is the read cache's capacity, counted in services (each
	// cached provider view costs 1 + its number of services). Default
	// 100000.
	CacheCost int64
	// MaxPublishedServices is the most published services one provider
	// may have in the catalogue. A notification adds services without
	// withdrawing any unless it is full, and the catalogue never evicts,
	// so without a bound one publisher could grow the broker's memory,
	// and the record written for every one of its notifications, without
	// end. CheckNotification refuses a notification that would leave more.
	// Default DefaultMaxPublishedServices.
	MaxPublishedServices int

	// instanceID names this catalogue's journal files (tests); default
	// a random id, new for every catalogue.
	instanceID string
	// OnHealth, when set, is called after SetHealthy changed a provider's
	// health mark, outside the catalogue's lock (job events). It must not
	// block.
	OnHealth func(providerID string, healthy bool)
}

// WithDefaults returns opt with its unset fields set to their defaults
// (the Default constants), the wall clock and a no-op logger.
func (opt Options) WithDefaults() Options {
	defaults.Zero(&opt.KeyPrefix, DefaultKeyPrefix)
	opt.Clock = clock.OrReal(opt.Clock)
	defaults.Zero(&opt.Logger, zap.NewNop())
	defaults.Positive(&opt.FlushDelay, DefaultFlushDelay)
	defaults.Zero(&opt.JournalPrefix, strings.TrimSuffix(opt.KeyPrefix, "/")+"-journal/")
	defaults.Zero(&opt.CommitWait, DefaultCommitWait)
	defaults.Zero(&opt.CommitSpacing, DefaultCommitSpacing)
	defaults.Zero(&opt.CommitBatch, DefaultCommitBatch)
	defaults.Positive(&opt.CompactInterval, DefaultCompactInterval)
	defaults.Zero(&opt.SyncInterval, DefaultSyncInterval)
	defaults.Positive(&opt.Retention, DefaultRetention)
	defaults.Positive(&opt.CacheCost, DefaultCacheCost)
	defaults.Positive(&opt.MaxPublishedServices, DefaultMaxPublishedServices)
	return opt
}

// Validate checks opt, defaults applied: the journal prefix must not lie
// under the record prefix. (Non-positive durations and sizes mean their
// defaults, so they are not errors.)
func (opt Options) Validate() error {
	opt = opt.WithDefaults()
	if strings.HasPrefix(opt.JournalPrefix, opt.KeyPrefix) {
		return fmt.Errorf("catalog: journal prefix %q is under the record prefix %q", opt.JournalPrefix, opt.KeyPrefix)
	}
	return nil
}

// Catalog is the broker's provider catalogue. It is safe for concurrent
// use.
//
// The authoritative copy is a map held in memory that never evicts: an
// entry leaves it only when it is withdrawn (a full notification that no
// longer lists it, a static entry removed from the configuration, a
// discovery that no longer finds it, a provider removed from the
// configuration) or when its provider has been expired for longer than the
// retention. A ristretto cache serves the per-provider read views in front
// of it; ristretto may drop what it likes, the map never does. Changed
// provider records are written to a store.Store (Flush: one journal file
// per write, folded into per-provider records by Compact; see
// journal.go), from which a restarted broker starts warm and from which
// brokers sharing the store merge each other's changes.
//
// Placement reads Placeable, which is served from a per-kind index that is
// rebuilt only after a change or when an entry's expiry passes.
type Catalog struct {
	opt    Options
	clock  clock.Clock
	logger *zap.Logger

	mu        sync.RWMutex
	providers map[string]*provider
	sorted    []*provider          // providers in config order, then id
	order     map[string]int       // configured providers and their position
	leases    map[string]time.Time // lease id (subscription or push id) → expiry; zero = never
	leaseUse  map[string]string    // lease id → provider id whose notifications carry it
	deleted   map[string]bool      // provider records to delete from the store
	dirty     map[string]*provider // providers whose record the next Flush writes
	// merged is, per provider record key, what a Load or Sync last
	// merged of it (persist.go, syncRecords); cleared by Configure,
	// which counts mergedGen up.
	merged    map[string]mergedRecord
	mergedGen uint64
	// decoded counts the provider records Load and Sync decoded.
	decoded atomic.Int64

	version    atomic.Uint64
	nextExpiry atomic.Int64 // unix nanoseconds of the earliest future expiry among placeable entries; 0 = none
	// lastExpiryCheck is when checkExpiry last ran (unix nanoseconds);
	// guarded by mu.
	lastExpiryCheck int64
	gens            sync.Map // provider id → *atomic.Uint64, bumped on every change of the provider

	views [numKinds]atomic.Pointer[kindView]
	cache *safecache.Cache[*providerView]

	subMu       sync.Mutex
	subscribers []func()

	// changes numbers the changes Flush must make durable (markDirty);
	// guarded by mu.
	changes uint64
	// gc is Flush's group commit: one journal write at a time, shared by
	// every caller whose change it covers.
	gc       groupCommit
	j        *journal
	dirtyCh  chan struct{} // a provider record needs writing
	expiryCh chan struct{} // nextExpiry moved earlier
	stop     chan struct{}
	done     sync.WaitGroup
	// loaded is closed once the catalogue holds what the store held
	// (LoadInBackground); until then the methods that read or change
	// entries wait for it. inLoad, set while it is open, is its fast
	// path (the zero Catalog is loaded).
	loaded chan struct{}
	inLoad atomic.Bool
	// loading is set while LoadInBackground runs; pendingConfig is the
	// last Configure made meanwhile, applied after the load. Under mu.
	loading       bool
	pendingConfig *[]ProviderConfig
	started       bool
	closed        bool
}

// New returns an empty catalogue. Call Load to start warm from the store,
// Configure to declare the configured providers, Start to begin the
// background work (write-behind, syncing, expiry notifications) and
// Close to end it.
func New(opt Options) (*Catalog, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	opt = opt.WithDefaults()
	cache, err := safecache.New(&ristretto.Config[string, *providerView]{
		NumCounters: 100_000, // ~10× the providers a catalogue is expected to hold
		MaxCost:     opt.CacheCost,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	c := &Catalog{
		opt:       opt,
		clock:     opt.Clock,
		logger:    opt.Logger,
		providers: make(map[string]*provider),
		order:     make(map[string]int),
		leases:    make(map[string]time.Time),
		leaseUse:  make(map[string]string),
		deleted:   make(map[string]bool),
		dirty:     make(map[string]*provider),
		j:         newJournal(opt.instanceID),
		cache:     cache,
		dirtyCh:   make(chan struct{}, 1),
		expiryCh:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	return c, nil
}

// LoadInBackground loads the catalogue from the store as Load does, on
// a goroutine of its own, and calls done with Load's results when it has
// finished. Until then the methods that read or change entries
// (placement's, the publish interface's, the listings') wait for it, and
// a Configure is applied after the load, as if it came after a Load. It
// lets a broker answer what needs no catalogue (a consumer reading its
// job) while a large catalogue is read: 100,000 services are about
// 65 MB of records to decode. Call it right after New, before the
// catalogue is used.
func (c *Catalog) LoadInBackground(ctx context.Context, done func(providers, services int, err error)) {
	c.mu.Lock()
	c.loaded = make(chan struct{})
	c.inLoad.Store(true)
	c.loading = true
	c.mu.Unlock()
	go func() {
		np, ns, changed, err := c.syncRecords(ctx, true)
		for {
			c.mu.Lock()
			cfg := c.pendingConfig
			c.pendingConfig = nil
			if cfg == nil {
				c.loading = false
				close(c.loaded)
				c.inLoad.Store(false)
				c.mu.Unlock()
				break
			}
			c.mu.Unlock()
			c.apply(*cfg)
			changed = true
		}
		if changed {
			c.afterChange(true, true)
		}
		if done != nil {
			done(np, ns, err)
		}
	}()
}

// wait returns once the catalogue is loaded (LoadInBackground).
func (c *Catalog) wait() {
	if c.inLoad.Load() {
		<-c.loaded
	}
}

// Start begins the background work: writing changed records behind to
// the store's journal, compacting the journal every CompactInterval,
// merging records of other brokers every SyncInterval, and announcing
// expiries to subscribers when they happen. It returns at once;
// Close stops it. Calling Start twice is a no-op.
func (c *Catalog) Start() {
	c.mu.Lock()
	if c.started || c.closed {
		c.mu.Unlock()
		return
	}
	c.started = true
	c.mu.Unlock()
	c.done.Add(1)
	go c.expiryLoop()
	if c.opt.Store != nil {
		c.done.Add(2)
		go c.flushLoop()
		go c.compactLoop()
		if c.opt.SyncInterval > 0 {
			c.done.Add(1)
			go c.syncLoop()
		}
	}
}

// Close stops the background work, writes what is still unwritten to the
// store (bounded by ctx), compacts this instance's journal (for at most
// 5 s: files it leaves are compacted by the next broker that loads the
// store), and releases the read cache. The catalogue must
// not be used afterwards.
func (c *Catalog) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.done.Wait()
	var err error
	if c.opt.Store != nil {
		err = c.Flush(ctx)
		// Compacting is a courtesy: the journal files left behind are
		// compacted by whoever loads the store next. Do not let another
		// broker holding the compaction lock hold up a shutdown.
		cctx, cancel := context.WithTimeout(ctx, closeCompactTimeout)
		if cerr := c.Compact(cctx); cerr != nil {
			c.logger.Info("catalogue journal left for the next broker to compact", zap.Error(cerr))
		}
		cancel()
	}
	c.cache.Close()
	return err
}

// Version returns a number that increases on every change that affects
// placement: an entry added, changed, withdrawn or expired, a status
// change, a lease change. Placement compares it to know when to re-read.
func (c *Catalog) Version() uint64 {
	c.wait()
	c.checkExpiry()
	return c.version.Load()
}

// Subscribe registers fn to be called after every change that increases
// Version. Calls come from the goroutine that made the change (a request
// handler, the expiry timer, the sync loop), without catalogue locks held,
// and may be coalesced; fn must be quick and must not block.
func (c *Catalog) Subscribe(fn func()) {
	c.subMu.Lock()
	c.subscribers = append(c.subscribers, fn)
	c.subMu.Unlock()
}

func (c *Catalog) notify() {
	c.subMu.Lock()
	subs := c.subscribers
	c.subMu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

// Placeable returns the services of kind that placement may choose now:
// the service and its provider are active and the entry has not expired.
// The slice is sorted by provider configuration order (providers not in
// the configuration last, by id), then by service id. It is a shared
// snapshot: callers must not modify it or the values it points to. It is
// rebuilt only after a change or an expiry, so calling it often is cheap.
func (c *Catalog) Placeable(kind Kind) []ServiceEntry {
	c.wait()
	k := kindIndex(kind)
	if k < 0 {
		return nil
	}
	c.checkExpiry()
	now := c.clock.Now()
	if v := c.views[k].Load(); v != nil && v.version == c.version.Load() && (v.validUntil.IsZero() || now.Before(v.validUntil)) {
		return v.list
	}
	c.mu.RLock()
	v := c.buildKindView(kind, now)
	c.mu.RUnlock()
	c.views[k].Store(v)
	return v.list
}

// Provider returns the catalogue entry of a provider, whatever its status
// or expiry.
func (c *Catalog) Provider(id string) (ProviderEntry, bool) {
	c.wait()
	v := c.view(id)
	if v == nil {
		return ProviderEntry{}, false
	}
	return v.Entry, true
}

// Services returns every service of a provider, whatever its status or
// expiry, sorted by service id.
func (c *Catalog) Services(providerID string) []ServiceEntry {
	c.wait()
	v := c.view(providerID)
	if v == nil {
		return nil
	}
	return append([]ServiceEntry(nil), v.Services...)
}

// ProviderView is one provider with its services, as Snapshot returns it.
type ProviderView struct {
	Entry    ProviderEntry  `json:"provider"`
	Services []ServiceEntry `json:"services"`
	// Placeable is how many of Services placement may choose now.
	Placeable int `json:"placeable"`
	// SeqNumber is the seqnumber of the last notification applied for the
	// provider under Entry.SubscriptionID.
	SeqNumber uint64 `json:"seqnumber,omitempty"`
}

// Snapshot returns every provider with its services, in configuration
// order, for inspection (admin and debug endpoints).
func (c *Catalog) Snapshot() []ProviderView {
	c.wait()
	c.checkExpiry()
	now := c.clock.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]ProviderView, 0, len(c.sorted))
	for _, p := range c.sorted {
		pv := ProviderView{Entry: p.entry, SeqNumber: p.seq}
		for _, id := range p.serviceIDs() {
			s := p.services[id]
			pv.Services = append(pv.Services, s.e)
			if p.placeableAt(s, now) {
				pv.Placeable++
			}
		}
		out = append(out, pv)
	}
	return out
}

// Stats counts the catalogue's entries, for metrics.
type Stats struct {
	// Providers counts providers by status (an expired provider counts
	// under its status: expiry is per service).
	Providers map[csbmsg.ServiceStatus]int
	// Services counts services by kind and status ("" kind: a service
	// without a support element).
	Services map[Kind]map[csbmsg.ServiceStatus]int
	// Placeable counts, by kind, the services placement may choose now.
	Placeable map[Kind]int
	// Expired counts services whose entry has expired (still visible
	// until the retention passes).
	Expired int
}

// Stats counts providers and services by status and kind without copying
// them; it is cheap enough to call on every metrics scrape.
func (c *Catalog) Stats() Stats {
	c.wait()
	c.checkExpiry()
	now := c.clock.Now()
	st := Stats{
		Providers: map[csbmsg.ServiceStatus]int{},
		Services:  map[Kind]map[csbmsg.ServiceStatus]int{},
		Placeable: map[Kind]int{},
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.sorted {
		st.Providers[p.entry.Status]++
		for _, s := range p.services {
			byStatus := st.Services[s.e.Kind]
			if byStatus == nil {
				byStatus = map[csbmsg.ServiceStatus]int{}
				st.Services[s.e.Kind] = byStatus
			}
			byStatus[s.e.Service.Status]++
			if !s.e.Expires.IsZero() && !now.Before(s.e.Expires) {
				st.Expired++
			}
			if p.placeableAt(s, now) {
				st.Placeable[s.e.Kind]++
			}
		}
	}
	return st
}

// Sequence returns the seqnumber of the last notification applied under
// the subscription (or push) id, as far as the catalogue knows: it
// survives restarts through the store and moves forward when records of
// other brokers are merged. ok is false when no notification under id has
// been applied.
func (c *Catalog) Sequence(id string) (seq uint64, providerID string, ok bool) {
	c.wait()
	c.mu.RLock()
	defer c.mu.RUnlock()
	pid, ok := c.leaseUse[id]
	if !ok {
		return 0, "", false
	}
	p := c.providers[pid]
	if p == nil || p.subID != id {
		return 0, pid, false
	}
	return p.seq, pid, true
}

// Lease returns the expiry recorded for a lease id (a subscription or push
// id); zero means it never expires. ok is false for an unknown id.
func (c *Catalog) Lease(id string) (time.Time, bool) {
	c.wait()
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.leases[id]
	return t, ok
}

// closeCompactTimeout bounds Close's compaction (a variable for tests).
var closeCompactTimeout = 5 * time.Second

// ErrClosed is returned by operations on a closed catalogue.
var ErrClosed = errors.New("catalog: closed")

// resort rebuilds c.sorted. Callers hold c.mu.
func (c *Catalog) resort() {
	c.sorted = c.sorted[:0]
	for _, p := range c.providers {
		c.sorted = append(c.sorted, p)
	}
	sort.Slice(c.sorted, func(i, j int) bool {
		a, b := c.sorted[i], c.sorted[j]
		oa, aok := c.order[a.entry.ID]
		ob, bok := c.order[b.entry.ID]
		switch {
		case aok && bok && oa != ob:
			return oa < ob
		case aok != bok:
			return aok
		}
		return a.entry.ID < b.entry.ID
	})
}

// changed records a change of provider p that affects placement: it bumps
// the version, invalidates the provider's cached view, marks the record
// for writing and recomputes the next expiry. Callers hold c.mu and call
// c.afterChange() once they released it.
func (c *Catalog) changed(p *provider, persist bool) {
	c.version.Add(1)
	c.bumpGen(p.entry.ID)
	if persist {
		c.markDirty(p)
	}
	c.recomputeExpiry()
}

// afterChange runs once a change is complete and the lock released: it
// wakes the writer (persist) and, for a change placement sees (changed),
// the expiry timer and the subscribers.
func (c *Catalog) afterChange(persist, changed bool) {
	if persist && c.opt.Store != nil {
		select {
		case c.dirtyCh <- struct{}{}:
		default:
		}
	}
	if !changed {
		return
	}
	select {
	case c.expiryCh <- struct{}{}:
	default:
	}
	c.notify()
}

// markDirty marks p's record for the next Flush. Callers hold c.mu.
func (c *Catalog) markDirty(p *provider) {
	if c.opt.Store != nil {
		c.dirty[p.entry.ID] = p
		c.changes++
	}
}

func (c *Catalog) bumpGen(id string) {
	g, _ := c.gens.LoadOrStore(id, new(atomic.Uint64))
	g.(*atomic.Uint64).Add(1)
}

func (c *Catalog) gen(id string) uint64 {
	g, ok := c.gens.Load(id)
	if !ok {
		return 0
	}
	return g.(*atomic.Uint64).Load()
}

// statusPlaceable reports whether a status lets an entry be placed.
func statusPlaceable(s csbmsg.ServiceStatus) bool { return s == csbmsg.ServiceActive }
