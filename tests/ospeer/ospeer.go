// Package ospeer starts a real one-node OpenStack on loopback for tests:
// Keystone (sqlite, fernet tokens), Placement, Glance (file store, one
// small raw image), RabbitMQ (with an epmd of its own) and Nova (API,
// conductor, scheduler and compute with the fake virt driver,
// nova.virt.fake.FakeDriver, the way OpenStack's own CI tests the API), a
// stand-in for Neutron that knows no networks (Nova then boots servers
// without a port), and a Swift proxy that authenticates with this
// Keystone in front of the shared tests/swiftpeer Swift. Everything
// listens on free 127.0.0.1 ports and lives in a temporary directory.
//
// The stack takes about a minute to start on two cores, so a test binary
// shares one instance, and may start it in the background before its
// first test needs it:
//
//	func TestMain(m *testing.M) {
//		ospeer.Background()
//		code := m.Run()
//		ospeer.StopShared(code != 0)
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		os := ospeer.Shared(t)
//		...
//	}
//
// The Debian packages keystone, nova-api, nova-conductor, nova-scheduler,
// nova-compute, placement-api, glance-api, rabbitmq-server and
// python3-keystonemiddleware (with the swift packages of swiftpeer)
// provide the servers. When they are missing, Shared fails the test; it
// skips only when CSB_SKIP_OPENSTACK is set to a non-empty value.
// CSB_KEEP_OPENSTACK=1 keeps the temporary directory (configuration,
// databases, logs) after Stop, for a post-mortem.
package ospeer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Skip is the environment variable that, when set to a non-empty value,
// makes Shared skip the test instead of starting OpenStack.
const Skip = "CSB_SKIP_OPENSTACK"

// Names and secrets of the identities every instance has. All live in
// domain Default.
const (
	AdminUser     = "admin"
	AdminPassword = "ospeer-admin"
	AdminProject  = "admin"
	// BrokerUser is the broker's user: member of BrokerProject and of
	// TinyProject.
	BrokerUser     = "csb-broker"
	BrokerPassword = "ospeer-broker"
	BrokerProject  = "csb"
	// TinyProject has a Nova quota of zero instances.
	TinyProject = "csb-tiny"
	// AppCredName is the broker user's application credential, scoped to
	// BrokerProject; its id and secret are in OpenStack.
	AppCredName = "csb"
	Region      = "RegionOne"
	// servicePassword is the password of the service users nova,
	// placement, glance and swift (project "service").
	servicePassword = "ospeer-service"
)

// Flavors every instance has (ram in MiB, disk in GB).
var Flavors = []Flavor{
	{ID: "ospeer-1", Name: "csb.small", VCPUs: 1, RAM: 1024, Disk: 1},
	{ID: "ospeer-2", Name: "csb.medium", VCPUs: 2, RAM: 2048, Disk: 2},
}

// Services is how many services the openstack adapter discovers here:
// one per flavor, and one for Swift when it runs.
func (o *OpenStack) Services() int {
	if o.SwiftURL == "" {
		return len(Flavors)
	}
	return len(Flavors) + 1
}

// Flavor is a Nova flavor.
type Flavor struct {
	ID, Name         string
	VCPUs, RAM, Disk int
}

// OpenStack is a running one-node OpenStack.
type OpenStack struct {
	// AuthURL is Keystone's v3 endpoint, http://127.0.0.1:<port>/v3.
	AuthURL string
	// ComputeURL is Nova's endpoint, http://127.0.0.1:<port>/v2.1.
	ComputeURL string
	// ImageURL is Glance's endpoint; PlacementURL is Placement's.
	ImageURL, PlacementURL string
	// SwiftURL is the Keystone-authenticated Swift proxy; a project's
	// account is SwiftURL + "/v1/AUTH_" + its id. Empty when
	// CSB_SKIP_SWIFT is set: the catalogue then has no object-store.
	SwiftURL string
	// ImageID is the Glance image servers boot from.
	ImageID string
	// BrokerProjectID and TinyProjectID are the projects' ids;
	// BrokerUserID the broker user's.
	BrokerProjectID, TinyProjectID, BrokerUserID string
	// AppCredID and AppCredSecret are the broker user's application
	// credential (AppCredName).
	AppCredID, AppCredSecret string
	// Dir is the temporary directory holding configuration, databases
	// and logs.
	Dir string
	// Started is how long Start took.
	Started time.Duration

	procs      []*proc
	neutron    *http.Server
	neutronLog *os.File
}

