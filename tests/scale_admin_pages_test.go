package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// scaleGet GETs an admin path and returns the status, the Link header
// and the body.
func scaleGet(t *testing.T, admin, path string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Link"), body
}

var scaleNextLink = regexp.MustCompile(`^<(/csb/[^>]+)>; rel="next"$`)

// TestScaleAdminPages: the admin listings of jobs, the catalogue and
// costs come in pages: walking the Link rel="next" headers, a page of
// each at a time, gives every entry once while jobs are created between
// pages; the count is the whole listing's; a bad limit or cursor is 400.
func TestScaleAdminPages(t *testing.T) {
	port := harness.FreePort(t)
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider apps {
			adapter link
			service app {
				kind saas
				link app http://127.0.0.1:9/app/
			}
			service app2 {
				kind saas
				link app2 http://127.0.0.1:9/app2/
			}
			service app3 {
				kind saas
				link app3 http://127.0.0.1:9/app3/
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
`, port))
	body, err := csbmsg.MarshalConsumer(&csbmsg.Consumer{Version: csbmsg.Version,
		Request: &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "app"}}}})
	if err != nil {
		t.Fatal(err)
	}
	create := func() string {
		t.Helper()
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", port), csbmsg.ConsumerMediaType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("Csb-Job-Id")
		if resp.StatusCode != http.StatusOK || id == "" {
			t.Fatalf("create: HTTP %d, job %q", resp.StatusCode, id)
		}
		return id
	}
	before := map[string]bool{}
	for i := 0; i < 7; i++ {
		before[create()] = true
	}

	// The jobs, three a page, one job created after each page.
	seen := map[string]int{}
	path := "/csb/jobs?limit=3&state=success"
	pages := 0
	for path != "" {
		status, link, data := scaleGet(t, p.AdminAddr, path)
		var page struct {
			Count int    `json:"count"`
			Next  string `json:"next"`
			Jobs  []struct {
				ID string `json:"id"`
			} `json:"jobs"`
		}
		if err := json.Unmarshal(data, &page); status != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d %v\n%s", path, status, err, data)
		}
		if pages == 0 && page.Count != 7 {
			t.Fatalf("the first page counts %d jobs", page.Count)
		}
		if len(page.Jobs) > 3 {
			t.Fatalf("a page of %d jobs", len(page.Jobs))
		}
		for _, j := range page.Jobs {
			seen[j.ID]++
		}
		path = ""
		if page.Next != "" {
			m := scaleNextLink.FindStringSubmatch(link)
			if m == nil || !strings.Contains(m[1], "state=success") || !strings.Contains(m[1], "limit=3") {
				t.Fatalf("next %q with the Link header %q", page.Next, link)
			}
			path = m[1]
		} else if link != "" {
			t.Fatalf("the last page has a Link header %q", link)
		}
		create()
		if pages++; pages > 20 {
			t.Fatal("the listing does not end")
		}
	}
	for id := range before {
		if seen[id] != 1 {
			t.Errorf("job %s listed %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %s listed %d times", id, n)
		}
	}

	// The catalogue: three services, one a page.
	var services []string
	path = "/csb/catalog?limit=1"
	for i := 0; path != ""; i++ {
		status, link, data := scaleGet(t, p.AdminAddr, path)
		var page struct {
			Count     int `json:"count"`
			Providers []struct {
				Services []struct {
					Service struct {
						ID string `json:"id"`
					} `json:"service"`
				} `json:"services"`
			} `json:"providers"`
		}
		if err := json.Unmarshal(data, &page); status != http.StatusOK || err != nil || page.Count != 3 {
			t.Fatalf("GET %s: %d %v\n%s", path, status, err, data)
		}
		for _, pv := range page.Providers {
			for _, s := range pv.Services {
				services = append(services, s.Service.ID)
			}
		}
		path = ""
		if m := scaleNextLink.FindStringSubmatch(link); m != nil {
			path = m[1]
		}
		if i > 5 {
			t.Fatal("the catalogue listing does not end")
		}
	}
	if strings.Join(services, ",") != "app,app2,app3" {
		t.Fatalf("catalogue pages: %v", services)
	}

	// Costs: a page of jobs too.
	status, link, data := scaleGet(t, p.AdminAddr, "/csb/costs?limit=2")
	if status != http.StatusOK || !scaleNextLink.MatchString(link) || !bytes.Contains(data, []byte(`"next":`)) {
		t.Fatalf("costs page: %d %q\n%s", status, link, data)
	}

	for _, bad := range []string{"/csb/jobs?limit=0", "/csb/jobs?limit=x", "/csb/jobs?after=nonsense", "/csb/catalog?after=%21%21",
		"/csb/costs?after=nonsense", "/csb/webhooks?after=nonsense", "/csb/webhooks?limit=-1"} {
		if status, _, data := scaleGet(t, p.AdminAddr, bad); status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400\n%s", bad, status, data)
		}
	}
}
