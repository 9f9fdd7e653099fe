package main

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// benchJobCreate measures durable job creates over HTTP (a SaaS job on a
// Link provider, so the cloud costs nothing: placement, the job recorded
// in Caddy's file-system storage before the answer, the Link adapter, the
// outcome recorded, <csbresponse> with the job succeeded) against the
// publish ingest rate of the same broker in the same run (the draft's
// notification B1, acknowledged once stored). Both sides use the raw
// HTTP/1.1 client and the same connections, one per publishing provider,
// so that both can batch their storage writes alike.
func benchJobCreate(cfg *config) (row, error) {
	r := row{name: "Job create", what: "durable SaaS jobs/s created on a Link provider (acknowledged once stored)", target: "ratio ≥ 0.5"}
	tmpl, err := notificationTemplate(cfg.root)
	if err != nil {
		return r, err
	}
	p, port, err := startSite(cfg, "jobcreate", csbApp(pushProviders(publishProviders, "p%02d", "feed-%02d")+anonymousLinkJobs), "\tcsb\n")
	if err != nil {
		return r, err
	}
	defer p.stop()

	const conc = publishProviders
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	publish := rawPublish("publish", addr, "/csb/publish", publishBodies(tmpl), checkApplied)
	jobBody, err := linkJobBody("app")
	if err != nil {
		return r, err
	}
	succeeded := []byte(`<job-status>success</job-status>`)
	create := variant{name: "create", conns: newRawConns(addr),
		raw: func(_, _ int, buf []byte) []byte {
			return appendRequest(buf, http.MethodPost, addr, "/csb/consumer", csbmsg.ConsumerMediaType, jobBody)
		},
		check: func(resp *http.Response, b []byte) error {
			if resp.StatusCode != http.StatusOK || !bytes.Contains(b, succeeded) {
				return fmt.Errorf("job not created: HTTP %d %.300s", resp.StatusCode, b)
			}
			return nil
		}}
	defer publish.conns.reset()
	defer create.conns.reset()
	// Every create leaves a job in storage: fewer per phase than the
	// publish benchmark's notifications.
	n := max(cfg.requests/2, conc)
	c, err := compare(publish, create, cfg.rounds, n, conc, 2*time.Minute, nil)
	if err != nil {
		return r, err
	}
	// A CPU profile of the broker during the measured phase, with -pprof.
	ph, used, err := cpuPhase(cfg, p, create, n, conc, 2*time.Minute, 2, "jobcreate")
	if err != nil {
		return r, err
	}
	r.figure = fmt.Sprintf("%.0f jobs/s, p99 %s; CPU/create: broker %.0f µs, load generator %.0f µs",
		c.subject, ms(c.subjectP99), perUS(used.broker, ph.n), perUS(used.self, ph.n))
	r.baseline = fmt.Sprintf("publish ingest, same broker: %.0f notifications/s, p99 %s", c.base, ms(c.baseP99))
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = c.ratio >= 0.5
	r.note = fmt.Sprintf("%d rounds × %d creates and notifications per variant, %d connections (raw HTTP/1.1 client); each create is answered once the job is stored and the Link adapter's outcome recorded (Csb-Job-Status success); the ratio's rounds ran %s",
		c.rounds, c.perPhase, c.con, ratioRange(c))
	return r, nil
}

// ratioRange formats the range of a comparison's per-round ratios.
func ratioRange(c comparison) string {
	lo, hi := 0.0, 0.0
	for i := range c.baseRates {
		x := c.subjRates[i] / c.baseRates[i]
		if i == 0 || x < lo {
			lo = x
		}
		if i == 0 || x > hi {
			hi = x
		}
	}
	return fmt.Sprintf("%.2f to %.2f", lo, hi)
}

// benchIaaSCreate measures machine creates through the Consumer interface
// (a <csbconsumer> IaaS request: placement, the job recorded, the CIMI
// adapter's calls to the cloud, the outcome recorded) against the same
// create sent directly to a sandbox cloud's CIMI API. Throughput is
// compared with cfg.conc connections; the broker-added latency is the
// difference of the medians of one connection's sequential creates.
func benchIaaSCreate(cfg *config) (row, error) {
	r := row{name: "IaaS create", what: "machine create through the Consumer interface (CIMI adapter to the sandbox)", target: "ratio ≥ 0.5, added p50 ≤ 1 ms"}
	consumer := func(client *http.Client, port int) (variant, error) {
		one, many := uint64(1), "x86_64"
		jobBody, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version,
			Request: &csbmsg.ServiceRequest{IaaS: &csbmsg.IaaS{Compute: &csbmsg.Compute{Architecture: &many, Cores: &one, Memory: &one}}}})
		return consumerVariant("consumer", client, fmt.Sprintf("http://127.0.0.1:%d", port), jobBody), err
	}
	// Latency: one connection, sequential creates, alternating, after
	// the throughput's rounds.
	var dl, bl []time.Duration
	seqN := max(cfg.requests/30, 20)
	latency := func(direct, brokered variant) error {
		for round := 0; round < cfg.rounds; round++ {
			order := []variant{direct, brokered}
			if round%2 == 1 {
				order[0], order[1] = order[1], order[0]
			}
			for _, v := range order {
				ph, err := runPhase(v, seqN, 1, time.Minute)
				if err != nil {
					return err
				}
				if v.name == direct.name {
					dl = append(dl, ph.lat...)
				} else {
					bl = append(bl, ph.lat...)
				}
			}
		}
		return nil
	}
	c, cpu, err := compareCIMICreates(cfg, "iaas", "csb", consumer, latency)
	if err != nil {
		return r, err
	}
	dp50, bp50 := percentile(dl, 0.5), percentile(bl, 0.5)
	added := bp50 - dp50
	r.figure = fmt.Sprintf("%.0f creates/s, p99 %s; one connection: p50 %s (broker-added p50 %s); CPU/create: %s", c.subject, ms(c.subjectP99), ms(bp50), ms(added), cpu.subject)
	r.baseline = fmt.Sprintf("the same create at the sandbox's CIMI API: %.0f/s, p99 %s; one connection: p50 %s; CPU/create: %s", c.base, ms(c.baseP99), ms(dp50), cpu.base)
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = c.ratio >= 0.5 && added <= time.Millisecond
	r.note = fmt.Sprintf("%d rounds × %d creates per variant, %d connections (rounds' ratios %s); latency: %d rounds × %d sequential creates per variant on one connection; the consumer's create places the machine, records the job in Caddy's file-system storage (write-ahead), calls the cloud's CIMI API (CloudEntryPoint cached, POST MachineCreate; the Machine in its 201 answer needs no GET) and records the outcome; CPU per create from /proc over one more phase of each variant",
		c.rounds, c.perPhase, c.con, ratioRange(c), cfg.rounds, seqN)
	return r, nil
}
