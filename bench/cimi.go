package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// benchCIMI measures CIMI machine creates through the broker's CIMI
// front-end (csb_cimi: placement, a broker job written to storage, the
// CIMI adapter's calls to the cloud) against the same MachineCreate sent
// directly to a sandbox cloud's CIMI API, in the same run. The cloud is a
// csb_sandbox with room for every machine and no build time, so both
// sides answer 201 Created with a STARTED machine.
func benchCIMI(cfg *config) (row, error) {
	r := row{name: "CIMI", what: "machine create (MachineCreate, 201 Created) through the csb_cimi front-end", target: "ratio ≥ 0.5"}
	front := func(client *http.Client, port int) (variant, error) {
		return cimiCreate("front-end", client, fmt.Sprintf("http://127.0.0.1:%d/cimi/machines", port), ""), nil
	}
	c, cpu, err := compareCIMICreates(cfg, "cimi", "csb_cimi", front, nil)
	if err != nil {
		return r, err
	}
	r.figure = fmt.Sprintf("%.0f creates/s, p99 %s; CPU/create: %s", c.subject, ms(c.subjectP99), cpu.subject)
	r.baseline = fmt.Sprintf("the same create at the sandbox's CIMI API: %.0f/s, p99 %s; CPU/create: %s", c.base, ms(c.baseP99), cpu.base)
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = c.ratio >= 0.5
	r.note = fmt.Sprintf("%d rounds × %d creates per variant, %d connections (rounds' ratios %s); the front-end's create places the machine, records the job in Caddy's file-system storage (write-ahead) and calls the cloud's CIMI API (CloudEntryPoint cached, POST MachineCreate; the Machine in its 201 answer needs no GET); CPU per create from /proc over one more phase of each variant", c.rounds, c.perPhase, c.con, ratioRange(c))
	return r, nil
}

// compareCIMICreates starts a CIMI pair (startCIMIPair(cfg, name,
// handler)) and compares the creates of the variant subject makes for
// the broker's port (the brokered creates) with the same creates sent
// directly to the cloud (cimiDirect), with cfg.conc connections; then,
// after after (if not nil), it measures their CPU per create
// (cpuPerCreate, its profiles named name).
func compareCIMICreates(cfg *config, name, handler string, subject func(client *http.Client, port int) (variant, error),
	after func(direct, brokered variant) error) (comparison, cpuCost, error) {
	pair, err := startCIMIPair(cfg, name, handler)
	if err != nil {
		return comparison{}, cpuCost{}, err
	}
	defer pair.stop()
	client := newClient(cfg.conc)
	direct := cimiDirect(client, pair.cloudPort)
	brokered, err := subject(client, pair.port)
	if err != nil {
		return comparison{}, cpuCost{}, err
	}
	// Every create makes a machine and a job: fewer requests than the
	// read benchmarks.
	n := max(cfg.requests/6, 50)
	c, err := compare(direct, brokered, cfg.rounds, n, cfg.conc, 3*time.Minute, nil)
	if err != nil {
		return c, cpuCost{}, err
	}
	if after != nil {
		if err := after(direct, brokered); err != nil {
			return c, cpuCost{}, err
		}
	}
	cpu, err := pair.cpuPerCreate(cfg, direct, brokered, n, name)
	return c, cpu, err
}

