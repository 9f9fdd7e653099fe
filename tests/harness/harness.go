// Package harness starts real Caddy processes for live tests: a Caddy built
// with this module (by ./xcaddy.sh, named in CSB_CADDY_BIN, or else built
// here with "go build" from ./tests/cmd/caddy), a Caddyfile written to a
// temporary directory, isolated storage, free loopback ports, and the
// process's log kept for the test's failure report.
package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Binary returns the path of a Caddy binary with this module: CSB_CADDY_BIN
// if set, otherwise one built once per test process with "go build".
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("CSB_CADDY_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("CSB_CADDY_BIN: %v", err)
		}
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "csb-caddy-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "caddy")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", builtBin, "./tests/cmd/caddy")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// RemoveBinary deletes the binary Binary built, if it built one. A test
// package's TestMain calls it after the tests have run.
func RemoveBinary() {
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := pickPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The ports FreePort hands out. It chooses at random from below the
// kernel's ephemeral range (ip_local_port_range), where neither the
// outgoing connections of the peers the tests start (the OpenStack stack
// makes many) nor another listener's port 0 can take a port between the
// check and Caddy's bind, and it never hands out a port twice in one test
// binary (the kernel may give port 0's listener the same port again, and
// Caddy binds with SO_REUSEPORT, so two Caddys would share it silently).
var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

func pickPort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	lo, hi := portBand()
	for i := 0; hi > lo && i < 1000; i++ {
		p := lo + rand.IntN(hi-lo)
		if portsGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[p] = true
		return p, nil
	}
	for i := 0; i < 100; i++ { // no band: the kernel's choice
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsGiven[p] {
			portsGiven[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no free port")
}

// portBand returns [lo, hi): from 20000 up to the start of the kernel's
// ephemeral range, or an empty band when that range cannot be read or
// leaves fewer than 1,000 ports. (tests/swiftpeer chooses its peers'
// ports from 10000 up, so the two seldom meet.)
func portBand() (lo, hi int) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0
	}
	first, err := strconv.Atoi(f[0])
	if err != nil || first-20000 < 1000 {
		return 0, 0
	}
	return 20000, first
}

// Process is a running Caddy.
type Process struct {
	t         testing.TB
	bin       string
	Dir       string // the process's own temporary directory
	Caddyfile string // path of the Caddyfile it runs
	AdminAddr string // host:port of the admin endpoint
	DataDir   string // XDG_DATA_HOME: Caddy's default file-system storage lives in DataDir/caddy
	Env       []string

	workDir string // Options.WorkDir

	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error
}

// Options adjust Start.
type Options struct {
	// DataDir, when set, is used as XDG_DATA_HOME instead of a fresh one,
	// so several processes (a cluster) or a restart share the storage.
	DataDir string
	// Env adds environment variables to the process.
	Env []string
	// ReadyURL, when set, is polled (GET, any status) after the admin
	// endpoint answers, until it connects.
	ReadyURL string
	// AdminEnv, when set, names the environment variable that the
	// Caddyfile's admin option reads instead of CSB_TEST_ADMIN, for a
	// Caddyfile that is also meant to run outside tests (Caddyfile.example
	// says admin {$CSB_ADMIN:localhost:2019}). The harness sets it to the
	// admin address it chose, as it does CSB_TEST_ADMIN.
	AdminEnv string
	// WorkDir, when set, is the process's working directory instead of
	// its temporary directory (Dir), for a Caddyfile with relative paths
	// (Caddyfile.example reads examples/users.htdigest from the
	// repository's root).
	WorkDir string
}

// Start writes caddyfile and runs Caddy with it. The Caddyfile must set
// "admin {$CSB_TEST_ADMIN}" in its global options, so that every process
// has its own admin port. The process is stopped when the test ends.
func Start(t testing.TB, caddyfile string, opts ...Options) *Process {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	adminEnv := "CSB_TEST_ADMIN"
	if o.AdminEnv != "" {
		adminEnv = o.AdminEnv
	}
	if !strings.Contains(caddyfile, "{$"+adminEnv+"}") && !strings.Contains(caddyfile, "{$"+adminEnv+":") {
		t.Fatalf("harness: the Caddyfile must set admin {$%s} in its global options", adminEnv)
	}
	dir := t.TempDir()
	p := &Process{
		t:         t,
		bin:       Binary(t),
		Dir:       dir,
		Caddyfile: filepath.Join(dir, "Caddyfile"),
		AdminAddr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		DataDir:   o.DataDir,
	}
	if p.DataDir == "" {
		p.DataDir = filepath.Join(dir, "data")
	}
	if err := os.WriteFile(p.Caddyfile, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Env = append([]string{
		"HOME=" + dir,
		"XDG_DATA_HOME=" + p.DataDir,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"CSB_TEST_ADMIN=" + p.AdminAddr,
		adminEnv + "=" + p.AdminAddr,
		"PATH=" + os.Getenv("PATH"),
	}, o.Env...)
	p.workDir = o.WorkDir
	p.start()
	t.Cleanup(p.Stop)
	p.waitReady(o.ReadyURL)
	return p
}

func (p *Process) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log == nil {
		p.log = new(syncBuffer)
	}
	cmd := exec.Command(p.bin, "run", "--config", p.Caddyfile, "--adapter", "caddyfile")
	cmd.Dir = p.Dir
	if p.workDir != "" {
		cmd.Dir = p.workDir
	}
	cmd.Env = p.Env
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	go func(done chan struct{}) {
		p.err = cmd.Wait()
		close(done)
	}(p.done)
}

// waitReady polls the admin endpoint until it answers, the process exits,
// or 60 s pass.
func (p *Process) waitReady(extra string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range []string{"http://" + p.AdminAddr + "/config/", extra} {
		if u == "" {
			continue
		}
		for {
			select {
			case <-p.done:
				p.t.Fatalf("caddy exited before it was ready: %v\n%s", p.err, p.Log())
			default:
			}
			resp, err := client.Get(u)
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				p.t.Fatalf("caddy not ready at %s after 60s: %v\n%s", u, err, p.Log())
			}
			time.Sleep(25 * time.Millisecond) // polling for readiness, not waiting for an outcome
		}
	}
}

