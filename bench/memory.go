package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

const (
	memProviders   = 100
	memPerProvider = 100 // 100 × 100 = 10,000 catalogue services
	memJobs        = 10_000
	// The warm-up, before the baseline: one provider's notification with
	// a few services and a few jobs, so that what the first use of a code
	// path costs once (its pages of the executable, pools, the first growth
	// of every map, the connections' stacks) is in the baseline.
	memWarmServices = 10
	memWarmJobs     = 100
)

// memSample is a broker's memory once it is quiescent, after a garbage
// collection.
type memSample struct {
	rss   float64 // VmRSS
	free  float64 // heap pages free after the collection but not yet returned to the system (heap_idle − heap_released)
	live  float64 // live heap (heap_alloc after the collection)
	inuse float64 // heap spans in use (heap_inuse: the live heap and the free space inside its spans)
}

// resident is the resident memory once the free heap pages are returned
// to the system: what debug.FreeOSMemory would leave.
func (m memSample) resident() float64 { return m.rss - m.free }

// sampleMemory waits until p is quiescent (no more goroutines than
// goroutines0: the lock refreshers and recounts that work leaves behind
// end within seconds), collects garbage, and reads its memory.
//
// The Go runtime returns freed pages to the system lazily, and after a
// collection it keeps up to its next heap goal (twice the live heap with
// GOGC=100) resident for reuse: the RSS right after a burst of work
// counts the garbage of that work for minutes. The sample reads VmRSS and
// the runtime's own count of those free pages at the same moment, so the
// figure can leave them out (memSample.resident).
func sampleMemory(p *caddyProc, goroutines0 float64) (memSample, string, error) {
	var note string
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := p.metrics()
		if err != nil {
			return memSample{}, "", err
		}
		// Quiescent: the request goroutines are gone, and the catalogue's
		// journal is compacted (a broker at rest has folded it in).
		g, backlog := m["go_goroutines"], m[journalBacklog]
		if g <= goroutines0 && backlog == 0 {
			break
		}
		if time.Now().After(deadline) {
			note = fmt.Sprintf("; %.0f goroutines left (%.0f before), journal backlog %.0f", g, goroutines0, backlog)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := p.gc(); err != nil {
		return memSample{}, "", err
	}
	m, err := p.metrics()
	if err != nil {
		return memSample{}, "", err
	}
	rss, err := p.rss()
	if err != nil {
		return memSample{}, "", err
	}
	return memSample{
		rss:   float64(rss),
		free:  m["go_memstats_heap_idle_bytes"] - m["go_memstats_heap_released_bytes"],
		live:  m["go_memstats_heap_alloc_bytes"],
		inuse: m["go_memstats_heap_inuse_bytes"],
	}, note, nil
}

// journalBacklog is the broker's gauge of uncompacted catalogue journal
// records.
const journalBacklog = "caddy_csb_catalog_journal_backlog"

// metrics returns the process's unlabelled Go runtime metrics and the
// journal backlog (one scrape, so that they describe the same moment).
func (p *caddyProc) metrics() (map[string]float64, error) {
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// Only the go_* families: the parser has no need to see the rest.
	var buf bytes.Buffer
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "go_") || strings.HasPrefix(line, "# HELP go_") || strings.HasPrefix(line, "# TYPE go_") ||
			strings.Contains(line, journalBacklog) {
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 && (m.Gauge != nil || m.Counter != nil || m.Untyped != nil) {
				out[name] = metricValue(m)
			}
		}
	}
	return out, nil
}

// heapProfile writes p's heap profile (in use at the last collection) to
// file.
func heapProfile(p *caddyProc, file string) error {
	return fetchProfile(p, "heap", file)
}

// benchMemory measures a broker's resident memory before and after it
// holds 10,000 catalogue services (100 providers each publishing 100
// fully described IaaS services) and then 10,000 live jobs (SaaS jobs on
// a Link provider, so the provider costs nothing). The baseline is the
// same process before, after a warm-up of both paths.
// pushProviders returns the csb app's lines (at their depth) for n
// providers that anyone may publish for, each under its own push id: the
// i-th is named by fmt.Sprintf(name, i), its push id by
// fmt.Sprintf(feed, i).
func pushProviders(n int, name, feed string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\t\tprovider "+name+" {\n\t\t\tpublishers *\n\t\t\tpush "+feed+"\n\t\t\t"+benchAllowedHosts+"\n\t\t}\n", i, i)
	}
	return b.String()
}

