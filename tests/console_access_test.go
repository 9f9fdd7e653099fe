package tests

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestConsoleAccessLists: the console places and creates with the
// signed-in user's provider access lists, as the Consumer interface does.
// bob may not use cloud-a (the cheaper): his explain draws cloud-a
// rejected for that reason and chooses cloud-b, and the job his form
// creates is at cloud-b; alice's explain of the same request still
// chooses cloud-a.
func TestConsoleAccessLists(t *testing.T) {
	s := consoleStart(t, "\t\t\taccess bob {\n\t\t\t\tdeny cloud-a\n\t\t\t}")
	console := s.base + "/console"
	alice, bob := s.client("alice"), s.client("bob")
	q := "/new?kind=iaas&cores=1&memory=1&explain=1"

	_, _, page := consoleGet(t, alice, console+q)
	if !strings.Contains(page, "provider cloud-a, service cloud-a-iaas: chosen") {
		t.Errorf("alice's explain does not choose cloud-a:\n%s", page)
	}
	st, _, page := consoleGet(t, bob, console+q)
	if st != http.StatusOK || !strings.Contains(page, "provider cloud-b, service cloud-b-iaas: chosen") {
		t.Fatalf("bob's explain does not choose cloud-b: HTTP %d\n%s", st, page)
	}
	row := regexp.MustCompile(`(?s)<g class="row bar-rejected">.*?</g>`).FindString(page)
	if !strings.Contains(row, "cloud-a") || !strings.Contains(row, "denied for this user") {
		t.Errorf("cloud-a's row in bob's chart: %q", row)
	}

	tok := consoleTokenRE.FindStringSubmatch(page)
	if tok == nil {
		t.Fatal("no CSRF token on bob's explain page")
	}
	st, loc, body := consolePost(t, bob, console+"/new", url.Values{"kind": {"iaas"}, "cores": {"1"}, "memory": {"1"}, csrfFieldName: {tok[1]}},
		map[string]string{"Origin": s.base})
	m := regexp.MustCompile(`job=([^&]+)`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("bob's create: HTTP %d %q\n%s", st, loc, body)
	}
	id, _ := url.QueryUnescape(m[1])
	if j := s.job(t, id); j.Owner != "bob" || j.ProviderID != "cloud-b" {
		t.Errorf("bob's job: %+v, want it at cloud-b", j)
	}

	// The catalogue shows bob the providers he may use, as the Consumer
	// interface's does; alice sees both.
	_, _, page = consoleGet(t, bob, console+"/")
	if strings.Contains(page, `id="p-cloud-a"`) || !strings.Contains(page, `id="p-cloud-b"`) {
		t.Errorf("bob's catalogue lists cloud-a, which he may not use, or misses cloud-b:\n%s", page)
	}
	_, _, page = consoleGet(t, alice, console+"/")
	if !strings.Contains(page, `id="p-cloud-a"`) || !strings.Contains(page, `id="p-cloud-b"`) {
		t.Errorf("alice's catalogue misses a provider:\n%s", page)
	}
}
