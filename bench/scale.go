package main

// The scale of state: a broker that starts on a storage holding 100,000
// jobs and 100,000 catalogue services.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-csb/caddy-csb/adapters/link"
	"github.com/caddy-csb/caddy-csb/broker/catalog"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/broker/jobs"
	"github.com/caddy-csb/caddy-csb/broker/jobs/jobstest"
	"github.com/caddy-csb/caddy-csb/broker/placement"
	"github.com/caddy-csb/caddy-csb/caddymodule"
)

const (
	scaleProviders   = 1000
	scalePerProvider = 100 // 1000 × 100 = 100,000 catalogue services
	scaleJobs        = 100_000
	// scaleEnded jobs among them have ended leases: the first reaper
	// pass of the measured broker reclaims them.
	scaleEnded = 100
	// scaleIdle is the window of the CPU figure with no request after
	// the pages: longer than one reaper interval.
	scaleIdle  = 35 * time.Second
	scalePages = 20 // pages timed per listing
)

// scaleCaddyfile is the broker of the benchmark: the providers the
// services are published for, and the Link provider of the jobs.
func scaleCaddyfile(port int) string {
	return siteCaddyfile(csbApp(pushProviders(scaleProviders, "s%04d", "sfeed-%04d")+anonymousLinkJobs), port, "\tcsb\n")
}

// scaleFillJobs stores n jobs of the anonymous consumer on the Link
// provider "apps" of anonymousLinkJobs into the file storage under data,
// through the job manager itself (so they are stored as the broker stores
// them), ended of them with a lease that has ended. It returns a job id.
func scaleFillJobs(data string, n, ended int) (string, time.Duration, error) {
	st := caddymodule.NewStore(&certmagic.FileStorage{Path: filepath.Join(data, "caddy")})
	cat := new(jobstest.Catalog)
	cat.AddProvider(catalog.ProviderEntry{ID: "apps"})
	cat.AddService("apps", csbmsg.Service{ID: "app", SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "app", Href: "http://127.0.0.1:9/app/"}}})
	placer, err := placement.New(placement.Config{Catalog: cat, Order: []string{"apps"}})
	if err != nil {
		return "", 0, err
	}
	ad := &link.Adapter{}
	m, err := jobs.New(jobs.Config{Store: st, Placer: placer, MaxJobsPerOwner: -1, LeaseMin: time.Second,
		Adapter: func(string, catalog.Kind) (contract.Adapter, bool) { return ad, true }})
	if err != nil {
		return "", 0, err
	}
	defer m.Stop()
	req := &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "app"}}}
	var next atomic.Int64
	var first atomic.Value
	errs := make(chan error, 16)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				opt := jobs.CreateOptions{}
				if i < int64(ended) {
					opt.Lease = time.Second
				}
				r, err := m.Create(context.Background(), caddymodule.AnonymousOwner, req, opt)
				if err == nil && (r.Job == nil || r.Job.Status != jobs.StatusSuccess) {
					err = fmt.Errorf("job create: %d %s", r.Status, r.Reason)
				}
				if err != nil {
					errs <- err
					return
				}
				if i == int64(ended) {
					first.Store(r.Job.ID)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	select {
	case err := <-errs:
		return "", 0, err
	default:
	}
	id, _ := first.Load().(string)
	return id, took, nil
}

