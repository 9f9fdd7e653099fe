package cimi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-csb/caddy-csb/adapters/cimi"
	"github.com/caddy-csb/caddy-csb/broker/contract"
	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// pagedFixture is a fixture holding jobs "a" and "b" (machine, volume,
// network, attachment each), provisioned before it pages, that then
// answers one member per collection answer: job b's resources are on
// page 2 of every collection. It returns job b's Resource.
func pagedFixture(t *testing.T) (*fixture, *cimi.Adapter, *contract.Resource) {
	t.Helper()
	f := newFixture(t)
	a, err := cimi.New(cimi.Config{Endpoint: f.base + "/cep", Image: "WinXP-SP2"})
	if err != nil {
		t.Fatal(err)
	}
	var b *contract.Resource
	for _, id := range []string{"a", "b"} {
		req := full(1, 1, 2, nil)
		req.JobID = id
		res, err := a.Provision(t.Context(), &req)
		if err != nil {
			t.Fatalf("provision %s: %v", id, err)
		}
		b = res
	}
	f.setPage(1)
	return f, a, b
}

// TestFindReadsEveryPage: a provider that returns one member per answer
// (DSP0263 5.5.12: count larger than the members returned) still has the
// job's resources, on page 2, found by Find after a crash.
func TestFindReadsEveryPage(t *testing.T) {
	_, a, b := pagedFixture(t)
	req := full(1, 1, 2, nil)
	req.JobID = "b"
	found, err := a.Find(t.Context(), &req)
	if err != nil {
		t.Fatal(err)
	}
	if found == nil {
		t.Fatal("Find found nothing of job b, whose resources are on page 2")
	}
	for _, key := range []string{"machine", "volume", "network", "machine_volume"} {
		if found.Native[key] != b.Native[key] {
			t.Errorf("Find: %s = %q, want %q", key, found.Native[key], b.Native[key])
		}
	}
	if found.Native[contract.NativeIncomplete] != "" {
		t.Errorf("Find reported job b incomplete: %+v", found.Native)
	}
}

