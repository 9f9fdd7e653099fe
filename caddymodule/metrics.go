package caddymodule

import (
	"strconv"
	"time"

	"github.com/caddy-csb/caddy-csb/caddymodule/internal/metricsreg"

	"github.com/prometheus/client_golang/prometheus"

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
//	caddy_csb_subscriptions{state}                               gauge      subscriptions at providers by state (creating, active, retrying, lapsed, removing, paused)
//	caddy_csb_catalog_providers{status}                          gauge      catalogue providers by status (active, deactivated, unavailable)
//	caddy_csb_catalog_services{kind,status}                      gauge      catalogue services by kind (IaaS, PaaS, SaaS, DSaaS) and status
//	caddy_csb_catalog_placeable_services{kind}                   gauge      services placement may choose now, by kind
//	caddy_csb_catalog_expired_services                           gauge      services whose entry expired (visible until the retention passes)
//	caddy_csb_catalog_version                                    gauge      the catalogue's change counter
//	caddy_csb_catalog_journal_backlog                            gauge      providers whose journaled notifications are not compacted into their records yet
//	caddy_csb_jobs{state}                                        gauge      jobs by state (pending, provisioning, success, failed, expired, removed); absent until the job index is built
//	caddy_csb_placement_duration_seconds{kind,result}            histogram  placement decisions (match + rank, no provider I/O); result placed, no_match or error
//	caddy_csb_adapter_call_duration_seconds{provider,operation}  histogram  adapter calls (provision, status, update, remove, find, discover)
//	caddy_csb_adapter_errors_total{provider,operation,kind}      counter    failed adapter calls by error kind (provider_4xx, provider_5xx, timeout, unsupported, capacity, transport, not_found, canceled, other)
//	caddy_csb_lease_reclaims_total{result}                       counter    lease reclaims by the reaper: reclaimed, or failed (retried on the next pass)
//	caddy_csb_job_cost_total{owner,provider}                     counter    what jobs cost (price x units x hours held) as it accrues, until final (metrics_cost.go)
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
	jobCost       *costCounter
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
		jobCost: newCostCounter(),
	}
	return m
}

// collectors returns every collector of the broker.
func (m *metricsSet) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.notifications, m.consumer, m.placement, m.adapterCalls, m.adapterErrors,
		m.leaseReclaims, m.jobCost}
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
