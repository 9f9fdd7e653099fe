package tests

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPolishConsoleShowsCost: in headless Chromium, the console's jobs
// list has a Cost column and the job page a Cost fact: the cost so far
// of a job on cloud-a (0.02 per core-hour, 2 cores) accruing at 0.04 per
// hour, then final after the job is removed through the console.
// Screenshots (desktop and
// phone width) go to t.TempDir() and CSB_CONSOLE_SHOTS.
func TestPolishConsoleShowsCost(t *testing.T) {
	bin := consoleChromium(t)
	s := consoleStart(t)
	console := s.base + "/console"
	alice := consoleNewBrowser(t, bin, "alice", true)

	alice.open(console + "/new?kind=iaas&arch=x86_64&cores=2&memory=4&lease=90&explain=1")
	if st := alice.navigate(chromedp.Click(chromedp.CSS(`form.submit button[type=submit]`))); st != http.StatusOK {
		t.Fatalf("create: HTTP %d", st)
	}
	ids := consoleEval[[]string](alice, `[...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job)`)
	if len(ids) != 1 {
		t.Fatalf("alice's jobs: %q", ids)
	}
	id := ids[0]
	consoleWaitJob(t, s, id, "success")

	// The jobs list: the Cost column, accruing with its rate.
	alice.open(console + "/jobs")
	if head := alice.text("table.jobs thead"); !strings.Contains(head, "Cost") {
		t.Fatalf("jobs table head: %q", head)
	}
	if got := alice.text("#job-" + id + " td.cost"); !regexp.MustCompile(`^[0-9.]+ accruing, 0\.04/h$`).MatchString(got) {
		t.Fatalf("cost cell of %s: %q", id, got)
	}
	alice.shot("polish-jobs-cost", 1280)
	alice.shot("polish-jobs-cost-phone", 390)

	// The job page: the cost so far, how it accrues.
	alice.open(console + "/jobs/" + id)
	if got := alice.text(".facts .cost dd"); !regexp.MustCompile(`^[0-9.]+ so far, accruing\s*0\.04 per hour: 2 × 0\.02 per core$`).MatchString(got) {
		t.Fatalf("job page cost: %q", got)
	}
	alice.shot("polish-job-cost", 1280)
	alice.shot("polish-job-cost-phone", 390)

	// Removed through the console: final, on both pages.
	alice.open(console + "/jobs")
	if st := alice.navigate(chromedp.Click(chromedp.CSS(`#job-` + id + ` form[action$="/remove"] button`))); st != http.StatusOK {
		t.Fatalf("remove: HTTP %d", st)
	}
	final := alice.text("#job-" + id + " td.cost")
	if !regexp.MustCompile(`^[0-9.]+ final$`).MatchString(final) {
		t.Fatalf("cost cell after remove: %q", final)
	}
	alice.open(console + "/jobs/" + id)
	if got := alice.text(".facts .cost dd"); got != final {
		t.Fatalf("job page cost after remove: %q, the list says %q", got, final)
	}
	alice.shot("polish-job-cost-final", 1280)
}
