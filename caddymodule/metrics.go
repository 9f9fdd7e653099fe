package caddymodule

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/metricsreg"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-csb/caddy-csb/broker/adapters"
	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/broker/publish"
)

// Prometheus metrics of the broker, registered on the registry of every
// configuration load (caddy.Context.GetMetricsRegistry) and served with
// Caddy's own metrics by the admin endpoint's /metrics:
//
//	caddy_csb_notifications_total{status,outcome}                counter    notifications answered at the publish endpoint, by protocol status code and outcome (applied, gap, restart, duplicate, old, refused, invalid)
//	caddy_csb_consumer_answers_total{method,status}              counter    Consumer interface answers, by HTTP method and protocol status code
//	caddy_csb_subscriptions{state}                               gauge      subscriptions at providers by state (creating, active, retrying, lapsed, removing)
//	caddy_csb_catalog_providers{status}                          gauge      catalogue providers by status (active, deactivated, unavailable)
//	caddy_csb_catalog_services{kind,status}                      gauge      catalogue services by kind (IaaS, PaaS, SaaS, DSaaS) and status
//	caddy_csb_catalog_placeable_services{kind}                   gauge      services placement may choose now, by kind
//	caddy_csb_catalog_expired_services                           gauge      services whose entry expired (visible until the retention passes)
//	caddy_csb_catalog_version                                    gauge      the catalogue's change counter
//	caddy_csb_catalog_journal_backlog                            gauge      providers whose journaled notifications are not compacted into their records yet
//	caddy_csb_jobs{state}                                        gauge      jobs by state (pending, provisioning, success, failed, expired, removed)
//	caddy_csb_placement_duration_seconds{kind,result}            histogram  placement decisions (match + rank, no provider I/O); result placed or no_match
//	caddy_csb_adapter_call_duration_seconds{provider,operation}  histogram  adapter calls (provision, status, update, remove, find, discover)
//	caddy_csb_adapter_errors_total{provider,operation,kind}      counter    failed adapter calls by error kind (provider_4xx, provider_5xx, timeout, unsupported, capacity, transport, not_found, canceled, other)
//	caddy_csb_lease_reclaims_total{result}                       counter    lease reclaims by the reaper: reclaimed, or failed (retried on the next pass)
//
// The http_digest provider adds caddy_csb_digest_* (package digestauth).
//
// Counters and histograms live as long as the process: every configuration
// load registers the same collectors on its new registry, so a reload
// neither resets them nor registers anything twice. The gauges are read
// from the broker's state when /metrics is scraped. Counters are per
// process; in a cluster, sum them over the instances. The gauges of the
// catalogue, the subscriptions and the jobs show the shared state (each
// instance's view of it).
var csbMetrics = newMetricsSet()

const metricsNamespace, metricsSubsystem = metricsreg.Namespace, metricsreg.Subsystem

// metricsSet holds the process-wide collectors.
type metricsSet struct {
	notifications *prometheus.CounterVec
	consumer      *prometheus.CounterVec
	placement     *prometheus.HistogramVec
	adapterCalls  *prometheus.HistogramVec
	adapterErrors *prometheus.CounterVec
	leaseReclaims *prometheus.CounterVec
	state         *stateCollector
}

func newMetricsSet() *metricsSet {
	opts := metricsreg.Opts
	m := &metricsSet{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts(opts("notifications_total",
			"Notifications answered at the publish endpoint, by protocol status code and outcome.")), []string{"status", "outcome"}),
		consumer: prometheus.NewCounterVec(prometheus.CounterOpts(opts("consumer_answers_total",
			"Consumer interface answers, by HTTP method and protocol status code.")), []string{"method", "status"}),
		placement: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "placement_duration_seconds",
			Help:    "Placement decisions (match and rank, without provider I/O), by service model and result.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 9), // 10 µs … 0.65 s
		}, []string{"kind", "result"}),
		adapterCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "adapter_call_duration_seconds",
			Help:    "Calls to provider adapters, by provider and operation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"provider", "operation"}),
		adapterErrors: prometheus.NewCounterVec(prometheus.CounterOpts(opts("adapter_errors_total",
			"Failed calls to provider adapters, by provider, operation and error kind.")), []string{"provider", "operation", "kind"}),
		leaseReclaims: prometheus.NewCounterVec(prometheus.CounterOpts(opts("lease_reclaims_total",
			"Reclaims of ended job leases: reclaimed, or failed (the reaper tries again).")), []string{"result"}),
		state: newStateCollector(),
	}
	return m
}

