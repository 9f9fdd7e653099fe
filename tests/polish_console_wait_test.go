package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// polishWaitFor evaluates expr in b's page until it returns want, for up
// to within (a page reloading in between is tried again), and returns
// the last value seen.
func polishWaitFor(b *consoleBrowser, expr, want string, within time.Duration) string {
	b.t.Helper()
	last := ""
	for deadline := time.Now().Add(within); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		cancel()
		if err == nil {
			if last = v; v == want {
				return v
			}
		}
		time.Sleep(50 * time.Millisecond) // polling the page's state, with a deadline
	}
	return last
}

// TestPolishConsoleFollowsJobs: with scripts on, the console's jobs list
// and job page follow a job in flight to its end by themselves, through
// the broker's long-poll (the page's ?wait=, which the broker counts in
// long_poll_waiters): the sandbox cloud takes 4 s to build a machine and
// the test never reloads the page. The long-poll itself answers a job
// page with Csb-Wait and Csb-Job-Status, and 400 for a wait that is not
// a duration.
func TestPolishConsoleFollowsJobs(t *testing.T) {
	bin := consoleChromium(t)
	port, cloud := harness.FreePort(t), harness.FreePort(t)
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider slow {
			adapter cimi http://127.0.0.1:%[2]d/cimi/
			price 0.02
			service vm {
				kind iaas
				compute {
					cores 8
					memory 16
				}
			}
		}
		jobs {
			respond_within 100ms
			poll_interval 100ms
		}
	}
}

http://127.0.0.1:%[1]d {
	digest_auth /console* csb-consumer {
		algorithms MD5
		user alice MD5 %[3]s
	}
	csb_console /console*
	csb
}

http://127.0.0.1:%[2]d {
	csb_sandbox slow {
		capacity 8 16 100
		build_time 4s
	}
}
`, port, cloud, digest.HA1(digest.MD5, "alice", "csb-consumer", consoleUsers["alice"])))
	console := fmt.Sprintf("http://127.0.0.1:%d/console", port)
	alice := consoleNewBrowser(t, bin, "alice", true)
	waiters := func() int64 {
		var wh struct {
			LongPollWaiters int64 `json:"long_poll_waiters"`
		}
		adminGet(t, p.AdminAddr, "/csb/webhooks", &wh)
		return wh.LongPollWaiters
	}
	create := func() string {
		t.Helper()
		alice.open(console + "/new?kind=iaas&cores=1&memory=1&explain=1")
		if st := alice.navigate(chromedp.Click(chromedp.CSS(`form.submit button[type=submit]`))); st != http.StatusOK {
			t.Fatalf("create: HTTP %d", st)
		}
		id := consoleEval[string](alice, `document.querySelector('tr[data-job]').dataset.job`)
		if st := consoleEval[string](alice, `document.querySelector('tr[data-job] .badge').textContent`); st != "pending" && st != "provisioning" {
			t.Fatalf("job %s is %s at once: the cloud was not slow enough for this test", id, st)
		}
		return id
	}
	// The broker holds the page's long-poll while the job is in flight,
	// then the page shows the job's end.
	follows := func(where, badge string) {
		t.Helper()
		eventually(t, 3*time.Second, where+": the page's long-poll waiting at the broker", func() bool { return waiters() > 0 })
		if got := polishWaitFor(alice, `document.querySelector('`+badge+`').textContent`, "success", 30*time.Second); got != "success" {
			t.Fatalf("%s: the job is still %q after 30s", where, got)
		}
	}

	// The jobs list, as the create leaves it.
	first := create()
	follows("jobs list", `#job-`+first+` .badge`)
	if n := consoleEval[int](alice, `document.querySelectorAll('[data-wait]').length`); n != 0 {
		t.Errorf("%d elements still wait after the job ended", n)
	}
	// A job's own page.
	second := create()
	alice.open(console + "/jobs/" + second)
	follows("job page", `.facts .badge`)
	if got := consoleEval[string](alice, `document.querySelector('.facts .cost dd').textContent`); !strings.Contains(got, "accruing") {
		t.Errorf("the job page after the job ended: cost %q", got)
	}

	// The long-poll as such: a settled job is answered at once without
	// Csb-Wait; a wait that is not a duration is 400.
	c := &http.Client{Transport: &digest.Transport{Username: "alice", Password: consoleUsers["alice"], Base: http.DefaultTransport}, Timeout: 30 * time.Second}
	resp, err := c.Get(console + "/jobs/" + second + "?wait=30s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Csb-Job-Status") != "success" || resp.Header.Get("Csb-Wait") != "" {
		t.Errorf("?wait=30s on a settled job: HTTP %d, Csb-Job-Status %q, Csb-Wait %q", resp.StatusCode, resp.Header.Get("Csb-Job-Status"), resp.Header.Get("Csb-Wait"))
	}
	resp, err = c.Get(console + "/jobs/" + second + "?wait=soon")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("?wait=soon: HTTP %d, want 400", resp.StatusCode)
	}
}