// cimiCreate posts a MachineCreate (one core, 1 GB, x86_64; image, if
// not "", is its machineTemplate's "machineImage" member, with its leading
// comma) to url, each answer to be a 201 with the STARTED machine.
func cimiCreate(name string, client *http.Client, url, image string) variant {
	body := []byte(`{"resourceURI": "http://schemas.dmtf.org/cimi/1/MachineCreate", "name": "bench",
  "machineTemplate": {"machineConfig": {"cpu": 1, "memory": 1048576, "cpuArch": "x86_64"}` + image + `}}`)
	return variant{name: name, client: client,
		request: func(int, int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json")
			}
			return req, err
		},
		check: func(resp *http.Response, b []byte) error {
			if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"STARTED"`) {
				return fmt.Errorf("POST %s: HTTP %d: %s", url, resp.StatusCode, b)
			}
			return nil
		}}
}

// cimiDirect is the variant "direct": cimiCreate straight to the CIMI
// API of the sandbox cloud on cloudPort, naming its image debian-12.
func cimiDirect(client *http.Client, cloudPort int) variant {
	return cimiCreate("direct", client, fmt.Sprintf("http://127.0.0.1:%d/cimi/machines", cloudPort),
		fmt.Sprintf(`, "machineImage": {"href": "http://127.0.0.1:%d/cimi/machineImages/debian-12"}`, cloudPort))
}

// cimiPair is a sandbox cloud and a broker whose one provider it is.
type cimiPair struct {
	cloudPort, port int
	cloud, broker   *caddyProc
}

func (p *cimiPair) stop() { p.broker.stop(); p.cloud.stop() }

// cpuCost is the CPU per create of the two variants, as text.
type cpuCost struct{ base, subject string }

// cpuPerCreate runs one more phase of n creates of each variant and
// returns their CPU per create: the cloud's for direct, the broker's and
// the cloud's for brokered. With -pprof, the CPU profiles of the broker
// and of the cloud during the brokered phase are written to
// <profile>.pprof and <profile>-cloud.pprof.
func (p *cimiPair) cpuPerCreate(cfg *config, direct, brokered variant, n int, profile string) (cpuCost, error) {
	var out cpuCost
	// both reads the CPU time used so far by the cloud and the broker.
	both := func() (cloud, broker float64, err error) {
		if cloud, err = p.cloud.cpuSeconds(); err == nil {
			broker, err = p.broker.cpuSeconds()
		}
		return cloud, broker, err
	}
	phase := func(v variant, prof bool) (cloud, broker float64, err error) {
		c0, b0, err := both()
		if err != nil {
			return 0, 0, err
		}
		profiled := make(chan error, 2)
		if prof {
			go func() { profiled <- cpuProfile(p.broker, 3, filepath.Join(cfg.pprof, profile+".pprof")) }()
			go func() { profiled <- cpuProfile(p.cloud, 3, filepath.Join(cfg.pprof, profile+"-cloud.pprof")) }()
		} else {
			profiled <- nil
			profiled <- nil
		}
		ph, err := runPhase(v, n, cfg.conc, 3*time.Minute)
		for range 2 {
			if perr := <-profiled; err == nil && perr != nil {
				err = fmt.Errorf("cpu profile: %w", perr)
			}
		}
		if err != nil {
			return 0, 0, err
		}
		c1, b1, err := both()
		if err != nil {
			return 0, 0, err
		}
		k := float64(ph.n)
		return (c1 - c0) / k, (b1 - b0) / k, nil
	}
	// Enough creates for the profile's 3 s.
	n = max(n, 2000)
	dc, _, err := phase(direct, false)
	if err != nil {
		return out, err
	}
	sc, sb, err := phase(brokered, cfg.pprof != "")
	if err != nil {
		return out, err
	}
	us := func(s float64) string { return fmt.Sprintf("%.0f µs", s*1e6) }
	out.base = "cloud " + us(dc)
	out.subject = "broker " + us(sb) + ", cloud " + us(sc)
	return out, nil
}

// cpuProfile writes to file a CPU profile of p taken for seconds.
func cpuProfile(p *caddyProc, seconds int, file string) error {
	return fetchProfile(p, fmt.Sprintf("profile?seconds=%d", seconds), file)
}

// fetchProfile writes to file the answer of p's /debug/pprof/<query>.
func fetchProfile(p *caddyProc, query, file string) error {
	resp, err := http.Get("http://" + p.admin + "/debug/pprof/" + query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(file), 0o755)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}

// startCIMIPair starts a sandbox cloud with room for every machine and a
// broker whose one provider is that cloud through the CIMI adapter,
// serving handler (csb_cimi or csb) on its site.
func startCIMIPair(cfg *config, name, handler string) (*cimiPair, error) {
	cloud, cloudPort, err := startSite(cfg, name+"-cloud", "", `	csb_sandbox cloud {
		capacity 100000000 100000000 100000000
		architecture x86_64
	}
`)
	if err != nil {
		return nil, err
	}
	broker, port, err := startSite(cfg, name+"-broker", csbApp(fmt.Sprintf(`		provider cloud {
			adapter cimi http://127.0.0.1:%d/cimi/ {
				image debian-12
			}
			service vm {
				kind iaas
				compute {
					architecture x86_64
					cores 64
					memory 256
				}
			}
		}
		jobs {
			anonymous allow
			max_jobs_per_owner unlimited
		}
`, cloudPort)), "\t"+handler+"\n")
	if err != nil {
		cloud.stop()
		return nil, err
	}
	return &cimiPair{cloudPort: cloudPort, port: port, cloud: cloud, broker: broker}, nil
}