type proc struct {
	name     string
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{}
	err      error
	lifeline *os.File
}

var (
	sharedMu    sync.Mutex
	sharedReady chan struct{} // closed when the shared start has ended
	shared      *OpenStack
	sharedErr   error
)

// Background starts the shared instance in the background when the test
// binary runs every test (no -run pattern): its minute of start-up then
// overlaps other tests. With a pattern, Shared starts it on first use.
// Call it from TestMain; it parses the flags.
func Background() {
	if os.Getenv(Skip) != "" {
		return
	}
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		return
	}
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return
	}
	startShared()
}

func startShared() chan struct{} {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedReady == nil {
		sharedReady = make(chan struct{})
		go func() {
			shared, sharedErr = Start(context.Background())
			close(sharedReady)
		}()
	}
	return sharedReady
}

// Shared returns the test binary's shared OpenStack, starting it (or
// waiting for the start Background began). It fails the test when
// OpenStack cannot start, including when its packages are missing, and
// skips it when CSB_SKIP_OPENSTACK is set.
func Shared(t testing.TB) *OpenStack {
	t.Helper()
	if os.Getenv(Skip) != "" {
		t.Skipf("%s is set: not starting OpenStack", Skip)
	}
	<-startShared()
	if sharedErr != nil {
		t.Fatalf("ospeer: %v", sharedErr)
	}
	return shared
}

// StopShared stops the shared instance, if one was started, waiting for
// a start in progress to end first. failed prints the logs' tails first.
func StopShared(failed bool) {
	sharedMu.Lock()
	ready := sharedReady
	sharedMu.Unlock()
	if ready == nil {
		return
	}
	<-ready
	if shared != nil {
		if failed {
			fmt.Fprintf(os.Stderr, "ospeer: shared OpenStack in %s (started in %s); log tails:\n%s\n", shared.Dir, shared.Started.Round(time.Second), shared.Logs(20))
		}
		shared.Stop()
		shared = nil
	}
}

// binaries the instance needs, looked up in PATH.
var binaries = []string{
	"keystone-manage", "keystone-wsgi-public", "placement-api", "placement-manage",
	"glance-api", "glance-manage", "nova-manage", "nova-api-wsgi", "nova-conductor",
	"nova-scheduler", "nova-compute", "epmd", "python3",
}

// rabbitServer is the RabbitMQ server script that runs the broker as the
// calling user (Debian's /usr/sbin wrapper switches users through su).
const rabbitServer = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// Start starts a new OpenStack in a fresh temporary directory and waits
// until Nova has booted and deleted a probe server. The caller must Stop
// it. Most tests use Shared instead.
//
// The stack's ports are chosen free, then bound by its servers seconds
// later; a peer started meanwhile by another test binary (the Swift
// peer's tests run beside these) may take one first. A start that failed
// for a port in use is made again, on new ports, twice at most.
func Start(ctx context.Context) (*OpenStack, error) {
	for attempt := 1; ; attempt++ {
		o, err := startOnce(ctx)
		if err == nil || attempt == 3 || !portTaken(err) || ctx.Err() != nil {
			return o, err
		}
	}
}