// scaleStart starts the broker on data and returns it with the time from
// the start of the process to the first successful consumer read of job
// id (polled every 5 ms).
func scaleStart(cfg *config, data, name, id string) (*caddyProc, string, time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", 0, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	t0 := time.Now()
	p, err := startCaddyData(cfg.caddy, name, scaleCaddyfile(port), data)
	if err != nil {
		return nil, "", 0, err
	}
	if cfg.pprof != "" {
		// The broker's first seconds: provisioning, the catalogue's load,
		// the job index's build.
		go func() { _ = cpuProfile(p, 5, filepath.Join(cfg.pprof, name+"-start.pprof")) }()
	}
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := client.Get(base + "/csb/consumer/" + id)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("Csb-Job-Status") == "success" {
				return p, base, time.Since(t0), nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, "", 0, fmt.Errorf("%s: job %s not served within 2 minutes of the start (%v)", name, id, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scaleTimes returns the times of n GETs of the admin API, each URL made
// from the previous answer's "next" (the listing's walk), or the same
// path each time when walk is false.
func scaleTimes(p *caddyProc, path string, n int, walk bool) ([]time.Duration, int, error) {
	client := &http.Client{Timeout: time.Minute}
	var out []time.Duration
	entries := 0
	next := ""
	for i := 0; i < n; i++ {
		u := "http://" + p.admin + path
		if next != "" {
			u += "&after=" + url.QueryEscape(next)
		}
		t := time.Now()
		resp, err := client.Get(u)
		if err != nil {
			return nil, 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("GET %s: HTTP %d %.300s %v", u, resp.StatusCode, body, err)
		}
		out = append(out, d)
		if walk {
			var page struct {
				Next      string            `json:"next"`
				Jobs      []json.RawMessage `json:"jobs"`
				Providers []struct {
					Services []json.RawMessage `json:"services"`
				} `json:"providers"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				return nil, 0, fmt.Errorf("GET %s: %v", u, err)
			}
			entries += len(page.Jobs)
			for _, pv := range page.Providers {
				entries += len(pv.Services)
			}
			if page.Next == "" {
				return nil, 0, fmt.Errorf("GET %s: the listing ended after %d pages", u, i+1)
			}
			next = page.Next
		}
	}
	return out, entries, nil
}

func scaleMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func scaleMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// benchScale fills a storage with 100,000 catalogue services (1000
// providers × 100, published over HTTP to a first broker) and 100,000
// jobs (made by the job manager in this process, on the same storage),
// then starts a broker on it and measures: the time from its start to
// the first consumer read of a job, against the same broker on a storage
// holding one job; the admin listing's pages (jobs, catalogue), against a
// read of one job through the admin API; and that its reaper reclaims the
// ended leases among the 100,000 jobs.
func benchScale(cfg *config) ([]row, error) {
	providers, jobsN, ended := scaleProviders, scaleJobs, scaleEnded
	// CSB_BENCH_SCALE_DATA names a directory that keeps the filled
	// storages between runs (filled on the first): for profiling the
	// start, not for the table (the storage then holds what earlier runs'
	// brokers left).
	keep := os.Getenv("CSB_BENCH_SCALE_DATA")
	data, small := filepath.Join(keep, "data"), filepath.Join(keep, "small")
	reuse := false
	if keep != "" {
		_, err := os.Stat(filepath.Join(keep, "ids.json"))
		reuse = err == nil
	} else {
		var err error
		if data, err = os.MkdirTemp("", "csb-bench-scale-data-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(data)
		if small, err = os.MkdirTemp("", "csb-bench-scale-small-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(small)
	}
	var ids struct{ ID, Small string }
	var publishTook, fillTook time.Duration
	if reuse {
		b, err := os.ReadFile(filepath.Join(keep, "ids.json"))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &ids); err != nil {
			return nil, err
		}
	} else {
		var err error
		if publishTook, err = scalePublish(cfg, data, providers); err != nil {
			return nil, err
		}
		if ids.ID, fillTook, err = scaleFillJobs(data, jobsN, ended); err != nil {
			return nil, fmt.Errorf("storing the jobs: %w", err)
		}
		if ids.Small, _, err = scaleFillJobs(small, 2, 1); err != nil {
			return nil, err
		}
		if keep != "" {
			b, _ := json.Marshal(ids)
			if err := os.WriteFile(filepath.Join(keep, "ids.json"), b, 0o644); err != nil {
				return nil, err
			}
		}
	}
	id, smallID := ids.ID, ids.Small

	// The baseline: the same broker on a storage holding one job.
	p0, _, first0, err := scaleStart(cfg, small, "scale-small", smallID)
	if err != nil {
		return nil, err
	}
	p0.stop()

	p, base, first, err := scaleStart(cfg, data, "scale", id)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	_ = base
	t0 := time.Now()
	// The first listing waits for the job index.
	if _, _, err := scaleTimes(p, "/csb/jobs?limit=1", 1, false); err != nil {
		return nil, err
	}
	indexed := time.Since(t0) + first
	// The reaper reclaims the ended leases.
	deadline := time.Now().Add(2 * time.Minute)
	var reclaimed float64
	for {
		reclaimed, err = p.metric("caddy_csb_lease_reclaims_total", "result=reclaimed")
		if err != nil {
			return nil, err
		}
		if reclaimed >= float64(ended) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	reaped := time.Since(t0) + first
	// The pages, once the start's work is done (the index's build, the
	// first reaper pass), each listing called once before (the first
	// catalogue listing builds the placeable views placement builds
	// anyway).
	for _, path := range []string{"/csb/catalog?limit=1", "/csb/jobs?limit=1&owner=anonymous"} {
		if _, _, err := scaleTimes(p, path, 1, false); err != nil {
			return nil, err
		}
	}
	jobPages, jobEntries, err := scaleTimes(p, "/csb/jobs?limit=100", scalePages, true)
	if err != nil {
		return nil, err
	}
	catPages, catEntries, err := scaleTimes(p, "/csb/catalog?limit=100", scalePages, true)
	if err != nil {
		return nil, err
	}
	ownerPages, _, err := scaleTimes(p, "/csb/jobs?limit=100&owner=anonymous&state=success", scalePages, true)
	if err != nil {
		return nil, err
	}
	one, _, err := scaleTimes(p, "/csb/jobs/"+id, scalePages, false)
	if err != nil {
		return nil, err
	}
	counted, err := p.metric("caddy_csb_jobs")
	if err != nil {
		return nil, err
	}
	// The broker's CPU afterwards, with no request, over a window that
	// holds one reaper pass at least (jobs { reap_interval }, 30 s by
	// default), and the resource check pass that follows a start.
	c0, err := readCPU(p)
	if err != nil {
		return nil, err
	}
	if cfg.pprof != "" {
		// What the background passes spend the window on.
		if err := cpuProfile(p, int(scaleIdle/time.Second), filepath.Join(cfg.pprof, "scale-idle.pprof")); err != nil {
			return nil, err
		}
	} else {
		time.Sleep(scaleIdle)
	}
	c1, err := readCPU(p)
	if err != nil {
		return nil, err
	}
	idle := c1.sub(c0).broker
	if reclaimed < float64(ended) {
		return nil, fmt.Errorf("the reaper reclaimed %v of the %d ended leases within 2 minutes", reclaimed, ended)
	}

	setup := fmt.Sprintf("%d catalogue services (%d providers × %d, published over HTTP in %s) and %d jobs (Link, stored by the job manager in %s, %.0f/s) in the file storage",
		providers*scalePerProvider, providers, scalePerProvider, publishTook.Round(time.Second), jobsN, fillTook.Round(time.Second), float64(jobsN)/fillTook.Seconds())
	startRow := row{name: "Scale", what: "first consumer read of a job after the start, 100k jobs and 100k services stored",
		figure:   fmt.Sprintf("%s after the process started", scaleMS(first)),
		baseline: fmt.Sprintf("one job stored: %s", scaleMS(first0)),
		ratio:    fmt.Sprintf("%.2f×", float64(first)/float64(first0)),
		target:   "< 1 s", pass: first < time.Second,
		note: fmt.Sprintf("%s; the time from exec to the first 200 of GET /csb/consumer/<id> (polled every 5 ms); the job index (listings, caddy_csb_jobs) was complete %s after the start; "+
			"the first reaper pass reclaimed the %d ended leases among them by %s after the start; caddy_csb_jobs counted %.0f jobs; "+
			"then, with no request, the broker used %.2f s of CPU in %s (its background passes: the reaper every 30 s, and the resource check that follows a start, asking about every successful job)", setup, indexed.Round(10*time.Millisecond), ended, reaped.Round(100*time.Millisecond), counted, idle, scaleIdle)}
	worst := func(ds []time.Duration) time.Duration { return slices.Max(ds) }
	pageRow := row{name: "Scale", what: "admin listing page (100 jobs) with 100k jobs stored",
		figure:   fmt.Sprintf("median %s, slowest %s", scaleMS(scaleMedian(jobPages)), scaleMS(worst(jobPages))),
		baseline: fmt.Sprintf("one job (GET /csb/jobs/<id>): median %s", scaleMS(scaleMedian(one))),
		ratio:    fmt.Sprintf("%.1f×", float64(scaleMedian(jobPages))/float64(scaleMedian(one))),
		target:   "each page < 50 ms", pass: worst(jobPages) < 50*time.Millisecond && worst(catPages) < 50*time.Millisecond && worst(ownerPages) < 50*time.Millisecond,
		note: fmt.Sprintf("%d consecutive pages of GET /csb/jobs?limit=100 (%d jobs) following next; with ?owner=&state= filters: median %s, slowest %s; "+
			"GET /csb/catalog?limit=100 (%d services, 100k stored): median %s, slowest %s; the target is for each page of the three", scalePages, jobEntries,
			scaleMS(scaleMedian(ownerPages)), scaleMS(worst(ownerPages)), catEntries, scaleMS(scaleMedian(catPages)), scaleMS(worst(catPages)))}
	return []row{startRow, pageRow}, nil
}

// scalePublish publishes providers × scalePerProvider services to a
// broker on data, and stops it (it writes the catalogue out).
func scalePublish(cfg *config, data string, providers int) (time.Duration, error) {
	// The services, published to a first broker on the storage.
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	pub, err := startCaddyData(cfg.caddy, "scale-fill", scaleCaddyfile(port), data)
	if err != nil {
		return 0, err
	}
	bodies := make([][]byte, providers)
	for i := range bodies {
		if bodies[i], err = iaasNotification(fmt.Sprintf("sfeed-%04d", i), fmt.Sprintf("s%04d", i), i*scalePerProvider, scalePerProvider); err != nil {
			pub.stop()
			return 0, err
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	published := time.Now()
	_, err = runPhase(publishVariant("catalogue", newClient(4), base, bodies), len(bodies), 4, 5*time.Minute)
	took := time.Since(published)
	pub.stop() // writes the catalogue out
	if err != nil {
		return 0, fmt.Errorf("publishing the services: %w", err)
	}
	return took, nil
}
