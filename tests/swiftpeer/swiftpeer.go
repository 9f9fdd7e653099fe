// Package swiftpeer starts a real one-node OpenStack Swift on loopback for
// tests: an account, a container and an object server, a proxy with the
// pipeline "catch_errors cache s3api tempauth proxy-server", and a
// memcached of its own for TempAuth's tokens. Everything listens on free
// 127.0.0.1 ports; configuration, rings and data live in a temporary
// directory.
//
// Swift starts in a few seconds, so a test binary shares one instance:
//
//	func TestMain(m *testing.M) { os.Exit(swiftpeer.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		sw := swiftpeer.Shared(t)
//		...
//	}
//
// The Debian packages swift, swift-proxy, swift-account, swift-container,
// swift-object and memcached provide the servers (python3-swiftclient the
// swift CLI some tests use). When they are missing, Shared fails the test;
// it skips only when CSB_SKIP_SWIFT is set to a non-empty value.
package swiftpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TempAuth users every instance has. Both have the .admin role on their
// own account, so they may create containers; neither may touch the
// other's account.
const (
	User     = "test:tester" // account AUTH_test
	Key      = "testing"
	Account  = "AUTH_test"
	User2    = "test2:tester2" // account AUTH_test2
	Key2     = "testing2"
	Account2 = "AUTH_test2"
	// Region is the S3 region the s3api middleware answers for.
	Region = "us-east-1"
)

// Swift is a running one-node Swift.
type Swift struct {
	// ProxyURL is the proxy's base URL, http://127.0.0.1:<port>.
	ProxyURL string
	// AuthURL is the TempAuth v1.0 endpoint, ProxyURL + "/auth/v1.0".
	AuthURL string
	// StorageURL is the storage URL of User's account,
	// ProxyURL + "/v1/" + Account.
	StorageURL string
	// Dir is the temporary directory holding configuration, rings, data
	// and logs.
	Dir string

	procs []*proc
	// memcachePort and runAs are kept for further proxies
	// (StartKeystoneProxy).
	memcachePort int
	runAs        string
}

type proc struct {
	name     string
	cmd      *exec.Cmd
	logPath  string
	pidfile  string // the server's pid, written by the watchdog
	done     chan struct{}
	err      error
	lifeline *os.File // write end of the watchdog's stdin
}

// Skip is the environment variable that, when set to a non-empty value,
// makes Shared skip the test instead of starting Swift.
const Skip = "CSB_SKIP_SWIFT"

var (
	sharedMu   sync.Mutex
	shared     *Swift
	sharedErr  error
	sharedOnce bool
)

// Shared returns the test binary's shared Swift, starting it on first use.
// It fails the test when Swift cannot start (including when its packages
// are missing) and skips it when CSB_SKIP_SWIFT is set. The instance is
// stopped by Main when all tests have run.
func Shared(t testing.TB) *Swift {
	t.Helper()
	if os.Getenv(Skip) != "" {
		t.Skipf("%s is set: not starting OpenStack Swift", Skip)
	}
	sw, err := Acquire(context.Background())
	if err != nil {
		t.Fatalf("swiftpeer: %v", err)
	}
	return sw
}

// Acquire is Shared for callers without a test: it returns the test
// binary's shared Swift, starting it on first use, or the error of that
// start. Another peer that builds on Swift (tests/ospeer) uses it.
func Acquire(ctx context.Context) (*Swift, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if !sharedOnce {
		sharedOnce = true
		shared, sharedErr = Start(ctx)
	}
	return shared, sharedErr
}

// Main runs the tests and then stops the shared Swift, if one was
// started. Call it from TestMain: os.Exit(swiftpeer.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "swiftpeer: logs of the shared Swift in %s:\n%s\n", shared.Dir, shared.Logs())
		}
		shared.Stop()
		shared = nil
	}
	return code
}