// collectors returns every collector of the broker.
func (m *metricsSet) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.notifications, m.consumer, m.placement, m.adapterCalls, m.adapterErrors,
		m.leaseReclaims, m.state}
}

// observeNotification counts one answer of the publish endpoint.
func (m *metricsSet) observeNotification(res publish.Result) {
	m.notifications.WithLabelValues(strconv.Itoa(int(res.Response.Status)), string(res.Outcome)).Inc()
}

// observeConsumer counts one answer of the Consumer interface.
func (m *metricsSet) observeConsumer(method string, status csbmsg.Status) {
	m.consumer.WithLabelValues(method, strconv.Itoa(int(status))).Inc()
}

// observePlacement records one placement decision.
func (m *metricsSet) observePlacement(start time.Time, req *csbmsg.ServiceRequest, d *placement.Decision, err error) {
	kind, result := "", "error"
	switch {
	case err != nil:
		if k, kerr := placement.KindOf(req); kerr == nil {
			kind = string(k)
		}
	case d.Chosen() != nil:
		kind, result = string(d.Kind), "placed"
	default:
		kind, result = string(d.Kind), "no_match"
	}
	m.placement.WithLabelValues(kind, result).Observe(time.Since(start).Seconds())
}

// observeReclaim counts one lease reclaim (jobs.Config.OnReclaim).
func (m *metricsSet) observeReclaim(_ *jobs.Job, err error) {
	if err != nil {
		m.leaseReclaims.WithLabelValues("failed").Inc()
		return
	}
	m.leaseReclaims.WithLabelValues("reclaimed").Inc()
}

// ---------------------------------------------------------------------------
// Gauges read at scrape time

// stateCollector reads the running engine's catalogue, subscriptions and
// jobs when /metrics is scraped.
type stateCollector struct {
	subscriptions *prometheus.Desc
	providers     *prometheus.Desc
	services      *prometheus.Desc
	placeable     *prometheus.Desc
	expired       *prometheus.Desc
	version       *prometheus.Desc
	backlog       *prometheus.Desc
	jobs          *prometheus.Desc
}

func newStateCollector() *stateCollector {
	name := func(n string) string { return prometheus.BuildFQName(metricsNamespace, metricsSubsystem, n) }
	return &stateCollector{
		subscriptions: prometheus.NewDesc(name("subscriptions"), "Subscriptions at providers by state.", []string{"state"}, nil),
		providers:     prometheus.NewDesc(name("catalog_providers"), "Catalogue providers by status.", []string{"status"}, nil),
		services:      prometheus.NewDesc(name("catalog_services"), "Catalogue services by service model and status.", []string{"kind", "status"}, nil),
		placeable:     prometheus.NewDesc(name("catalog_placeable_services"), "Catalogue services placement may choose now, by service model.", []string{"kind"}, nil),
		expired:       prometheus.NewDesc(name("catalog_expired_services"), "Catalogue services whose entry expired, visible until the retention passes.", nil, nil),
		version:       prometheus.NewDesc(name("catalog_version"), "The catalogue's change counter.", nil, nil),
		backlog:       prometheus.NewDesc(name("catalog_journal_backlog"), "Providers whose journaled notifications are not compacted into their records yet.", nil, nil),
		jobs:          prometheus.NewDesc(name("jobs"), "Jobs by state.", []string{"state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.subscriptions, c.providers, c.services, c.placeable, c.expired, c.version, c.backlog, c.jobs} {
		ch <- d
	}
}

var (
	subscriptionStates = []string{publish.StatusCreating, publish.StatusActive, publish.StatusRetrying, publish.StatusLapsed, publish.StatusRemoving}
	serviceStatuses    = []csbmsg.ServiceStatus{csbmsg.ServiceActive, csbmsg.ServiceDeactivated, csbmsg.ServiceUnavailable}
	serviceKinds       = []catalog.Kind{catalog.KindIaaS, catalog.KindPaaS, catalog.KindSaaS, catalog.KindDSaaS}
	jobStates          = []jobs.Status{jobs.StatusPending, jobs.StatusProvisioning, jobs.StatusSuccess, jobs.StatusFailed, jobs.StatusExpired, jobs.StatusRemoved}
)

// Collect implements prometheus.Collector. Every state gets a series, 0
// included, so that dashboards see a stable set.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	e := currentEngine()
	if e == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}

	subs := map[string]int{}
	for _, s := range e.subs.Snapshot() {
		subs[s.Status]++
	}
	for _, st := range subscriptionStates {
		gauge(c.subscriptions, subs[st], st)
		delete(subs, st)
	}
	for st, n := range subs { // a state this list does not know yet
		gauge(c.subscriptions, n, st)
	}

	st := e.catalog.Stats()
	for _, s := range serviceStatuses {
		gauge(c.providers, st.Providers[s], string(s))
	}
	for _, k := range serviceKinds {
		for _, s := range serviceStatuses {
			gauge(c.services, st.Services[k][s], string(k), string(s))
		}
		gauge(c.placeable, st.Placeable[k], string(k))
	}
	gauge(c.expired, st.Expired)
	ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, float64(e.catalog.Version()))
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(e.catalog.JournalBacklog()))

	if jc := e.jobCount; jc != nil {
		counts := jc.counts()
		for _, s := range jobStates {
			gauge(c.jobs, counts[s], string(s))
		}
	}
}