// benchAllowedHosts lets the benchmarks' providers name the hosts their
// notifications use (the draft's B1 names csp1.example.com; the memory
// benchmark's services cloud.example, and others *.example.com): the peer
// URL policy refuses a notification naming any other host.
const benchAllowedHosts = "allowed_hosts *.example.com cloud.example"

// anonymousLinkJobs is the part of a csb app block (at its depth) that
// lets the benchmarks make jobs without a cloud: SaaS jobs on a Link
// provider, "apps" (service "app"), for anonymous consumers too, as many
// as the memory benchmark makes (max_jobs_per_owner is 1000 by default).
const anonymousLinkJobs = `		provider apps {
			adapter link
			service app {
				kind saas
				link app http://127.0.0.1:9/app/
			}
		}
		jobs {
			anonymous allow
			max_jobs_per_owner unlimited
		}
`

func benchMemory(cfg *config) ([]row, error) {
	p, port, err := startSite(cfg, "memory", csbApp(pushProviders(memProviders, "m%03d", "mfeed-%03d")+`		provider warm {
			publishers *
			push wfeed
			`+benchAllowedHosts+`
		}
`+anonymousLinkJobs), "\tcsb\n")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := newClient(8)
	profile := func(name string) error {
		if cfg.pprof == "" {
			return nil
		}
		return heapProfile(p, filepath.Join(cfg.pprof, name))
	}
	idle, err := p.metrics()
	if err != nil {
		return nil, err
	}
	// The goroutines of an idle broker, before any request.
	goroutines0 := idle["go_goroutines"]
	sample := func(name string) (memSample, string, error) {
		client.CloseIdleConnections() // their server goroutines end
		s, note, err := sampleMemory(p, goroutines0)
		if err == nil {
			err = profile(name)
		}
		return s, note, err
	}

	// The notifications: the warm-up's, then 100 providers' × 100 services.
	warm, err := iaasNotification("wfeed", "warm", 1_000_000, memWarmServices)
	if err != nil {
		return nil, err
	}
	notifications := make([][]byte, memProviders)
	for i := range notifications {
		if notifications[i], err = iaasNotification(fmt.Sprintf("mfeed-%03d", i), fmt.Sprintf("m%03d", i), i*memPerProvider, memPerProvider); err != nil {
			return nil, err
		}
	}
	publish := func(bodies [][]byte) error {
		_, err := runPhase(publishVariant("catalogue", client, base, bodies), len(bodies), min(4, len(bodies)), 2*time.Minute)
		return err
	}
	jobBody, err := linkJobBody("app")
	if err != nil {
		return nil, err
	}
	createJobs := func(n int) error {
		_, err := runPhase(consumerVariant("jobs", client, base, jobBody), n, 8, 5*time.Minute)
		return err
	}

	// Warm-up, then the baseline.
	if err := publish([][]byte{warm}); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if err := createJobs(memWarmJobs); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	m0, note0, err := sample("memory-0.pprof")
	if err != nil {
		return nil, err
	}

	// 10,000 catalogue services.
	if err := publish(notifications); err != nil {
		return nil, err
	}
	if n, err := p.metric("caddy_csb_catalog_services", "kind=IaaS"); err != nil || n != memProviders*memPerProvider+memWarmServices {
		return nil, fmt.Errorf("the catalogue holds %v IaaS services, want %d (%v)", n, memProviders*memPerProvider+memWarmServices, err)
	}
	m1, note1, err := sample("memory-catalog.pprof")
	if err != nil {
		return nil, err
	}

	// 10,000 live jobs.
	start := time.Now()
	if err := createJobs(memJobs); err != nil {
		return nil, err
	}
	created := time.Since(start)
	if n, err := p.metric("caddy_csb_jobs", "state=success"); err != nil || n != memJobs+memWarmJobs {
		return nil, fmt.Errorf("the broker counts %v live jobs, want %d (%v)", n, memJobs+memWarmJobs, err)
	}
	m2, note2, err := sample("memory-jobs.pprof")
	if err != nil {
		return nil, err
	}

	mib := func(b float64) float64 { return b / (1 << 20) }
	mkRow := func(what string, before, after memSample, target float64, how, notes string) row {
		d := mib(after.resident() - before.resident())
		return row{name: "Memory", what: what,
			figure: fmt.Sprintf("%.1f MiB (live heap %.1f MiB, heap spans %.1f MiB)", d, mib(after.live-before.live), mib(after.inuse-before.inuse)),
			baseline: fmt.Sprintf("the same broker before: %.1f MiB resident (VmRSS %.1f MiB)",
				mib(before.resident()), mib(before.rss)),
			target: "≤ " + strconv.FormatFloat(target, 'f', -1, 64) + " MiB", pass: d <= target,
			note: fmt.Sprintf("%s; resident = VmRSS − the free heap pages the Go runtime keeps after a collection (what debug.FreeOSMemory would return: %.1f → %.1f MiB), "+
				"sampled once the broker is quiescent, after a GC; VmRSS alone grew %.1f MiB%s",
				how, mib(before.free), mib(after.free), mib(after.rss-before.rss), notes)}
	}
	svc := mkRow("resident memory per 10,000 catalogue services", m0, m1, 30,
		fmt.Sprintf("%d providers × %d fully described IaaS services, published over HTTP after a warm-up (%d services, %d jobs)", memProviders, memPerProvider, memWarmServices, memWarmJobs),
		note0+note1)
	jobs := mkRow("resident memory per 10,000 live jobs", m1, m2, 10, // issue 22's target
		fmt.Sprintf("SaaS jobs on a Link provider, created over HTTP in %s (%.0f/s)", created.Round(time.Second), float64(memJobs)/created.Seconds()),
		note2)
	return []row{svc, jobs}, nil
}

