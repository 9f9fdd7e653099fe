package main

import (
	"bytes"
	"fmt"
	"net/http"
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
	cloudPort, port, stop, err := startCIMIPair(cfg, "cimi", "csb_cimi")
	if err != nil {
		return r, err
	}
	defer stop()

	client := newClient(cfg.conc)
	create := func(name, url, image string) variant {
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
	direct := create("direct", fmt.Sprintf("http://127.0.0.1:%d/cimi/machines", cloudPort),
		fmt.Sprintf(`, "machineImage": {"href": "http://127.0.0.1:%d/cimi/machineImages/debian-12"}`, cloudPort))
	front := create("front-end", fmt.Sprintf("http://127.0.0.1:%d/cimi/machines", port), "")
	// Every create makes a machine and a job: fewer requests than the
	// read benchmarks.
	n := max(cfg.requests/6, 50)
	c, err := compare(direct, front, cfg.rounds, n, cfg.conc, 3*time.Minute, nil)
	if err != nil {
		return r, err
	}
	r.figure = fmt.Sprintf("%.0f creates/s, p99 %s", c.subject, ms(c.subjectP99))
	r.baseline = fmt.Sprintf("the same create at the sandbox's CIMI API: %.0f/s, p99 %s", c.base, ms(c.baseP99))
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = c.ratio >= 0.5
	r.note = fmt.Sprintf("%d rounds × %d creates per variant, %d connections; the front-end's create places the machine, records the job in Caddy's file-system storage (write-ahead) and calls the cloud's CIMI API (CloudEntryPoint cached, POST MachineCreate, GET Machine)", c.rounds, c.perPhase, c.con)
	return r, nil
}

// startCIMIPair starts a sandbox cloud with room for every machine and a
// broker whose one provider is that cloud through the CIMI adapter,
// serving handler (csb_cimi or csb) on its site. It returns both ports
// and a function that stops both.
func startCIMIPair(cfg *config, name, handler string) (cloudPort, port int, stop func(), err error) {
	if cloudPort, err = freePort(); err != nil {
		return 0, 0, nil, err
	}
	cloud, err := startCaddy(cfg.caddy, name+"-cloud", fmt.Sprintf(`{
	admin {$BENCH_ADMIN}
	log {
		level ERROR
	}
}
http://127.0.0.1:%d {
	csb_sandbox cloud {
		capacity 100000000 100000000 100000000
		architecture x86_64
	}
}
`, cloudPort))
	if err != nil {
		return 0, 0, nil, err
	}
	if port, err = freePort(); err != nil {
		cloud.stop()
		return 0, 0, nil, err
	}
	broker, err := startCaddy(cfg.caddy, name+"-broker", fmt.Sprintf(`{
	admin {$BENCH_ADMIN}
	log {
		level ERROR
	}
	csb {
		provider cloud {
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
	}
}
http://127.0.0.1:%d {
	%s
}
`, cloudPort, port, handler))
	if err != nil {
		cloud.stop()
		return 0, 0, nil, err
	}
	return cloudPort, port, func() { broker.stop(); cloud.stop() }, nil
}
