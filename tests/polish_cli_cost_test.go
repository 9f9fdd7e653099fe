package tests

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// polishListedJob is one job of "caddy csb jobs --json".
type polishListedJob struct {
	JobID      string   `json:"job_id"`
	JobStatus  string   `json:"job_status"`
	ProviderID string   `json:"provider_id"`
	Cost       *float64 `json:"cost"`
	CostFinal  bool     `json:"cost_final"`
	CostRate   *float64 `json:"cost_rate"`
}

// polishJobs runs "caddy csb jobs --json" as user and returns its jobs by id.
func polishJobs(t *testing.T, b *cliBroker, user string) map[string]polishListedJob {
	t.Helper()
	r := b.run(user, cliUsers[user], "jobs", "--json").ok(t)
	var list struct {
		Jobs []polishListedJob `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("jobs --json: %v\n%s", err, r)
	}
	out := map[string]polishListedJob{}
	for _, j := range list.Jobs {
		out[j.JobID] = j
	}
	return out
}

// polishJobRow returns the line of "caddy csb jobs" that lists id.
func polishJobRow(t *testing.T, r cliRun, id string) string {
	t.Helper()
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, id+" ") {
			return line
		}
	}
	t.Fatalf("no row for job %s:\n%s", id, r)
	return ""
}

// TestPolishCLIShowsCost: "caddy csb jobs" has a COST column and --json
// the cost fields; "caddy csb job ID" a COST line and --json the
// Csb-Cost headers' values. A job on a priced provider accrues at its
// rate (cloud-a: 0.02 per core-hour, 2 cores: 0.04 per hour) and is final
// after rm; a job on an unpriced provider (apps) has no cost ("-").
func TestPolishCLIShowsCost(t *testing.T) {
	b := cliStart(t)
	r := b.run("alice", cliUsers["alice"], "request", "iaas", "--cores", "2", "--memory", "4", "--wait").ok(t)
	vm := r.tableValue(t, "JOB")
	if got := r.tableValue(t, "COST"); !regexp.MustCompile(`^[0-9.]+ accruing \(0\.04 per hour\)$`).MatchString(got) {
		t.Fatalf("request --wait: COST %q\n%s", got, r)
	}
	r = b.run("alice", cliUsers["alice"], "request", "saas", "--rel", "crm", "--wait").ok(t)
	app := r.tableValue(t, "JOB")
	if strings.Contains(r.stdout, "COST") {
		t.Fatalf("a job on an unpriced provider shows a cost:\n%s", r)
	}

	// The table: a COST column, the rate while the job accrues.
	r = b.run("alice", cliUsers["alice"], "jobs").ok(t)
	header := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0])
	if !strings.Contains(strings.Join(header, " "), "LEASE COST CREATED") {
		t.Fatalf("jobs: header %q\n%s", header, r)
	}
	if row := polishJobRow(t, r, vm); !regexp.MustCompile(`\s[0-9.]+ accruing \(0\.04 per hour\)\s`).MatchString(row) {
		t.Fatalf("jobs: the row of %s has no accruing cost: %q", vm, row)
	}
	if row := polishJobRow(t, r, app); !regexp.MustCompile(`\s-\s+20\d\d-`).MatchString(row) {
		t.Fatalf("jobs: the row of the unpriced %s: %q", app, row)
	}
	// --json: cost, cost_rate while accruing; nothing for the unpriced job.
	js := polishJobs(t, b, "alice")
	if j := js[vm]; j.Cost == nil || *j.Cost < 0 || j.CostFinal || j.CostRate == nil || *j.CostRate != 0.04 {
		t.Fatalf("jobs --json: %s: %+v", vm, j)
	}
	if j := js[app]; j.Cost != nil || j.CostRate != nil {
		t.Fatalf("jobs --json: unpriced %s: %+v", app, j)
	}

	// job ID --json: the Csb-Cost headers.
	r = b.run("alice", cliUsers["alice"], "job", vm, "--json").ok(t)
	var one struct {
		Cost       *float64 `json:"cost"`
		CostFinal  bool     `json:"cost_final"`
		CostDetail string   `json:"cost_detail"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one.Cost == nil || one.CostFinal ||
		!strings.HasPrefix(one.CostDetail, "state=accruing, rate=0.04, price=0.02, unit=core, units=2") {
		t.Fatalf("job --json: %+v %v\n%s", one, err, r)
	}

	// After rm the cost is final, in every view.
	r = b.run("alice", cliUsers["alice"], "rm", vm).ok(t)
	if got := r.tableValue(t, "COST"); !regexp.MustCompile(`^[0-9.]+ final$`).MatchString(got) {
		t.Fatalf("rm: COST %q\n%s", got, r)
	}
	final := r.tableValue(t, "COST")
	r = b.run("alice", cliUsers["alice"], "job", vm).ok(t)
	if got := r.tableValue(t, "COST"); got != final {
		t.Fatalf("job after rm: COST %q, rm said %q", got, final)
	}
	r = b.run("alice", cliUsers["alice"], "jobs").ok(t)
	if row := polishJobRow(t, r, vm); !strings.Contains(row, " "+final+" ") {
		t.Fatalf("jobs after rm: the row of %s lacks %q: %q", vm, final, row)
	}
	amount, _ := strconv.ParseFloat(strings.Fields(final)[0], 64)
	if j := polishJobs(t, b, "alice")[vm]; j.Cost == nil || !j.CostFinal || j.CostRate != nil || *j.Cost != amount {
		t.Fatalf("jobs --json after rm: %+v, want a final cost of %v", j, amount)
	}
}
