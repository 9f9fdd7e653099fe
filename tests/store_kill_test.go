package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// storeLinkBroker is a broker whose SaaS jobs run on a Link provider (no
// cloud work), for anonymous consumers, sharing dataDir.
func storeLinkBroker(t *testing.T, port int, dataDir string) *harness.Process {
	t.Helper()
	return harness.Start(t, fmt.Sprintf(`{
	admin {$CSB_TEST_ADMIN}
	csb {
		provider apps {
			adapter link
			service app {
				kind saas
				link app http://127.0.0.1:9/app/
			}
		}
		jobs {
			anonymous allow
			max_jobs_per_owner unlimited
			reap_interval 100ms
		}
	}
}
http://127.0.0.1:%d {
	csb
}
`, port), harness.Options{DataDir: dataDir})
}

// storeCreateLoop creates SaaS jobs over conns connections until stop is
// closed (or the broker dies), and returns the ids of the creates
// answered 200 with the job succeeded: the acknowledged jobs.
func storeCreateLoop(t *testing.T, url string, conns int, stop chan struct{}, acked *sync.Map, count *int64, mu *sync.Mutex) *sync.WaitGroup {
	t.Helper()
	body := consumerBody(t, &csbmsg.ServiceRequest{SaaS: &csbmsg.SaaS{Link: &csbmsg.Link{Rel: "app"}}})
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(url, csbmsg.ConsumerMediaType, bytes.NewReader(body))
				if err != nil {
					return // the broker was killed
				}
				data, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					continue
				}
				msg, err := csbmsg.ParseConsumer(data, csbmsg.Options{})
				if err != nil || msg.Response == nil || msg.Response.JobInfo == nil || msg.Response.JobInfo.JobStatus != "success" {
					continue
				}
				acked.Store(msg.Response.JobInfo.JobID, true)
				mu.Lock()
				*count++
				mu.Unlock()
			}
		}()
	}
	return &wg
}

// TestStoreKillLosesNoAcknowledgedJob kills (SIGKILL) a broker while 16
// connections create jobs as fast as it answers (so its creates share
// group-committed job log files), then starts a new broker on the same
// storage: every create answered as succeeded before the kill is there,
// succeeded, and the jobs the kill caught mid-create are replayed from
// the log and settled by the reaper, leaving no log file behind.
func TestStoreKillLosesNoAcknowledgedJob(t *testing.T) {
	data := t.TempDir()
	port := harness.FreePort(t)
	p := storeLinkBroker(t, port, data)
	url := fmt.Sprintf("http://127.0.0.1:%d/csb/consumer", port)
	var (
		acked sync.Map
		mu    sync.Mutex
		n     int64
	)
	stop := make(chan struct{})
	wg := storeCreateLoop(t, url, 16, stop, &acked, &n, &mu)
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := n
		mu.Unlock()
		if got >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d creates acknowledged in 60 s\n%s", got, p.Log())
		}
		time.Sleep(10 * time.Millisecond) // polling a count with a deadline
	}
	// Kill while creates are in flight; the ids acknowledged from now on
	// cannot be told from those answered before the kill, so only the
	// ones counted before it are checked.
	var before []string
	acked.Range(func(k, _ any) bool { before = append(before, k.(string)); return true })
	p.Kill()
	close(stop)
	wg.Wait()
	acked.Range(func(k, _ any) bool { before = append(before, k.(string)); return true })

	q := storeLinkBroker(t, port, data)
	b := &consumerBroker{t: t, p: q, url: url}
	seen := map[string]bool{}
	for _, id := range before {
		if seen[id] {
			continue
		}
		seen[id] = true
		a := b.do("", http.MethodGet, "/"+id, nil, nil)
		if a.jobStatus() != "success" {
			t.Fatalf("job %s was acknowledged before the kill; after it: HTTP %d %s", id, a.HTTP, a.Body)
		}
	}
	// The reaper replays the dead instance's log files and settles what
	// they hold: none is left.
	wal := storeWALDir(t, data)
	deadline = time.Now().Add(60 * time.Second)
	for {
		entries, err := os.ReadDir(wal)
		if (err == nil || os.IsNotExist(err)) && len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var left []string
			for _, e := range entries {
				data, _ := os.ReadFile(filepath.Join(wal, e.Name()))
				left = append(left, fmt.Sprintf("%s: %.600s", e.Name(), data))
			}
			t.Fatalf("job log files left 60 s after the restart:\n%s\n%s", strings.Join(left, "\n"), q.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	t.Logf("%d jobs acknowledged before the kill, all found", len(seen))
}

// storeWALDir is the directory of the job log files in a broker's
// file-system storage under dataDir (XDG_DATA_HOME).
func storeWALDir(t *testing.T, dataDir string) string {
	t.Helper()
	var dir string
	_ = filepath.WalkDir(dataDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasSuffix(path, filepath.Join("csb", "jobs")) {
			dir = filepath.Join(path, "wal")
		}
		return nil
	})
	if dir == "" {
		t.Fatalf("no csb/jobs directory under %s", dataDir)
	}
	return dir
}
