package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-csb/caddy-csb/broker/httpclient"
	"github.com/caddy-csb/caddy-csb/tests/harness"
)

// TestXcaddyRun (issue 2: "./xcaddy.sh run builds when the sources are
// newer than ./caddy, then runs Caddyfile.example"). The binary the live
// tests use is copied (CSB_CADDY_BIN tells xcaddy.sh which binary it
// manages) and dated after every source file, and the Go module proxy,
// module cache and xcaddy cache are made empty or unreachable, so a build,
// if one were attempted, would fail at once instead of taking minutes.
//
//   - up to date: xcaddy.sh says so, does not touch the binary, and runs
//     Caddyfile.example on free ports (its address variables): both
//     sandbox clouds reach the catalogue, the consumer interface refuses a
//     request without credentials with a Digest challenge and answers
//     alice's; SIGINT stops it cleanly (exit status 0), so xcaddy.sh ran
//     Caddy in its own process (exec).
//   - stale (the binary dated before a source file): xcaddy.sh says it
//     builds, and tries to (the build fails here within a second, and
//     Caddy is not run; a script that ran Caddy instead is killed after
//     30 s).
func TestXcaddyRun(t *testing.T) {
	for _, tool := range []string{"bash", "find", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: xcaddy.sh needs it", tool)
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "caddy")
	copyFile(t, harness.Binary(t), bin)
	newest := newestSource(t, root)
	fresh := time.Now()
	if !fresh.After(newest) {
		fresh = newest.Add(time.Second)
	}
	if err := os.Chtimes(bin, fresh, fresh); err != nil {
		t.Fatal(err)
	}

	admin := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	broker := fmt.Sprintf("localhost:%d", harness.FreePort(t))
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + work,
		"TMPDIR=" + work,
		"XDG_DATA_HOME=" + filepath.Join(work, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(work, "config"),
		"GOCACHE=" + filepath.Join(work, "gocache"),
		// A build attempt fails fast: nothing to fetch xcaddy from.
		"GOPROXY=off",
		"GOMODCACHE=" + filepath.Join(work, "gomodcache"),
		"GOFLAGS=-modcacherw",
		"CSB_CACHE_DIR=" + filepath.Join(work, "xcaddy-cache"),
		"CSB_CADDY_BIN=" + bin,
		"CSB_ADMIN=" + admin,
		"CSB_BROKER=" + broker,
		"CSB_CLOUD_A=" + fmt.Sprintf("localhost:%d", harness.FreePort(t)),
		"CSB_CLOUD_B=" + fmt.Sprintf("localhost:%d", harness.FreePort(t)),
	}

	t.Run("up to date", func(t *testing.T) {
		run := startXcaddyRun(t, root, env)
		run.waitLog(t, "xcaddy.sh: "+bin+" is up to date")
		waitAdminCatalogue(t, run, admin)
		if st, err := os.Stat(bin); err != nil || !st.ModTime().Equal(fresh) {
			t.Errorf("the binary was rebuilt or touched: %v, modified %v, was %v", err, st.ModTime(), fresh)
		}
		if strings.Contains(run.log.String(), "xcaddy.sh: building") {
			t.Errorf("xcaddy.sh built although the binary was up to date:\n%s", run.log.String())
		}

		pool := x509.NewCertPool()
		pem, err := os.ReadFile(filepath.Join(work, "data", "caddy", "pki", "authorities", "local", "root.crt"))
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("Caddy's local root: %v", err)
		}
		url := "https://" + broker + "/csb/consumer/no-such-job"
		anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := anon.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Digest ") {
			t.Errorf("without credentials: %d %q, want 401 with a Digest challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		alice, err := httpclient.New(httpclient.Config{
			TLS:      httpclient.TLS{RootCAs: pool},
			Auth:     httpclient.Auth{Scheme: httpclient.SchemeDigest, Username: "alice", Password: "wonderland"},
			Timeouts: httpclient.Timeouts{Overall: 10 * time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		resp, err = alice.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `status="408"`) || !strings.Contains(string(body), "no such job") {
			t.Errorf("alice's GET: %d\n%s", resp.StatusCode, body)
		}

		if code := run.stop(t); code != 0 {
			t.Errorf("after SIGINT, exit status %d\n%s", code, run.log.String())
		}
	})

	t.Run("stale", func(t *testing.T) {
		old := newest.Add(-time.Hour)
		if err := os.Chtimes(bin, old, old); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "xcaddy.sh"), "run")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("xcaddy.sh run with a stale binary: %v, want a failed build\n%s", err, out)
		}
		if !strings.Contains(string(out), "xcaddy.sh: building "+bin) {
			t.Errorf("xcaddy.sh run with a stale binary did not build:\n%s", out)
		}
		if strings.Contains(string(out), "serving initial configuration") {
			t.Errorf("xcaddy.sh ran the stale binary:\n%s", out)
		}
		if st, err := os.Stat(bin); err != nil || !st.ModTime().Equal(old) {
			t.Errorf("the binary changed although the build failed: %v", err)
		}
	})

	// busy: the example's broker address already answers (a first
	// instance, or anything else); Caddy would bind beside it with
	// SO_REUSEPORT, so xcaddy.sh refuses before building or running.
	t.Run("busy", func(t *testing.T) {
		ln, err := net.Listen("tcp", strings.Replace(broker, "localhost", "127.0.0.1", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "xcaddy.sh"), "run")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
			t.Fatalf("xcaddy.sh run beside a busy address: %v, want exit status 1\n%s", err, out)
		}
		if want := broker + " (CSB_BROKER) already answers"; !strings.Contains(string(out), want) {
			t.Errorf("xcaddy.sh run beside a busy address does not say %q:\n%s", want, out)
		}
		if strings.Contains(string(out), "xcaddy.sh: building") || strings.Contains(string(out), "serving initial configuration") {
			t.Errorf("xcaddy.sh went on to build or run:\n%s", out)
		}
	})
}

