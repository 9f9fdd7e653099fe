package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/zap"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/clock"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/internal/defaults"
	"github.com/caddy-csb/caddy-csb/broker/internal/safecache"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/quota"
	"github.com/caddy-csb/caddy-csb/broker/store"
)

// Placer makes placement decisions (placement.Placer implements it).
type Placer interface {
	Place(req *csbmsg.ServiceRequest, opt placement.Options) (*placement.Decision, error)
}

// Config configures a Manager. Zero durations take the defaults named on
// each field.
type Config struct {
	// Store keeps the jobs durably. Required.
	Store store.Store
	// Placer chooses providers. Required.
	Placer Placer
	// Adapter returns a provider's adapter for a service model (a
	// provider may have one per model). Required.
	Adapter func(providerID string, kind catalog.Kind) (contract.Adapter, bool)
	// Expand, when set, rewrites a request before placement (the OVF
	// expansion of an IaaS Link). An error that is a
	// *placement.RequestError answers with its status; others with 400.
	Expand func(ctx context.Context, req *csbmsg.ServiceRequest) error
	// Logger receives one line per job state change. Default: none.
	Logger *zap.Logger
	// Clock is the time source; tests inject one to move leases forward.
	// Default: the wall clock.
	Clock clock.Clock

	// LeaseDefault is the lease granted when the consumer asks for none.
	// Default 1h.
	LeaseDefault time.Duration
	// LeaseMin and LeaseMax bound the leases granted. Defaults 5m (the
	// draft's recommended minimum of 300 s) and 720h.
	LeaseMin, LeaseMax time.Duration
	// AttemptTimeout bounds one provisioning attempt at one provider,
	// including the polling of a resource the provider is still building.
	// Default 2m.
	AttemptTimeout time.Duration
	// CallTimeout bounds update, remove and cleanup calls. Default 1m.
	CallTimeout time.Duration
	// RespondWithin is how long a create, copy or move waits for
	// provisioning before it answers with the job still pending. Default 5s.
	RespondWithin time.Duration
	// PollInterval is how often a pending resource is polled. Default 2s.
	PollInterval time.Duration
	// ReapInterval is how often the reaper looks for ended leases,
	// orphans and abandoned operations. Default 30s.
	ReapInterval time.Duration
	// CheckInterval is how often the broker asks the providers whether
	// the resources of successful jobs still exist (see check.go): a job
	// whose resource is gone becomes failed. The first pass after Start
	// checks every successful job. Reads that find a job not
	// checked for twice this long start a check in the background.
	// Default 5m.
	CheckInterval time.Duration
	// Retain is how long expired and removed jobs stay readable after
	// they ended. Default 24h.
	Retain time.Duration
	// RetainFailed is how long a failed job (it holds no resources) stays
	// readable before its record is deleted. Default 1h.
	RetainFailed time.Duration
	// MaxJobsPerOwner bounds the job records one owner holds: live jobs
	// and the failed, expired and removed ones still retained. A create or
	// copy beyond it is answered 408 until records are removed or purged.
	// Default 1000; -1 means no limit (Validate refuses less).
	MaxJobsPerOwner int
	// MaxAttempts bounds the candidates tried for one job. Default 3.
	MaxAttempts int
	// LockWait is how long an update or remove waits for a job another
	// operation holds. Default 10s.
	LockWait time.Duration
	// GroupCommit sends the writes a create makes before its answer to a
	// group-committed log shared by concurrent creates (wal.go), instead
	// of one storage write each; the job's own record is written once,
	// before anybody is told of the job. Read by New. Default false.
	GroupCommit bool
	// CacheTTL bounds how long a cached job is served without re-reading
	// the store (other instances of a cluster may change it). Default 2s.
	CacheTTL time.Duration
	// CacheSize bounds the read cache, in bytes: a cached job costs its
	// stored record (a few KB) plus CacheEntryOverhead. The cache only
	// speeds up reads of settled jobs (it is filled by reads, never by
	// writes, and an entry lives CacheTTL), so it need not hold every live
	// job. Default DefaultCacheSize.
	CacheSize int64

	// IgnoreUnhonoured places a request on a provider whose adapter does
	// not honour every field it sets when no provider honours them all,
	// and records the ignored fields on the job (Job.Ignored), instead of
	// refusing the request with 420. Default false (refuse).
	IgnoreUnhonoured bool
	// Honoured, when set, returns the request fields a provider's adapter
	// for a service model honours, as placement reads them
	// (placement.Config.Honoured); Update checks the fields an update
	// sets against it. Default: contract.HonouredBy of the job's adapter.
	Honoured func(providerID string, kind catalog.Kind) contract.FieldSet
	// ProviderStatus, when set, returns a provider's status in the
	// catalogue (false when the catalogue does not know it). A provider
	// whose status is deactivated or unavailable is not contacted (draft
	// 4.1.2.3.1.1; see contact.go for what each operation does instead).
	// Default: every provider may be contacted.
	ProviderStatus func(providerID string) (csbmsg.ServiceStatus, bool)
	// ServiceStatus, when set, returns the catalogue status of a
	// provider's service (false when unknown). A job whose service is
	// deactivated or unavailable is left alone as its provider would be
	// (draft 4.1.2.3.2). Default: every service may be contacted.
	ServiceStatus func(providerID, serviceID string) (csbmsg.ServiceStatus, bool)

	// Quota, when set, holds the limits per user and per group checked
	// when a job is admitted (limits.go). Default: none.
	Quota *quota.Policy
	// CostUnits sets the unit a price is per, per service model (cost.go).
	// Default: quota.DefaultUnit (core for IaaS, job for the others).
	CostUnits map[catalog.Kind]quota.Unit

	// OnChange, when set, is called after every write of a job (metrics,
	// tests). It must not block.
	OnChange func(*Job)
	// OnReclaim, when set, is called once per attempt to reclaim an ended
	// lease (the removal of the job's resources by the reaper): with a
	// nil error when the resources are gone and the job expired, else with
	// the reason it failed (the reaper tries again). It must not block.
	OnReclaim func(j *Job, err error)

	// LeaseWarning is how long before a successful job's lease ends its
	// observers get an EventLeaseWarning (events.go); the reaper sends it,
	// so it comes up to ReapInterval late. Default 5m; negative: never.
	LeaseWarning time.Duration
}

// Defaults of Config. Each field's comment names its default too; the
// Caddy glue converts its own config into a Config and leaves zero what
// was not set, so these values are stated here only.
const (
	DefaultLeaseDefault   = time.Hour
	DefaultLeaseMin       = 5 * time.Minute // the draft's recommended minimum of 300 s
	DefaultLeaseMax       = 720 * time.Hour
	DefaultAttemptTimeout = 2 * time.Minute
	DefaultCallTimeout    = time.Minute
	DefaultRespondWithin  = 5 * time.Second
	DefaultPollInterval   = 2 * time.Second
	DefaultReapInterval   = 30 * time.Second
	DefaultCheckInterval  = 5 * time.Minute
	DefaultRetain         = 24 * time.Hour
	DefaultRetainFailed   = time.Hour
	DefaultLockWait       = 10 * time.Second
	DefaultCacheTTL       = 2 * time.Second
	DefaultMaxAttempts    = 3
	// DefaultMaxJobsPerOwner is Config.MaxJobsPerOwner's default.
	DefaultMaxJobsPerOwner = 1000
)

// WithDefaults returns c with its zero (or, for durations and counts
// that must be positive, non-positive) fields set to their defaults, the
// wall clock and a no-op logger. Store, Placer and Adapter are left as
// they are.
func (c Config) WithDefaults() Config {
	defaults.Positive(&c.LeaseDefault, DefaultLeaseDefault)
	defaults.Positive(&c.LeaseMin, DefaultLeaseMin)
	defaults.Positive(&c.LeaseMax, DefaultLeaseMax)
	defaults.Positive(&c.AttemptTimeout, DefaultAttemptTimeout)
	defaults.Positive(&c.CallTimeout, DefaultCallTimeout)
	defaults.Positive(&c.RespondWithin, DefaultRespondWithin)
	defaults.Positive(&c.PollInterval, DefaultPollInterval)
	defaults.Positive(&c.ReapInterval, DefaultReapInterval)
	defaults.Positive(&c.CheckInterval, DefaultCheckInterval)
	defaults.Positive(&c.Retain, DefaultRetain)
	defaults.Positive(&c.RetainFailed, DefaultRetainFailed)
	defaults.Positive(&c.LockWait, DefaultLockWait)
	defaults.Positive(&c.CacheTTL, DefaultCacheTTL)
	defaults.Positive(&c.MaxAttempts, DefaultMaxAttempts)
	defaults.Zero(&c.MaxJobsPerOwner, DefaultMaxJobsPerOwner)
	defaults.Positive(&c.CacheSize, DefaultCacheSize)
	c.Clock = clock.OrReal(c.Clock)
	defaults.Zero(&c.Logger, zap.NewNop())
	return c
}