// ---------------------------------------------------------------------------
// Jobs by state

// jobRecountEvery bounds how often the job counts are recounted from
// storage (on a scrape, in the background).
const jobRecountEvery = 30 * time.Second

// jobCounter keeps the state of every job for the caddy_csb_jobs gauge
// without reading every stored job on each scrape: this process's own
// writes update it at once (jobs.Config.OnChange), and a recount from
// storage, at most every jobRecountEvery and started by a scrape, adds
// what other instances of a cluster changed and drops purged jobs. Between
// two records of one job the higher revision wins.
type jobCounter struct {
	// list reads every stored job's state (jobs.Manager.Census: the id,
	// status and revision only, so a recount does not hold every job).
	list  func(context.Context) ([]jobs.JobState, error)
	every time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	marks      map[string]jobMark
	gen        uint64 // bumped when a recount starts
	last       time.Time
	recounting bool
}

// jobMark is what the counter knows of one job.
type jobMark struct {
	status jobs.Status
	rev    uint64
	gen    uint64 // the recount generation it was last confirmed in
}

func newJobCounter(list func(context.Context) ([]jobs.JobState, error)) *jobCounter {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobCounter{list: list, every: jobRecountEvery, ctx: ctx, cancel: cancel, marks: map[string]jobMark{}}
}

// observe records a job this process wrote (jobs.Config.OnChange).
func (c *jobCounter) observe(j *jobs.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mergeLocked(j.ID, j.Status, j.Rev)
}

func (c *jobCounter) mergeLocked(id string, status jobs.Status, rev uint64) {
	if m, ok := c.marks[id]; ok && m.rev > rev {
		m.gen = c.gen
		c.marks[id] = m
		return
	}
	c.marks[id] = jobMark{status: status, rev: rev, gen: c.gen}
}

// counts returns the jobs by state, and starts a recount in the
// background when the last one is older than every.
func (c *jobCounter) counts() map[jobs.Status]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recounting && time.Since(c.last) >= c.every && c.ctx.Err() == nil {
		c.startRecountLocked()
	}
	out := make(map[jobs.Status]int, len(jobStates))
	for _, m := range c.marks {
		out[m.status]++
	}
	return out
}

// recount starts a recount from storage now (unless one is running).
func (c *jobCounter) recount() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recounting && c.ctx.Err() == nil {
		c.startRecountLocked()
	}
}

func (c *jobCounter) startRecountLocked() {
	c.recounting = true
	c.gen++
	gen := c.gen
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
		defer cancel()
		list, err := c.list(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.recounting = false
		c.last = time.Now()
		if err != nil {
			return // keep what is known; try again on a later scrape
		}
		for _, j := range list {
			c.mergeLocked(j.ID, j.Status, j.Rev)
		}
		// Jobs neither listed nor written here since the recount began
		// are gone from storage (purged, here or elsewhere).
		for id, m := range c.marks {
			if m.gen < gen {
				delete(c.marks, id)
			}
		}
	}()
}

// stop ends a recount in progress and waits for it.
func (c *jobCounter) stop() {
	c.cancel()
	c.wg.Wait()
}

// ---------------------------------------------------------------------------
// Adapter calls

