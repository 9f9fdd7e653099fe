package caddymodule

// The metrics gauges, read from the broker's state at scrape time.

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/publish"
)

// stateCollector reads the catalogue, subscriptions and jobs of its csb
// app's engine when /metrics is scraped. Each configuration load
// registers its app's collector on its own registry.
type stateCollector struct {
	app *App

	subscriptions *prometheus.Desc
	providers     *prometheus.Desc
	services      *prometheus.Desc
	placeable     *prometheus.Desc
	expired       *prometheus.Desc
	version       *prometheus.Desc
	backlog       *prometheus.Desc
	jobs          *prometheus.Desc
}

func newStateCollector(a *App) *stateCollector {
	name := func(n string) string { return prometheus.BuildFQName(metricsNamespace, metricsSubsystem, n) }
	return &stateCollector{
		app:           a,
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
	subscriptionStates = []string{publish.StatusCreating, publish.StatusActive, publish.StatusRetrying, publish.StatusLapsed, publish.StatusRemoving, publish.StatusPaused}
	serviceStatuses    = []csbmsg.ServiceStatus{csbmsg.ServiceActive, csbmsg.ServiceDeactivated, csbmsg.ServiceUnavailable}
	serviceKinds       = []catalog.Kind{catalog.KindIaaS, catalog.KindPaaS, catalog.KindSaaS, catalog.KindDSaaS}
	jobStates          = []jobs.Status{jobs.StatusPending, jobs.StatusProvisioning, jobs.StatusSuccess, jobs.StatusFailed, jobs.StatusExpired, jobs.StatusRemoved}
)

// Collect implements prometheus.Collector. Every state gets a series, 0
// included, so that dashboards see a stable set. A registry whose app is
// cleaned up, scraped on the admin endpoint of a reload that failed
// (Caddy keeps that endpoint: AdminAPI), reports the engine of the
// configuration still running.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.app.liveEngine()
	if e == nil {
		if a := activeApp(); a != nil {
			e = a.liveEngine()
		}
	}
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

	if ce := e.consumer; ce != nil && ce.jobs != nil {
		c.collectJobs(ch, ce.jobs)
	}
}

// collectJobs sends the jobs by state, from the job manager's index of
// every stored job (jobs.Manager.JobCounts: this process's writes at
// once, other instances' at each reaper pass). Until the index's first
// build has read the stored jobs (a broker that has just started), its
// counts are only what this process wrote since: a scrape then would see
// every state drop to 0 and come back, and fire the alerts on it. The
// series are left out until the build ends: absent, not wrong.
func (c *stateCollector) collectJobs(ch chan<- prometheus.Metric, m *jobs.Manager) {
	select {
	case <-m.IndexReady():
	default:
		return
	}
	counts := m.JobCounts()
	for _, s := range jobStates {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