// Validate checks the tunables, defaults applied: the lease bounds are
// in order and a lease default that is set lies within them, the cache
// size is not negative and MaxJobsPerOwner is -1 or more. It does not
// check Store, Placer and Adapter (New does), so a configuration can be
// validated before they exist. Errors name the fields as the Caddy
// configuration does (snake_case).
func (c Config) Validate() error {
	if c.CacheSize < 0 {
		return fmt.Errorf("jobs: cache_size %d: must be positive", c.CacheSize)
	}
	if c.CheckInterval < 0 {
		return fmt.Errorf("jobs: check_interval %s: must be positive", c.CheckInterval)
	}
	if c.MaxJobsPerOwner < -1 {
		return fmt.Errorf("jobs: max_jobs_per_owner %d: want a positive number, or -1 for no limit", c.MaxJobsPerOwner)
	}
	given := c.LeaseDefault
	c = c.WithDefaults()
	// A lease is whole seconds (<expires>, Csb-Lease): a bound or default
	// under a second granted leases of 0 s, every job reclaimed by the
	// next reaper pass. A bare number in Caddy's JSON is nanoseconds, so
	// "lease_max": 3600 meant as seconds is the likely cause.
	for _, l := range []struct {
		name string
		d    time.Duration
	}{{"lease_min", c.LeaseMin}, {"lease_max", c.LeaseMax}, {"lease_default", given}} {
		if l.d > 0 && l.d < time.Second {
			return fmt.Errorf("jobs: %s %s: shorter than a second (leases are whole seconds; in JSON a bare number is nanoseconds, write \"1h\")", l.name, l.d)
		}
	}
	if c.LeaseMin > c.LeaseMax {
		return fmt.Errorf("jobs: lease_min %s exceeds lease_max %s", c.LeaseMin, c.LeaseMax)
	}
	if given > 0 && (given < c.LeaseMin || given > c.LeaseMax) {
		return fmt.Errorf("jobs: lease_default %s is outside [%s, %s]", given, c.LeaseMin, c.LeaseMax)
	}
	return nil
}

// DefaultCacheSize is the read cache's default capacity: about a thousand
// job records, the jobs read again within CacheTTL on a busy instance.
const DefaultCacheSize = 4 << 20

// CacheEntryOverhead is what a cached job costs besides its record: the
// entry, its key and the cache's bookkeeping. It is counted against
// CacheSize, so that the bound is on memory, not on record bytes.
const CacheEntryOverhead = 256

// cacheCounters returns the ristretto admission counters for a cache of
// size bytes: ten per job record it can hold (records of about 2 KiB),
// as ristretto recommends.
func cacheCounters(size int64) int64 {
	return max(10*size/(2<<10), 1000)
}

// Manager runs jobs. Create it with New, start its background work with
// Start, and stop it with Stop.
type Manager struct {
	cfg      atomic.Pointer[Config]
	store    store.Store
	logger   *zap.Logger
	cache    *safecache.Cache[*cached]
	fills    fillGuard
	instance string

	base   context.Context // cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	running  map[string]chan struct{}  // jobs this process works on
	live     map[string][]byte         // their latest records
	jobLoads map[string]jobLoadEntry   // live job → its load
	touched  map[string]uint64         // job → trackSeq of this process's last write during a reaper pass
	passes   int                       // reaper passes running (touched is kept only then)
	memo     memo                      // what passes read of each record (reapmemo.go)
	trackSeq uint64                    // counts this process's job writes
	loads    map[string]placement.Load // provider → sum of jobLoads
	// staleOwnerKeys are the owner index keys the last reaper pass found
	// without a record (reconcileOwners).
	staleOwnerKeys map[string]bool
	// checking holds the jobs a read started a background check of:
	// zero while it runs, then when it ended (checkOnRead).
	checking map[string]time.Time
	// checkMark is what the last check pass confirmed (check.go).
	checkMark atomic.Pointer[checkMark]
	started   bool
	stopped   bool
	// ignoredWarned holds the owners already told, in the log, that
	// fields of their requests were ignored (once per owner and process).
	ignoredWarned sync.Map
	// events are the observers of job events (events.go).
	events eventHub
	// wal is the group-committed log of new jobs, nil without
	// Config.GroupCommit.
	wal *jobWAL
	// walSeen holds other instances' job log files by key: when this
	// process first listed them, or last found them refreshed (zero: at
	// its first replay).
	walSeenMu sync.Mutex
	walSeen   map[string]time.Time
	walIDs    map[string][]string // log file → the jobs it holds records of
	walGens   map[string]uint64   // log file → its refresh count as of walSeen
	// newLocks are the new jobs whose lock this process holds in memory
	// (newlock.go).
	newLocksMu sync.Mutex
	newLocks   map[string]*newLock
	// counts caches owners' index key counts per lock session (owner.go).
	counts ownerCounts
	// instanceUnlock releases this process's instance lock, nil until
	// taken (newlock.go).
	instanceMu     sync.Mutex
	instanceUnlock func()
	// index lists every stored job for the admin listing's pages and the
	// jobs-by-state counts (listing.go).
	index *jobIndex
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Placer == nil || cfg.Adapter == nil {
		return nil, errors.New("jobs: Store, Placer and Adapter are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	cache, err := safecache.New(&ristretto.Config[string, *cached]{
		NumCounters: cacheCounters(cfg.CacheSize),
		MaxCost:     cfg.CacheSize,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	m := &Manager{
		store:    cfg.Store,
		logger:   cfg.Logger,
		cache:    cache,
		instance: newID()[:12],
		running:  map[string]chan struct{}{},
		live:     map[string][]byte{},
		jobLoads: map[string]jobLoadEntry{},
		touched:  map[string]uint64{},
		loads:    map[string]placement.Load{},
		checking: map[string]time.Time{},
		index:    newJobIndex(),
	}
	m.cfg.Store(&cfg)
	m.base, m.cancel = context.WithCancel(context.Background())
	if cfg.GroupCommit {
		m.wal = newJobWAL(m)
	}
	return m, nil
}

func (m *Manager) c() *Config { return m.cfg.Load() }

// SetTunables replaces the durations, limits (the cache size too),
// Expand, Honoured and OnChange of the configuration (a config reload); Store,
// Placer, Adapter, Logger and Clock stay as they were given to New.
// Operations under way finish with the values they started with where
// they already read them.
func (m *Manager) SetTunables(cfg Config) error {
	old := m.c()
	cfg.Store, cfg.Placer, cfg.Adapter, cfg.Logger, cfg.Clock = old.Store, old.Placer, old.Adapter, old.Logger, old.Clock
	if cfg.ProviderStatus == nil {
		cfg.ProviderStatus = old.ProviderStatus
	}
	if cfg.ServiceStatus == nil {
		cfg.ServiceStatus = old.ServiceStatus
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.WithDefaults()
	if cfg.CacheSize != old.CacheSize {
		// The admission counters stay as New sized them.
		m.cache.UpdateMaxCost(cfg.CacheSize)
	}
	m.cfg.Store(&cfg)
	return nil
}

// Config returns the manager's configuration with defaults applied.
func (m *Manager) Config() Config { return *m.c() }

// Instance returns this manager's instance id, recorded in the
// operations it starts.
func (m *Manager) Instance() string { return m.instance }

func (m *Manager) now() time.Time { return m.c().Clock.Now() }

// Start reconciles in-flight jobs left by an earlier process and starts
// the reaper. It returns at once; the work runs in the background until
// Stop.
func (m *Manager) Start() {
	m.startLoops()
	m.ensureIndex() // takes m.mu
}

func (m *Manager) startLoops() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.stopped {
		return
	}
	m.started = true
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		m.reapLoop()
	}()
	go func() {
		defer m.wg.Done()
		m.checkLoop()
	}()
}

// Stop stops the reaper and every operation in progress, and waits for
// them. Interrupted operations stay recorded and are finished by the next
// process that starts on the same store (or by another instance of the
// cluster). Stop closes the cache.
func (m *Manager) Stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.releaseInstance()
	m.cache.Close()
}