// iaasNotification returns the <csbpublish> of notification id (seqnumber
// 1) of an active provider with n services fullIaaS(from), fullIaaS(from+1)...
func iaasNotification(id, provider string, from, n int) ([]byte, error) {
	msg := &csbmsg.Notification{ID: id, SeqNumber: 1, Provider: csbmsg.Provider{ID: provider, Status: csbmsg.ServiceActive}}
	for j := 0; j < n; j++ {
		msg.Services = append(msg.Services, fullIaaS(from+j))
	}
	return csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Notification: msg})
}

// fullIaaS returns an IaaS service with every support element filled, the
// largest description a notification carries.
func fullIaaS(i int) csbmsg.Service {
	alloc := csbmsg.AllocationDynamic
	cs := csbmsg.ComputeActive
	ns := csbmsg.NetworkActive
	ss := csbmsg.StorageOnline
	str := func(s string) *string { return &s }
	u64 := func(v uint64) *uint64 { return &v }
	return csbmsg.Service{
		ID: fmt.Sprintf("svc-%06d", i), Status: csbmsg.ServiceActive, URI: fmt.Sprintf("https://cloud.example/svc/%d", i),
		IaaS: &csbmsg.IaaS{
			Compute: &csbmsg.Compute{Architecture: str("x86_64"), Cores: u64(uint64(i%64 + 1)), Hostname: str(fmt.Sprintf("host-%d", i)),
				Speed: u64(3), Memory: u64(uint64(i%256 + 1)), Status: &cs},
			Network: &csbmsg.Network{VLAN: str("100"), VLANLabel: str("public"), Address: str("10.0.0.0/24"),
				Gateway: str("10.0.0.1"), Allocation: &alloc, Status: &ns},
			Storage:          &csbmsg.Storage{Size: u64(uint64(100 + i%1000)), Status: &ss},
			NetworkInterface: &csbmsg.NetworkInterface{Interface: str("eth0"), Allocation: &alloc, Status: &ns},
			StorageLink:      &csbmsg.StorageLink{DeviceID: str("vda"), Mountpoint: str("/data"), Status: &ns},
		},
	}
}
