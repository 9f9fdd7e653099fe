package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
	"github.com/caddy-csb/caddy-csb/tests/swiftpeer"
)

// BenchmarkProxyObjectGET measures object GET throughput through the job
// route (reverse_proxy { dynamic csb }) against a plain reverse_proxy to
// the same upstream (the real Swift, with the same path rewrite and token
// added by hand), in one run, with the load from a second process (wrk,
// bounded in time and connections). Both routes sit behind the same
// basic_auth. Rounds alternate to spread the machine's noise; the ratio is
// reported as dynamic_over_plain (target ≥ 0.9).
//
//	CSB_CADDY_BIN=./caddy go test ./tests -run '^$' -bench ProxyObjectGET
func BenchmarkProxyObjectGET(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Fatalf("wrk not found (Debian package wrk): %v", err)
	}
	sw := swiftpeer.Shared(b)
	port := harness.FreePort(b)
	hash, err := bcrypt.GenerateFromPassword([]byte(testUsers["alice"]), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	bobHash, err := bcrypt.GenerateFromPassword([]byte(testUsers["bob"]), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	token, _, err := sw.Auth(context.Background(), swiftpeer.User, swiftpeer.Key)
	if err != nil {
		b.Fatal(err)
	}
	upstream := strings.TrimPrefix(sw.ProxyURL, "http://")
	fast := newFastSwift(b)
	p := harness.Start(b, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider swift {
			adapter openstack {
				tempauth_url %[1]s
				tempauth_user %[2]s
				tempauth_key %[3]s
			}
			discover
		}
		provider fast {
			adapter openstack {
				tempauth_url %[1]s
				tempauth_user %[2]s
				tempauth_key %[3]s
				object_store_url %[9]s
			}
			discover
		}
		jobs {
			respond_within 10s
			access alice {
				allow swift
			}
			access bob {
				allow fast
			}
		}
	}
}

http://127.0.0.1:%[4]d {
	route {
		basic_auth {
			alice %[5]s
			bob %[11]s
		}
		csb_job_route /csb/jobs/*
		reverse_proxy /csb/jobs/* {
			dynamic csb
		}
		handle_path /plain/* {
			rewrite * /v1/%[6]s{uri}
			reverse_proxy %[7]s {
				header_up -Authorization
				header_up X-Auth-Token %[8]s
			}
		}
		handle_path /fastplain/* {
			rewrite * /v1/%[6]s{uri}
			reverse_proxy %[10]s {
				header_up -Authorization
				header_up X-Auth-Token %[8]s
			}
		}
		csb
	}
}
`, sw.AuthURL, swiftpeer.User, swiftpeer.Key, port, hash, swiftpeer.Account, upstream, token,
		fast.URL+"/v1/"+swiftpeer.Account, strings.TrimPrefix(fast.URL, "http://"), bobHash))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	obj := &csbmsg.DSaaS{DataObject: &csbmsg.DataObject{ObjectRefs: csbmsg.ObjectRefs{ObjectID: str("obj")}, Value: str(strings.Repeat("x", 4096))}}
	job := createJobB(b, p, base, "alice", obj)
	container := *job.DSaaS.ContainerObject.ObjectID
	fjob := createJobB(b, p, base, "bob", obj)
	fcontainer := *fjob.DSaaS.ContainerObject.ObjectID
	routes := map[string]string{
		"dynamic":     fmt.Sprintf("%s/csb/jobs/%s/%s/obj", base, job.JobInfo.JobID, container),
		"plain":       fmt.Sprintf("%s/plain/%s/obj", base, container),
		"fastdynamic": fmt.Sprintf("%s/csb/jobs/%s/%s/obj", base, fjob.JobInfo.JobID, fcontainer),
		"fastplain":   fmt.Sprintf("%s/fastplain/%s/obj", base, fcontainer),
	}
	users := map[string]string{"dynamic": "alice", "plain": "alice", "fastdynamic": "bob", "fastplain": "bob"}
	for name, u := range routes {
		req, _ := http.NewRequest("GET", u, nil)
		req.SetBasicAuth(users[name], testUsers[users[name]])
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 || resp.ContentLength != 4096 {
			b.Fatalf("%s route: %v %v", name, resp, err)
		}
		resp.Body.Close()
	}
	rate := map[string]float64{}
	const rounds = 3
	b.ResetTimer()
	for i := 0; i < rounds; i++ {
		for _, name := range []string{"plain", "dynamic", "fastplain", "fastdynamic"} {
			rate[name] += cloudWrkRate(b, routes[name], "Authorization: "+basicAuth(users[name])) / rounds
		}
	}
	b.StopTimer()
	b.ReportMetric(rate["plain"], "swift_plain_req/s")
	b.ReportMetric(rate["dynamic"], "swift_dynamic_req/s")
	b.ReportMetric(rate["dynamic"]/rate["plain"], "swift_dynamic_over_plain")
	b.ReportMetric(rate["fastplain"], "fast_plain_req/s")
	b.ReportMetric(rate["fastdynamic"], "fast_dynamic_req/s")
	b.ReportMetric(rate["fastdynamic"]/rate["fastplain"], "fast_dynamic_over_plain")
	b.Logf("object GET (4 KiB) to the real Swift: plain reverse_proxy %.0f req/s, dynamic csb %.0f req/s, ratio %.3f",
		rate["plain"], rate["dynamic"], rate["dynamic"]/rate["plain"])
	b.Logf("object GET (4 KiB) to a fast in-process Swift stand-in: plain %.0f req/s, dynamic csb %.0f req/s, ratio %.3f",
		rate["fastplain"], rate["fastdynamic"], rate["fastdynamic"]/rate["fastplain"])
}

// newFastSwift is a minimal stand-in for a Swift account, fast enough that
// the proxies, not the upstream, bound the rate: it keeps containers and
// objects in memory and answers the calls the openstack adapter and a GET
// make (listing stat, container PUT/POST, object PUT/GET/HEAD/DELETE). It
// checks only that a token is present.
func newFastSwift(b *testing.B) *httptest.Server {
	var mu sync.Mutex
	containers := map[string]bool{}
	objects := map[string][]byte{}
	types := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-Token") == "" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/v1/"+swiftpeer.Account)
		if !ok {
			http.NotFound(w, r)
			return
		}
		c, o, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		mu.Lock()
		defer mu.Unlock()
		switch {
		case c == "":
			w.WriteHeader(http.StatusNoContent)
		case o == "" && r.Method == http.MethodPut:
			if containers[c] {
				w.WriteHeader(http.StatusAccepted)
				return
			}
			containers[c] = true
			w.WriteHeader(http.StatusCreated)
		case !containers[c]:
			http.NotFound(w, r)
		case o == "":
			w.Header().Set("Content-Length", "2")
			w.Header().Set("X-Container-Object-Count", "1")
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				io.WriteString(w, "[]")
			}
		case r.Method == http.MethodPut:
			data, _ := io.ReadAll(r.Body)
			objects[c+"/"+o] = data
			types[c+"/"+o] = r.Header.Get("Content-Type")
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			data, ok := objects[c+"/"+o]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", types[c+"/"+o])
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			if r.Method == http.MethodGet {
				w.Write(data)
			}
		case r.Method == http.MethodDelete:
			delete(objects, c+"/"+o)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

var cloudWrkRateRE = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
var cloudWrkNon2xxRE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)

// cloudWrkRate runs wrk against u for a bounded time and returns requests/s.
func cloudWrkRate(b *testing.B, u, header string) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wrk", "-t2", "-c16", "-d4s", "--timeout", "5s", "-H", header, u).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if m := cloudWrkNon2xxRE.FindSubmatch(out); m != nil {
		b.Fatalf("wrk saw %s non-2xx answers on %s:\n%s", m[1], u, out)
	}
	m := cloudWrkRateRE.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no rate in wrk's output:\n%s", out)
	}
	r, _ := strconv.ParseFloat(string(m[1]), 64)
	return r
}

// createJobB creates a job from a benchmark (the helpers take a *testing.T).
func createJobB(b *testing.B, p *harness.Process, base, user string, want *csbmsg.DSaaS) *csbmsg.ServiceResponse {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hr, _ := http.NewRequest(http.MethodPost, base+"/csb/consumer", bytes.NewReader(mustConsumerBody(b, &csbmsg.ServiceRequest{DSaaS: want})))
		hr.Header.Set("Content-Type", csbmsg.ConsumerMediaType)
		hr.SetBasicAuth(user, testUsers[user])
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			b.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
		if err == nil && msg.Response != nil && msg.Response.Status == csbmsg.StatusOK && msg.Response.JobInfo != nil && msg.Response.JobInfo.JobStatus == "success" {
			return msg.Response
		}
		if resp.StatusCode != http.StatusOK || time.Now().After(deadline) {
			b.Fatalf("create: HTTP %d %s\n%s", resp.StatusCode, data, p.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

func mustConsumerBody(b *testing.B, req *csbmsg.ServiceRequest) []byte {
	data, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version, Request: req})
	if err != nil {
		b.Fatal(err)
	}
	return data
}