// instrumentAdapter wraps a provider's adapter so that every call is
// timed and every failure counted, by provider and operation. The wrapper
// implements exactly the optional interfaces (adapters.Discoverer,
// adapters.Finder, adapters.KindReporter) the adapter implements, so the
// broker's behaviour does not change; Unwrap returns the adapter itself.
func instrumentAdapter(providerID string, ad adapters.Adapter) adapters.Adapter {
	if _, done := ad.(unwrapper); done {
		return ad
	}
	base := &instrumented{inner: ad, provider: providerID, m: csbMetrics}
	d, isD := ad.(adapters.Discoverer)
	f, isF := ad.(adapters.Finder)
	k, isK := ad.(adapters.KindReporter)
	dp, fp, kp := discoverPart{base, d}, findPart{base, f}, kindPart{k}
	switch {
	case isD && isF && isK:
		return &struct {
			*instrumented
			discoverPart
			findPart
			kindPart
		}{base, dp, fp, kp}
	case isD && isF:
		return &struct {
			*instrumented
			discoverPart
			findPart
		}{base, dp, fp}
	case isD && isK:
		return &struct {
			*instrumented
			discoverPart
			kindPart
		}{base, dp, kp}
	case isF && isK:
		return &struct {
			*instrumented
			findPart
			kindPart
		}{base, fp, kp}
	case isD:
		return &struct {
			*instrumented
			discoverPart
		}{base, dp}
	case isF:
		return &struct {
			*instrumented
			findPart
		}{base, fp}
	case isK:
		return &struct {
			*instrumented
			kindPart
		}{base, kp}
	}
	return base
}

// unwrapper is implemented by instrumented adapters.
type unwrapper interface {
	Unwrap() adapters.Adapter
}

// instrumented times an adapter's calls.
type instrumented struct {
	inner    adapters.Adapter
	provider string
	m        *metricsSet
}

// Unwrap returns the adapter itself, for code that needs one of its own
// methods.
func (a *instrumented) Unwrap() adapters.Adapter { return a.inner }

func (a *instrumented) observe(op string, start time.Time, err error) {
	a.m.adapterCalls.WithLabelValues(a.provider, op).Observe(time.Since(start).Seconds())
	if err != nil {
		a.m.adapterErrors.WithLabelValues(a.provider, op, errorKind(err)).Inc()
	}
}

// errorKind labels an adapter failure.
func errorKind(err error) string {
	if k := adapters.KindOf(err); k != "" {
		return string(k)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return string(adapters.KindTimeout)
	}
	return "other"
}

// Provision implements adapters.Adapter.
func (a *instrumented) Provision(ctx context.Context, req *adapters.Request) (*adapters.Resource, error) {
	start := time.Now()
	res, err := a.inner.Provision(ctx, req)
	a.observe("provision", start, err)
	return res, err
}

// Status implements adapters.Adapter.
func (a *instrumented) Status(ctx context.Context, res *adapters.Resource) (*adapters.Resource, error) {
	start := time.Now()
	out, err := a.inner.Status(ctx, res)
	a.observe("status", start, err)
	return out, err
}

// Update implements adapters.Adapter.
func (a *instrumented) Update(ctx context.Context, res *adapters.Resource, req *adapters.Request) (*adapters.Resource, error) {
	start := time.Now()
	out, err := a.inner.Update(ctx, res, req)
	a.observe("update", start, err)
	return out, err
}

// Remove implements adapters.Adapter.
func (a *instrumented) Remove(ctx context.Context, res *adapters.Resource) error {
	start := time.Now()
	err := a.inner.Remove(ctx, res)
	a.observe("remove", start, err)
	return err
}

type discoverPart struct {
	a *instrumented
	d adapters.Discoverer
}

// Discover implements adapters.Discoverer.
func (p discoverPart) Discover(ctx context.Context) ([]csbmsg.Service, error) {
	start := time.Now()
	out, err := p.d.Discover(ctx)
	p.a.observe("discover", start, err)
	return out, err
}

type findPart struct {
	a *instrumented
	f adapters.Finder
}

// Find implements adapters.Finder.
func (p findPart) Find(ctx context.Context, req *adapters.Request) (*adapters.Resource, error) {
	start := time.Now()
	out, err := p.f.Find(ctx, req)
	p.a.observe("find", start, err)
	return out, err
}

type kindPart struct {
	k adapters.KindReporter
}

// ServiceKinds implements adapters.KindReporter.
func (p kindPart) ServiceKinds() []string { return p.k.ServiceKinds() }

// Interface guards.
var (
	_ prometheus.Collector = (*stateCollector)(nil)
	_ adapters.Adapter     = (*instrumented)(nil)
	_ unwrapper            = (*instrumented)(nil)
)