// TestXcaddyHelp: "./xcaddy.sh help" (and -h, --help) describes every
// command and exits 0; an unknown command says so and exits 2.
func TestXcaddyHelp(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"help", "-h", "--help"} {
		out, err := exec.Command("bash", filepath.Join(root, "xcaddy.sh"), arg).CombinedOutput()
		if err != nil {
			t.Errorf("xcaddy.sh %s: %v\n%s", arg, err, out)
		}
		for _, cmd := range []string{"build", "run", "test", "bench", "help"} {
			if !regexp.MustCompile(`(?m)^  ` + cmd + ` +\S`).Match(out) {
				t.Errorf("xcaddy.sh %s does not describe %q:\n%s", arg, cmd, out)
			}
		}
	}
	out, err := exec.Command("bash", filepath.Join(root, "xcaddy.sh"), "nonsense").CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 || !strings.Contains(string(out), `unknown command "nonsense"`) {
		t.Errorf("xcaddy.sh nonsense: %v, want exit status 2 and \"unknown command\"\n%s", err, out)
	}
}

// newestSource returns the modification time of the newest file xcaddy.sh
// compares the binary with: *.go, go.mod and go.sum outside .git and
// .cache.
func newestSource(t *testing.T, root string) time.Time {
	t.Helper()
	var newest time.Time
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == ".git" || d.Name() == ".cache") && filepath.Dir(path) == root {
				return filepath.SkipDir
			}
			return nil
		}
		if n := d.Name(); strings.HasSuffix(n, ".go") || n == "go.mod" || n == "go.sum" {
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.ModTime().After(newest) {
				newest = info.ModTime()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return newest
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// xcaddyRun is a running "./xcaddy.sh run".
type xcaddyRun struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startXcaddyRun(t *testing.T, root string, env []string) *xcaddyRun {
	t.Helper()
	r := &xcaddyRun{log: new(lockedBuffer), done: make(chan struct{})}
	r.cmd = exec.Command("bash", filepath.Join(root, "xcaddy.sh"), "run")
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.done
		}
		if t.Failed() {
			t.Logf("xcaddy.sh run output:\n%s", r.log.String())
		}
	})
	return r
}

// waitLog polls the output for substr until it appears, the process
// exits, or 60 s pass.
func (r *xcaddyRun) waitLog(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(r.log.String(), substr) {
		select {
		case <-r.done:
			t.Fatalf("xcaddy.sh run exited (%v) before printing %q", r.err, substr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("xcaddy.sh run did not print %q in 60s", substr)
		}
		time.Sleep(25 * time.Millisecond) // polling the output, with a deadline
	}
}

// stop sends SIGINT to the process xcaddy.sh became and returns its exit
// status.
func (r *xcaddyRun) stop(t *testing.T) int {
	t.Helper()
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("xcaddy.sh run did not stop within 30s of SIGINT")
	}
	var exitErr *exec.ExitError
	switch {
	case r.err == nil:
		return 0
	case errors.As(r.err, &exitErr):
		return exitErr.ExitCode()
	}
	t.Fatal(r.err)
	return -1
}

// waitAdminCatalogue waits until both clouds of the example are in the
// catalogue of the broker r runs.
func waitAdminCatalogue(t *testing.T, r *xcaddyRun, admin string) {
	t.Helper()
	if err := waitExampleCatalogue(admin, 60*time.Second, r.done); err != nil {
		select {
		case <-r.done:
			t.Fatalf("%v (xcaddy.sh run: %v)", err, r.err)
		default:
			t.Fatal(err)
		}
	}
}