// TestRemoveByJobReadsEveryPage: a create whose answers were lost (the
// Resource holds only the job id) is cleaned up by Remove although the
// job's resources are on page 2; the other job's stay.
func TestRemoveByJobReadsEveryPage(t *testing.T) {
	f, a, _ := pagedFixture(t)
	if err := a.Remove(t.Context(), &contract.Resource{Native: map[string]string{"csb_job": "b"}}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	jobs := map[string]int{}
	for p, r := range f.res {
		if props, ok := r["properties"].(map[string]any); ok && strings.Count(p, "/") == 2 {
			jobs[fmt.Sprint(props["csb_job"])]++
		}
	}
	if jobs["b"] != 0 || jobs["a"] != 3 {
		t.Errorf("after removing job b by its tag the provider holds %v resources by job, want a:3 and none of b", jobs)
	}
}

// TestImageAndOffersOnPage2: the configured machine image and the second
// machine configuration are on page 2 of their collections; Provision
// finds the image and Discover offers both configurations.
func TestImageAndOffersOnPage2(t *testing.T) {
	f := newFixture(t)
	f.setPage(1)
	a, err := cimi.New(cimi.Config{Endpoint: f.base + "/cep", Image: "WinXP-SP2"})
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := a.Discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 2 {
		t.Errorf("Discover offers %d services, want the 2 configurations of both pages", len(svcs))
	}
	req := full(1, 1, 2, nil)
	req.JobID = "j"
	if _, err := a.Provision(t.Context(), &req); err != nil {
		t.Errorf("provision with the image on page 2: %v", err)
	}
}

// pagingPeer is a CIMI peer whose machines collection misbehaves as
// answer says; requests counts the collection's reads.
type pagingPeer struct {
	srv *httptest.Server

	mu    sync.Mutex
	reads int
}

func newPagingPeer(t *testing.T, answer func(n int, first int) map[string]any) *pagingPeer {
	p := &pagingPeer{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out map[string]any
		switch r.URL.Path {
		case "/cep":
			out = map[string]any{"resourceURI": cimi.NS + "/CloudEntryPoint", "id": p.srv.URL + "/cep",
				"machines": map[string]any{"href": "/machines"}}
		case "/machines":
			p.mu.Lock()
			p.reads++
			n := p.reads
			p.mu.Unlock()
			first, err := strconv.Atoi(r.URL.Query().Get("$first"))
			if err != nil {
				first = 1
			}
			out = answer(n, first)
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", cimi.MediaType)
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pagingPeer) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads
}

// machines is a MachineCollection answer claiming count members and
// holding machines ids from..to.
func machines(base string, count, from, to int) map[string]any {
	var items []any
	for i := from; i <= to; i++ {
		items = append(items, map[string]any{"id": fmt.Sprintf("%s/machines/%d", base, i), "properties": map[string]any{"csb_job": "other"}})
	}
	return map[string]any{"resourceURI": cimi.NS + "/MachineCollection", "count": count, "machines": items}
}

// TestCollectionPagingIsBounded: a provider whose paging never ends, who
// claims a huge collection, or who ignores $first does not keep Find or
// Remove reading: both fail with a provider error that says why, after a
// bounded number of requests, rather than act on part of the collection.
func TestCollectionPagingIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   func(base string) func(n, first int) map[string]any
		maxReads int
		want     string
	}{{
		// Every answer brings one new member; the count is never reached.
		name: "endless",
		answer: func(base string) func(n, first int) map[string]any {
			return func(n, _ int) map[string]any { return machines(base, 10000, n, n) }
		},
		maxReads: 100,
		want:     "requests",
	}, {
		name: "huge",
		answer: func(base string) func(n, first int) map[string]any {
			return func(int, int) map[string]any { return machines(base, 1<<40, 1, 2) }
		},
		maxReads: 1,
		want:     fmt.Sprintf("more than the %d", 10000),
	}, {
		// The same first page whatever $first says.
		name: "ignores_first",
		answer: func(base string) func(n, first int) map[string]any {
			return func(int, int) map[string]any { return machines(base, 10, 1, 2) }
		},
		maxReads: 2,
		want:     "does not page",
	}, {
		// Honours $first, but the count is never reached.
		name: "short",
		answer: func(base string) func(n, first int) map[string]any {
			return func(_, first int) map[string]any {
				if first > 2 {
					return machines(base, 10, 0, -1)
				}
				return machines(base, 10, 1, 2)
			}
		},
		maxReads: 2,
		want:     "does not page",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, call := range []string{"find", "remove"} {
				var p *pagingPeer
				p = newPagingPeer(t, func(n, first int) map[string]any { return tc.answer(p.srv.URL)(n, first) })
				a, err := cimi.New(cimi.Config{Endpoint: p.srv.URL + "/cep"})
				if err != nil {
					t.Fatal(err)
				}
				req := full(1, 1, 2, nil)
				req.JobID = "j"
				if call == "find" {
					_, err = a.Find(t.Context(), &req)
				} else {
					err = a.Remove(t.Context(), &contract.Resource{Native: map[string]string{"csb_job": "j"}})
				}
				if contract.KindOf(err) != contract.KindServer || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: err = %v, want a provider_5xx error saying %q", call, err, tc.want)
				}
				t.Logf("%s: %v", call, err)
				if n := p.requests(); n > tc.maxReads {
					t.Errorf("%s: %d reads of the collection, want at most %d", call, n, tc.maxReads)
				}
			}
		})
	}
}

// TestPagingAsksForTheRest: the pages after the first ask for the
// members after those read, up to the count, with $first and $last on
// the collection's own href (its query kept); every member is seen.
func TestPagingAsksForTheRest(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out map[string]any
		switch r.URL.Path {
		case "/cep":
			out = map[string]any{"resourceURI": cimi.NS + "/CloudEntryPoint", "machines": map[string]any{"href": "/machines?zone=1"}}
		case "/machines":
			mu.Lock()
			queries = append(queries, r.URL.RawQuery)
			mu.Unlock()
			first, err := strconv.Atoi(r.URL.Query().Get("$first"))
			if err != nil {
				first = 1
			}
			out = machines(srv.URL, 5, first, min(first+1, 5))
			if first == 5 {
				out["machines"].([]any)[0].(map[string]any)["properties"] = map[string]any{"csb_job": "j"}
			}
		default:
			out = map[string]any{"resourceURI": cimi.NS + "/Machine", "id": srv.URL + r.URL.Path, "state": "STARTED"}
		}
		w.Header().Set("Content-Type", cimi.MediaType)
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	a, err := cimi.New(cimi.Config{Endpoint: srv.URL + "/cep"})
	if err != nil {
		t.Fatal(err)
	}
	req := iaasReq(func(i *csbmsg.IaaS) { i.Compute = &csbmsg.Compute{} })
	req.JobID = "j"
	res, err := a.Find(t.Context(), &req)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil || res.Native["machine"] != srv.URL+"/machines/5" {
		t.Errorf("Find = %+v, want the machine of the last page", res)
	}
	want := []string{"zone=1", "zone=1&$first=3&$last=5", "zone=1&$first=5&$last=5"}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(queries, " ") != strings.Join(want, " ") {
		t.Errorf("queries %q, want %q", queries, want)
	}
}
