package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/digest"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestPolishCLIWaitLongPolls: "caddy csb request --wait" follows the job
// with the Consumer interface's long-poll (GET <job>?wait=...), not by
// polling: while the CLI follows a job that takes 4 s to build, the
// broker counts a long-poll waiting (long_poll_waiters in the admin API's
// GET /csb/webhooks; nothing else polls), every GET of the job the CLI
// sends carries wait=, and it sends at most two of them (polling with the
// CLI's backoff, 250 ms growing by half, would take six or more).
func TestPolishCLIWaitLongPolls(t *testing.T) {
	port, cloud := harness.FreePort(t), harness.FreePort(t)
	var users strings.Builder
	for _, alg := range digest.BaseAlgorithms {
		fmt.Fprintf(&users, "\t\tuser alice %s %s\n", alg, digest.HA1(alg, "alice", "csb-consumer", cliUsers["alice"]))
	}
	p := harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider slow {
			adapter cimi http://127.0.0.1:%[2]d/cimi/
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
	log
	digest_auth /csb/consumer* csb-consumer {
%[3]s	}
	csb
}

http://127.0.0.1:%[2]d {
	csb_sandbox slow {
		capacity 8 16 100
		build_time 4s
	}
}
`, port, cloud, users.String()))

	cmd := exec.Command(harness.Binary(t), "csb", "request", "iaas", "--cores", "1", "--memory", "1", "--wait", "--json")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), fmt.Sprintf("CSB_BROKER=http://127.0.0.1:%d", port),
		"CSB_USER=alice", "CSB_PASSWORD=" + cliUsers["alice"]}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// While the CLI follows the job, the broker holds its long-poll.
	sawWaiter := false
	for deadline := time.Now().Add(30 * time.Second); !sawWaiter && time.Now().Before(deadline); {
		var wh struct {
			LongPollWaiters int64 `json:"long_poll_waiters"`
		}
		adminGet(t, p.AdminAddr, "/csb/webhooks", &wh)
		if wh.LongPollWaiters > 0 {
			sawWaiter = true
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the CLI ended (%v) and the broker never held a long-poll\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !sawWaiter {
		t.Fatal("no long-poll waiting after 30s")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("request --wait: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("request --wait still running after 60s")
	}
	var job struct {
		JobID     string `json:"job_id"`
		JobStatus string `json:"job_status"`
	}
	if err := json.Unmarshal(out.Bytes(), &job); err != nil || job.JobStatus != "success" {
		t.Fatalf("request --wait: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}

	// The access log: the CLI's GETs of the job, each a long-poll.
	gets := 0
	for _, line := range strings.Split(p.Log(), "\n") {
		var entry struct {
			Logger  string `json:"logger"`
			Status  int    `json:"status"`
			Request struct {
				Method string `json:"method"`
				URI    string `json:"uri"`
			} `json:"request"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || !strings.HasPrefix(entry.Logger, "http.log.access") ||
			entry.Request.Method != http.MethodGet || !strings.HasPrefix(entry.Request.URI, "/csb/consumer/"+job.JobID) || entry.Status != http.StatusOK {
			continue
		}
		gets++
		if !strings.Contains(entry.Request.URI, "?wait=") {
			t.Errorf("a GET of the job without wait=: %s", entry.Request.URI)
		}
	}
	if gets == 0 || gets > 2 {
		t.Fatalf("the CLI sent %d GETs of job %s, want 1 or 2 long-polls\nstderr:\n%s", gets, job.JobID, errOut.String())
	}
}