// Binaries the instance needs. They are looked up in PATH.
var binaries = []string{
	"swift-ring-builder", "swift-account-server", "swift-container-server",
	"swift-object-server", "swift-proxy-server", "memcached",
}

// Start starts a new Swift in a fresh temporary directory and waits until
// it serves authenticated object requests. The caller must Stop it. Most
// tests use Shared instead.
func Start(ctx context.Context) (_ *Swift, err error) {
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			return nil, fmt.Errorf("%s not found (install the Debian packages swift swift-proxy swift-account swift-container swift-object memcached, or set %s=1 to skip): %w", b, Skip, err)
		}
	}
	dir, err := os.MkdirTemp("", "swiftpeer-")
	if err != nil {
		return nil, err
	}
	s := &Swift{Dir: dir}
	defer func() {
		if err != nil {
			if logs := s.Logs(); logs != "" {
				err = fmt.Errorf("%w\n%s", err, logs)
			}
			s.Stop()
		}
	}()
	// The servers drop privileges to the configured user after binding;
	// as root that is "swift", who must be able to read the configuration
	// and rings and write the data directory.
	runAs, uid, gid, err := serviceUser()
	if err != nil {
		return nil, err
	}
	// The ports are chosen, and the servers bound to them, under a lock
	// that every test process starting a Swift takes (see lockPorts).
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Minute) // another Swift's start holds it for seconds
	unlock, err := lockPorts(lctx)
	lcancel()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	memcachePort, accountPort, containerPort, objectPort, proxyPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	s.memcachePort, s.runAs = memcachePort, runAs
	s.ProxyURL = fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	s.AuthURL = s.ProxyURL + "/auth/v1.0"
	s.StorageURL = s.ProxyURL + "/v1/" + Account

	confDir := filepath.Join(dir, "etc")
	dataDir := filepath.Join(dir, "srv")
	for _, d := range []string{confDir, filepath.Join(dataDir, "sdb1"), filepath.Join(dir, "run"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"swift.conf":            swiftConf,
		"account-server.conf":   fmt.Sprintf(backendConf, accountPort, dataDir, confDir, runAs, "swiftpeer-account", "account"),
		"container-server.conf": fmt.Sprintf(backendConf, containerPort, dataDir, confDir, runAs, "swiftpeer-container", "container"),
		"object-server.conf":    fmt.Sprintf(backendConf, objectPort, dataDir, confDir, runAs, "swiftpeer-object", "object"),
		"proxy-server.conf": fmt.Sprintf(proxyConf, proxyPort, confDir, runAs, memcachePort,
			strings.ReplaceAll(User, ":", "_"), Key, strings.ReplaceAll(User2, ":", "_"), Key2),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(confDir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	for _, ring := range []struct {
		name string
		port int
	}{{"account", accountPort}, {"container", containerPort}, {"object", objectPort}} {
		builder := filepath.Join(confDir, ring.name+".builder")
		for _, args := range [][]string{
			{builder, "create", "10", "1", "1"},
			{builder, "add", fmt.Sprintf("r1z1-127.0.0.1:%d/sdb1", ring.port), "1"},
			{builder, "rebalance"},
		} {
			out, err := exec.CommandContext(ctx, "swift-ring-builder", args...).CombinedOutput()
			// rebalance exits 1 with a warning on a one-device ring that it
			// could not balance perfectly; the ring file is written anyway.
			if err != nil && !(args[1] == "rebalance" && exitCode(err) == 1) {
				return nil, fmt.Errorf("swift-ring-builder %s: %v\n%s", strings.Join(args[1:], " "), err, out)
			}
		}
		if _, err := os.Stat(filepath.Join(confDir, ring.name+".ring.gz")); err != nil {
			return nil, fmt.Errorf("ring %s was not written: %w", ring.name, err)
		}
	}
	if uid >= 0 {
		if err := chownTree(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}

	memcachedArgs := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(memcachePort), "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		memcachedArgs = append(memcachedArgs, "-u", "nobody")
	}
	if err := s.spawn("memcached", "memcached", memcachedArgs...); err != nil {
		return nil, err
	}
	for _, name := range []string{"account", "container", "object", "proxy"} {
		bin := "swift-" + name + "-server"
		// -v logs to the console as well as syslog, so the logs end up
		// in the failure report.
		if err := s.spawn(name, bin, filepath.Join(confDir, name+"-server.conf"), "-v"); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := s.waitReady(ctx, memcachePort, accountPort, containerPort, objectPort); err != nil {
		return nil, err
	}
	return s, nil
}

// watchdog runs a server, writes its pid to the file named by $1, and
// stops the server (SIGTERM) when its standard input reaches end of file:
// when Stop closes the pipe, or when the test process that holds the
// pipe's write end dies, even by SIGKILL. (Pdeathsig cannot do this: the
// servers change their user, which clears it; and the Swift servers call
// setsid, so they leave the watchdog's process group.)
const watchdog = `pidfile=$1; shift
exec 3<&0
"$@" </dev/null &
c=$!
echo "$c" >"$pidfile"
{ read _ <&3; kill -TERM "$c" 2>/dev/null; } &
w=$!
wait "$c"; s=$?
kill "$w" 2>/dev/null
exit $s`

// spawn starts one server under the watchdog. Its output goes to a file
// (a pipe would keep Wait waiting as long as any descendant holds it).
func (s *Swift) spawn(name, bin string, args ...string) error {
	logf, err := os.Create(filepath.Join(s.Dir, "log", name+".log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	pidfile := filepath.Join(s.Dir, "run", name+".pid")
	cmd := exec.Command("sh", append([]string{"-c", watchdog, "sh", pidfile, bin}, args...)...)
	p := &proc{name: name, cmd: cmd, logPath: logf.Name(), pidfile: pidfile, done: make(chan struct{}), lifeline: pw}
	cmd.Dir = s.Dir
	cmd.Stdin = pr
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return nil
}

// waitReady polls until every server accepts connections and the proxy
// serves a full authenticated round trip (TempAuth through memcached, the
// account, a container and an object), so the first test does not see a
// half-started Swift.
func (s *Swift) waitReady(ctx context.Context, ports ...int) error {
	poll := func(what string, ok func() error) error {
		var last error
		for {
			for _, p := range s.procs {
				select {
				case <-p.done:
					return fmt.Errorf("%s exited while waiting for %s: %v", p.name, what, p.err)
				default:
				}
			}
			if last = ok(); last == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("swift not ready (%s): %v", what, last)
			case <-time.After(50 * time.Millisecond): // polling for readiness, not waiting for an outcome
			}
		}
	}
	for _, port := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := poll(addr, func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			return err
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var token string
	if err := poll("tempauth", func() error {
		var err error
		token, _, err = s.auth(ctx, client, User, Key)
		return err
	}); err != nil {
		return err
	}
	probe := s.StorageURL + "/swiftpeer-ready"
	steps := []struct{ method, url string }{
		{http.MethodPut, probe},
		{http.MethodPut, probe + "/probe"},
		{http.MethodGet, probe + "/probe"},
		{http.MethodDelete, probe + "/probe"},
		{http.MethodDelete, probe},
	}
	for _, st := range steps {
		if err := poll(st.method+" "+st.url, func() error {
			req, _ := http.NewRequestWithContext(ctx, st.method, st.url, strings.NewReader(""))
			req.Header.Set("X-Auth-Token", token)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("%s %s: %s", st.method, st.url, resp.Status)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// Auth authenticates user with key against TempAuth and returns the token
// and storage URL.
func (s *Swift) Auth(ctx context.Context, user, key string) (token, storageURL string, err error) {
	return s.auth(ctx, http.DefaultClient, user, key)
}

func (s *Swift) auth(ctx context.Context, client *http.Client, user, key string) (string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.AuthURL, nil)
	if err != nil {
		return "", "", err
	}
	req.Header.Set("X-Storage-User", user)
	req.Header.Set("X-Storage-Pass", key)
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("tempauth: %s", resp.Status)
	}
	token, url := resp.Header.Get("X-Auth-Token"), resp.Header.Get("X-Storage-Url")
	if token == "" || url == "" {
		return "", "", errors.New("tempauth: no token or storage url in the answer")
	}
	return token, url, nil
}

// Logs returns everything the servers have written to their consoles.
func (s *Swift) Logs() string {
	var b strings.Builder
	for _, p := range s.procs {
		out, _ := os.ReadFile(p.logPath)
		fmt.Fprintf(&b, "--- %s\n%s", p.name, out)
	}
	return b.String()
}

// Stop stops every server and removes the temporary directory: closing a
// server's lifeline makes its watchdog send SIGTERM and wait; a server
// still running after 10 s is killed.
func (s *Swift) Stop() {
	for _, p := range s.procs {
		p.lifeline.Close()
	}
	for _, p := range s.procs {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			if b, err := os.ReadFile(p.pidfile); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	s.procs = nil
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

// serviceUser returns the user the servers run as and, when the tests run
// as root, the uid and gid to chown the tree to (-1 otherwise).
func serviceUser() (name string, uid, gid int, err error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return "", 0, 0, err
		}
		return u.Username, -1, -1, nil
	}
	u, err := user.Lookup("swift")
	if err != nil {
		return "", 0, 0, fmt.Errorf("user swift (created by the Debian swift package): %w", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return "swift", uid, gid, nil
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// Port choice. Swift's servers listen with SO_REUSEPORT (eventlet's
// default), so two Swifts that chose the same port would both bind it and
// the kernel would share its connections between them: one instance's
// proxy would reach the other's account server. Test binaries run in
// parallel, and several start a Swift, so:
//
//   - lockPorts serialises, across processes, the span from choosing the
//     ports to the servers listening on them; a port in use then fails
//     freePorts' own bind (without SO_REUSEPORT), so the next Swift
//     chooses others;
//   - freePorts chooses below the kernel's ephemeral range, where the
//     ports other tests get from listening on port 0 never fall, so none
//     of them takes a port between its choice and Swift's bind.

// lockPorts takes an exclusive lock on a file in the temporary directory
// shared by the test processes, waiting for it at most until ctx ends.
// The lock is released by the returned function, or by the process's
// end.
func lockPorts(ctx context.Context) (func(), error) {
	name := filepath.Join(os.TempDir(), "csb-swiftpeer-ports.lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		f, err = os.Open(name) // another user's file: flock needs no write access
	}
	if err != nil {
		return nil, fmt.Errorf("swiftpeer port lock: %w", err)
	}
	locked := make(chan error, 1)
	go func() { locked <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("swiftpeer port lock: %w", err)
		}
		return func() { f.Close() }, nil // closing the file releases the lock
	case <-ctx.Done():
		go func() { // the lock may still come: release it then
			if <-locked == nil {
				f.Close()
			}
		}()
		return nil, fmt.Errorf("swiftpeer port lock: %w", ctx.Err())
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago,
// below the ephemeral range when there is room for that (see above).
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	lo, hi := portBand()
	for start, i := rand.IntN(max(hi-lo, 1)), 0; len(ports) < n && i < hi-lo; i++ {
		p := lo + (start+i)%(hi-lo)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			ls = append(ls, l)
			ports = append(ports, p)
		}
	}
	for len(ports) < n { // no band, or a full one: any free port
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portBand returns the ports [lo, hi) freePorts chooses from: from 10000
// up to the start of the kernel's ephemeral range, or an empty band when
// that range cannot be read or starts too low to leave 1,000 ports.
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
	if err != nil || first-10000 < 1000 {
		return 0, 0
	}
	return 10000, first
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// swift.conf: a fresh hash prefix and suffix and one storage policy.
const swiftConf = `[swift-hash]
swift_hash_path_suffix = swiftpeer-suffix
swift_hash_path_prefix = swiftpeer-prefix

[storage-policy:0]
name = gold
default = yes
`

// backendConf is an account, container or object server configuration:
// port, devices, swift_dir, user, log name and server kind.
// workers = 0 serves in the started process itself (no fork), so stopping
// it stops the server.
const backendConf = `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = %[1]d
devices = %[2]s
mount_check = false
swift_dir = %[3]s
user = %[4]s
workers = 0
log_name = %[5]s
disable_fallocate = true

[pipeline:main]
pipeline = %[6]s-server

[app:%[6]s-server]
use = egg:swift#%[6]s
`

// proxyConf: port, swift_dir, user, memcached port, then two TempAuth
// users with their keys.
const proxyConf = `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = %d
swift_dir = %s
user = %s
workers = 0
log_name = swiftpeer-proxy

[pipeline:main]
pipeline = catch_errors cache s3api tempauth proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:%d

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_%s = %s .admin
user_%s = %s .admin
`

// CLI runs python3-swiftclient's swift command against this Swift as User
// (TempAuth v1.0) and returns its standard output. Standard error is
// included in the error when the command fails.
func (s *Swift) CLI(ctx context.Context, args ...string) (string, error) {
	return RunCLI(ctx, append([]string{"-A", s.AuthURL, "-U", User, "-K", Key}, args...)...)
}

// RunCLI runs python3-swiftclient's swift command with args, without
// adding any authentication options, and returns its standard output.
// Tests use it to point the client at other endpoints (a broker's job
// route, with --os-storage-url and --os-auth-token).
func RunCLI(ctx context.Context, args ...string) (string, error) {
	if _, err := exec.LookPath("swift"); err != nil {
		return "", fmt.Errorf("swift CLI not found (install the Debian package python3-swiftclient): %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "swift", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The CLI reads OS_* and ST_* variables; the test's own environment
	// must not change what it does.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") && !strings.HasPrefix(kv, "ST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("swift %s: %v\n%s", strings.Join(redactArgs(args), " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// redactArgs hides the values of credential options, and passwords in
// URLs, in error messages.
func redactArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if u, err := url.Parse(a); err == nil && u.User != nil {
			u.User = url.User(u.User.Username())
			out[i] = u.String()
		}
	}
	for i := 0; i+1 < len(out); i++ {
		switch out[i] {
		case "-K", "--key", "--os-password", "--os-auth-token", "--os-application-credential-secret":
			out[i+1] = "<redacted>"
		}
	}
	return out
}

// Count returns how many containers the account of user holds and how many
// objects they hold in all, read directly from Swift (each container is
// listed: the account's own object counts are updated asynchronously by
// the container updater, which this instance does not run). Tests use it
// as the inventory that shows orphans.
func (s *Swift) Count(ctx context.Context, user, key string) (containers, objects int, err error) {
	token, storage, err := s.Auth(ctx, user, key)
	if err != nil {
		return 0, 0, err
	}
	list := func(u string) ([]struct {
		Name string `json:"name"`
	}, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"?format=json", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Auth-Token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNoContent, http.StatusNotFound:
			return nil, nil
		default:
			return nil, fmt.Errorf("list %s: %s", u, resp.Status)
		}
		var out []struct {
			Name string `json:"name"`
		}
		return out, json.NewDecoder(resp.Body).Decode(&out)
	}
	cs, err := list(storage)
	if err != nil {
		return 0, 0, err
	}
	for _, c := range cs {
		os, err := list(storage + "/" + url.PathEscape(c.Name))
		if err != nil {
			return 0, 0, err
		}
		objects += len(os)
	}
	return len(cs), objects, nil
}