func (m *Manager) isRunning(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.running[id]
	return ok
}

// goWork runs fn for job id in the background, holding unlock until it
// returns. It returns a channel closed when fn returns, or nil when the
// manager is stopping (unlock is then called at once).
func (m *Manager) goWork(id string, unlock func(), fn func(ctx context.Context)) chan struct{} {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		unlock()
		return nil
	}
	done := make(chan struct{})
	m.running[id] = done
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		defer func() {
			// Forget the live record before releasing the job's lock, so
			// that whoever takes the lock next (a purge, another
			// instance's write) is never shadowed by it.
			m.mu.Lock()
			delete(m.running, id)
			delete(m.live, id)
			m.mu.Unlock()
			unlock()
			close(done)
		}()
		fn(m.base)
	}()
	return done
}

// ---------------------------------------------------------------------------
// Create, copy and move

// CreateOptions adjust Create.
type CreateOptions struct {
	// IdempotencyKey makes a retried create return the job the first one
	// made instead of a second one.
	IdempotencyKey string
	// IdempotencyScope is what else of the create, besides its request,
	// a retry with the same IdempotencyKey must repeat: the front-end's
	// options that change what is created (the lease, the providers or
	// the price asked for, a callback), in any stable form. A retry whose
	// scope differs is refused with ErrIdempotencyMismatch, as one whose
	// request differs is, rather than answered with a job made for other
	// terms. Default "": the request alone.
	IdempotencyScope string
	// Lease asks for a lease length; it is clamped to [LeaseMin,
	// LeaseMax]. Zero means LeaseDefault.
	Lease time.Duration
	// Access is the user's provider allow/deny list.
	Access *placement.Access
	// MaxPrice, when set, is the highest price per hour per cost unit the
	// request accepts (placement.Options.MaxPrice).
	MaxPrice *float64
	// Labels are stored on the new job as Job.Labels (a front-end's
	// metadata). Default none.
	Labels map[string]string
	// Placer, when set, places this job instead of Config.Placer (a
	// front-end's per-request placement policy over the same catalogue).
	// Default: Config.Placer.
	Placer Placer
	// Subscribers are opaque webhook subscriber ids recorded on the job
	// and carried by its events (events.go). Copy gives the new job the
	// source job's unless set; Move keeps the job's.
	Subscribers []string
}

// Create places and provisions a new job for owner. It answers within
// RespondWithin: with the finished job (200), with the job still pending
// or provisioning (200), with 408 when no provider matched or every
// candidate failed, or with 400/420 for a request placement cannot take.
func (m *Manager) Create(ctx context.Context, owner string, req *csbmsg.ServiceRequest, opt CreateOptions) (*Result, error) {
	want := *req
	want.JobInfo = nil
	if m.c().Expand != nil {
		if err := m.c().Expand(ctx, &want); err != nil {
			var re *placement.RequestError
			if errors.As(err, &re) {
				return result(re.Status, nil, "%s", re.Reason), nil
			}
			return result(csbmsg.StatusSyntaxError, nil, "%v", err), nil
		}
	}
	var idemName, reqHash string
	if opt.IdempotencyKey != "" {
		h := idemHash(owner, opt.IdempotencyKey)
		idemName = "idem-" + h
		reqHash = hashRequest(&want)
		if opt.IdempotencyScope != "" {
			// Only when there is a scope, so that the records of keys
			// without one keep matching their retries.
			s := sha256.Sum256([]byte(reqHash + "\x00" + opt.IdempotencyScope))
			reqHash = hex.EncodeToString(s[:])
		}
		unlock, err := m.lock(ctx, idemName, m.c().LockWait)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, fmt.Errorf("%w: retry later (%v)", ErrIdempotencyBusy, err)
			}
			return nil, fmt.Errorf("idempotency key busy: %w", err)
		}
		defer unlock()
		rec, j, err := m.idempotent(ctx, owner, opt.IdempotencyKey)
		switch {
		case err != nil:
			return nil, err
		case rec != nil && rec.RequestHash != reqHash:
			return nil, ErrIdempotencyMismatch
		case j != nil:
			return m.answerFor(j, "idempotent retry: the job created by the first request with this Idempotency-Key"), nil
		}
	}

	placer := m.c().Placer
	if opt.Placer != nil {
		placer = opt.Placer
	}
	d, err := placer.Place(&want, placement.Options{Access: opt.Access, IgnoreUnhonoured: m.c().IgnoreUnhonoured, MaxPrice: opt.MaxPrice})
	if err != nil {
		var re *placement.RequestError
		if errors.As(err, &re) {
			return result(re.Status, nil, "%s", re.Reason), nil
		}
		return nil, err
	}
	defer d.Release()
	m.logDecision(d)
	if d.Chosen() == nil {
		return noMatch(d, ""), nil
	}
	kind, _ := placement.KindOf(&want)
	now := m.now()
	j := &Job{
		ID:             newID(),
		Owner:          owner,
		Status:         StatusPending,
		Kind:           kind,
		Request:        want,
		Plan:           planOf(d, m.c().MaxAttempts),
		Decision:       d.Summary(),
		LeaseSeconds:   m.leaseSeconds(opt.Lease),
		IdempotencyKey: opt.IdempotencyKey,
		Labels:         maps.Clone(opt.Labels),
		Created:        now,
		Reason:         "accepted: " + d.Summary(),
		Op:             &Op{Kind: OpCreate, Instance: m.instance, Started: now},
		Events:         EventState{Subscribers: opt.Subscribers},
		placed:         d.Placed(),
	}
	return m.startProvisioning(ctx, j, idemName, reqHash)
}

