package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

const (
	memProviders   = 100
	memPerProvider = 100 // 100 × 100 = 10,000 catalogue services
	memJobs        = 10_000
)

// memSample is a process's memory after a garbage collection.
type memSample struct{ rss, heap float64 }

// sampleMemory collects garbage in p, then waits (up to 15 s) for its
// resident memory to settle: the Go runtime returns freed pages to the
// system gradually, so right after a collection the RSS still counts the
// garbage of what was just done.
func sampleMemory(p *caddyProc) (memSample, error) {
	if err := p.gc(); err != nil {
		return memSample{}, err
	}
	rss, err := p.rss()
	if err != nil {
		return memSample{}, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		next, err := p.rss()
		if err != nil {
			return memSample{}, err
		}
		settled := float64(rss-next) < 0.005*float64(rss)
		rss = min(rss, next)
		if settled {
			break
		}
	}
	heap, err := p.metric("go_memstats_heap_inuse_bytes")
	if err != nil {
		return memSample{}, err
	}
	return memSample{rss: float64(rss), heap: heap}, nil
}

// benchMemory measures a broker's resident memory (after a garbage
// collection) before and after it holds 10,000 catalogue services (100
// providers each publishing 100 fully described IaaS services) and then
// 10,000 live jobs (SaaS jobs on a Link provider, so the provider costs
// nothing). The baseline is the same process before.
func benchMemory(cfg *config) ([]row, error) {
	var provs strings.Builder
	for i := 0; i < memProviders; i++ {
		fmt.Fprintf(&provs, "\t\tprovider m%03d {\n\t\t\tpublishers *\n\t\t\tpush mfeed-%03d\n\t\t}\n", i, i)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := startCaddy(cfg.caddy, "memory", fmt.Sprintf(`{
	admin {$BENCH_ADMIN}
	log {
		level ERROR
	}
	csb {
%s		provider apps {
			adapter link
			service app {
				kind saas
				link app http://127.0.0.1:9/app/
			}
		}
		jobs {
			anonymous allow
		}
	}
}
http://127.0.0.1:%d {
	csb
}
`, provs.String(), port))
	if err != nil {
		return nil, err
	}
	defer p.stop()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := newClient(8)
	m0, err := sampleMemory(p)
	if err != nil {
		return nil, err
	}

	// 10,000 catalogue services.
	notifications := make([][]byte, memProviders)
	for i := range notifications {
		n := &csbmsg.Notification{ID: fmt.Sprintf("mfeed-%03d", i), SeqNumber: 1,
			Provider: csbmsg.Provider{ID: fmt.Sprintf("m%03d", i), Status: csbmsg.ServiceActive}}
		for j := 0; j < memPerProvider; j++ {
			n.Services = append(n.Services, fullIaaS(i*memPerProvider+j))
		}
		if notifications[i], err = csbmsg.MarshalPublish(&csbmsg.Publish{Version: csbmsg.Version, Notification: n}); err != nil {
			return nil, err
		}
	}
	applied := []byte(`reason="OK: notification applied"`)
	if _, err := runPhase(variant{name: "catalogue", client: client,
		request: func(_, i int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, base+"/csb/publish", bytes.NewReader(notifications[i]))
			if err == nil {
				req.Header.Set("Content-Type", csbmsg.PublishMediaType)
			}
			return req, err
		},
		check: func(resp *http.Response, b []byte) error {
			if resp.StatusCode != http.StatusOK || !bytes.Contains(b, applied) {
				return fmt.Errorf("HTTP %d %.300s", resp.StatusCode, b)
			}
			return nil
		}}, memProviders, 4, 2*time.Minute); err != nil {
		return nil, err
	}
	if n, err := p.metric("caddy_csb_catalog_services", "kind=IaaS"); err != nil || n != memProviders*memPerProvider {
		return nil, fmt.Errorf("the catalogue holds %v IaaS services, want %d (%v)", n, memProviders*memPerProvider, err)
	}
	m1, err := sampleMemory(p)
	if err != nil {
		return nil, err
	}

	// 10,000 live jobs.
	body, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version,
		Request: &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "app"}}}})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := runPhase(variant{name: "jobs", client: client,
		request: func(int, int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, base+"/csb/consumer", bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
			}
			return req, err
		},
		check: func(resp *http.Response, b []byte) error {
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Csb-Job-Status") != "success" {
				return fmt.Errorf("HTTP %d %s %.300s", resp.StatusCode, resp.Header.Get("Csb-Job-Status"), b)
			}
			return nil
		}}, memJobs, 8, 5*time.Minute); err != nil {
		return nil, err
	}
	created := time.Since(start)
	if n, err := p.metric("caddy_csb_jobs", "state=success"); err != nil || n != memJobs {
		return nil, fmt.Errorf("the broker counts %v live jobs, want %d (%v)", n, memJobs, err)
	}
	m2, err := sampleMemory(p)
	if err != nil {
		return nil, err
	}
	mib := func(b float64) float64 { return b / (1 << 20) }
	svc := row{name: "Memory", what: "resident memory per 10,000 catalogue services",
		figure:   fmt.Sprintf("%.1f MiB (heap %.1f MiB)", mib(m1.rss-m0.rss), mib(m1.heap-m0.heap)),
		baseline: fmt.Sprintf("the same broker before: RSS %.1f MiB", mib(m0.rss)),
		target:   "< 30 MiB", pass: mib(m1.rss-m0.rss) < 30,
		note: fmt.Sprintf("%d providers × %d fully described IaaS services, published over HTTP; after a GC, RSS settled", memProviders, memPerProvider)}
	jobs := row{name: "Memory", what: "resident memory per 10,000 live jobs",
		figure:   fmt.Sprintf("%.1f MiB (heap %.1f MiB)", mib(m2.rss-m1.rss), mib(m2.heap-m1.heap)),
		baseline: fmt.Sprintf("the same broker before: RSS %.1f MiB", mib(m1.rss)),
		target:   "< 20 MiB", pass: mib(m2.rss-m1.rss) < 20,
		note: fmt.Sprintf("SaaS jobs on a Link provider, created over HTTP in %s (%.0f/s); after a GC, RSS settled", created.Round(time.Second), float64(memJobs)/created.Seconds())}
	return []row{svc, jobs}, nil
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
