//go:build linux

package tests

import (
	"bytes"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/caddy-csb/caddy-csb/broker/csbmsg"
)

// secJobsPid finds the broker's process by the Caddyfile it runs.
func secJobsPid(t *testing.T, b *consumerBroker) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmd, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte(b.p.Caddyfile)) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	t.Fatal("the broker's process is not found")
	return 0
}

// secJobsFileSizeLimit sets the soft RLIMIT_FSIZE of process pid: with 0,
// every write to a regular file fails with EFBIG, as on a full volume,
// while unlinking still works; math.MaxUint64 lifts it.
func secJobsFileSizeLimit(t *testing.T, pid int, soft uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: soft, Max: math.MaxUint64}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_FSIZE), uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		t.Fatalf("prlimit: %v", e)
	}
}

// The storage fills up while a create is at its first provider: that
// attempt times out, and neither its outcome nor the next candidate's
// write-ahead record can be stored. The answer is a failure without a job
// id, and then nothing is left in the storage and nothing is provisioned,
// also once the storage works again and the reaper has run (before, the
// answer was 408 while the job's record stayed, and the reaper
// provisioned it later).
func TestSecJobsFullStorageCreate(t *testing.T) {
	b := secJobsStart(t, brokerOptions{jobs: "\t\t\tattempt_timeout 1s\n\t\t\treap_interval 5s"}, nil)
	pid := secJobsPid(t, b)
	release := b.fixtures["p1"].Hold(http.MethodPost, "/")
	defer release()
	answers := make(chan *answer, 1)
	go func() { answers <- b.create("alice", vmRequest(1, 1), nil) }()
	deadline := time.Now().Add(30 * time.Second)
	for secJobsWrites(b.fixtures["p1"]) == 0 {
		select {
		case a := <-answers:
			t.Fatalf("the create was answered before it reached p1: HTTP %d\n%s\n%s", a.HTTP, a.Body, b.p.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the create never reached p1\n%s", b.p.Log())
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
	secJobsFileSizeLimit(t, pid, 0)
	healed := false
	heal := func() {
		if !healed {
			secJobsFileSizeLimit(t, pid, math.MaxUint64)
			healed = true
		}
	}
	defer heal()
	a := <-answers
	jobs, index := secJobsRecords(t, b)
	heal()
	release()
	if a.HTTP != 200 || a.Resp == nil {
		t.Fatalf("HTTP %d\n%s", a.HTTP, a.Body)
	}
	if a.status() == csbmsg.StatusOK {
		t.Fatalf("a create whose storage is full answered 200: %s", a.Body)
	}
	if len(jobs)+len(index) != 0 {
		t.Fatalf("a create answered %d %q left job records %v and index keys %v, which the reaper would provision", a.status(), a.Resp.Reason, jobs, index)
	}
	if a.status() != csbmsg.StatusUnableToFindResource || a.jobID() != "" || !strings.Contains(a.Resp.Reason, "could not record") {
		t.Fatalf("answer %d %q (job %q)", a.status(), a.Resp.Reason, a.jobID())
	}

	// Storage works again: a probe job with a 1 s lease is reclaimed by
	// the reaper, so full passes have run since.
	probe := b.create("alice", vmRequest(1, 1), map[string]string{"Csb-Lease": "1"})
	mustStatus(t, probe, csbmsg.StatusOK)
	b.waitJob("alice", probe.jobID(), "success")
	b.waitJob("alice", probe.jobID(), "expired")
	if inv := b.inventory(); inv["p1"] != 0 || inv["p2"] != 0 || secJobsWrites(b.fixtures["p2"]) != 0 {
		t.Fatalf("after the reaper ran, the providers hold %v (p2 got %d write requests)\n%s", inv, secJobsWrites(b.fixtures["p2"]), b.p.Log())
	}
	if jobs, _ := secJobsRecords(t, b); len(jobs) != 1 || jobs[0] != probe.jobID() {
		t.Fatalf("job records %v, want only the probe %s", jobs, probe.jobID())
	}
}