// idempotent reads the record of owner's idempotency key and the job it
// names: a nil record when there is none (or it does not decode), a nil
// job when the record names one that does not exist (its create died
// before the job's first record, or the job was dropped). A job that
// cannot be read is an error (ErrNotRecorded): it may exist, and a
// create in its place could make a second resource.
func (m *Manager) idempotent(ctx context.Context, owner, key string) (*idemRecord, *Job, error) {
	data, err := m.store.Load(ctx, idemPrefix+idemHash(owner, key))
	if errors.Is(err, store.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var rec idemRecord
	if json.Unmarshal(data, &rec) != nil {
		return nil, nil, nil
	}
	j, err := m.load(ctx, rec.JobID)
	switch {
	case errors.Is(err, ErrNoJob):
		return &rec, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("%w: reading the job of the idempotency key: %v", ErrNotRecorded, err)
	case j.Owner != owner:
		return &rec, nil, nil
	}
	return &rec, j, nil
}

// IdempotentJob returns owner's job that a create with the idempotency
// key made, or nil when there is none: what a front-end that resumes a
// create (OSB's provision after a restart) asks before it decides
// anything else.
func (m *Manager) IdempotentJob(ctx context.Context, owner, key string) (*Job, error) {
	_, j, err := m.idempotent(ctx, owner, key)
	return j, err
}

// startProvisioning records a new job (write-ahead), then provisions it
// in the background and waits up to RespondWithin for the outcome.
//
// What the answer says always holds: a create answered as failed (or
// refused with ErrNotRecorded) leaves nothing the reaper would provision
// later; when the broker cannot be sure of that, because its storage
// refuses both to record the outcome and to delete the job, the answer
// carries the job id and says it is pending (see unrecorded).
func (m *Manager) startProvisioning(ctx context.Context, j *Job, idemName, reqHash string) (*Result, error) {
	var unlock func()
	if m.wal != nil && m.holdInstance(ctx) {
		// Nobody can name the job until it is announced: its lock is
		// held in memory until then (newlock.go).
		unlock = m.lockNew(j.ID).unlock
	} else {
		var err error
		if unlock, err = m.lock(ctx, j.ID, 0); err != nil {
			return nil, fmt.Errorf("%w: locking it: %v", ErrNotRecorded, err)
		}
	}
	if m.wal != nil {
		// Nobody knows of the job until it is settled (wal.go).
		m.wal.start(j.ID)
		unlock = m.settleBeforeUnlock(j.ID, unlock)
	}
	if r, err := m.admit(ctx, j); r != nil || err != nil {
		unlock()
		return r, err
	}
	if idemName != "" {
		// The idempotency record before the job's first record: a
		// crash between the two leaves a record naming a job that does
		// not exist, which a retry replaces by creating the job; the
		// other order left a job that the reaper finishes and a retry
		// that does not find it, so a second one.
		rec, _ := json.Marshal(idemRecord{JobID: j.ID, RequestHash: reqHash})
		if err := m.store.Store(ctx, idemPrefix+idemName[len("idem-"):], rec); err != nil {
			return m.notRecorded(j, unlock, fmt.Errorf("storing its idempotency record: %w", err))
		}
	}
	// With the log, the pending record needs no write of its own: the
	// first attempt's write-ahead record follows before any call to a
	// provider, and the job's file before any answer.
	j.deferWrite = true
	if err := m.save(ctx, j); err != nil {
		return m.notRecorded(j, unlock, err)
	}
	m.logState(j, "", "job accepted")
	if idemName != "" {
		// The idempotency key announces the job: a retry at any broker
		// must find it, so it gets its file now (wal.go), under its
		// storage lock (newlock.go).
		if err := m.announce(ctx, j.ID); err != nil {
			return m.notRecorded(j, unlock, fmt.Errorf("locking it: %w", err))
		}
	}
	j.gate = &answerGate{}
	out := make(chan *Result, 1)
	done := m.goWork(j.ID, unlock, func(ctx context.Context) {
		r := m.provision(ctx, j)
		m.catchUp(j)
		if err := m.settleCreate(ctx, j.ID); err != nil {
			r = m.unstored(ctx, j, r, err)
		}
		out <- r
	})
	if done == nil {
		return result(csbmsg.StatusOK, j, "accepted; the broker is shutting down and will finish the job when it restarts"), nil
	}
	return m.await(ctx, j.ID, out, j.gate)
}

// unstored answers for a provisioned create none of whose records could
// be stored: neither its file nor a log record (settleCreate), which only
// a create on an adapter that creates nothing outside the broker can come
// to (contract.Local: no write-ahead record). Nothing durable names the
// job, so it must not be answered as existing: unless somebody was told
// of it, its resource (which lives in the adapter's process only) is
// released and the job dropped, and the create is answered as not
// recorded. Otherwise the answer stands, and the held record is stored
// by the reaper's next pass once storage works (wal.go).
func (m *Manager) unstored(ctx context.Context, j *Job, r *Result, cause error) *Result {
	if knownLeft(j) || !j.gate.tryDrop() {
		return r
	}
	if j.Resource != nil {
		if ad, ok := m.c().Adapter(j.ProviderID, j.Kind); ok {
			if err := ad.Remove(context.WithoutCancel(ctx), j.Resource); err != nil {
				m.logger.Warn("releasing the resource of a job that could not be recorded", zap.String("job_id", j.ID), zap.Error(err))
			}
		}
	}
	if err := m.dropRecord(j); err != nil {
		m.logger.Error("job neither recorded nor dropped; the reaper's pass stores it once storage works", zap.String("job_id", j.ID), zap.Error(errors.Join(cause, err)))
		return r
	}
	m.logger.Warn("job dropped: none of its records could be stored", zap.String("job_id", j.ID), zap.String("owner", j.Owner), zap.Error(cause))
	m.logDroppedRechecks(j)
	return result(csbmsg.StatusUnableToFindResource, nil, "%v: %v; nothing was provisioned and nothing is left: try again later", ErrNotRecorded, cause)
}

// knownLeft reports whether j has an orphan known to be left at a
// provider: any but the handle of a create whose answer was lost that a
// Remove already took (Orphan.Lost with Removals), which only a later
// recheck might still find. A create that cannot be recorded drops its
// job when nothing is known to be left (unrecorded, unstored): keeping
// it for the rechecks would keep a job answered as pending that the
// reaper then provisions once storage works, and its rechecks could not
// be stored anyway.
func knownLeft(j *Job) bool {
	for _, o := range j.Orphans {
		if !o.Lost || o.Removals == 0 {
			return true
		}
	}
	return false
}

// logDroppedRechecks names, when j is dropped, the lost creates' handles
// whose later rechecks are given up with it, for an operator to look at
// the provider.
func (m *Manager) logDroppedRechecks(j *Job) {
	for _, o := range j.Orphans {
		if o.Lost && o.Resource != nil {
			m.logger.Warn("a lost create's handle is not rechecked: its job could not be recorded; check the provider for a resource of the job",
				zap.String("job_id", j.ID), zap.String("provider_id", o.ProviderID), zap.String("uri", o.Resource.URI))
		}
	}
}

// notRecorded answers for a new job whose record could not be written
// (cause): the store may hold it anyway (a write that failed late), so it
// is deleted, or the reaper would provision a job answered as failed.
func (m *Manager) notRecorded(j *Job, unlock func(), cause error) (*Result, error) {
	if derr := m.dropRecord(j); derr != nil {
		j.gate = &answerGate{}
		r := m.unrecorded(j, cause)
		unlock()
		return r, nil
	}
	unlock()
	return nil, fmt.Errorf("%w: %v", ErrNotRecorded, cause)
}

// lockFor loads owner's job id and takes its lock for an operation.
// answer, asked of the job as loaded and again of the record read fresh
// under the lock, returns the operation's early answer (a refusal, or
// success with nothing to do), or nil to go on; a job another operation
// holds is answered busyStatus with busyReason (one %s: the job id). The
// lock is held only when the Result and the error are nil.
//
// A rev other than 0 is the revision the caller expects the job at (the
// record it decided on): a record at another one is ErrChanged, before
// answer is asked (a precondition comes before the method's own checks,
// RFC 9110 section 13.2.2). It is decided on the record read under the
// lock; the record read before (possibly from the cache, so older than
// the store's) is refused only when it is already newer than rev.
func (m *Manager) lockFor(ctx context.Context, owner, id string, rev uint64, busyStatus csbmsg.Status, busyReason string, answer func(*Job) *Result) (*Job, func(), *Result, error) {
	j, err := m.ownJob(ctx, owner, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if rev != 0 && j.Rev > rev {
		return nil, nil, nil, changed(j, rev)
	}
	if r := answer(j); r != nil {
		return nil, nil, r, nil
	}
	unlock, err := m.lock(ctx, j.ID, m.c().LockWait)
	if err != nil {
		return nil, nil, result(busyStatus, j, busyReason, j.ID), nil
	}
	if j, err = m.loadFresh(ctx, id); err != nil {
		unlock()
		return nil, nil, nil, err
	}
	if rev != 0 && j.Rev != rev {
		unlock()
		return nil, nil, nil, changed(j, rev)
	}
	if r := answer(j); r != nil {
		unlock()
		return nil, nil, r, nil
	}
	return j, unlock, nil, nil
}

// changed is the ErrChanged of job j expected at revision rev.
func changed(j *Job, rev uint64) error {
	return fmt.Errorf("%w: job %s is at revision %d, not %d", ErrChanged, j.ID, j.Rev, rev)
}

// answerGate decides, between a create's provisioning and the request
// waiting for it, whether the request answers with the outcome or with
// the job still pending. Once it answered pending, the job must not
// vanish: the provisioning then never drops an unrecorded job.
type answerGate struct {
	mu       sync.Mutex
	answered bool // the request answered with the job pending
	dropped  bool // the provisioning dropped the job; its result follows
}

// tryDrop reports whether the provisioning may drop the job (nobody was
// told it exists), and if so keeps the waiting request from answering
// pending.
func (g *answerGate) tryDrop() bool { return g != nil && g.claim(&g.dropped, &g.answered) }

// answerPending reports whether the waiting request may answer with the
// job pending; false means the job was dropped and the result is coming.
func (g *answerGate) answerPending() bool { return g == nil || g.claim(&g.answered, &g.dropped) }

// claim sets mine unless the other side already set theirs; whichever
// side claims first wins.
func (g *answerGate) claim(mine, theirs *bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if *theirs {
		return false
	}
	*mine = true
	return true
}

// await waits RespondWithin for a background operation's result; after
// that it answers with the job as it stands.
func (m *Manager) await(ctx context.Context, id string, out chan *Result, gate *answerGate) (*Result, error) {
	timer := time.NewTimer(m.c().RespondWithin)
	defer timer.Stop()
	select {
	case r := <-out:
		return r, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	if !gate.answerPending() {
		return <-out, nil
	}
	if l := m.heldNew(id); l != nil {
		if err := l.tryHold(); err != nil {
			// The job cannot be announced while its work goes on:
			// the answer waits for its outcome, or for its storage
			// lock, which keepTrying takes once the storage lets it
			// while it keeps other brokers from replaying the job's
			// log (newlock.go).
			m.logger.Warn("taking a new job's storage lock; the create answers once it is taken or done", zap.String("job_id", id), zap.Error(err))
			go l.keepTrying()
			select {
			case r := <-out:
				return r, nil
			case <-l.held:
			}
		}
	}
	if err := m.announce(context.WithoutCancel(ctx), id); err != nil {
		// Not reached: the storage lock is taken by now, or the job
		// is settled and released.
		m.logger.Warn("taking a new job's storage lock; the create answers once done", zap.String("job_id", id), zap.Error(err))
		return <-out, nil
	}
	j, err := m.load(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, err
	}
	return result(csbmsg.StatusOK, j, "accepted, still in progress (%s): poll the job with GET", j.Status), nil
}

// dropRecord deletes a job that was never answered as existing, and its
// index key.
func (m *Manager) dropRecord(j *Job) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.base), 30*time.Second)
	defer cancel()
	if err := m.store.Delete(ctx, jobKey(j.ID)); err != nil {
		if _, lerr := m.store.Load(ctx, jobKey(j.ID)); !errors.Is(lerr, store.ErrNotExist) {
			return err
		}
	}
	if m.wal != nil && m.wal.holds(j.ID) {
		// Log files still hold its records: without its index key, a
		// replay of them skips it; with it, the job must live on.
		if err := m.store.Delete(ctx, ownerKey(j.Owner, j.ID)); err != nil {
			if _, lerr := m.store.Load(ctx, ownerKey(j.Owner, j.ID)); !errors.Is(lerr, store.ErrNotExist) {
				return err
			}
		}
	}
	m.forget(j.ID)
	if m.wal != nil {
		m.wal.drop(j.ID)
	}
	m.index.remove(j.Created, j.ID)
	m.dropIndex(j)
	return nil
}

