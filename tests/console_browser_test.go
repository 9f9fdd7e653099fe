package tests

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleInChromium drives the web console (csb_console) in headless
// Chromium against a real Caddy with two sandbox clouds, through the real
// digest_auth: the browser answers the server's Digest challenge itself
// (DevTools Fetch.authRequired → continueWithAuth with the password).
//
// alice loads the catalogue, fills in the request form, sees the
// placement explained as an SVG bar chart (cloud-a, the cheaper, chosen;
// cloud-b ranked second), submits it, sees the job appear on her jobs
// page, renews its lease (the broker's lease end moves later) and removes
// it (the broker's job is removed). bob, with scripts disabled, creates a
// job through the same form; neither sees the other's job, bob cannot
// open alice's job page nor the operator page; carol, the operator, sees
// both jobs and the subscriptions. Every page is screenshotted at desktop
// and phone width (to t.TempDir() and CSB_CONSOLE_SHOTS).
func TestConsoleInChromium(t *testing.T) {
	bin := consoleChromium(t)
	s := consoleStart(t)
	console := s.base + "/console"

	alice := consoleNewBrowser(t, bin, "alice", true)

	// The catalogue: both clouds, their price and capacity left.
	if st := alice.open(console + "/"); st != http.StatusOK {
		t.Fatalf("catalogue: HTTP %d\n%s", st, s.p.Log())
	}
	if alice.challenges.Load() == 0 {
		t.Fatal("the browser was never challenged: the console is not behind digest_auth")
	}
	cat := alice.text("main")
	for _, want := range []string{"cloud-a", "cloud-b", "0.02", "0.05", "8 cores", "64 cores", "healthy"} {
		if !strings.Contains(cat, want) {
			t.Errorf("catalogue lacks %q:\n%s", want, cat)
		}
	}
	if who := alice.text("header .who"); !strings.Contains(who, "alice") {
		t.Errorf("header: %q", who)
	}
	// The first Tab stop of a fresh page is the skip link, and it is
	// visible once focused.
	alice.do(chromedp.KeyEvent("\t"))
	if first := consoleEval[string](alice, `document.activeElement.className + ' ' + (document.activeElement.getBoundingClientRect().left >= 0)`); first != "skip true" {
		t.Errorf("the first Tab stop: %q, want the visible skip link", first)
	}
	consoleEval[bool](alice, `document.activeElement.blur(), true`)
	alice.shot("catalogue", 1280)
	alice.shot("catalogue-phone", 390)

	// The request form → the placement explain.
	if st := alice.open(console + "/new"); st != http.StatusOK {
		t.Fatalf("new request: HTTP %d", st)
	}
	alice.shot("new-request", 1280)
	// With scripts on, only the IaaS fieldset shows.
	if hidden := consoleEval[bool](alice, `document.querySelector('fieldset[data-kind=dsaas]').hidden`); !hidden {
		t.Error("with scripts, the DSaaS fields of an IaaS request are shown")
	}
	alice.do(
		chromedp.SetValue(chromedp.CSS("#arch"), "x86_64"),
		chromedp.SendKeys(chromedp.CSS("#cores"), "2"),
		chromedp.SendKeys(chromedp.CSS("#memory"), "4"),
		chromedp.SendKeys(chromedp.CSS("#lease"), "90"),
	)
	// Accessibility: every control has a label or a name.
	if unlabelled := consoleEval[[]string](alice, `[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
		.filter(e => e.tagName == 'BUTTON' ? !(e.textContent.trim() || e.getAttribute('aria-label')) : e.labels.length == 0)
		.map(e => e.outerHTML)`); len(unlabelled) > 0 {
		t.Errorf("controls without a label: %q", unlabelled)
	}
	// The keyboard submits the form: Enter in the last field (the lease)
	// presses the default button, "Explain the placement".
	if st := alice.navigate(chromedp.Focus(chromedp.CSS("#lease")), chromedp.KeyEvent("\r")); st != http.StatusOK {
		t.Fatalf("explain: HTTP %d", st)
	}
	if got := alice.text(".explain .summary"); !strings.Contains(got, "provider cloud-a") {
		t.Errorf("explain summary: %q", got)
	}
	rows := consoleEval[[]string](alice, `[...document.querySelectorAll('svg.chart g.row')].map(g => g.getAttribute('class') + ' ' + g.querySelector('text.label').textContent + ' ' + g.querySelector('text.value').textContent)`)
	if len(rows) != 2 || !strings.Contains(rows[0], "bar-chosen cloud-a rank 1, score 0.02") || !strings.Contains(rows[1], "bar-match cloud-b rank 2, score 0.05") {
		t.Errorf("chart rows: %q", rows)
	}
	widths := consoleEval[[]float64](alice, `[...document.querySelectorAll('svg.chart rect.bar')].map(r => Number(r.getAttribute('width')))`)
	if len(widths) != 2 || widths[0] >= widths[1] {
		t.Errorf("bar widths %v: the cheaper cloud should have the shorter bar", widths)
	}
	alice.shot("explain", 1280)
	alice.shot("explain-phone", 390)

	// A request only the large cloud can take: cloud-a is drawn rejected,
	// with its reason.
	if st := alice.open(console + "/new?kind=iaas&cores=32&memory=4&explain=1"); st != http.StatusOK {
		t.Fatalf("explain 32 cores: HTTP %d", st)
	}
	rows = consoleEval[[]string](alice, `[...document.querySelectorAll('svg.chart g.row')].map(g => g.getAttribute('class') + ' ' + g.querySelector('text.label').textContent + ' ' + g.querySelector('text.value').textContent)`)
	if len(rows) != 2 || !strings.Contains(rows[0], "bar-rejected cloud-a rejected: ") || !strings.Contains(rows[1], "bar-chosen cloud-b rank 1") {
		t.Errorf("chart rows for 32 cores: %q", rows)
	}
	alice.shot("explain-rejected", 1280)
	// A mistake in the form is named beside its field.
	if st := alice.open(console + "/new?kind=iaas&cores=0&memory=many&explain=1"); st != http.StatusBadRequest {
		t.Errorf("a form with mistakes: HTTP %d, want 400", st)
	}
	if invalid := consoleEval[[]string](alice, `[...document.querySelectorAll('[aria-invalid=true]')].map(e => e.id)`); strings.Join(invalid, ",") != "cores,memory" {
		t.Errorf("fields marked invalid: %q", invalid)
	}
	alice.shot("new-request-mistakes", 1280)
	alice.open(console + "/new?kind=iaas&arch=x86_64&cores=2&memory=4&lease=90&explain=1")

	// Submit → the jobs page with the new job.
	if st := alice.navigate(chromedp.Click(chromedp.CSS(`form.submit button[type=submit]`))); st != http.StatusOK {
		t.Fatalf("create: HTTP %d", st)
	}
	notice := alice.text(".notice")
	if !strings.Contains(notice, "was created") {
		t.Fatalf("after create: %q\n%s", notice, alice.text("main"))
	}
	ids := consoleEval[[]string](alice, `[...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job)`)
	if len(ids) != 1 || !strings.Contains(notice, ids[0]) {
		t.Fatalf("alice's jobs %q, notice %q", ids, notice)
	}
	aliceJob := ids[0]
	j := s.job(t, aliceJob)
	if j.Owner != "alice" || j.ProviderID != "cloud-a" || (j.Status != "success" && j.Status != "provisioning") {
		t.Fatalf("the job in the broker: %+v", j)
	}
	// The 90-minute lease asked for in the form (once provisioned).
	j = consoleWaitJob(t, s, aliceJob, "success")
	if left := time.Until(j.Expires); left < 85*time.Minute || left > 91*time.Minute {
		t.Errorf("lease ends in %v, want about 90m", left)
	}
	alice.open(console + "/jobs")
	row := alice.text("#job-" + aliceJob)
	for _, want := range []string{"success", "cloud-a", "IaaS"} {
		if !strings.Contains(row, want) {
			t.Errorf("job row lacks %q: %q", want, row)
		}
	}
	countdown := alice.text("#job-" + aliceJob + " time.countdown")
	if !strings.Contains(countdown, "h ") && !strings.Contains(countdown, "m ") {
		t.Errorf("lease countdown %q", countdown)
	}
	alice.shot("jobs", 1280)
	alice.shot("jobs-phone", 390)

	// The job's own page.
	if st := alice.open(console + "/jobs/" + aliceJob); st != http.StatusOK {
		t.Fatalf("job page: HTTP %d", st)
	}
	if got := alice.text("main"); !strings.Contains(got, "Attempts") || !strings.Contains(got, "cloud-a") {
		t.Errorf("job page:\n%s", got)
	}
	alice.shot("job", 1280)

	// bob, with scripts disabled, requests storage through the form.
	bob := consoleNewBrowser(t, bin, "bob", false)
	bob.open(console + "/new")
	if hidden := consoleEval[bool](bob, `document.querySelector('fieldset[data-kind=dsaas]').hidden`); hidden {
		t.Error("without scripts the DSaaS fields are hidden")
	}
	bob.do(
		chromedp.Click(chromedp.CSS(`input[name=kind][value=dsaas]`)),
		chromedp.SendKeys(chromedp.CSS("#object"), "notes.txt"),
		chromedp.SendKeys(chromedp.CSS("#mimetype"), "text/plain"),
		chromedp.SendKeys(chromedp.CSS("#content"), "hello from the console"),
	)
	bob.navigate(chromedp.Click(chromedp.CSS(`button[name=explain]`)))
	bob.shot("explain-dsaas-noscript", 1280)
	if st := bob.navigate(chromedp.Click(chromedp.CSS(`form.submit button[type=submit]`))); st != http.StatusOK {
		t.Fatalf("bob's create: HTTP %d", st)
	}
	bobIDs := consoleEval[[]string](bob, `[...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job)`)
	if len(bobIDs) != 1 || bobIDs[0] == aliceJob {
		t.Fatalf("bob's jobs %q (alice's is %s)\n%s", bobIDs, aliceJob, bob.text("main"))
	}
	if j := s.job(t, bobIDs[0]); j.Owner != "bob" || j.Status != "success" && j.Status != "provisioning" {
		t.Fatalf("bob's job in the broker: %+v", j)
	}
	if strings.Contains(bob.text("main"), aliceJob) {
		t.Error("bob's jobs page shows alice's job")
	}
	bob.shot("jobs-bob", 1280)
	if st := bob.open(console + "/jobs/" + aliceJob); st != http.StatusNotFound {
		t.Errorf("bob opening alice's job: HTTP %d, want 404", st)
	}
	if st := bob.open(console + "/operator"); st != http.StatusForbidden {
		t.Errorf("bob opening the operator page: HTTP %d, want 403", st)
	}
	alice.open(console + "/jobs")
	if strings.Contains(alice.text("main"), bobIDs[0]) {
		t.Error("alice's jobs page shows bob's job")
	}

	// carol, the operator, sees both jobs and the subscriptions.
	carol := consoleNewBrowser(t, bin, "carol", true)
	carol.open(console + "/jobs")
	all := carol.text("main")
	for _, want := range []string{aliceJob, bobIDs[0], "alice", "bob"} {
		if !strings.Contains(all, want) {
			t.Errorf("the operator's jobs page lacks %q", want)
		}
	}
	carol.shot("jobs-operator", 1280)
	if st := carol.open(console + "/operator"); st != http.StatusOK {
		t.Fatalf("operator page: HTTP %d", st)
	}
	op := carol.text("main")
	for _, want := range []string{"cloud-a", "cloud-b", "active", "Jobs by state"} {
		if !strings.Contains(op, want) {
			t.Errorf("operator page lacks %q:\n%s", want, op)
		}
	}
	carol.shot("operator", 1280)
	carol.shot("operator-phone", 390)

	// The operator removes bob's job (acting as its owner would).
	carol.open(console + "/jobs")
	if st := carol.navigate(chromedp.Click(chromedp.CSS(`#job-` + bobIDs[0] + ` form[action$="/remove"] button`))); st != http.StatusOK {
		t.Fatalf("operator's remove: HTTP %d", st)
	}
	if j := s.job(t, bobIDs[0]); j.Status != "removed" || j.Owner != "bob" {
		t.Errorf("bob's job after the operator removed it: %+v", j)
	}

	// alice renews her job: the broker's lease end moves later.
	before := s.job(t, aliceJob).Expires
	alice.open(console + "/jobs")
	if st := alice.navigate(chromedp.Click(chromedp.CSS(`#job-` + aliceJob + ` form[action$="/renew"] button`))); st != http.StatusOK {
		t.Fatalf("renew: HTTP %d", st)
	}
	if got := alice.text(".notice"); !strings.Contains(got, "renewed") {
		t.Fatalf("after renew: %q\n%s", got, alice.text("main"))
	}
	if after := s.job(t, aliceJob).Expires; !after.After(before) {
		t.Errorf("renew: lease end %v, was %v", after, before)
	}
	alice.shot("jobs-renewed", 1280)

	// … and removes it.
	if st := alice.navigate(chromedp.Click(chromedp.CSS(`#job-` + aliceJob + ` form[action$="/remove"] button`))); st != http.StatusOK {
		t.Fatalf("remove: HTTP %d", st)
	}
	if got := alice.text(".notice"); !strings.Contains(got, "removed") {
		t.Fatalf("after remove: %q", got)
	}
	if j := s.job(t, aliceJob); j.Status != "removed" {
		t.Errorf("after remove the broker says %s", j.Status)
	}
	if row := alice.text("#job-" + aliceJob); !strings.Contains(row, "removed") {
		t.Errorf("removed job's row: %q", row)
	}
	alice.shot("jobs-removed", 1280)
	t.Logf("screenshots: %s", strings.Join(append(append(alice.shots, bob.shots...), carol.shots...), " "))
}

// consoleWaitJob polls the admin API until the job has status want.
func consoleWaitJob(t *testing.T, s *consoleSite, id, want string) consoleAdminJob {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := s.job(t, id)
		if j.Status == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, never %s", id, j.Status, want)
		}
		time.Sleep(50 * time.Millisecond) // polling a state, with a deadline
	}
}
