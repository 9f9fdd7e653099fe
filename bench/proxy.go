package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

const objectSize = 4096

// benchProxy measures object GETs through reverse_proxy { dynamic csb }
// (the job-aware transparent proxy: the job's route resolves the provider
// endpoint holding the job) against a plain reverse_proxy to the same
// upstream, on the same site behind the same basic_auth (whose hash cache
// makes it cheap and equal on both). The upstream is another Caddy
// serving a 4 KiB object with file_server; the job is a SaaS job whose
// Link points at it (csb.adapters.link).
func benchProxy(cfg *config) (row, error) {
	r := row{name: "Proxy", what: fmt.Sprintf("%d B object GET via reverse_proxy { dynamic csb }", objectSize), target: "ratio ≥ 0.9"}
	root, err := os.MkdirTemp("", "csb-bench-objects-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(root)
	obj := make([]byte, objectSize)
	rand.Read(obj)
	if err := os.WriteFile(filepath.Join(root, "object.bin"), obj, 0o644); err != nil {
		return r, err
	}
	up, upPort, err := startSite(cfg, "upstream", "", "\troot * "+root+"\n\tfile_server\n")
	if err != nil {
		return r, err
	}
	defer up.stop()

	hash, err := bcrypt.GenerateFromPassword([]byte("bench-pw"), bcrypt.MinCost)
	if err != nil {
		return r, err
	}
	broker, port, err := startSite(cfg, "proxy", csbApp(fmt.Sprintf(`		provider objects {
			adapter link
			service store {
				kind saas
				link objects http://127.0.0.1:%d/
			}
		}
`, upPort)), fmt.Sprintf(`	basic_auth {
		bench %s
	}
	route /plain/* {
		uri strip_prefix /plain
		reverse_proxy 127.0.0.1:%d
	}
	route /csb/jobs/* {
		csb_job_route
		reverse_proxy {
			dynamic csb
		}
	}
	csb
`, hash, upPort))
	if err != nil {
		return r, err
	}
	defer broker.stop()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := newClient(cfg.conc)
	jobID, err := createLinkJob(client, base, "objects", func(req *http.Request) { req.SetBasicAuth("bench", "bench-pw") })
	if err != nil {
		return r, err
	}
	get := func(name, path string) variant {
		return variant{name: name, client: client,
			request: func(int, int) (*http.Request, error) {
				req, err := http.NewRequest(http.MethodGet, base+path, nil)
				if err == nil {
					req.SetBasicAuth("bench", "bench-pw")
				}
				return req, err
			},
			check: func(resp *http.Response, body []byte) error {
				if resp.StatusCode != http.StatusOK || !bytes.Equal(body, obj) {
					return fmt.Errorf("GET %s: HTTP %d, %d bytes", path, resp.StatusCode, len(body))
				}
				return nil
			}}
	}
	c, err := compare(get("plain", "/plain/object.bin"), get("dynamic", "/csb/jobs/"+jobID+"/object.bin"),
		cfg.rounds, cfg.requests, cfg.conc, 2*time.Minute, nil)
	if err != nil {
		return r, err
	}
	r.figure = fmt.Sprintf("%.0f req/s, p99 %s", c.subject, ms(c.subjectP99))
	r.baseline = fmt.Sprintf("plain reverse_proxy: %.0f req/s, p99 %s", c.base, ms(c.baseP99))
	r.ratio = fmt.Sprintf("%.3f", c.ratio)
	r.pass = c.ratio >= 0.9
	r.note = fmt.Sprintf("%d rounds × %d requests per variant, %d connections", c.rounds, c.perPhase, c.con)
	return r, nil
}

// createLinkJob creates a SaaS job whose Link rel is rel and returns its
// id.
func createLinkJob(client *http.Client, base, rel string, auth func(*http.Request)) (string, error) {
	body, err := linkJobBody(rel)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/csb/consumer", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
	if auth != nil {
		auth(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	buf := new(bytes.Buffer)
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("creating a job: HTTP %d %s", resp.StatusCode, buf.Bytes())
	}
	msg, err := csbmsg.ParseConsumer(buf.Bytes(), csbmsg.Options{})
	if err != nil {
		return "", fmt.Errorf("creating a job: %v", err)
	}
	if msg.Response == nil || msg.Response.Status != csbmsg.StatusOK || msg.Response.JobInfo == nil || msg.Response.JobInfo.JobStatus != "success" {
		return "", errors.New("creating a job: " + buf.String())
	}
	return msg.Response.JobInfo.JobID, nil
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}