// unrecorded answers for a create whose outcome the store refused to
// record (cause). The store may still hold the job with its create
// operation, which the reaper resumes: the answer must not say the create
// failed unless the job is deleted. It drops the job when nobody was told
// of it and no resource of it is left at a provider; otherwise the job
// stays for the reaper and the answer says it is pending.
func (m *Manager) unrecorded(j *Job, cause error) *Result {
	if !knownLeft(j) && j.gate.tryDrop() {
		if err := m.dropRecord(j); err == nil {
			m.logger.Warn("job dropped: its outcome could not be recorded", zap.String("job_id", j.ID), zap.String("owner", j.Owner), zap.Error(cause))
			m.logDroppedRechecks(j)
			return result(csbmsg.StatusUnableToFindResource, nil, "%v: %v; nothing was provisioned and nothing is left: try again later", ErrNotRecorded, cause)
		}
	}
	m.logger.Error("job outcome not recorded; the reaper resumes the job when storage works again",
		zap.String("job_id", j.ID), zap.String("owner", j.Owner), zap.Error(cause))
	v := *j
	v.Status, v.Op, v.gate = StatusPending, nil, nil
	v.Reason = fmt.Sprintf("accepted, still pending: the broker could not record the job's progress (%v); it resumes the job when its storage works again: poll the job with GET", cause)
	return result(csbmsg.StatusOK, &v, "%s", v.Reason)
}

// noMatch answers a decision without a candidate: 420 naming the fields
// when they alone kept every otherwise matching provider out (the request
// without them would be placed: the consumer's remedy is to drop them,
// not to retry), else 408. Either way the reason names every provider.
func noMatch(d *placement.Decision, prefix string) *Result {
	if f := d.UnsupportedFields(); len(f) > 0 {
		return result(csbmsg.StatusUnsupported, nil, "%sunsupported element %s: no provider's adapter honours it; %s", prefix, contract.FieldList(f), d.NoMatchReason())
	}
	return result(csbmsg.StatusUnableToFindResource, nil, "%s%s", prefix, d.NoMatchReason())
}

func planOf(d *placement.Decision, max int) []PlanEntry {
	var plan []PlanEntry
	for _, c := range d.Ordered() {
		if len(plan) == max {
			break
		}
		pe := PlanEntry{ProviderID: c.ProviderID, ServiceID: c.ServiceID, Service: *c.Service, Encryption: c.Encryption, Unhonoured: c.Unhonoured}
		if c.HasPrice {
			// A copy: c is the decision's, which goes back to the pool
			// at Release and is rewritten by the next Place, while the
			// plan's price is read for the job's cost (and written in
			// its record) until the job ends.
			price := c.Price
			pe.Price = &price
		}
		plan = append(plan, pe)
	}
	return plan
}

func (m *Manager) leaseSeconds(asked time.Duration) uint64 {
	l := asked
	if l <= 0 {
		l = m.c().LeaseDefault
	}
	l = max(m.c().LeaseMin, min(l, m.c().LeaseMax))
	return uint64(l / time.Second)
}

// keptLease is the lease (seconds) granted anew to a job that asks for no
// length (a renewal, a copy or a move without Csb-Lease): its recorded
// one, bounded as a create's is by the current [LeaseMin, LeaseMax]. The
// bounds may have changed since it was granted (a config reload), and a
// renewal must not outlast the maximum a create is granted now.
func (m *Manager) keptLease(secs uint64) uint64 {
	d := time.Duration(math.MaxInt64) // a record beyond the longest duration
	if secs <= uint64(math.MaxInt64/int64(time.Second)) {
		d = time.Duration(secs) * time.Second
	}
	return m.leaseSeconds(d)
}