// portTaken reports whether a failed start's error (with its log tails)
// says a server could not bind its port.
func portTaken(err error) bool {
	msg := err.Error()
	for _, s := range []string{"address already in use", "Address already in use", "dist_port_already_used", "could not bind to distribution port"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func startOnce(ctx context.Context) (_ *OpenStack, err error) {
	begin := time.Now()
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			return nil, fmt.Errorf("%s not found (install the Debian packages keystone nova-api nova-conductor nova-scheduler nova-compute placement-api glance-api rabbitmq-server python3-keystonemiddleware, or set %s=1 to skip): %w", b, Skip, err)
		}
	}
	if _, err := os.Stat(rabbitServer); err != nil {
		return nil, fmt.Errorf("%s not found (install the Debian package rabbitmq-server, or set %s=1 to skip): %w", rabbitServer, Skip, err)
	}
	dir, err := os.MkdirTemp("", "ospeer-")
	if err != nil {
		return nil, err
	}
	o := &OpenStack{Dir: dir}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nlog tails (%s):\n%s", err, dir, o.Logs(60))
			o.Stop()
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	if err := o.start(ctx); err != nil {
		return nil, err
	}
	o.Started = time.Since(begin)
	return o, nil
}

// watchdog runs a server and stops its process group (SIGTERM) when its
// standard input reaches end of file: when Stop closes the pipe, or when
// the test process that holds the pipe's write end dies, even by SIGKILL.
const watchdog = `exec 3<&0
"$@" </dev/null &
c=$!
{ read _ <&3; kill -TERM "$c" 2>/dev/null; } &
w=$!
wait "$c"; s=$?
kill "$w" 2>/dev/null
exit $s`

// spawn starts one server under the watchdog, in a process group of its
// own, with its output in <dir>/log/<name>.out.
func (o *OpenStack) spawn(name string, env []string, cred *syscall.Credential, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(o.Dir, "log", name+".out"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	cmd := exec.Command("sh", append([]string{"-c", watchdog, "sh", bin}, args...)...)
	p := &proc{name: name, cmd: cmd, logPath: logf.Name(), done: make(chan struct{}), lifeline: pw}
	cmd.Dir = o.Dir
	cmd.Stdin = pr
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(append(cleanEnv(), "PYTHONUNBUFFERED=1"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	o.procs = append(o.procs, p)
	return p, nil
}

// cleanEnv is the environment without the OS_* variables a developer's
// shell may hold (they would redirect the clients and services).
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			out = append(out, kv)
		}
	}
	return out
}

// run runs a command to completion (a db sync, a bootstrap) and returns
// its error with its output.
func (o *OpenStack) run(ctx context.Context, env []string, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = o.Dir
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, tail(string(out), 40))
	}
	return string(out), nil
}

// Logs returns the last n lines of every server's output and log file.
func (o *OpenStack) Logs(n int) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(o.Dir, "log", "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), tail(string(data), n))
	}
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop stops every server, newest first, and removes the temporary
// directory: closing a server's lifeline makes its watchdog send SIGTERM;
// a process group still running after 20 s is killed.
func (o *OpenStack) Stop() {
	for i := len(o.procs) - 1; i >= 0; i-- {
		o.procs[i].lifeline.Close()
	}
	deadline := time.After(20 * time.Second)
	for i := len(o.procs) - 1; i >= 0; i-- {
		p := o.procs[i]
		select {
		case <-p.done:
		case <-deadline:
		}
	}
	for _, p := range o.procs {
		// Whatever a server left in its group (forked workers) goes too.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	o.procs = nil
	if o.neutron != nil {
		o.neutron.Close()
		o.neutronLog.Close()
	}
	if o.Dir != "" && os.Getenv("CSB_KEEP_OPENSTACK") == "" {
		_ = os.RemoveAll(o.Dir)
	}
}

// waitFor polls ok until it returns nil, a server exits, or ctx ends.
func (o *OpenStack) waitFor(ctx context.Context, what string, ok func() error) error {
	var last error
	for {
		for _, p := range o.procs {
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
			return fmt.Errorf("%s: not ready: %v", what, last)
		case <-time.After(200 * time.Millisecond): // polling for readiness, not waiting for an outcome
		}
	}
}

// logHas reports an error until the named log file contains substr.
func (o *OpenStack) logHas(file, substr string) func() error {
	return func() error {
		data, err := os.ReadFile(filepath.Join(o.Dir, "log", file))
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), substr) {
			return fmt.Errorf("%s has no %q yet", file, substr)
		}
		return nil
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

var errNoToken = errors.New("no X-Subject-Token in Keystone's answer")