// Reload replaces the running configuration with caddyfile through
// "caddy reload", which waits until the new configuration is running.
func (p *Process) Reload(caddyfile string) error {
	if err := os.WriteFile(p.Caddyfile, []byte(caddyfile), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(p.bin, "reload", "--config", p.Caddyfile, "--adapter", "caddyfile", "--address", p.AdminAddr)
	cmd.Env = p.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("caddy reload: %v\n%s", err, out)
	}
	// The reload shuts the old servers down, closing their idle
	// keep-alive connections. A test's next POST over one of them (from
	// the default transport's pool) fails with "connection reset by
	// peer": net/http does not retry a request that is not idempotent.
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// Restart stops the process gracefully and starts it again with the same
// Caddyfile and storage.
func (p *Process) Restart() {
	p.t.Helper()
	p.Stop()
	p.start()
	p.waitReady("")
}

// Stop stops the process gracefully (SIGINT, then SIGKILL after 20 s).
func (p *Process) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	if p.t.Failed() {
		p.t.Logf("caddy log (%s):\n%s", p.Caddyfile, p.Log())
	}
}

// Kill kills the process at once (SIGKILL), as a crash would.
func (p *Process) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Log returns everything the process has written so far.
func (p *Process) Log() string { return p.log.String() }

// WaitLog waits until the log contains substr, or fails the test after
// timeout. Use it to synchronise on an event Caddy logs.
func (p *Process) WaitLog(substr string, timeout time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.log.waitFor(ctx, substr); err != nil {
		p.t.Fatalf("log never contained %q: %v\n%s", substr, err, p.Log())
	}
}

// RootCAs returns a pool with the root certificate of Caddy's internal CA
// (tls internal), read from the process's storage.
func (p *Process) RootCAs() *x509.CertPool {
	p.t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(p.DataDir, "caddy", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		p.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		p.t.Fatal("no certificate in root.crt")
	}
	return pool
}

// HTTPSClient returns a client that trusts Caddy's internal CA and dials
// every host name to 127.0.0.1.
func (p *Process) HTTPSClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: p.RootCAs()},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			},
		},
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use that can wake
// waiters when it grows.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	wake chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) waitFor(ctx context.Context, substr string) error {
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), substr) {
			b.mu.Unlock()
			return nil
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return errors.New("timed out")
		}
	}
}