func hashRequest(r *csbmsg.ServiceRequest) string {
	b, _ := json.Marshal(r)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Copy duplicates owner's job id on another provider: a new job with the
// same request, placed with the original's provider excluded. Without a
// candidate it answers as Create does: 420 when only unhonoured fields
// kept the other providers out, else 408.
func (m *Manager) Copy(ctx context.Context, owner, id string, opt CreateOptions) (*Result, error) {
	src, err := m.ownJob(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	if src.Status != StatusSuccess || src.Op != nil {
		// A job with an update or a move in progress holds a request
		// that is about to change: the copy would get the one before.
		return result(csbmsg.StatusUnableToFindResource, src, "job %s is %s%s; only a settled successful job can be copied", src.ID, src.Status, busy(src)), nil
	}
	d, err := m.c().Placer.Place(&src.Request, placement.Options{Access: opt.Access, Exclude: []string{src.ProviderID}, IgnoreUnhonoured: m.c().IgnoreUnhonoured, MaxPrice: opt.MaxPrice})
	if err != nil {
		return nil, err
	}
	defer d.Release()
	m.logDecision(d)
	if d.Chosen() == nil {
		return noMatch(d, fmt.Sprintf("cannot copy job %s: ", src.ID)), nil
	}
	now := m.now()
	j := &Job{
		ID:           newID(),
		Owner:        owner,
		Status:       StatusPending,
		Kind:         src.Kind,
		Request:      src.Request,
		Plan:         planOf(d, m.c().MaxAttempts),
		Decision:     d.Summary(),
		LeaseSeconds: m.keptLease(src.LeaseSeconds),
		CopiedFrom:   src.ID,
		Created:      now,
		Reason:       fmt.Sprintf("copy of job %s accepted: %s", src.ID, d.Summary()),
		Op:           &Op{Kind: OpCreate, Instance: m.instance, Started: now},
		placed:       d.Placed(),
	}
	if opt.Lease > 0 {
		j.LeaseSeconds = m.leaseSeconds(opt.Lease)
	}
	j.Events.Subscribers = src.Events.Subscribers
	if opt.Subscribers != nil {
		j.Events.Subscribers = opt.Subscribers
	}
	return m.startProvisioning(ctx, j, "", "")
}

// Move relocates owner's job id to another provider: it provisions the
// request there, then removes the original. The job keeps its id. If the
// new placement fails the job stays where it was (408, or 420 as Copy);
// if the original cannot be removed the new resource is removed again and
// the job stays where it was (410).
func (m *Manager) Move(ctx context.Context, owner, id string, opt CreateOptions) (*Result, error) {
	settled := settledSuccess(csbmsg.StatusUnableToFindResource, "can be moved")
	j, unlock, res, err := m.lockFor(ctx, owner, id, 0, csbmsg.StatusUnableToFindResource, "job %s is busy", func(j *Job) *Result {
		if r := settled(j); r != nil {
			return r
		}
		// A move removes the original at its provider: an attached
		// volume would go from under its machine, and a machine's
		// attachments would name volumes it no longer has there.
		if a := m.attachedNow(ctx, j); a != nil && a.Volume == j.ID {
			return result(csbmsg.StatusUnableToFindResource, j, "volume %s is attached to machine %s (attachment %s); detach it before moving it", j.ID, a.Machine, a.ID)
		}
		for _, a := range j.Attachments {
			if a.Machine == j.ID {
				return result(csbmsg.StatusUnableToFindResource, j, "machine %s has volume %s attached (attachment %s); detach its volumes before moving it", j.ID, a.Volume, a.ID)
			}
		}
		return nil
	})
	if res != nil || err != nil {
		return res, err
	}
	d, err := m.c().Placer.Place(&j.Request, placement.Options{Access: opt.Access, Exclude: []string{j.ProviderID}, IgnoreUnhonoured: m.c().IgnoreUnhonoured, MaxPrice: opt.MaxPrice})
	if err != nil {
		unlock()
		return nil, err
	}
	defer d.Release()
	m.logDecision(d)
	if d.Chosen() == nil {
		unlock()
		r := noMatch(d, fmt.Sprintf("cannot move job %s: ", j.ID))
		r.Job = j
		return r, nil
	}
	// The move grants the job a new lease at its new provider: the one
	// asked for (Csb-Lease, bounded as a create's is), else one as long
	// as the job's.
	lease := m.keptLease(j.LeaseSeconds)
	if opt.Lease > 0 {
		lease = m.leaseSeconds(opt.Lease)
	}
	// The new provider's price for the lease the move grants is spend:
	// the quotas are checked, and their locks held until the move is
	// recorded (limits.go). A refused move leaves the job as it is.
	res, plan, dropped, unlockQuota, err := m.admitMove(ctx, j, planOf(d, m.c().MaxAttempts), lease)
	if res != nil || err != nil {
		unlock()
		return res, err
	}
	j.Plan = plan
	j.Decision = d.Summary() + dropNote(dropped)
	j.placed = d.Placed()
	// The job's lease before the move, restored if the move is undone.
	j.Op = &Op{Kind: OpMove, Instance: m.instance, Started: m.now(), OldProvider: j.ProviderID, OldService: j.Service, OldResource: j.Resource,
		OldLeaseSeconds: j.LeaseSeconds}
	j.LeaseSeconds = lease
	j.Reason = fmt.Sprintf("moving from %s: %s", j.ProviderID, j.Decision)
	err = m.save(ctx, j)
	unlockQuota()
	if err != nil {
		unlock()
		return nil, err
	}
	m.logState(j, j.Status, "job move started")
	out := make(chan *Result, 1)
	done := m.goWork(j.ID, unlock, func(ctx context.Context) { out <- m.provision(ctx, j) })
	if done == nil {
		return result(csbmsg.StatusOK, j, "move accepted; the broker is shutting down and will finish it when it restarts"), nil
	}
	return m.await(ctx, j.ID, out, nil)
}

// settledSuccess is lockFor's answer for an operation only a settled
// successful job takes (what: "can be moved"): a refusal with status
// for any other job.
func settledSuccess(status csbmsg.Status, what string) func(*Job) *Result {
	return func(j *Job) *Result {
		if j.Status != StatusSuccess || j.Op != nil {
			return result(status, j, "job %s is %s%s; only a settled successful job %s", j.ID, j.Status, busy(j), what)
		}
		return nil
	}
}

func busy(j *Job) string {
	if j.Op != nil {
		return fmt.Sprintf(" with a %s in progress", j.Op.Kind)
	}
	return ""
}

// ---------------------------------------------------------------------------
// Read, update, remove

// Get returns owner's job id, or ErrNoJob when it does not exist or is
// someone else's.
//
// A successful job not checked at its provider for twice CheckInterval
// gets a check in the background (check.go); Get does not wait for it.
func (m *Manager) Get(ctx context.Context, owner, id string) (*Job, error) {
	j, err := m.ownJob(ctx, owner, id)
	if err == nil {
		m.checkOnRead(j)
	}
	return j, err
}

// Inspect returns job id from the store whoever owns it, for operators
// (the admin API); consumers go through Get, which checks the owner. It
// returns ErrNoJob when the job does not exist.
func (m *Manager) Inspect(ctx context.Context, id string) (*Job, error) {
	return m.loadStore(ctx, id, false)
}

// Answer returns the result of reading a job.
func (m *Manager) Answer(j *Job) *Result { return m.answerFor(j, "") }

func (m *Manager) answerFor(j *Job, prefix string) *Result {
	reason := j.Reason
	if prefix != "" {
		reason = prefix + "; " + reason
	}
	return &Result{Status: csbmsg.StatusOK, Reason: reason, Job: j}
}

// Update applies req to owner's job id: with no resource change (no
// service element, or the same values) it renews the lease; otherwise it
// resizes or runs the requested actions through the adapter and renews
// the lease. It answers 409 when the job cannot be updated.
func (m *Manager) Update(ctx context.Context, owner, id string, req *csbmsg.ServiceRequest, lease time.Duration) (*Result, error) {
	return m.UpdateIf(ctx, owner, id, 0, req, lease)
}

// UpdateIf is Update of job id at revision rev (Job.Rev): a job at
// another revision is ErrChanged, and nothing is done. Rev 0 expects
// none.
func (m *Manager) UpdateIf(ctx context.Context, owner, id string, rev uint64, req *csbmsg.ServiceRequest, lease time.Duration) (*Result, error) {
	j, unlock, res, err := m.lockFor(ctx, owner, id, rev, csbmsg.StatusCannotUpdateResource, "job %s is busy with another operation", settledSuccess(csbmsg.StatusCannotUpdateResource, "can be updated"))
	if res != nil || err != nil {
		return res, err
	}
	defer unlock()
	stored := j.LeaseSeconds
	if lease > 0 {
		j.LeaseSeconds = m.leaseSeconds(lease)
	} else {
		j.LeaseSeconds = m.keptLease(j.LeaseSeconds)
	}
	// A refusal leaves the job as it is stored.
	refused := func(r *Result) *Result {
		if r != nil && r.Status != csbmsg.StatusOK {
			j.LeaseSeconds = stored
		}
		return r
	}
	upd := *req
	upd.JobInfo = nil
	why, held := m.heldBack(j.ProviderID, j.ServiceID)
	if !changes(&j.Request, &upd) {
		if !held {
			if r := m.renewChecked(ctx, j); r != nil {
				return r, nil
			}
		}
		// The longer lease is spend: the quotas are checked, and their
		// locks held until the renewed lease is recorded (limits.go).
		r, unlockQuota, err := m.admitRenewal(ctx, j)
		if r != nil || err != nil {
			return refused(r), err
		}
		defer unlockQuota()
		if held {
			return m.renewHeld(ctx, j, why)
		}
		j.Expires = m.now().Add(time.Duration(j.LeaseSeconds) * time.Second)
		j.Reason = "lease renewed"
		if err := m.save(ctx, j); err != nil {
			return nil, fmt.Errorf("%w: the renewal: %v", ErrNotRecorded, err)
		}
		m.logState(j, j.Status, "job lease renewed")
		return result(csbmsg.StatusOK, j, "lease renewed for %d s; no resource change", j.LeaseSeconds), nil
	}
	if held {
		return result(csbmsg.StatusCannotUpdateResource, j, "cannot update job %s: %s and is not contacted until it is active again", j.ID, why), nil
	}
	merged := overlay(&j.Request, &upd)
	if ok, why := placement.Matches(j.Service, j.Encryption, &merged); !ok {
		return result(csbmsg.StatusCannotUpdateResource, j, "cannot update job %s: service %s of %s: %s", j.ID, j.ServiceID, j.ProviderID, why), nil
	}
	ad, ok := m.c().Adapter(j.ProviderID, j.Kind)
	if !ok {
		return result(csbmsg.StatusCannotUpdateResource, j, "cannot update job %s: provider %s has no adapter configured", j.ID, j.ProviderID), nil
	}
	if r, err := m.checkResize(ctx, j, &merged); r != nil || err != nil {
		return refused(r), err
	}
	if f := m.updateUnhonoured(ad, j, &upd); len(f) > 0 {
		if !m.c().IgnoreUnhonoured {
			return result(csbmsg.StatusUnsupported, j, "cannot update job %s: unsupported element %s: the adapter of %s does not honour it", j.ID, contract.FieldList(f), j.ProviderID), nil
		}
		m.c().Logger.Warn("job update sets fields its adapter does not honour",
			zap.String("owner", j.Owner), zap.String("job_id", j.ID), zap.String("provider_id", j.ProviderID), zap.Strings("ignored_fields", f))
	}
	j.Op = &Op{Kind: OpUpdate, Instance: m.instance, Started: m.now(), Update: &upd}
	if err := m.save(ctx, j); err != nil {
		return nil, err
	}
	r := m.applyUpdate(m.base, ad, j)
	return r, nil
}

// updateUnhonoured returns the fields an update sets that the job's
// adapter does not honour, as a create is checked (contract.Unhonoured),
// but leaving out the <status> and <action> leaves (the state changes the
// adapter's Update performs or refuses with 409) and the fields already
// recorded as ignored on the job.
func (m *Manager) updateUnhonoured(ad contract.Adapter, j *Job, upd *csbmsg.ServiceRequest) []string {
	set := contract.HonouredBy(ad)
	if h := m.c().Honoured; h != nil {
		set = h(j.ProviderID, j.Kind)
	}
	var out []string
	for _, f := range contract.Unhonoured(set, contract.RequestFields(upd)) {
		if strings.HasSuffix(f, "/status") || strings.HasSuffix(f, "/action") || slices.Contains(j.Ignored, f) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// applyUpdate runs a recorded update (the caller holds the lock).
func (m *Manager) applyUpdate(ctx context.Context, ad contract.Adapter, j *Job) *Result {
	upd := j.Op.Update
	if why, held := m.heldBack(j.ProviderID, j.ServiceID); held {
		j.Op = nil
		j.Reason = fmt.Sprintf("update not applied: %s and is not contacted until it is active again", why)
		m.saveBackground(j)
		return result(csbmsg.StatusCannotUpdateResource, j, "%s", j.Reason)
	}
	merged := overlay(&j.Request, upd)
	cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
	res, err := ad.Update(cctx, j.Resource, m.adapterRequest(j, j.ProviderID, j.Service, upd))
	cancel()
	// Only a failed call is left to the next start: an update the
	// provider answered as done while the broker was shutting down is
	// recorded as done (saveBackground outlives ctx). Kept as the job's
	// operation, it was applied a second time by the next broker, and an
	// adapter whose update adds something (an OCCI storage and its link)
	// made it twice.
	if err != nil && ctx.Err() != nil {
		return result(csbmsg.StatusCannotUpdateResource, j, "interrupted: the broker is shutting down; the update will be finished when it restarts")
	}
	j.Op = nil
	if err != nil {
		j.Reason = fmt.Sprintf("update failed at %s: %v", j.ProviderID, err)
		m.saveBackground(j)
		m.logState(j, j.Status, "job update failed", zap.Error(err))
		return result(csbmsg.StatusCannotUpdateResource, j, "%s", j.Reason)
	}
	if res != nil {
		j.Resource = res
	}
	ignored := m.updateUnhonoured(ad, j, upd) // only under unhonoured_fields ignore: Update refused them otherwise
	j.Ignored = append(j.Ignored, ignored...)
	j.Request = merged
	j.Expires = m.now().Add(time.Duration(j.LeaseSeconds) * time.Second)
	j.Reason = fmt.Sprintf("updated at %s; lease renewed", j.ProviderID)
	if len(ignored) > 0 {
		j.Reason += "; ignored fields its adapter does not honour: " + contract.FieldList(ignored)
	}
	m.saveBackground(j)
	m.logState(j, j.Status, "job updated")
	return result(csbmsg.StatusOK, j, "%s", j.Reason)
}

// Remove removes owner's job id: the adapter deletes its resources and
// the job becomes removed. It answers 410 when the resources cannot be
// removed. Removing a job that is already removed or expired succeeds
// (with the job's reason while its removal is queued, contact.go).
func (m *Manager) Remove(ctx context.Context, owner, id string) (*Result, error) {
	return m.RemoveIf(ctx, owner, id, 0)
}

// RemoveIf is Remove of job id at revision rev (Job.Rev): a job at
// another revision is ErrChanged, and nothing is done (also when the job
// has since been removed: the caller decided on a job that was not).
// Rev 0 expects none.
func (m *Manager) RemoveIf(ctx context.Context, owner, id string, rev uint64) (*Result, error) {
	j, unlock, res, err := m.lockFor(ctx, owner, id, rev, csbmsg.StatusCannotRemoveResource, "job %s is busy with another operation", func(j *Job) *Result {
		if j.Status.Final() && queuedRemoval(j) {
			// Removed all the same (200, as any remove of a removed
			// job), but its resources still run at the provider: the
			// answer says the removal is queued and why, as the first
			// remove's did, not "already removed" (contact.go).
			return result(csbmsg.StatusOK, j, "%s", j.Reason)
		}
		if j.Status.Final() {
			return result(csbmsg.StatusOK, j, "job %s is already %s", j.ID, j.Status)
		}
		if j.Status.InFlight() || j.Op != nil {
			return result(csbmsg.StatusCannotRemoveResource, j, "job %s is %s%s; remove it when that has finished", j.ID, j.Status, busy(j))
		}
		// A volume attached to a machine goes only once detached, through
		// whichever front door the removal comes (volume_attach.go).
		if a := m.attachedNow(ctx, j); a != nil {
			return result(csbmsg.StatusCannotRemoveResource, j, "volume %s is attached to machine %s (attachment %s); detach it first", j.ID, a.Machine, a.ID)
		}
		return nil
	})
	if res != nil || err != nil {
		return res, err
	}
	defer unlock()
	j.Op = &Op{Kind: OpRemove, Instance: m.instance, Started: m.now()}
	if err := m.save(ctx, j); err != nil {
		return nil, err
	}
	return m.finishRemoval(m.base, j, StatusRemoved), nil
}

// finishRemoval removes a job's resources and gives it status final (the
// caller holds the lock). On failure the job keeps its status (410).
func (m *Manager) finishRemoval(ctx context.Context, j *Job, final Status) *Result {
	prev := j.Status
	if why, held := m.heldBack(j.ProviderID, j.ServiceID); held && j.Resource != nil && j.Resource.State != contract.StateGone {
		return m.queueRemoval(j, final, why)
	}
	holds := j.Resource != nil && j.ProviderID != ""
	ad, configured := m.c().Adapter(j.ProviderID, j.Kind)
	if holds && !configured && j.Resource.State != contract.StateGone {
		// The provider left the configuration: the removal is queued
		// until it is configured again (contact.go), for a consumer's
		// remove as for a reclaim. A resource that vanished at such a
		// provider leaves nothing to remove: the job ends below.
		return m.queueUnconfigured(j, final)
	}
	if holds && configured {
		cctx, cancel := context.WithTimeout(ctx, m.c().CallTimeout)
		err := ad.Remove(cctx, j.Resource)
		cancel()
		if ctx.Err() != nil {
			return result(csbmsg.StatusCannotRemoveResource, j, "interrupted: the broker is shutting down; the removal will be finished when it restarts")
		}
		if err != nil {
			j.Op = nil
			before := j.Reason
			j.Reason = fmt.Sprintf("%s failed at %s: %v", map[Status]string{StatusRemoved: "removal", StatusExpired: "lease reclaim"}[final], j.ProviderID, err)
			if final == StatusExpired {
				m.backOffReclaim(j)
			}
			m.saveBackground(j)
			m.reclaimed(j, final, err)
			// The reaper retries a failed reclaim (with backoff): log the
			// failure once, and again only when it changes.
			if j.Reason != before {
				m.logState(j, prev, "job removal failed", zap.Error(err))
			}
			return result(csbmsg.StatusCannotRemoveResource, j, "%s", j.Reason)
		}
		j.Resource.State = contract.StateGone
	}
	j.Op = nil
	j.Reclaim = nil
	j.Status = final
	j.Expires = m.now().Add(m.c().Retain)
	if final == StatusExpired {
		j.Reason = "lease ended; resources reclaimed"
	} else {
		j.Reason = "removed"
	}
	if final == StatusExpired {
		m.queueEvent(j, EventReclaimed)
	}
	m.saveBackground(j)
	m.reclaimed(j, final, nil)
	m.logState(j, prev, "job "+string(final))
	return result(csbmsg.StatusOK, j, "%s", j.Reason)
}

// reclaimed reports the outcome of a lease reclaim to Config.OnReclaim
// (final is the status finishRemoval was asked for).
func (m *Manager) reclaimed(j *Job, final Status, err error) {
	if fn := m.c().OnReclaim; fn != nil && final == StatusExpired {
		fn(j, err)
	}
}

// saveBackground saves with the manager's context: the outcome of an
// adapter call must be recorded even when the request that caused it went
// away.
func (m *Manager) saveBackground(j *Job) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.base), 30*time.Second)
	defer cancel()
	if err := m.save(ctx, j); err != nil {
		m.logger.Error("recording job", zap.String("job_id", j.ID), zap.Error(err))
	}
}

// changes reports whether upd asks for anything the job does not already
// have: a service element with a different value, or an action.
func changes(cur, upd *csbmsg.ServiceRequest) bool {
	if upd.IaaS == nil && upd.PaaS == nil && upd.SaaS == nil && upd.DSaaS == nil && upd.Encryption == nil {
		return false
	}
	if hasAction(upd) {
		return true
	}
	merged := overlay(cur, upd)
	return !reflect.DeepEqual(&merged, cur)
}

func hasAction(r *csbmsg.ServiceRequest) bool {
	if r.IaaS == nil {
		return false
	}
	i := r.IaaS
	return i.Compute != nil && i.Compute.Action != nil || i.Network != nil && i.Network.Action != nil || i.Storage != nil && i.Storage.Action != nil
}

// overlay returns cur with every element upd sets replaced (recursively
// for elements, by value for leaves). Actions are not kept: they are
// carried out, not state.
func overlay(cur, upd *csbmsg.ServiceRequest) csbmsg.ServiceRequest {
	out := cloneRequest(cur)
	overlayValue(reflect.ValueOf(&out).Elem(), reflect.ValueOf(cloneRequest(upd)))
	if out.IaaS != nil {
		if out.IaaS.Compute != nil {
			out.IaaS.Compute.Action = nil
		}
		if out.IaaS.Network != nil {
			out.IaaS.Network.Action = nil
		}
		if out.IaaS.Storage != nil {
			out.IaaS.Storage.Action = nil
		}
	}
	return out
}

func overlayValue(dst, src reflect.Value) {
	for i := 0; i < src.NumField(); i++ {
		sf, df := src.Field(i), dst.Field(i)
		if sf.Kind() == reflect.Struct {
			// An embedded element group (a DSaaS object's ObjectRefs):
			// merged member by member, as an element is.
			overlayValue(df, sf)
			continue
		}
		if sf.Kind() != reflect.Pointer {
			// A plain value (a Link's rel and href): set when the
			// update gives it. Skipped, an update naming another
			// descriptor was no change and renewed the lease.
			if df.CanSet() && !sf.IsZero() {
				df.Set(sf)
			}
			continue
		}
		if sf.IsNil() {
			continue
		}
		if sf.Elem().Kind() == reflect.Struct && !df.IsNil() {
			overlayValue(df.Elem(), sf.Elem())
			continue
		}
		df.Set(sf)
	}
}

func cloneRequest(r *csbmsg.ServiceRequest) csbmsg.ServiceRequest {
	b, _ := json.Marshal(r)
	var c csbmsg.ServiceRequest
	_ = json.Unmarshal(b, &c)
	return c
}

// ---------------------------------------------------------------------------
// Lookups

// Endpoint is where a job's native API traffic goes (issue 7's transparent
// proxy).
type Endpoint struct {
	JobID      string
	ProviderID string
	// URL is the adapter's Resource.Endpoint, else the resource URI.
	URL string
	// Resource is the job's resource at the provider.
	Resource *contract.Resource
}

// JobEndpoint resolves owner's job id to the provider endpoint that holds
// it. It returns ErrNoJob for unknown, foreign, unfinished, expired and
// removed jobs alike, and for jobs whose removal is in progress.
func (m *Manager) JobEndpoint(ctx context.Context, owner, id string) (Endpoint, error) {
	j, err := m.ownJob(ctx, owner, id)
	if err != nil {
		return Endpoint{}, err
	}
	if j.Status != StatusSuccess || j.Resource == nil {
		return Endpoint{}, ErrNoJob
	}
	// A removal in progress (the consumer's, or a reclaim) keeps status
	// success until the provider has removed the resources: the route
	// ends when the remove is accepted, not when it is done.
	if j.Op != nil && (j.Op.Kind == OpRemove || j.Op.Kind == OpReap) {
		return Endpoint{}, ErrNoJob
	}
	// A lease that has ended is over for the consumer now, not when the
	// reaper gets to it: its next pass may be ReapInterval away, and an
	// attached volume's reclaim waits for its machine (deferReclaim).
	if !j.Expires.IsZero() && !m.now().Before(j.Expires) {
		return Endpoint{}, ErrNoJob
	}
	u := j.Resource.Endpoint
	if u == "" {
		u = j.Resource.URI
	}
	return Endpoint{JobID: j.ID, ProviderID: j.ProviderID, URL: u, Resource: j.Resource}, nil
}

// Filter selects jobs for List. Zero fields match everything.
type Filter struct {
	Owner      string
	ProviderID string
	Status     Status
}

// List returns the stored jobs matching f, read from the store (for the
// admin API).
func (m *Manager) List(ctx context.Context, f Filter) ([]*Job, error) {
	ids, err := m.listIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Job
	for _, id := range ids {
		j, err := m.loadStore(ctx, id, false)
		if err != nil {
			continue
		}
		if f.Owner != "" && j.Owner != f.Owner || f.ProviderID != "" && j.ProviderID != f.ProviderID || f.Status != "" && j.Status != f.Status {
			continue
		}
		out = append(out, j)
	}
	return out, nil
}

// JobState is what Census reports of a stored job.
type JobState struct {
	ID     string
	Status Status
	Rev    uint64
}

// Census returns the id, status and revision of every stored job, read
// from the store (for the jobs-by-state gauge). Unlike List it keeps
// nothing else of a record: a few dozen bytes per job instead of the
// whole job (its request, plan and attempts, kilobytes each), so a
// recount over a hundred thousand jobs does not hold them all at once.
func (m *Manager) Census(ctx context.Context) ([]JobState, error) {
	ids, err := m.listIDs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]JobState, 0, len(ids))
	for _, id := range ids {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		data, err := m.store.Load(ctx, jobKey(id))
		if err != nil {
			continue // purged since the listing, or unreadable: not counted
		}
		var rec struct {
			Status Status `json:"status"`
			Rev    uint64 `json:"rev"`
		}
		if json.Unmarshal(data, &rec) != nil {
			continue
		}
		out = append(out, JobState{ID: strings.Clone(id), Status: rec.Status.canonical(), Rev: rec.Rev})
	}
	return out, nil
}

// Load reports a provider's live jobs and committed capacity, for the
// least_loaded placement policy. The figures are recounted from the store
// on every reaper pass and adjusted as this process changes jobs.
func (m *Manager) Load(providerID string) placement.Load {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads[providerID]
}

func (m *Manager) adapterRequest(j *Job, provider string, svc *catalog.ServiceEntry, want *csbmsg.ServiceRequest) *contract.Request {
	r := &contract.Request{JobID: j.ID, Owner: j.Owner, Want: *want, ProviderID: provider}
	if svc != nil {
		r.Service = svc.Service
	}
	return r
}

func (m *Manager) notify(j *Job) {
	m.track(j)
	m.indexJob(j)
	if m.c().OnChange != nil {
		m.c().OnChange(j)
	}
}

// every runs pass at once and then every interval() (read anew after
// each pass, so SetTunables applies to the next wait) until Stop; first
// tells the pass it is the one at start.
func (m *Manager) every(interval func() time.Duration, pass func(first bool)) {
	t := time.NewTimer(0)
	defer t.Stop()
	for first := true; ; first = false {
		select {
		case <-m.base.Done():
			return
		case <-t.C:
		}
		pass(first)
		t.Reset(interval())
	}
}
